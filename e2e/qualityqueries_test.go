package e2e_test

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/load"
)

// streamCounts counts streams and poor ones under some key.
type streamCounts struct{ streams, poor, unclassified int }

// poorRate is poor over classified streams, rounded as the queries do.
func (c streamCounts) poorRate() float64 {
	if c.streams == c.unclassified {
		return math.NaN()
	}
	return math.Round(float64(c.poor)/float64(c.streams-c.unclassified)*1e4) / 1e4
}

// qualityTruth is what the quality queries must answer, recomputed from the
// simulator's JSON with expectedQuality (Microsoft's rules, not the job's code).
type qualityTruth struct {
	perDay, perSubnet, perPlatform map[string]*streamCounts
	perCause                       map[string]int
	poor                           int
}

func qualityFromPayloads(t *testing.T, want expected) qualityTruth {
	t.Helper()
	q := qualityTruth{perDay: map[string]*streamCounts{}, perSubnet: map[string]*streamCounts{}, perPlatform: map[string]*streamCounts{}, perCause: map[string]int{}}
	count := func(m map[string]*streamCounts, key, quality string) {
		c := m[key]
		if c == nil {
			c = &streamCounts{}
			m[key] = c
		}
		c.streams++
		switch quality {
		case "poor":
			c.poor++
		case "unclassified":
			c.unclassified++
		}
	}
	str := func(v any, path ...string) (string, bool) {
		for _, p := range path {
			m, _ := v.(map[string]any)
			v = m[p]
		}
		s, ok := v.(string)
		return s, ok
	}
	for id, rec := range want.byID {
		start, err := time.Parse(time.RFC3339Nano, rec["startDateTime"].(string))
		if err != nil {
			t.Fatalf("record %s: startDateTime: %v", id, err)
		}
		day := start.UTC().Format(time.DateOnly)
		sessions, _ := rec["sessions"].([]any)
		for _, s := range sessions {
			segs, _ := s.(map[string]any)["segments"].([]any)
			for _, g := range segs {
				media, _ := g.(map[string]any)["media"].([]any)
				for _, m := range media {
					label, _ := str(m, "label")
					streams, _ := m.(map[string]any)["streams"].([]any)
					for _, st := range streams {
						quality, due := expectedQuality(label, st.(map[string]any))
						count(q.perDay, day, quality)
						if quality == "poor" {
							q.poor++
						}
						for _, d := range due {
							q.perCause[d]++
						}
						for _, end := range []string{"caller", "callee"} {
							if subnet, ok := str(m, end+"Network", "subnet"); ok {
								conn, _ := str(m, end+"Network", "connectionType")
								count(q.perSubnet, subnet+" "+conn, quality)
							}
							if platform, _ := str(g, end, "userAgent", "platform"); platform != "" { // the lake keeps "" as NULL
								device, ok := str(m, end+"Device", "captureDeviceName")
								if !ok {
									device = "(none)"
								}
								count(q.perPlatform, platform+" "+device, quality)
							}
						}
					}
				}
			}
		}
	}
	if q.poor == 0 || len(q.perDay) < 2 || len(q.perSubnet) < 2 || len(q.perPlatform) < 2 || len(q.perCause) < 2 {
		t.Fatalf("simulator data too thin for the quality queries: %d poor streams, %d days, %d subnets, %d platforms, %d causes",
			q.poor, len(q.perDay), len(q.perSubnet), len(q.perPlatform), len(q.perCause))
	}
	return q
}

// queryCounts runs a documented query whose rows are key columns followed
// by streams, poor and (when withUnclassified) unclassified, then poor_rate.
func queryCounts(t *testing.T, db *sql.DB, name, query string, keys int, withUnclassified bool) map[string]streamCounts {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatalf("query %s: %v", name, err)
	}
	defer rows.Close()
	out := map[string]streamCounts{}
	for rows.Next() {
		key := make([]sql.NullString, keys)
		var c streamCounts
		var rate sql.NullFloat64
		dest := []any{}
		for i := range key {
			dest = append(dest, &key[i])
		}
		dest = append(dest, &c.streams, &c.poor)
		if withUnclassified {
			dest = append(dest, &c.unclassified)
		}
		dest = append(dest, &rate)
		if err := rows.Scan(dest...); err != nil {
			t.Fatalf("query %s: %v", name, err)
		}
		var parts []string
		for _, k := range key {
			parts = append(parts, k.String)
		}
		k := strings.Join(parts, " ")
		if withUnclassified && (rate.Valid != (c.streams > c.unclassified) || rate.Valid && math.Abs(rate.Float64-c.poorRate()) > 1e-9) {
			t.Errorf("query %s, %s: poor_rate %v for %+v", name, k, rate, c)
		}
		out[k] = c
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("query %s: %v", name, err)
	}
	return out
}

// TestQualityQueries runs the quality queries of docs/quality-queries.md on
// a lake written from the simulator and checks every answer against the
// classification recomputed from the simulator's payloads; the report's
// figures per day equal the query's.
func TestQualityQueries(t *testing.T) {
	t.Parallel()
	sim, url := newSim(t)
	dest := t.TempDir()
	runJob(t, url, dest, load.S3Config{})
	db := openDuckDB(t)
	createViews(t, db, dest)
	truth := qualityFromPayloads(t, truth(t, sim))
	q := docQueries(t, "quality-queries.md")
	for _, name := range []string{"poor_stream_rate_per_day", "poor_streams_by_cause", "poor_stream_rate_per_subnet", "poor_stream_rate_per_platform_and_device"} {
		if q[name] == "" {
			t.Fatalf("docs/quality-queries.md has no query %s", name)
		}
	}

	perDay := queryCounts(t, db, "poor_stream_rate_per_day", q["poor_stream_rate_per_day"], 1, true)
	compareCounts(t, "poor_stream_rate_per_day", perDay, truth.perDay, true)

	cfg := jobs.DefaultConfig()
	cfg.TenantID, cfg.Dest, cfg.Now = tenant, dest, func() time.Time { return now }
	rep, err := jobs.ReadReport(context.Background(), cfg)
	if err != nil {
		t.Fatalf("ReadReport: %v", err)
	}
	fromReport := map[string]streamCounts{}
	for _, d := range rep.Quality() {
		fromReport[d.Date+"T00:00:00Z"] = streamCounts{streams: d.Good + d.Poor + d.Unclassified, poor: d.Poor, unclassified: d.Unclassified}
	}
	if fmt.Sprint(fromReport) != fmt.Sprint(perDay) {
		t.Errorf("report's streams per day differ from poor_stream_rate_per_day:\nreport %v\n query %v", fromReport, perDay)
	}

	rows, err := db.Query(q["poor_streams_by_cause"])
	if err != nil {
		t.Fatalf("query poor_streams_by_cause: %v", err)
	}
	perCause := map[string]int{}
	for rows.Next() {
		var cause string
		var n int
		var share float64
		if err := rows.Scan(&cause, &n, &share); err != nil {
			t.Fatal(err)
		}
		perCause[cause] = n
		if want := math.Round(float64(n)/float64(truth.poor)*1e4) / 1e4; math.Abs(share-want) > 1e-9 {
			t.Errorf("poor_streams_by_cause %s: share_of_poor %v, want %v", cause, share, want)
		}
	}
	rows.Close()
	if fmt.Sprint(perCause) != fmt.Sprint(truth.perCause) {
		t.Errorf("poor_streams_by_cause:\n got %v\nwant %v", perCause, truth.perCause)
	}

	compareCounts(t, "poor_stream_rate_per_subnet", queryCounts(t, db, "poor_stream_rate_per_subnet", q["poor_stream_rate_per_subnet"], 2, false), truth.perSubnet, false)
	compareCounts(t, "poor_stream_rate_per_platform_and_device", queryCounts(t, db, "poor_stream_rate_per_platform_and_device", q["poor_stream_rate_per_platform_and_device"], 2, false), truth.perPlatform, false)
}

// compareCounts compares a query's counts with the recomputed ones; dates
// come back from DuckDB as timestamps, so the truth's days are keyed alike.
func compareCounts(t *testing.T, name string, got map[string]streamCounts, want map[string]*streamCounts, days bool) {
	t.Helper()
	w := map[string]streamCounts{}
	for k, c := range want {
		if days {
			k += "T00:00:00Z"
		}
		c := *c
		if !days {
			c.unclassified = 0 // those queries do not return it
		}
		w[k] = c
	}
	if fmt.Sprint(got) != fmt.Sprint(w) {
		t.Errorf("%s:\n got %v\nwant %v", name, got, w)
	}
}
