package jobs_test

import (
	"crypto/sha256"
	"encoding/json"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
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

// usageFiles digests every file of the report tables and their raw archive
// in a local lake, by path: a rewritten file differs (its footer names the
// run that wrote it) even when its rows do not.
func usageFiles(t *testing.T, dest string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	for _, table := range []string{schemas.TablePstnCalls, schemas.TableDirectRoutingCalls, schemas.TableRawPstnCalls, schemas.TableRawDirectRoutingCalls} {
		files, _ := filepath.Glob(filepath.Join(dest, table, "dt=*", "*.parquet"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			rel, _ := filepath.Rel(dest, f)
			out[rel] = sha256.Sum256(b)
		}
	}
	return out
}

// rewritten lists the files of after that are new or differ from before.
func rewritten(before, after map[string][32]byte) []string {
	var out []string
	for f, d := range after {
		if before[f] != d {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}

// TestUsage_UnchangedPartitionsKept: the lookback re-reads days whose rows
// did not change; their partitions keep their files (no Iceberg snapshot
// either), while a day with a late row, a row whose JSON changed only where
// no column reads it (the raw archive keeps it), or a file in another schema
// is rewritten.
func TestUsage_UnchangedPartitionsKept(t *testing.T) {
	t.Parallel()
	var noted atomic.Pointer[string] // the PSTN row that gains a property
	f := newFixtureWith(t, thinUsage, hostile(func(r *http.Request, body []byte) []byte {
		id := noted.Load()
		if id == nil || !strings.Contains(r.URL.Path, "getPstnCalls") {
			return body
		}
		// Only that row's bytes: the others stay as Graph sent them.
		re := regexp.MustCompile(`"id"\s*:\s*"` + regexp.QuoteMeta(*id) + `"`)
		return re.ReplaceAll(body, []byte(`${0},"someNewProperty":"added by Graph"`))
	}))
	usage := func(c *jobs.Config) { usageOnly(c); icebergFormat(c) }
	start := f.clock.Now()
	f.MustRun(t, usage)

	// The same instant again: every row comes back as it is.
	files, rows := usageFiles(t, f.dest), lakeRows(t, f.dest)
	sum := f.MustRun(t, usage)
	for _, ds := range []string{schemas.DatasetPstn, schemas.DatasetDirectRouting} {
		if d := sum.Datasets[ds]; d.Partitions != 0 || d.Unchanged == 0 || d.New+d.Updated != 0 {
			t.Errorf("rerun, %s: partitions %d, new %d, updated %d, unchanged %d; want nothing rewritten, rows unchanged",
				ds, d.Partitions, d.New, d.Updated, d.Unchanged)
		}
	}
	if got := rewritten(files, usageFiles(t, f.dest)); len(got) > 0 {
		t.Errorf("rerun rewrote %v", got)
	}
	if sum.IcebergSnapshots != 0 {
		t.Errorf("rerun committed %d Iceberg snapshots, want none", sum.IcebergSnapshots)
	}
	diffLakes(t, "rerun", lakeRows(t, f.dest), rows)

	// Late rows: the days they start on are rewritten, and only those.
	f.clock.Add(20 * time.Hour)
	files = usageFiles(t, f.dest)
	byDay := func(rows map[string][]string) map[string]string {
		out := map[string]string{}
		for _, table := range []string{schemas.TablePstnCalls, schemas.TableDirectRoutingCalls} {
			for _, row := range rows[table] {
				dt, _, _ := strings.Cut(row, " ")
				out[table+"/"+dt] += row + "\n"
			}
		}
		return out
	}
	was := byDay(lakeRows(t, f.dest))
	sum = f.MustRun(t, usage)
	checkUsageLake(t, f, start.Add(-jobs.DefaultConfig().UsageHistory), f.clock.Now())
	now := byDay(lakeRows(t, f.dest))
	after := usageFiles(t, f.dest)
	var kept, changed int
	for _, table := range []string{schemas.TablePstnCalls, schemas.TableDirectRoutingCalls} {
		for key := range after {
			if !strings.HasPrefix(key, table+"/") {
				continue
			}
			day := table + "/" + filepath.Base(filepath.Dir(key))
			rowsChanged, fileChanged := was[day] != now[day], files[key] != after[key]
			if rowsChanged != fileChanged {
				t.Errorf("%s: rows changed %v, file rewritten %v", day, rowsChanged, fileChanged)
			}
			if rowsChanged {
				changed++
			} else {
				kept++
			}
		}
	}
	if changed == 0 || kept == 0 {
		t.Fatalf("late rows: %d days changed and %d kept; the test needs both", changed, kept)
	}
	if sum.IcebergSnapshots == 0 {
		t.Error("late rows committed no Iceberg snapshot")
	}

	// A row whose JSON gained a property no column reads: its day is
	// rewritten, for the raw archive, and no other.
	var row schemas.PstnCallRow
	for _, r := range readTable[schemas.PstnCallRow](t, f.dest, schemas.TablePstnCalls) {
		if r.StartDateTime.After(f.clock.Now().Add(-40*time.Hour)) && r.StartDateTime.Before(f.clock.Now().Add(-30*time.Hour)) {
			row = r
			break
		}
	}
	if row.ID == "" {
		t.Fatal("no PSTN row in the lookback to change")
	}
	noted.Store(&row.ID)
	files = usageFiles(t, f.dest)
	sum = f.MustRun(t, usage)
	dt := schemas.PartitionDate(row.StartDateTime)
	want := []string{
		filepath.Join(schemas.TablePstnCalls, "dt="+dt, tenant+".parquet"),
		filepath.Join(schemas.TableRawPstnCalls, "dt="+dt, tenant+".parquet"),
	}
	if got := rewritten(files, usageFiles(t, f.dest)); !slices.Equal(got, want) {
		t.Errorf("a row's JSON changed: rewrote %v, want %v", got, want)
	}
	var archived string
	for _, r := range readTable[schemas.RawUsageRow](t, f.dest, schemas.TableRawPstnCalls) {
		if r.ID == row.ID {
			archived = string(r.JSON)
		}
	}
	if !strings.Contains(archived, "someNewProperty") {
		t.Errorf("raw archive of %s: %s, want the new property kept", row.ID, archived)
	}
	if d := sum.Datasets[schemas.DatasetPstn]; d.Partitions != 1 || d.Updated != 0 {
		t.Errorf("a row's JSON changed: partitions %d, updated %d; want 1 partition, no row updated", d.Partitions, d.Updated)
	}

	// A file written in another schema (a column since dropped) is
	// rewritten in today's, though its rows are the same.
	key := filepath.Join(f.dest, schemas.TablePstnCalls, "dt="+dt, tenant+".parquet")
	var stored []schemas.PstnCallRow
	if err := load.ReadParquet(key, 100, func(rows []schemas.PstnCallRow) error { stored = append(stored, rows...); return nil }); err != nil {
		t.Fatal(err)
	}
	type withDroppedColumn struct {
		schemas.PstnCallRow
		Dropped string `parquet:"dropped_column"`
	}
	w := load.NewFileWriter[withDroppedColumn](load.ParquetOptions{})
	for _, r := range stored {
		if err := w.Write([]withDroppedColumn{{PstnCallRow: r, Dropped: "x"}}); err != nil {
			t.Fatal(err)
		}
	}
	old, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(old.Path, key); err != nil {
		t.Fatal(err)
	}
	if ok, err := load.HasSchemaOf[schemas.PstnCallRow](key); err != nil || ok {
		t.Fatalf("HasSchemaOf of a file with an extra column = %v, %v; want false", ok, err)
	}
	files = usageFiles(t, f.dest)
	f.MustRun(t, usage)
	if got := rewritten(files, usageFiles(t, f.dest)); !slices.Equal(got, want) {
		t.Errorf("a file in another schema: rewrote %v, want %v", got, want)
	}
	if ok, err := load.HasSchemaOf[schemas.PstnCallRow](key); err != nil || !ok {
		t.Errorf("after the rewrite, HasSchemaOf = %v, %v; want true", ok, err)
	}
}
