package extract_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/extract"
	"github.com/callrecords-etl/callrecords-etl/graphsim"
)

// BenchmarkPacing fetches two days of records from a simulator that enforces
// an app limit of 60 requests per second, once with client pacing under that
// limit and once without. It reports the achieved request rate and the 429s:
// with pacing the run should stay under the limit instead of living on 429s.
func BenchmarkPacing(b *testing.B) {
	for _, bc := range []struct {
		name   string
		maxRPS float64
	}{{"paced-50rps", 50}, {"unpaced", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			var reqs, throttled int64
			var elapsed time.Duration
			for b.Loop() {
				sim := graphsim.New(graphsim.Config{Seed: 3, Now: func() time.Time { return simNow }, RecordsPerDay: 20, Token: "tok",
					Throttle: true, Limits: graphsim.Limits{Window: time.Second, PerAppPerTenant: 60, List: 60, PerRecord: 60}})
				srv := httptest.NewServer(sim)
				c, err := extract.New(extract.Config{BaseURL: srv.URL, Credential: extract.StaticToken("tok"), MaxRPS: bc.maxRPS, MaxRetries: 50})
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				var list []string
				if err := c.ListCallRecords(context.Background(), simNow.Add(-48*time.Hour), simNow, func(r extract.ListedRecord) error {
					list = append(list, r.ID)
					return nil
				}); err != nil {
					b.Fatal(err)
				}
				if err := c.GetCallRecords(context.Background(), list, 8, extract.Fetched{Record: func(string, json.RawMessage) error { return nil }}); err != nil {
					b.Fatal(err)
				}
				elapsed += time.Since(start)
				st := c.Stats()
				for _, n := range st.Requests {
					reqs += n
				}
				throttled += st.Throttled
				srv.Close()
			}
			b.ReportMetric(float64(reqs)/elapsed.Seconds(), "req/s")
			b.ReportMetric(float64(throttled)/float64(b.N), "429s/op")
		})
	}
}

// BenchmarkGetCallRecords measures fetching and assembling whole records
// (sessions and participants pages) from an unthrottled simulator.
func BenchmarkGetCallRecords(b *testing.B) {
	sim := graphsim.New(graphsim.Config{Seed: 1, Now: func() time.Time { return simNow }, RecordsPerDay: 20, Token: "tok"})
	srv := httptest.NewServer(sim)
	defer srv.Close()
	c, err := extract.New(extract.Config{BaseURL: srv.URL, Credential: extract.StaticToken("tok")})
	if err != nil {
		b.Fatal(err)
	}
	ids := sim.Truth(simNow.Add(-3*24*time.Hour), simNow).IDs
	var bytes int64
	for b.Loop() {
		if err := c.GetCallRecords(context.Background(), ids, 4, extract.Fetched{Record: func(_ string, raw json.RawMessage) error {
			bytes += int64(len(raw))
			return nil
		}}); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(bytes / int64(b.N))
	b.ReportMetric(float64(len(ids)), "records/op")
}
