package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/graphsim"
	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// TestDuckJob_SameRowsAsImport: on the simulator's records, the DuckDB side
// of benchmark 1 writes as many rows per table as callrecords-etl import, and
// those are the simulator's own counts; so the comparison is of the same work.
func TestDuckJob_SameRowsAsImport(t *testing.T) {
	now := time.Date(2026, 11, 20, 15, 30, 0, 0, time.UTC)
	sim := graphsim.New(graphsim.Config{Seed: 9, TenantID: tenant, Now: func() time.Time { return now }, RecordsPerDay: 2})
	truth := sim.Truth(now.Add(-jobs.Retention), now)
	var lines bytes.Buffer
	for _, id := range truth.IDs {
		raw, _ := sim.Record(id)
		json.Compact(&lines, raw)
		lines.WriteByte('\n')
	}
	dir := t.TempDir()
	input := filepath.Join(dir, "records.jsonl")
	if err := os.WriteFile(input, lines.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	ours, duck := filepath.Join(dir, "ours"), filepath.Join(dir, "duckdb")
	cfg := jobs.DefaultConfig()
	cfg.TenantID, cfg.Dest, cfg.Logger = tenant, ours, quietLogger
	if _, err := jobs.Import(context.Background(), cfg, bytes.NewReader(lines.Bytes())); err != nil {
		t.Fatal(err)
	}
	if err := runDuck(input, duck, tenant, 2); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func(root, table string) int {
		var n int
		q := fmt.Sprintf("SELECT count(*) FROM read_parquet('%s')", filepath.Join(root, table, "*", "*.parquet"))
		if err := db.QueryRow(q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	want := map[string]int{
		schemas.TableCallRecords: truth.Records, schemas.TableSessions: truth.Sessions,
		schemas.TableSegments: truth.Segments, schemas.TableMedia: truth.Media,
		schemas.TableMediaStreams: truth.Streams, schemas.TableParticipants: truth.Participants,
	}
	for _, table := range tableOrder {
		o, d := count(ours, table), count(duck, table)
		if o != d {
			t.Errorf("%s: import wrote %d rows, DuckDB %d", table, o, d)
		}
		if w, ok := want[table]; ok && o != w {
			t.Errorf("%s: import wrote %d rows, the simulator holds %d", table, o, w)
		}
	}
	for _, root := range []string{ours, duck} {
		var n int
		q := fmt.Sprintf("SELECT sum(len(identities)) FROM read_parquet('%s')", filepath.Join(root, schemas.TableParticipants, "*", "*.parquet"))
		if err := db.QueryRow(q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if n != truth.ParticipantIdentities {
			t.Errorf("%s: participants hold %d identities, the simulator %d", root, n, truth.ParticipantIdentities)
		}
	}
}

// TestRunChild_PeakRSSIsTheChilds: the peak RSS runChild reports is the
// child program's own, not the harness's (a child started by Go shares the
// harness's memory until its exec, and Linux would report that).
func TestRunChild_PeakRSSIsTheChilds(t *testing.T) {
	ballast := make([]byte, 256<<20)
	for i := range ballast {
		ballast[i] = byte(i)
	}
	small, err := runChild(exec.Command("true"))
	if err != nil {
		t.Fatal(err)
	}
	if small.MaxRSS <= 0 || small.MaxRSS > 32<<20 {
		t.Errorf("true: peak RSS %d MiB with a 256 MiB harness, want its own few MiB", small.MaxRSS>>20)
	}
	big, err := runChild(exec.Command("python3", "-c", `b = b"x" * (96 << 20)`))
	if err != nil {
		t.Fatal(err)
	}
	if big.MaxRSS < 96<<20 || big.MaxRSS > 200<<20 {
		t.Errorf("a child holding 96 MiB: peak RSS %d MiB", big.MaxRSS>>20)
	}
	runtime.KeepAlive(ballast)
}
