package jobs_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// TestRun_NextDayFetchedWhileADayEnds: a day's last record is often slow (a
// chain of session pages), and the day cannot be written before it arrives.
// The next day's records must be fetched meanwhile, or the run's requests
// stall at every day boundary. The last GET of yesterday is held until a GET
// of one of today's records arrives (or 10 s pass); every record must still
// be in the lake once, and no more records fetched at once than the limit.
func TestRun_NextDayFetchedWhileADayEnds(t *testing.T) {
	t.Parallel()
	const concurrency = 4
	var (
		mu                sync.Mutex
		dayOf             = map[string]string{} // record id -> dt
		slow              string                // yesterday's last id (fetched last: ids go in order)
		todayArrived      = make(chan struct{})
		todayOnce         sync.Once
		released          bool
		inFlight, maxSeen int
	)
	f := newFixture(t, func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, isGet := strings.CutPrefix(r.URL.Path, "/v1.0/communications/callRecords/")
			if !isGet || strings.Contains(id, "/") {
				h.ServeHTTP(w, r)
				return
			}
			mu.Lock()
			today := dayOf[id] == schemas.PartitionDate(time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC))
			inFlight++
			maxSeen = max(maxSeen, inFlight)
			mu.Unlock()
			defer func() { mu.Lock(); inFlight--; mu.Unlock() }()
			if today {
				todayOnce.Do(func() { close(todayArrived) })
			}
			if id == slow {
				select {
				case <-todayArrived:
					mu.Lock()
					released = true
					mu.Unlock()
				case <-time.After(10 * time.Second):
				}
			}
			h.ServeHTTP(w, r)
		})
	})
	now := f.clock.Now() // 2026-11-20 15:30
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	yesterday := today.AddDate(0, 0, -1)
	mu.Lock()
	for day := today.AddDate(0, 0, -3); day.Before(now); day = day.AddDate(0, 0, 1) {
		for _, id := range f.sim.Truth(day, day.AddDate(0, 0, 1)).IDs {
			dayOf[id] = schemas.PartitionDate(day)
		}
	}
	ids := f.sim.Truth(yesterday, today).IDs
	todays := f.sim.Truth(today, now).IDs
	if len(ids) <= concurrency || len(todays) == 0 {
		t.Fatalf("the simulated tenant has %d records yesterday and %d today: the test needs more than %d and some", len(ids), len(todays), concurrency)
	}
	slow = ids[len(ids)-1]
	mu.Unlock()

	f.MustRun(t, func(c *jobs.Config) { c.Concurrency = concurrency })

	mu.Lock()
	defer mu.Unlock()
	if !released {
		t.Errorf("no record of today was fetched while yesterday's last (%s) was in flight: the run waits for each day's slowest record", slow)
	}
	if maxSeen > concurrency {
		t.Errorf("%d records fetched at once, want at most --concurrency %d across the two days", maxSeen, concurrency)
	}
	rows := callRecords(t, f.dest)
	seen := map[string]int{}
	for _, r := range rows {
		seen[r.CallRecordID]++
	}
	for _, id := range append(ids, todays...) {
		if seen[id] != 1 {
			t.Errorf("call record %s (%s) is in the lake %d times, want once", id, dayOf[id], seen[id])
		}
	}
}
