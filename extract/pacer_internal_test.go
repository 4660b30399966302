package extract

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/graphsim"
)

// TestSlidingWindow: ten requests through a window of three per 150 ms take
// at least three windows (three go at once, then three per window), and a
// wait on a full window ends with its context.
func TestSlidingWindow(t *testing.T) {
	const n, window = 3, 150 * time.Millisecond
	w := &slidingWindow{n: n, window: window}
	start := time.Now()
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if err := w.wait(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if took := time.Since(start); took < 3*window {
		t.Errorf("10 requests through %d per %v took %v, want at least %v", n, window, took, 3*window)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	full := &slidingWindow{n: 1, window: time.Hour}
	if err := full.wait(ctx); err != nil {
		t.Fatalf("first wait = %v", err)
	}
	if err := full.wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("wait on a full window = %v, want its context's deadline", err)
	}
}

// The simulator's window in the two tests below, and the client's: long
// enough that the requests of an unpaced client fall in one window however
// slowly a loaded machine serves them (at 300 ms, a race-instrumented
// simulator serving a big meeting's pages beside other test binaries let
// four requests of one record spread over more than a window: its limit did
// not bite), with the margin for latencies newGraphWindow has.
const (
	simWindow    = 2 * time.Second
	clientWindow = simWindow * 3 / 2
)

// TestListWindow_AvoidsThrottling: a simulator that allows 3 list requests
// per window throttles a client listing many pages without the window, and
// none with it (the pacer alone, at 1,000/s, does not keep under it).
func TestListWindow_AvoidsThrottling(t *testing.T) {
	t.Parallel() // mostly waiting out windows
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	list := func(window *slidingWindow) (pages, throttled int64) {
		c := throttledClient(t, now, 100, graphsim.Limits{Window: simWindow, PerAppPerTenant: 1000, List: 3, PerRecord: 1000})
		c.listWindow = window
		if err := c.ListCallRecords(context.Background(), now.Add(-4*24*time.Hour), now, func(ListedRecord) error { return nil }); err != nil {
			t.Fatal(err)
		}
		st := c.Stats()
		return st.Requests[endpointList], st.Throttled
	}
	if pages, throttled := list(nil); throttled == 0 {
		t.Fatalf("without the window, %d list pages and none throttled: the simulator's limit did not bite, so the test proves nothing", pages)
	}
	pages, throttled := list(&slidingWindow{n: 3, window: clientWindow})
	t.Logf("with the window: %d list pages, %d throttled", pages, throttled)
	if pages < 6 {
		t.Fatalf("%d list pages: too few to meet the limit", pages)
	}
	if throttled != 0 {
		t.Errorf("with the window: %d of %d list requests throttled, want none", throttled, pages)
	}
}

// TestRecordWindow_AvoidsThrottling: a simulator that allows 3 requests per
// call record per window throttles a client fetching a day whose big meeting
// needs more (its GET, then pages of sessions and participants_v2) without a
// window per record, and none with one; every record is fetched whole either
// way, each through a window of its own.
func TestRecordWindow_AvoidsThrottling(t *testing.T) {
	t.Parallel() // mostly waiting out windows
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	from, to := now.Add(-48*time.Hour), now.Add(-24*time.Hour)
	fetch := func(window func() *slidingWindow) (records map[string]string, requests, throttled int64) {
		c := throttledClient(t, now, 8, graphsim.Limits{Window: simWindow, PerAppPerTenant: 1000, List: 1000, PerRecord: 3})
		c.recordWindow = window
		var ids []string
		if err := c.ListCallRecords(context.Background(), from, to, func(r ListedRecord) error {
			ids = append(ids, r.ID)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		records = map[string]string{}
		err := c.GetCallRecords(context.Background(), ids, len(ids), Fetched{
			Record: func(id string, raw json.RawMessage) error { records[id] = string(raw); return nil },
			Bad:    func(e *RecordError) error { return e },
		})
		if err != nil {
			t.Fatal(err)
		}
		st := c.Stats()
		return records, st.Requests[endpointGet] + st.Requests[endpointSessions] + st.Requests[endpointParticipants], st.Throttled
	}
	unpaced, requests, throttled := fetch(nil)
	if throttled == 0 {
		t.Fatalf("without a window, %d requests for %d records and none throttled: the simulator's limit did not bite, so the test proves nothing", requests, len(unpaced))
	}
	t.Logf("without a window: %d requests for %d records, %d throttled", requests, len(unpaced), throttled)
	var windows atomic.Int64
	paced, requests, throttled := fetch(func() *slidingWindow {
		windows.Add(1)
		return &slidingWindow{n: 3, window: clientWindow}
	})
	t.Logf("with a window per record: %d requests, %d throttled", requests, throttled)
	if throttled != 0 {
		t.Errorf("with a window per record: %d of %d requests throttled, want none", throttled, requests)
	}
	if requests < int64(len(paced))+3 {
		t.Errorf("%d requests for %d records: no record needed more than the limit", requests, len(paced))
	}
	// One window for all would hold every record back for the big one.
	if int(windows.Load()) != len(paced) {
		t.Errorf("%d windows for %d records, want one each", windows.Load(), len(paced))
	}
	if len(paced) != len(unpaced) {
		t.Fatalf("%d records fetched with the window, %d without", len(paced), len(unpaced))
	}
	for id, raw := range unpaced {
		if paced[id] != raw {
			t.Errorf("record %s differs with the window", id)
		}
	}
}

// throttledClient returns a client of a simulator (perDay records a day) that
// enforces limits, paced at 1,000 requests a second: far above them.
func throttledClient(t *testing.T, now time.Time, perDay int, limits graphsim.Limits) *Client {
	sim := graphsim.New(graphsim.Config{Seed: 3, Now: func() time.Time { return now }, RecordsPerDay: perDay, Token: "tok",
		Throttle: true, Limits: limits})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	c, err := New(Config{BaseURL: srv.URL, Credential: StaticToken("tok"), MaxRPS: 1000, MaxRetries: 50})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
