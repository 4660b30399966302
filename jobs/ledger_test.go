package jobs_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/lake"
	"github.com/callrecords-etl/callrecords-etl/notify"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// ledgerRows reads one day of the completeness ledger back, by id.
func ledgerRows(t *testing.T, dest, date string) map[string]schemas.LedgerRow {
	t.Helper()
	out := map[string]schemas.LedgerRow{}
	path := filepath.Join(dest, lake.TableKey(schemas.TableCallRecordLedger, date, tenant))
	err := load.ReadParquet(path, 1024, func(rows []schemas.LedgerRow) error {
		for _, r := range rows {
			out[r.CallRecordID] = r
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func completenessOf(t *testing.T, days []lake.DayCompleteness, date string) lake.DayCompleteness {
	t.Helper()
	for _, d := range days {
		if d.Date == date {
			return d
		}
	}
	t.Fatalf("no completeness for %s in %+v", date, days)
	return lake.DayCompleteness{}
}

// TestCompletenessLedger: three runs list the same days. A day whose records
// kept their versions is complete; a day with a record bumped before every
// run is not (that record is unsettled); an id notified but never listed by
// Graph makes its day incomplete, even after the inbox gives up on it; and
// status warns for incomplete days near Graph's 30-day edge.
func TestCompletenessLedger(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	now := f.clock.Now()
	today := schemas.PartitionDate(now)
	bumpedDay := schemas.PartitionDate(now.Add(-24 * time.Hour))
	stableDay := schemas.PartitionDate(now.Add(-48 * time.Hour))
	midnight := func(d string) time.Time { m, _ := time.Parse(time.DateOnly, d); return m }
	truth := func(d string) []string {
		return f.sim.Truth(midnight(d), midnight(d).Add(24*time.Hour)).IDs
	}
	bumpedIDs, stableIDs := truth(bumpedDay), truth(stableDay)
	if len(bumpedIDs) < 2 || len(stableIDs) == 0 {
		t.Fatalf("simulated days too thin: %d and %d records", len(bumpedIDs), len(stableIDs))
	}
	bumped := bumpedIDs[0]

	const unknown = "00000000-dead-beef-0000-000000000000"
	h := notify.NewReceiver(notify.Config{TenantID: tenant, ClientState: clientState, Store: mustLocal(t, f.dest), Logger: testLogger(), Now: f.clock.Now})
	if rec := post(t, h, "/n", notificationBody(clientState, tenant, unknown)); rec.Code != 202 {
		t.Fatalf("receiver: %d", rec.Code)
	}

	// Every run lists both days whole (the default lookback would list only
	// the end of stableDay after the first run).
	lookback := func(c *jobs.Config) { c.Lookback = 4 * 24 * time.Hour }
	for run := range jobs.DefaultSettleRuns {
		if run > 0 && !f.sim.Bump(bumped) {
			t.Fatalf("could not bump %s", bumped)
		}
		f.MustRun(t, lookback)
	}
	read := func(at time.Time) []lake.DayCompleteness {
		t.Helper()
		days, err := jobs.ReadCompleteness(context.Background(), jobs.Config{Dest: f.dest}, tenant, at)
		if err != nil {
			t.Fatal(err)
		}
		return days
	}
	days := read(now)

	stable := completenessOf(t, days, stableDay)
	if n := len(stableIDs); !stable.Complete || stable.IDs != n || stable.Listed != n || stable.Fetched != n || stable.Committed != n || stable.Settled != n || stable.Quarantined != 0 || stable.NotifiedNotListed != 0 {
		t.Errorf("%s: %+v, want %d ids listed, fetched, committed and settled: complete", stableDay, stable, n)
	}
	b := completenessOf(t, days, bumpedDay)
	if n := len(bumpedIDs); b.Complete || b.IDs != n || b.Committed != n || b.Settled != n-1 {
		t.Errorf("%s: %+v, want %d ids committed, %d settled: incomplete", bumpedDay, b, n, n-1)
	}
	rows := ledgerRows(t, f.dest, bumpedDay)
	v, _ := f.sim.Version(bumped)
	if r := rows[bumped]; r.Settled || r.RunsAtVersion != 1 || r.Version != v || r.CommittedVersion != v || !r.Committed {
		t.Errorf("bumped record's ledger row %+v, want version %d committed, 1 run at it, not settled", r, v)
	}
	if r := rows[bumpedIDs[1]]; !r.Settled || r.RunsAtVersion != int32(jobs.DefaultSettleRuns) || r.FirstListedAt.IsZero() {
		t.Errorf("a stable record's ledger row %+v, want %d runs at its version, settled", r, jobs.DefaultSettleRuns)
	}
	td := completenessOf(t, days, today)
	if td.Complete || td.NotifiedNotListed != 1 {
		t.Errorf("%s: %+v, want the notified id not listed: incomplete", today, td)
	}
	if r, ok := ledgerRows(t, f.dest, today)[unknown]; !ok || r.Listed || r.Committed || !r.NotifiedAt.Equal(now) {
		t.Errorf("notified id's ledger row %+v (found %v), want notified at %s, not listed", r, ok, now)
	}

	// The inbox gives up on the id; the ledger still holds it, and a run
	// after that keeps it.
	for i := jobs.DefaultSettleRuns; i < jobs.MaxInboxAttempts; i++ {
		f.MustRun(t, func(c *jobs.Config) { c.Datasets = []string{jobs.DatasetNotifications} })
	}
	if left := inboxIDs(t, f.dest); len(left) != 0 {
		t.Fatalf("inbox = %v, want the unknown id given up", left)
	}
	f.MustRun(t, lookback)
	if td := completenessOf(t, read(now), today); td.Complete || td.NotifiedNotListed != 1 {
		t.Errorf("%s after the inbox gave up: %+v, want the notified id not listed: incomplete", today, td)
	}

	// Near the 30-day edge, status warns for the incomplete day only.
	late := midnight(bumpedDay).Add(jobs.Retention - lake.EdgeWarning + time.Hour)
	days = read(late)
	if d := completenessOf(t, days, bumpedDay); !d.Warning {
		t.Errorf("%s at %s: %+v, want a warning", bumpedDay, late, d)
	}
	if d := completenessOf(t, days, stableDay); d.Warning || !d.Complete {
		t.Errorf("%s at %s: %+v, want complete, no warning", stableDay, late, d)
	}
	var out bytes.Buffer
	jobs.PrintStatus(&out, []lake.Status{{Checkpoint: lake.Checkpoint{Tenant: tenant, Dataset: schemas.DatasetCallRecords}, Days: days}})
	if s := out.String(); !strings.Contains(s, "WARNING "+bumpedDay+" is incomplete") || strings.Contains(s, "WARNING "+stableDay) {
		t.Errorf("status:\n%s\nwant a warning for %s only", s, bumpedDay)
	}
}

// TestPrintStatus_Expiring: a watermark older than Graph's retention is told
// as data expiring for so long, in capitals, not as expiry "in" a negative
// duration.
func TestPrintStatus_Expiring(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	var out bytes.Buffer
	jobs.PrintStatus(&out, []lake.Status{
		{Checkpoint: lake.Checkpoint{Tenant: tenant, Dataset: schemas.DatasetCallRecords, Watermark: now.Add(-31 * 24 * time.Hour)}, ExpiresInSeconds: -24 * 3600},
		{Checkpoint: lake.Checkpoint{Tenant: tenant, Dataset: schemas.DatasetPstn, Watermark: now.Add(-time.Hour)}, ExpiresInSeconds: (30*24 - 1) * 3600},
	})
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "UNREAD DATA EXPIRING for 24h0m0s") || strings.Contains(lines[0], "in -") ||
		!strings.Contains(lines[1], "unread data starts expiring in 719h0m0s") {
		t.Errorf("status:\n%s\nwant the first expiring for 24h, the second expiring in 719h", out.String())
	}
}
