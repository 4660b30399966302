package e2e_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/lake"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// TestCompletenessQueries: after three runs, one record of yesterday bumped
// before each of the later two and an id notified that Graph never lists,
// DuckDB's completeness_per_day (docs/quality-queries.md) says what
// jobs.ReadCompleteness says: yesterday and today incomplete, every other
// day complete with every record of the simulator; incomplete_ids names the
// two ids and why.
func TestCompletenessQueries(t *testing.T) {
	t.Parallel()
	sim, url := newSimAt(t, now, 4)
	dest := t.TempDir()
	store, err := load.OpenStore(context.Background(), dest, load.StoreConfig{})
	if err != nil {
		t.Fatal(err)
	}
	const unknown = "00000000-dead-beef-0000-000000000000"
	if err := lake.New(store, tenant, "", nil).Notify(context.Background(), lake.InboxEntry{ID: unknown, ChangeType: "created", ReceivedAt: now}); err != nil {
		t.Fatal(err)
	}
	day := func(d time.Time) time.Time { return d.Truncate(24 * time.Hour) }
	yesterday := day(now).Add(-24 * time.Hour)
	bumped := sim.Truth(yesterday, yesterday.Add(24*time.Hour)).IDs[0]
	edit := func(c *jobs.Config) {
		c.Datasets = []string{schemas.DatasetCallRecords}
		c.Lookback = 4 * 24 * time.Hour // the later runs list the last days whole
	}
	for run := range jobs.DefaultSettleRuns {
		if run > 0 && !sim.Bump(bumped) {
			t.Fatalf("could not bump %s", bumped)
		}
		runJobAt(t, now, url, dest, load.S3Config{}, edit)
	}

	db := openDuckDB(t)
	var ddl bytes.Buffer
	if err := schemas.WriteDDL(&ddl, schemas.FormatDuckDB, dest, "unused"); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range strings.Split(ddl.String(), ";") {
		if strings.Contains(stmt, "VIEW "+schemas.TableCallRecordLedger+" ") { // the only table this lake has
			if _, err := db.Exec(stmt); err != nil {
				t.Fatalf("DuckDB DDL: %v\n%s", err, stmt)
			}
		}
	}
	q := docQueries(t, "quality-queries.md")
	want, err := jobs.ReadCompleteness(context.Background(), jobs.Config{Dest: dest}, tenant, now)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(q["completeness_per_day"])
	if err != nil {
		t.Fatalf("completeness_per_day: %v", err)
	}
	var got []lake.DayCompleteness
	for rows.Next() {
		var d lake.DayCompleteness
		var tenantID string
		var dt, deletes time.Time
		if err := rows.Scan(&tenantID, &dt, &d.IDs, &d.Listed, &d.Fetched, &d.Committed, &d.Quarantined, &d.NotifiedNotListed, &d.Settled, &d.Complete, &deletes); err != nil {
			t.Fatal(err)
		}
		d.Date = schemas.PartitionDate(dt)
		if !deletes.Equal(dt.Add(jobs.Retention)) {
			t.Errorf("%s: graph_deletes_from %s, want its midnight + 30 days", d.Date, deletes)
		}
		got = append(got, d)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	if len(got) != len(want) || len(got) < 28 {
		t.Fatalf("completeness_per_day: %d days, ReadCompleteness: %d; want the 30 retained days", len(got), len(want))
	}
	for i, g := range got {
		w := want[i]
		w.ExpiresInSeconds, w.Warning = 0, false
		if g != w {
			t.Errorf("completeness_per_day %+v\nReadCompleteness     %+v", g, w)
		}
		midnight, _ := time.Parse(time.DateOnly, g.Date)
		incomplete := midnight.Equal(yesterday) || midnight.Equal(day(now))
		if g.Complete == incomplete {
			t.Errorf("%s: complete %v, want %v", g.Date, g.Complete, !incomplete)
		}
		from, to := midnight, midnight.Add(24*time.Hour)
		if oldest := now.Add(-jobs.Retention); from.Before(oldest) {
			from = oldest
		}
		truth := sim.Truth(from, to)
		if n := len(truth.IDs); g.Listed != n || g.Committed != n {
			t.Errorf("%s: %d listed, %d committed, want the simulator's %d", g.Date, g.Listed, g.Committed, n)
		}
	}

	reasons := map[string]string{}
	rows, err = db.Query("SELECT call_record_id, reason FROM (" + strings.TrimSuffix(strings.TrimSpace(q["incomplete_ids"]), ";") + ")")
	if err != nil {
		t.Fatalf("incomplete_ids: %v", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, reason string
		if err := rows.Scan(&id, &reason); err != nil {
			t.Fatal(err)
		}
		reasons[id] = reason
	}
	if len(reasons) != 2 || reasons[unknown] != "notified, never listed" || reasons[bumped] != "version changed in the last runs" {
		t.Errorf("incomplete_ids = %v, want %s notified never listed and %s whose version changed", reasons, unknown, bumped)
	}
}
