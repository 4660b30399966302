package jobs_test

import (
	"encoding/json"
	"math/big"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/graphsim"
	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

func readTable[T any](t *testing.T, dest, table string) []T {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dest, table, "dt=*", "*.parquet"))
	var out []T
	for _, f := range files {
		if err := load.ReadParquet(f, 1000, func(rows []T) error { out = append(out, rows...); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// sumByCurrency adds DECIMAL(38,18) charges exactly, rendered as the
// simulator's truth is: it bills in millionths, so the last 12 of the 18
// digits must be zeros (anything else shows in the comparison).
func sumByCurrency(rows []schemas.PstnCallRow, charge func(schemas.PstnCallRow) *schemas.Decimal128) map[string]string {
	sums := map[string]*big.Int{}
	for _, r := range rows {
		if sums[r.Currency] == nil {
			sums[r.Currency] = new(big.Int)
		}
		if c := charge(r); c != nil {
			sums[r.Currency].Add(sums[r.Currency], c.Decimal().Unscaled)
		}
	}
	out := map[string]string{}
	for cur, n := range sums {
		out[cur] = strings.TrimSuffix(schemas.Decimal{Unscaled: n}.String(), "000000000000")
	}
	return out
}

func checkUsageLake(t *testing.T, f *fixture, from, to time.Time) {
	t.Helper()
	pstn := readTable[schemas.PstnCallRow](t, f.dest, schemas.TablePstnCalls)
	dr := readTable[schemas.DirectRoutingCallRow](t, f.dest, schemas.TableDirectRoutingCalls)
	wantP, wantD := f.sim.PstnTruth(from, to), f.sim.DirectRoutingTruth(from, to)

	ids := map[string]bool{}
	for _, r := range pstn {
		if ids[r.ID] {
			t.Errorf("PSTN row %s stored twice", r.ID)
		}
		ids[r.ID] = true
		if got := schemas.PartitionDate(r.StartDateTime); got == "" {
			t.Errorf("row %s without start", r.ID)
		}
	}
	if len(pstn) != wantP.Rows {
		t.Errorf("pstn_calls rows = %d, want %d", len(pstn), wantP.Rows)
	}
	for _, id := range wantP.IDs {
		if !ids[id] {
			t.Errorf("PSTN row %s missing", id)
		}
	}
	for cur, want := range wantP.ChargeByCurrency {
		if got := sumByCurrency(pstn, func(r schemas.PstnCallRow) *schemas.Decimal128 { return r.Charge })[cur]; got != want {
			t.Errorf("charge %s = %s, want %s", cur, got, want)
		}
	}
	for cur, want := range wantP.ConnectionChargeByCurrency {
		if got := sumByCurrency(pstn, func(r schemas.PstnCallRow) *schemas.Decimal128 { return r.ConnectionCharge })[cur]; got != want {
			t.Errorf("connection charge %s = %s, want %s", cur, got, want)
		}
	}
	if len(dr) != wantD.Rows {
		t.Errorf("direct_routing_calls rows = %d, want %d", len(dr), wantD.Rows)
	}
	failed := 0
	seen := map[string]bool{}
	for _, r := range dr {
		if seen[r.ID] {
			t.Errorf("Direct Routing row %s stored twice", r.ID)
		}
		seen[r.ID] = true
		if r.SuccessfulCall != nil && !*r.SuccessfulCall {
			failed++
		}
		if r.SuccessfulCall != nil && *r.SuccessfulCall && !r.FailureDateTime.IsZero() {
			t.Errorf("successful call %s has failure_date_time %v, want NULL (sentinel)", r.ID, r.FailureDateTime)
		}
	}
	if failed != wantD.Failed {
		t.Errorf("failed Direct Routing calls = %d, want %d", failed, wantD.Failed)
	}
}

func usageOnly(c *jobs.Config) {
	c.Datasets = []string{schemas.DatasetPstn, schemas.DatasetDirectRouting}
}

// TestUsage_ScheduledRuns: the first run reads the usage history; later runs
// re-read the lookback (rows arrive 24-48 h late) and pick up late rows without
// doubling any.
func TestUsage_ScheduledRuns(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	start := f.clock.Now()
	f.MustRun(t, usageOnly)
	checkUsageLake(t, f, start.Add(-jobs.DefaultConfig().UsageHistory), start)

	f.clock.Add(20 * time.Hour) // late rows of the last days get published
	sum := f.MustRun(t, usageOnly)
	checkUsageLake(t, f, start.Add(-jobs.DefaultConfig().UsageHistory), f.clock.Now())
	// Rows read again count as updated only when a stored value changed:
	// not when the lookback re-reads them as they are, but when a privacy
	// policy now pseudonymises them, and not again under the same policy.
	counts := func(label string, sum *jobs.Summary, wantUpdated, wantUnchanged bool) {
		t.Helper()
		for _, ds := range []string{schemas.DatasetPstn, schemas.DatasetDirectRouting} {
			d := sum.Datasets[ds]
			if (d.Updated > 0) != wantUpdated || (d.Unchanged > 0) != wantUnchanged {
				t.Errorf("%s, %s: new %d updated %d unchanged %d, want updated %v unchanged %v",
					label, ds, d.New, d.Updated, d.Unchanged, wantUpdated, wantUnchanged)
			}
		}
	}
	if d := sum.Datasets[schemas.DatasetPstn]; d.New == 0 {
		t.Errorf("second PSTN run: new %d, want the late rows added", d.New)
	}
	counts("second run", sum, false, true)
	hash := func(c *jobs.Config) {
		usageOnly(c)
		c.PrivacyPolicyFile, c.PrivacyKey = policyFile(t, "default: hash\n"), privacyKey
	}
	f.clock.Add(time.Hour)
	counts("first run under a hash policy", f.MustRun(t, hash), true, false)
	f.clock.Add(time.Hour)
	counts("second run under it", f.MustRun(t, hash), false, true)
}

// TestUsage_Backfill120Days: a 120-day backfill goes out in requests of at most
// 90 days, loses nothing at any edge, and running it twice changes nothing.
func thinUsage(c *graphsim.Config) { c.PstnPerDay, c.DirectRoutingPerDay = 10, 6 }

func TestUsage_Backfill120Days(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, thinUsage, nil)
	to := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	from := to.Add(-120 * 24 * time.Hour)
	backfill := func(c *jobs.Config) { usageOnly(c); c.From, c.To = from, to }
	f.MustRun(t, backfill)
	checkUsageLake(t, f, from, to)
	first := lakeRows(t, f.dest)
	sum := f.MustRun(t, backfill)
	diffLakes(t, "second backfill", lakeRows(t, f.dest), first)
	if got := sum.Graph.Requests["pstn"]; got < 2 {
		t.Errorf("PSTN requests = %d, want at least two (<= 90 days each)", got)
	}
	// Adjacent windows: [a, mid) then [mid, b) store exactly what [a, b) does,
	// rows on the shared edge once.
	mid := time.Date(2026, 9, 15, 0, 0, 0, 0, time.UTC)
	a, b := mid.Add(-10*24*time.Hour), mid.Add(10*24*time.Hour)
	whole := newFixtureWith(t, thinUsage, nil)
	whole.MustRun(t, func(c *jobs.Config) { usageOnly(c); c.From, c.To = a, b })
	checkUsageLake(t, whole, a, b)
	g := newFixtureWith(t, thinUsage, nil)
	g.MustRun(t, func(c *jobs.Config) { usageOnly(c); c.From, c.To = a, mid })
	g.MustRun(t, func(c *jobs.Config) { usageOnly(c); c.From, c.To = mid, b })
	diffLakes(t, "two adjacent windows", lakeRows(t, g.dest), lakeRows(t, whole.dest))
}

// TestUsage_RowSentTwice: a row Graph sends twice in a run (on two pages, or
// in two overlapping requests) is stored once and counted once.
func TestUsage_RowSentTwice(t *testing.T) {
	t.Parallel()
	twice := hostile(func(r *http.Request, body []byte) []byte {
		if !strings.Contains(r.URL.Path, "getPstnCalls") && !strings.Contains(r.URL.Path, "getDirectRoutingCalls") {
			return body
		}
		var page map[string]any
		if json.Unmarshal(body, &page) != nil {
			return body
		}
		if items, _ := page["value"].([]any); len(items) > 0 {
			page["value"] = append(items, items[0])
		}
		out, _ := json.Marshal(page)
		return out
	})
	f := newFixtureWith(t, thinUsage, twice)
	start := f.clock.Now()
	sum := f.MustRun(t, usageOnly) // f.run checks the counts add up
	checkUsageLake(t, f, start.Add(-jobs.DefaultConfig().UsageHistory), start)
	for _, ds := range []string{schemas.DatasetPstn, schemas.DatasetDirectRouting} {
		if d := sum.Datasets[ds]; d.Listed != d.New {
			t.Errorf("%s: listed %d, new %d: a row sent twice counted twice", ds, d.Listed, d.New)
		}
	}
}
