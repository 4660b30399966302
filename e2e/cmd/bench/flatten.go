package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// flattenResult is benchmark 1.
type flattenResult struct {
	Records   int64             `json:"records"`
	Bytes     int64             `json:"input_bytes"`
	Runs      int               `json:"runs"`
	Ours      sideResult        `json:"ours"`
	DuckDB    sideResult        `json:"duckdb"`
	Ratio     float64           `json:"throughput_ratio"` // DuckDB wall / ours
	Threads   int               `json:"duckdb_threads"`
	RowsMatch bool              `json:"rows_match"`
	Columns   map[string][2]int `json:"columns"` // table -> ours, DuckDB
	// The raw archive: ours again with it on (the default; the runs above
	// have it off, to do DuckDB's work), then replay of the tables from it.
	Archived     sideResult `json:"archived"`
	Replay       sideResult `json:"replay"`
	ArchiveBytes int64      `json:"archive_bytes"` // raw/call_records, all days
}

// sideResult is one side of benchmark 1 (median run by wall time).
type sideResult struct {
	Usage usage            `json:"usage"`
	Peak  int64            `json:"peak_rss_bytes"` // the largest of the runs
	Rows  map[string]int64 `json:"rows"`
}

func (s sideResult) totalRows() int64 {
	var n int64
	for _, r := range s.Rows {
		n += r
	}
	return n
}

func (f *flattenResult) check() []string {
	var out []string
	for _, t := range tableOrder {
		if f.Ours.Rows[t] != f.DuckDB.Rows[t] {
			out = append(out, fmt.Sprintf("flatten: %s has %d rows from ours, %d from DuckDB", t, f.Ours.Rows[t], f.DuckDB.Rows[t]))
		}
	}
	for _, t := range tableOrder {
		if len(f.Replay.Rows) > 0 && f.Replay.Rows[t] != f.Ours.Rows[t] {
			out = append(out, fmt.Sprintf("flatten: %s has %d rows after replay, %d from the import", t, f.Replay.Rows[t], f.Ours.Rows[t]))
		}
	}
	if f.Ours.Rows["call_records"] != f.Records {
		out = append(out, fmt.Sprintf("flatten: call_records has %d rows, the input %d records", f.Ours.Rows["call_records"], f.Records))
	}
	return out
}

// simulatorInput is the simulator's records, o.perDay a day for 30 days, as
// JSON lines in o.work (written once, shared by the benchmarks).
func simulatorInput(ctx context.Context, o options) (path string, records, size int64, err error) {
	input := filepath.Join(o.work, fmt.Sprintf("records-%d-per-day.jsonl", o.perDay))
	if _, err := os.Stat(input); err != nil {
		fmt.Printf("writing the simulator's records (%d a day, 30 days) to %s\n", o.perDay, input)
		f, err := os.Create(input)
		if err != nil {
			return "", 0, 0, err
		}
		cmd := exec.CommandContext(ctx, o.bin, "simulate", "--dump", "--records-per-day", strconv.Itoa(o.perDay), "--seed", "1", "--tenant-id", tenant)
		cmd.Stdout = f
		_, err = runChild(cmd)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", 0, 0, err
		}
	}
	records, size, err = countLines(input)
	return input, records, size, err
}

// benchFlatten runs benchmark 1.
func benchFlatten(ctx context.Context, o options) (*flattenResult, error) {
	input, records, size, err := simulatorInput(ctx, o)
	if err != nil {
		return nil, err
	}
	res := &flattenResult{Records: records, Bytes: size, Runs: o.repeat, Threads: o.duckdbThread}
	fmt.Printf("flatten: %d records, %.1f MB of JSON; %d runs each, alternating\n", records, float64(size)/1e6, o.repeat)

	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	oursOut, duckOut, archOut := filepath.Join(o.work, "ours"), filepath.Join(o.work, "duckdb"), filepath.Join(o.work, "archived")
	var ours, duck, archived, replayed []usage
	for i := range o.repeat {
		os.RemoveAll(oursOut)
		u, err := runChild(exec.CommandContext(ctx, o.bin, "import", "--tenant-id", tenant, "--dest", oursOut, "--raw-archive=false", "--log-level", "warn", input))
		if err != nil {
			return nil, err
		}
		ours = append(ours, u)
		os.RemoveAll(archOut)
		a, err := runChild(exec.CommandContext(ctx, o.bin, "import", "--tenant-id", tenant, "--dest", archOut, "--log-level", "warn", input))
		if err != nil {
			return nil, err
		}
		archived = append(archived, a)
		for _, t := range tableOrder {
			os.RemoveAll(filepath.Join(archOut, t))
		}
		rp, err := runChild(exec.CommandContext(ctx, o.bin, "replay", "--tenant-id", tenant, "--dest", archOut, "--log-level", "warn"))
		if err != nil {
			return nil, err
		}
		replayed = append(replayed, rp)
		os.RemoveAll(duckOut)
		d, err := runChild(exec.CommandContext(ctx, self, "duckdb-child", input, duckOut, tenant, strconv.Itoa(o.duckdbThread)))
		if err != nil {
			return nil, err
		}
		duck = append(duck, d)
		fmt.Printf("  run %d: ours %5.2fs (%5.2fs CPU, %4.0f MiB)   DuckDB %5.2fs (%5.2fs CPU, %4.0f MiB)   archived %5.2fs   replay %5.2fs\n", i+1,
			u.Wall.Seconds(), u.cpu().Seconds(), mib(u.MaxRSS), d.Wall.Seconds(), d.cpu().Seconds(), mib(d.MaxRSS), a.Wall.Seconds(), rp.Wall.Seconds())
	}
	res.Ours = sideResult{Usage: median(ours), Peak: maxRSS(ours)}
	res.DuckDB = sideResult{Usage: median(duck), Peak: maxRSS(duck)}
	res.Archived = sideResult{Usage: median(archived), Peak: maxRSS(archived)}
	res.Replay = sideResult{Usage: median(replayed), Peak: maxRSS(replayed)}
	raw, _ := filepath.Glob(filepath.Join(archOut, "raw", "call_records", "*", "*.parquet"))
	for _, p := range raw {
		if fi, err := os.Stat(p); err == nil {
			res.ArchiveBytes += fi.Size()
		}
	}
	res.Ratio = res.DuckDB.Usage.Wall.Seconds() / res.Ours.Usage.Wall.Seconds()

	// Both outputs, counted by the same reader.
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	res.Ours.Rows, res.DuckDB.Rows, res.Replay.Rows = map[string]int64{}, map[string]int64{}, map[string]int64{}
	res.Columns = map[string][2]int{}
	for _, t := range tableOrder {
		var cols [2]int
		for i, root := range []string{oursOut, duckOut, archOut} {
			glob := filepath.Join(root, t, "*", "*.parquet")
			var n int64
			if err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) FROM read_parquet('%s')", glob)).Scan(&n); err != nil {
				return nil, fmt.Errorf("count %s: %w", glob, err)
			}
			switch i {
			case 0:
				res.Ours.Rows[t] = n
			case 1:
				res.DuckDB.Rows[t] = n
			case 2: // the replayed tables
				res.Replay.Rows[t] = n
				continue
			}
			if err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) FROM (DESCRIBE SELECT * FROM read_parquet('%s', hive_partitioning = false))", glob)).Scan(&cols[i]); err != nil {
				return nil, fmt.Errorf("columns %s: %w", glob, err)
			}
		}
		res.Columns[t] = cols
	}
	res.Archived.Rows = res.Replay.Rows // the import's tables, which the replay rebuilt (row for row: jobs' TestReplay)
	res.RowsMatch = len(res.check()) == 0
	return res, nil
}

// duckChild is the DuckDB side, run in its own process:
// duckdb-child INPUT OUT TENANT THREADS.
func duckChild(args []string) {
	if len(args) != 4 {
		fatal(fmt.Errorf("duckdb-child INPUT OUT TENANT THREADS"))
	}
	threads, err := strconv.Atoi(args[3])
	if err != nil {
		fatal(err)
	}
	start := time.Now()
	if err := runDuck(args[0], args[1], args[2], threads); err != nil {
		fatal(err)
	}
	json.NewEncoder(os.Stdout).Encode(map[string]float64{"seconds": time.Since(start).Seconds()})
}
