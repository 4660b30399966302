package e2e_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/load"
)

// TestJourneyQueries writes a month of simulated calls, some through auto
// attendants and call queues, runs the journey queries of
// docs/quality-queries.md as printed on the views of `schema --format
// duckdb`, and compares their answers with the simulator's journeys.
func TestJourneyQueries(t *testing.T) {
	t.Parallel()
	sim, url := newSimAt(t, now, 16)
	dest := t.TempDir()
	runJob(t, url, dest, load.S3Config{})
	db := openDuckDB(t)
	createViews(t, db, dest)
	want := sim.JourneyTruth(now.Add(-jobs.Retention), now)
	if len(want.Queues) < 2 || want.Outcomes["call_queue abandoned"] == 0 || want.Outcomes["call_queue answered"] == 0 {
		t.Fatalf("simulator journeys too thin for the check: %+v", want)
	}
	q := docQueries(t, "quality-queries.md")

	t.Run("queue_wait_per_queue", func(t *testing.T) {
		rows, err := db.Query(q["queue_wait_per_queue"])
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		seen := 0
		for rows.Next() {
			var queue string
			var calls, answered int
			var avg, maxWait float64
			if err := rows.Scan(&queue, &calls, &answered, &avg, &maxWait); err != nil {
				t.Fatal(err)
			}
			seen++
			w, ok := want.Queues[queue]
			// The lake keeps microseconds, Graph's timestamps 100 ns.
			if !ok || calls != w.Calls || answered != w.Answered ||
				math.Abs(avg-w.WaitSeconds/float64(w.Calls)) > 1e-6 || math.Abs(maxWait-w.MaxWaitSeconds) > 1e-6 {
				t.Errorf("queue %q: %d calls, %d answered, wait avg %.6f max %.6f; want %+v", queue, calls, answered, avg, maxWait, w)
			}
		}
		if err := rows.Err(); err != nil || seen != len(want.Queues) {
			t.Errorf("%d queues (err %v), want %d", seen, err, len(want.Queues))
		}
	})

	t.Run("journey_outcomes", func(t *testing.T) {
		rows, err := db.Query(q["journey_outcomes"])
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		got := map[string]int{}
		for rows.Next() {
			var kind, outcome string
			var hops int
			if err := rows.Scan(&kind, &outcome, &hops); err != nil {
				t.Fatal(err)
			}
			got[kind+" "+outcome] = hops
		}
		if fmt.Sprint(got) != fmt.Sprint(want.Outcomes) {
			t.Errorf("hops per kind and outcome:\n got %v\nwant %v", got, want.Outcomes)
		}
	})
}
