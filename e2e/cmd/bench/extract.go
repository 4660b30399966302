package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/callrecords-etl/callrecords-etl/extract"
	"github.com/callrecords-etl/callrecords-etl/graphsim"
	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// The documented call-records limit per app per tenant (reference §4.1).
const (
	ceilingRequests = 1500
	ceilingWindow   = 20 * time.Second
)

// extractResult is benchmark 3.
type extractResult struct {
	RecordsPerDay   int              `json:"records_per_day"`
	Concurrency     int              `json:"concurrency"`
	MaxRPS          float64          `json:"max_rps"`
	Latency         [2]string        `json:"latency"`
	Truth           int              `json:"records_in_tenant"`
	Fetched         int              `json:"records_fetched"`
	NotFound        int              `json:"not_found"`
	Quarantined     int              `json:"quarantined"`
	LakeRecords     int64            `json:"lake_call_records"`
	Wall            time.Duration    `json:"wall_ns"`
	Span            time.Duration    `json:"request_span_ns"` // first to last request received
	Requests        int64            `json:"requests_sent"`
	ByEndpoint      map[string]int64 `json:"requests_by_endpoint"`
	Throttled       int64            `json:"throttled_429"`
	Retries         int64            `json:"retries"`
	ServerSeen      int              `json:"requests_received"`
	ServerThrottled int              `json:"throttled_by_server"`
	MaxInWindow     int              `json:"max_received_in_20s"`
}

func (e *extractResult) ceiling() float64 { return ceilingRequests / ceilingWindow.Seconds() }

// achieved is the requests Graph admitted (sent less 429s) per second of the run.
func (e *extractResult) achieved() float64 {
	return float64(e.Requests-e.Throttled) / e.Wall.Seconds()
}

// achievedSpan is the same over the span in which requests were received.
func (e *extractResult) achievedSpan() float64 {
	return float64(e.Requests-e.Throttled) / e.Span.Seconds()
}

func (e *extractResult) check() []string {
	var out []string
	if e.Fetched != e.Truth || e.NotFound != 0 || e.Quarantined != 0 {
		out = append(out, fmt.Sprintf("extract: fetched %d of %d records (%d not found, %d quarantined)", e.Fetched, e.Truth, e.NotFound, e.Quarantined))
	}
	if e.LakeRecords != int64(e.Truth) {
		out = append(out, fmt.Sprintf("extract: the lake holds %d call records, the tenant %d", e.LakeRecords, e.Truth))
	}
	return out
}

// benchExtract runs benchmark 3: a whole run (list, fetch, write, commit)
// against the simulator on loopback with Graph's latency and documented
// throttling, the client paced at the documented ceiling.
func benchExtract(ctx context.Context, o options) (*extractResult, error) {
	sim := graphsim.New(graphsim.Config{
		Seed: 3, TenantID: tenant, RecordsPerDay: o.extractDay, Token: "tok",
		Throttle: true, Latency: o.latency,
	})
	now := time.Now()
	truth := sim.Truth(now.Add(-jobs.Retention), now)

	// The admission times of every request, to find the busiest 20 s.
	var mu sync.Mutex
	var seen []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, time.Now())
		mu.Unlock()
		sim.ServeHTTP(w, r)
	}))
	defer srv.Close()

	dest := filepath.Join(o.work, "extract")
	defer os.RemoveAll(dest)
	cfg := jobs.DefaultConfig()
	cfg.TenantID, cfg.GraphURL, cfg.Dest = tenant, srv.URL, dest
	cfg.Credential = extract.StaticToken("tok")
	cfg.MaxRPS, cfg.Concurrency = o.extractRPS, o.extractConc
	cfg.Datasets = []string{schemas.DatasetCallRecords}
	cfg.Logger = quietLogger
	fmt.Printf("extract: %d records (%d a day), latency %s-%s, --concurrency %d --graph-max-rps %g\n",
		truth.Records, o.extractDay, o.latency[0], o.latency[1], o.extractConc, o.extractRPS)

	start := time.Now()
	sum, err := jobs.Run(ctx, cfg)
	wall := time.Since(start)
	if err != nil {
		return nil, fmt.Errorf("extract: jobs.Run: %w", err)
	}
	d := sum.Datasets[schemas.DatasetCallRecords]
	res := &extractResult{
		RecordsPerDay: o.extractDay, Concurrency: o.extractConc, MaxRPS: o.extractRPS,
		Latency: [2]string{o.latency[0].String(), o.latency[1].String()},
		Truth:   truth.Records, Fetched: d.New + d.Updated, NotFound: d.NotFound, Quarantined: d.Failed,
		Wall: wall, ByEndpoint: sum.Graph.Requests, Throttled: sum.Graph.Throttled, Retries: sum.Graph.Retries,
	}
	if t := sum.Tables[schemas.TableCallRecords]; t != nil {
		res.LakeRecords = t.Rows
	}
	for _, n := range sum.Graph.Requests {
		res.Requests += n
	}
	st := sim.Stats()
	for _, n := range st.Requests {
		res.ServerSeen += n
	}
	res.ServerThrottled = st.Throttled
	mu.Lock()
	if len(seen) > 0 {
		res.Span = seen[len(seen)-1].Sub(seen[0])
	}
	for i, j := 0, 0; j < len(seen); j++ {
		for seen[j].Sub(seen[i]) >= ceilingWindow {
			i++
		}
		res.MaxInWindow = max(res.MaxInWindow, j-i+1)
	}
	mu.Unlock()
	fmt.Printf("extract: %d requests in %.1fs (%.1f/s admitted, %.0f%% of %g/s), %d throttled (429), %d records fetched (%.1f/s)\n",
		res.Requests, wall.Seconds(), res.achieved(), 100*res.achieved()/res.ceiling(), res.ceiling(),
		res.Throttled, res.Fetched, float64(res.Fetched)/wall.Seconds())
	return res, nil
}
