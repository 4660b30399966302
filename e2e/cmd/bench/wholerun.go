package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/callrecords-etl/callrecords-etl/graphsim"
	"github.com/callrecords-etl/callrecords-etl/jobs"
)

// Targets of benchmark 4.
const (
	targetCPURatio = 5.0       // DuckDB's CPU-seconds / ours (goal)
	floorCPURatio  = 4.0       // the least acceptable
	targetRunRSS   = 128 << 20 // peak RSS of the run
)

// wholeRunResult is benchmark 4: the CPU a whole `run` costs, against
// DuckDB's flatten-and-write of the same records.
type wholeRunResult struct {
	Records     int64   `json:"records"`
	Bytes       int64   `json:"input_bytes"`
	Runs        int     `json:"runs"`
	Concurrency int     `json:"concurrency"`
	Ours        usage   `json:"ours"` // median by CPU
	DuckDB      usage   `json:"duckdb"`
	OursPeak    int64   `json:"ours_peak_rss_bytes"`
	Ratio       float64 `json:"cpu_ratio"` // DuckDB CPU / ours
	LakeRecords int64   `json:"lake_records"`
}

func (w *wholeRunResult) check() []string {
	if w.LakeRecords != w.Records {
		return []string{fmt.Sprintf("wholerun: the lake holds %d call records, the tenant %d", w.LakeRecords, w.Records)}
	}
	return nil
}

// medianCPU is the run of median CPU time.
func medianCPU(us []usage) usage {
	s := append([]usage(nil), us...)
	for i := range s { // insertion sort: a handful of runs
		for j := i; j > 0 && s[j].cpu() < s[j-1].cpu(); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[len(s)/2]
}

// benchWholeRun runs benchmark 4: `callrecords-etl run` of the call-records
// dataset against the simulator on loopback (served by this process, no
// latency, no throttling, pacing off), alternating with DuckDB flattening
// and writing the same records from a local file; the CPU time of each
// side's own process is compared.
func benchWholeRun(ctx context.Context, o options) (*wholeRunResult, error) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	sim := graphsim.New(graphsim.Config{Seed: 4, TenantID: tenant, RecordsPerDay: o.wholeDay, Token: "tok",
		Now: func() time.Time { return now }})
	srv := httptest.NewServer(sim)
	defer srv.Close()

	// The DuckDB side reads what the run fetches: every record of the 30
	// days the simulator keeps.
	input := filepath.Join(o.work, fmt.Sprintf("wholerun-%d-per-day.jsonl", o.wholeDay))
	f, err := os.Create(input)
	if err != nil {
		return nil, err
	}
	err = sim.WriteRecords(ctx, f, now.Add(-jobs.Retention).Truncate(24*time.Hour), now)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	records, size, err := countLines(input)
	if err != nil {
		return nil, err
	}
	res := &wholeRunResult{Records: records, Bytes: size, Runs: o.repeat, Concurrency: o.extractConc}
	fmt.Printf("wholerun: %d records, %.1f MB of JSON; %d runs each, alternating\n", records, float64(size)/1e6, o.repeat)

	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	oursOut, duckOut := filepath.Join(o.work, "wholerun-ours"), filepath.Join(o.work, "wholerun-duckdb")
	var ours, duck []usage
	for i := range o.repeat {
		os.RemoveAll(oursOut)
		cmd := exec.CommandContext(ctx, o.bin, "run", "--tenant-id", tenant, "--graph-url", srv.URL, "--dest", oursOut,
			"--datasets", "callrecords", "--graph-max-rps", "0", "--concurrency", strconv.Itoa(o.extractConc),
			"--raw-archive=false", "--log-level", "warn", "--now", now.Format(time.RFC3339))
		cmd.Env = append(os.Environ(), "CALLRECORDS_GRAPH_TOKEN=tok")
		u, err := runChild(cmd)
		if err != nil {
			return nil, err
		}
		ours = append(ours, u)
		os.RemoveAll(duckOut)
		d, err := runChild(exec.CommandContext(ctx, self, "duckdb-child", input, duckOut, tenant, strconv.Itoa(o.duckdbThread)))
		if err != nil {
			return nil, err
		}
		duck = append(duck, d)
		fmt.Printf("  run %d: ours %5.2fs CPU (%5.2fs wall, %4.0f MiB)   DuckDB %5.2fs CPU (%5.2fs wall, %4.0f MiB)\n", i+1,
			u.cpu().Seconds(), u.Wall.Seconds(), mib(u.MaxRSS), d.cpu().Seconds(), d.Wall.Seconds(), mib(d.MaxRSS))
	}
	res.Ours, res.DuckDB, res.OursPeak = medianCPU(ours), medianCPU(duck), maxRSS(ours)
	res.Ratio = res.DuckDB.cpu().Seconds() / res.Ours.cpu().Seconds()

	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	glob := filepath.Join(oursOut, "call_records", "*", "*.parquet")
	if err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) FROM read_parquet('%s')", glob)).Scan(&res.LakeRecords); err != nil {
		return nil, fmt.Errorf("count %s: %w", glob, err)
	}
	return res, nil
}

func (w *wholeRunResult) markdown() string {
	var b []byte
	b = fmt.Appendf(b, "### 5. CPU of a whole run: `run` of %d call records from Graph on loopback, against DuckDB's flatten-and-write of the same records\n\n", w.Records)
	b = fmt.Appendf(b, "Median by CPU of %d runs each, alternating. Ours: `callrecords-etl run --datasets callrecords --graph-max-rps 0 --concurrency %d --raw-archive=false` "+
		"against the simulator served by the harness (no latency, no throttling): list, fetch with `$expand`, participants pages, decode, flatten, write, commit (the raw archive off, as DuckDB keeps none: benchmark 1 shows its cost). "+
		"DuckDB: benchmark 1's job on the same records from a local file (%.0f MB of JSON lines), which does no HTTP.\n\n", w.Runs, w.Concurrency, float64(w.Bytes)/1e6)
	b = fmt.Appendf(b, "| | CPU (user+sys) | user | sys | wall | peak RSS |\n|---|---:|---:|---:|---:|---:|\n")
	b = fmt.Appendf(b, "| callrecords-etl run | %.2f s | %.2f s | %.2f s | %.2f s | %.0f MiB |\n", w.Ours.cpu().Seconds(), w.Ours.User.Seconds(), w.Ours.Sys.Seconds(), w.Ours.Wall.Seconds(), mib(w.OursPeak))
	b = fmt.Appendf(b, "| DuckDB 1.5.6 | %.2f s | %.2f s | %.2f s | %.2f s | %.0f MiB |\n\n", w.DuckDB.cpu().Seconds(), w.DuckDB.User.Seconds(), w.DuckDB.Sys.Seconds(), w.DuckDB.Wall.Seconds(), mib(w.DuckDB.MaxRSS))
	verdict := "not met"
	switch {
	case w.Ratio >= targetCPURatio:
		verdict = "met"
	case w.Ratio >= floorCPURatio:
		verdict = "floor met, goal not"
	}
	b = fmt.Appendf(b, "CPU ratio (DuckDB / ours): **%.2fx** (goal ≥ %.0fx, floor %.0fx: %s). Peak RSS %.0f MiB (target < %d MiB: %s). Every record in the lake: %s (%d of %d).\n\n",
		w.Ratio, targetCPURatio, floorCPURatio, verdict, mib(w.OursPeak), targetRunRSS>>20, met(w.OursPeak < targetRunRSS),
		map[bool]string{true: "yes", false: "**NO**"}[w.LakeRecords == w.Records], w.LakeRecords, w.Records)
	return string(b)
}
