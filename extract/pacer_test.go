package extract_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/extract"
	"github.com/callrecords-etl/callrecords-etl/graphsim"
)

// TestPacing: with MaxRPS under the tenant's limit, concurrent fetches reach
// Graph at no more than the pace (plus its burst of a tenth of a second) in
// any second, and none is throttled; unpaced, the same fetches are.
func TestPacing(t *testing.T) {
	const limit, pace = 60, 40
	run := func(maxRPS float64) (arrivals []time.Time, throttled int64) {
		sim := graphsim.New(graphsim.Config{Seed: 3, Now: func() time.Time { return simNow }, RecordsPerDay: 20, Token: "tok",
			Throttle: true, Limits: graphsim.Limits{Window: time.Second, PerAppPerTenant: limit, List: limit, PerRecord: limit}})
		var mu sync.Mutex
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			arrivals = append(arrivals, time.Now())
			mu.Unlock()
			sim.ServeHTTP(w, r)
		}))
		defer srv.Close()
		c, err := extract.New(extract.Config{BaseURL: srv.URL, Credential: extract.StaticToken("tok"), MaxRPS: maxRPS, MaxRetries: 50})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		if err := c.ListCallRecords(context.Background(), simNow.Add(-96*time.Hour), simNow, func(r extract.ListedRecord) error {
			ids = append(ids, r.ID)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := c.GetCallRecords(context.Background(), ids, 16, extract.Fetched{Record: func(string, json.RawMessage) error { return nil }}); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		return arrivals, c.Stats().Throttled
	}

	arrivals, throttled := run(pace)
	if len(arrivals) < 2*pace {
		t.Fatalf("%d requests: too few to see the pace", len(arrivals))
	}
	if throttled != 0 {
		t.Errorf("paced at %d/s under a limit of %d/s: %d requests throttled, want 0", pace, limit, throttled)
	}
	if n, at := busiestSecond(arrivals); n > pace+pace/10+1 {
		t.Errorf("paced at %d/s: %d requests reached Graph within one second (from request %d), want at most %d", pace, n, at, pace+pace/10+1)
	}

	if _, throttled := run(0); throttled == 0 {
		t.Errorf("unpaced, 16 at a time: no request throttled; the simulator's limit of %d/s did not bite, so the paced run proved nothing", limit)
	}
}

// busiestSecond returns the most requests that arrived within one second of
// each other, and the index of the first of them.
func busiestSecond(arrivals []time.Time) (most, at int) {
	for i := range arrivals {
		n := 0
		for j := i; j < len(arrivals) && arrivals[j].Sub(arrivals[i]) < time.Second; j++ {
			n++
		}
		if n > most {
			most, at = n, i
		}
	}
	return most, at
}
