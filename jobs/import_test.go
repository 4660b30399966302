package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// TestImport_EqualsRun loads the simulator's records from JSON lines, shuffled,
// with stale lower-version copies and one broken line: the lake equals the lake
// a run over Graph writes, and the broken line is quarantined.
func TestImport_EqualsRun(t *testing.T) {
	f := newFixture(t, nil)
	// A run over the last four days (checkpoint two days old, 48 h lookback).
	watermark := f.clock.Now().Add(-48 * time.Hour)
	f.seedCheckpoint(t, f.dest, watermark)
	f.MustRun(t, nil)
	want := lakeRows(t, f.dest)

	truth := f.sim.Truth(watermark.Add(-jobs.DefaultConfig().Lookback), f.clock.Now())
	var lines [][]byte
	for _, id := range truth.IDs {
		raw, _ := f.sim.Record(id)
		var compact bytes.Buffer
		json.Compact(&compact, raw)
		lines = append(lines, compact.Bytes())
		var rec map[string]any
		json.Unmarshal(raw, &rec)
		if v := rec["version"].(float64); v > 1 {
			rec["version"] = v - 1 // an older copy must not win
			rec["sessions"] = []any{}
			old, _ := json.Marshal(rec)
			lines = append(lines, old)
		}
	}
	lines = append(lines, []byte(`{"id": "broken-1", "startDateTime": "2026-11-01T00:00:00Z", "sessions": "not a list"}`))
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })

	dest := t.TempDir()
	cfg := f.config()
	cfg.Dest, cfg.Credential, cfg.GraphURL = dest, nil, ""
	sum, err := jobs.Import(context.Background(), cfg, bytes.NewReader(bytes.Join(lines, []byte("\n"))))
	if !errors.Is(err, jobs.ErrQuarantined) || len(sum.Quarantined) != 1 || sum.Quarantined[0] != "broken-1" {
		t.Fatalf("Import = %v (quarantined %v), want the broken line quarantined", err, sum.Quarantined)
	}
	diffLakes(t, "import", lakeRows(t, dest), want)
	assertNoLeftovers(t, dest)

	// Importing again changes nothing.
	if _, err := jobs.Import(context.Background(), cfg, strings.NewReader(string(lines[0]))); err != nil {
		t.Fatal(err)
	}
	diffLakes(t, "re-import", lakeRows(t, dest), want)
	if d := sum.Datasets[schemas.DatasetCallRecords]; d.New != truth.Records {
		t.Errorf("import loaded %d new records, want %d", d.New, truth.Records)
	}
}
