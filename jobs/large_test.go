package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/jobs"
)

// TestLargePartitions_SameLake writes every partition the way large ones are
// written (pages spilled to disk, smaller pages, tables finished one at a
// time, no overlap between partitions) through a run, an import and an import
// that carries stored rows over: the lakes equal the one a normal run writes.
func TestLargePartitions_SameLake(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil) // its checkpoint makes the window the last three days
	watermark := f.clock.Now().Add(-24 * time.Hour)
	f.MustRun(t, nil)
	want := lakeRows(t, f.dest)

	spill := func(c *jobs.Config) { c.SpillRecords = 1 }

	runDest := t.TempDir()
	f.seedCheckpoint(t, runDest, watermark)
	f.MustRun(t, func(c *jobs.Config) { c.Dest = runDest; spill(c) })
	diffLakes(t, "large run", lakeRows(t, runDest), want)
	assertNoLeftovers(t, runDest)

	truth := f.sim.Truth(watermark.Add(-jobs.DefaultConfig().Lookback), f.clock.Now())
	var lines [][]byte
	for _, id := range truth.IDs {
		raw, _ := f.sim.Record(id)
		var compact bytes.Buffer
		json.Compact(&compact, raw)
		lines = append(lines, compact.Bytes())
	}
	importDest := t.TempDir()
	cfg := f.config()
	cfg.Dest, cfg.Credential, cfg.GraphURL = importDest, nil, ""
	spill(&cfg)
	half := len(lines) / 2
	for _, part := range [][][]byte{lines[:half], lines[half:]} { // the second carries the first over
		if _, err := jobs.Import(context.Background(), cfg, bytes.NewReader(bytes.Join(part, []byte("\n")))); err != nil {
			t.Fatal(err)
		}
	}
	diffLakes(t, "large import", lakeRows(t, importDest), want)
	assertNoLeftovers(t, importDest)
}
