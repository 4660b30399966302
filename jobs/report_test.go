package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/report"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// TestReadReport_AgreesWithTheSimulator writes a month of call records and
// usage reports from the simulator and checks the report's figures against
// the simulator's own truth: charges per currency to the last digit, minutes
// of each report to the second, every stream counted once.
func TestReadReport_AgreesWithTheSimulator(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, thinUsage, nil)
	now := f.clock.Now()
	f.MustRun(t, func(c *jobs.Config) {
		c.Datasets = []string{schemas.DatasetCallRecords, schemas.DatasetPstn, schemas.DatasetDirectRouting}
	})
	from := now.Add(-jobs.Retention)

	rep, err := jobs.ReadReport(context.Background(), f.config())
	if err != nil {
		t.Fatalf("ReadReport: %v", err)
	}
	pstn, dr := f.sim.PstnTruth(from, now), f.sim.DirectRoutingTruth(from, now)
	checkCosts(t, rep.Costs(), pstn.ChargeByCurrency, pstn.Rows)
	// Each month on its own is exact too.
	// (The run read the usage reports from `from` on.)
	for _, month := range []time.Time{from, time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)} {
		want := f.sim.PstnTruth(month, time.Date(month.Year(), month.Month()+1, 1, 0, 0, 0, 0, time.UTC))
		var costs []report.Cost
		for _, c := range rep.Costs() {
			if c.Month == month.Format("2006-01") {
				costs = append(costs, c)
			}
		}
		checkCosts(t, costs, want.ChargeByCurrency, want.Rows)
	}

	seconds := map[string]int64{}
	for _, m := range rep.Minutes() {
		seconds[m.Source] += m.Seconds
	}
	if seconds[report.SourcePstn] != pstn.DurationSeconds || seconds[report.SourceDirectRouting] != dr.DurationSeconds {
		t.Errorf("report seconds = %v, want PSTN %d, Direct Routing %d", seconds, pstn.DurationSeconds, dr.DurationSeconds)
	}

	streams, poor := 0, 0
	for _, d := range rep.Quality() {
		streams += d.Good + d.Poor + d.Unclassified
		poor += d.Poor
		due := 0
		for _, n := range d.PoorDueTo {
			due += n
		}
		if due < d.Poor {
			t.Errorf("%s: %d poor streams but %d causes: every poor stream has one", d.Date, d.Poor, due)
		}
	}
	if want := f.sim.Truth(from, now).Streams; streams != want {
		t.Errorf("report counts %d streams, want %d", streams, want)
	}
	if poor == 0 {
		t.Errorf("no poor stream in a month of simulated calls: the check above proves little")
	}

	// Call-queue waits per queue equal the simulator's journeys.
	journeys := f.sim.JourneyTruth(from, now)
	if len(journeys.Queues) == 0 {
		t.Fatalf("no call-queue journey in a month of simulated calls")
	}
	queues := rep.Queues()
	if len(queues) != len(journeys.Queues) {
		t.Errorf("report shows %d queues, the simulator has %d", len(queues), len(journeys.Queues))
	}
	for _, q := range queues {
		want := journeys.Queues[q.Queue]
		if q.Calls != want.Calls || q.Answered != want.Answered || math.Abs(q.WaitSeconds-want.WaitSeconds) > 1e-3 || math.Abs(q.MaxWaitSeconds-want.MaxWaitSeconds) > 1e-5 {
			t.Errorf("queue %q: report %+v, simulator %+v", q.Queue, q, want)
		}
	}

	// The completeness section shows the ledger as status reads it, day by day.
	ledger, err := jobs.ReadCompleteness(context.Background(), f.config(), f.config().TenantID, now)
	if err != nil {
		t.Fatal(err)
	}
	shown := rep.Completeness()
	if len(ledger) == 0 || len(shown) != len(ledger) {
		t.Fatalf("report shows %d days of the ledger, status reads %d", len(shown), len(ledger))
	}
	for i, d := range ledger {
		s := shown[i]
		if s.Date != d.Date || s.IDs != d.IDs || s.Listed != d.Listed || s.Committed != d.Committed || s.Settled != d.Settled || s.Complete != d.Complete || s.Warning != d.Warning {
			t.Errorf("report's %+v, ledger's %+v", s, d)
		}
	}
}

// checkCosts compares the report's costs with the simulator's sums per
// currency (millionths, six digits) and its number of rows.
func checkCosts(t *testing.T, costs []report.Cost, want map[string]string, rows int) {
	t.Helper()
	sums, calls := map[string]*big.Int{}, 0
	for _, c := range costs {
		if sums[c.Currency] == nil {
			sums[c.Currency] = new(big.Int)
		}
		sums[c.Currency].Add(sums[c.Currency], c.Charge.Unscaled)
		calls += c.Calls
	}
	got := map[string]string{}
	for cur, n := range sums {
		got[cur] = strings.TrimSuffix(schemas.Decimal{Unscaled: n}.String(), "000000000000")
	}
	if len(got) != len(want) {
		t.Errorf("report currencies %v, want %v", got, want)
	}
	for cur, w := range want {
		if got[cur] != w {
			t.Errorf("report charge %s = %s, want %s (exact)", cur, got[cur], w)
		}
	}
	if calls != rows {
		t.Errorf("report counts %d PSTN calls, want %d", calls, rows)
	}
}

// TestReadReport_Window: --from/--to keep the days of the window only.
func TestReadReport_Window(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, thinUsage, nil)
	f.MustRun(t, usageOnly)
	from, to := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC)
	cfg := f.config()
	cfg.From, cfg.To = from, to
	rep, err := jobs.ReadReport(context.Background(), cfg)
	if err != nil {
		t.Fatalf("ReadReport: %v", err)
	}
	want := f.sim.PstnTruth(from, to)
	checkCosts(t, rep.Costs(), want.ChargeByCurrency, want.Rows)
	if len(rep.Quality()) != 0 {
		t.Errorf("quality of %d days, want none (no call records written)", len(rep.Quality()))
	}

	cfg.To = time.Time{}
	if _, err := jobs.ReadReport(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "To") {
		t.Errorf("ReadReport with From and no To: %v, want an error naming To", err)
	}
}

// TestReadReport_BadInput: a destination that does not exist and a tenant
// the lake holds nothing of are configuration errors, not empty reports.
func TestReadReport_BadInput(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, thinUsage, nil)
	cfg := f.config()
	cfg.Dest = filepath.Join(t.TempDir(), "missing")
	if _, err := jobs.ReadReport(context.Background(), cfg); !errors.Is(err, jobs.ErrConfig) || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("ReadReport(missing destination) = %v, want a configuration error saying it does not exist", err)
	}
	if _, err := os.Stat(cfg.Dest); !os.IsNotExist(err) {
		t.Errorf("ReadReport created %s (%v)", cfg.Dest, err)
	}
	cfg = f.config()
	var ce *jobs.ConfigError
	if _, err := jobs.ReadReport(context.Background(), cfg); !errors.As(err, &ce) || fmt.Sprint(ce.Fields) != "[TenantID]" {
		t.Errorf("ReadReport(empty lake) = %v, want a configuration error on TenantID", err)
	}
}
