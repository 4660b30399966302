package main

import (
	"context"
	"database/sql"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// targetIceberg: the Iceberg table format costs an import at most this
// much more than Hive alone (issue 16).
const targetIceberg = 0.15

// tableFormatResult is benchmark 6: what --table-format iceberg costs an
// import (its Hive commit, then the copies and the Iceberg commits).
type tableFormatResult struct {
	Records int64 `json:"records"`
	Bytes   int64 `json:"input_bytes"`
	Runs    int   `json:"runs"`
	Hive    usage `json:"hive"`    // the run of median CPU
	Iceberg usage `json:"iceberg"` // the run of median CPU
	// PairedCPU and PairedWall are the medians of each pair's ratio.
	PairedCPU   float64          `json:"paired_cpu_ratio"`
	PairedWall  float64          `json:"paired_wall_ratio"`
	HiveRows    map[string]int64 `json:"hive_rows"`
	IcebergRows map[string]int64 `json:"iceberg_rows"` // of its Hive layout, which it publishes
}

func (r *tableFormatResult) cpuCost() float64 {
	return r.Iceberg.cpu().Seconds()/r.Hive.cpu().Seconds() - 1
}

func (r *tableFormatResult) check() []string {
	var out []string
	for _, t := range tableOrder {
		if r.HiveRows[t] != r.IcebergRows[t] || r.HiveRows[t] == 0 {
			out = append(out, fmt.Sprintf("tableformat: %s has %d rows with Iceberg, %d with Hive alone", t, r.IcebergRows[t], r.HiveRows[t]))
		}
	}
	return out
}

// benchTableFormat runs benchmark 6: `import` of the flatten benchmark's
// records with --table-format hive and iceberg (its default SQLite catalog),
// alternating, the raw archive on (the default).
func benchTableFormat(ctx context.Context, o options) (*tableFormatResult, error) {
	input, records, size, err := simulatorInput(ctx, o)
	if err != nil {
		return nil, err
	}
	res := &tableFormatResult{Records: records, Bytes: size, Runs: o.privacyRepeat}
	fmt.Printf("tableformat: %d records, %.1f MB of JSON, Iceberg against Hive; %d pairs, alternating\n", records, float64(size)/1e6, o.privacyRepeat)
	lakes := [2]string{filepath.Join(o.work, "format-hive"), filepath.Join(o.work, "format-iceberg")}
	formats := [2]string{"hive", "iceberg"}
	p, err := alternate(o.privacyRepeat, lakes, func(side int) *exec.Cmd {
		return exec.CommandContext(ctx, o.bin, "import", "--tenant-id", tenant, "--dest", lakes[side], "--table-format", formats[side], "--log-level", "warn", input)
	}, "import", "hive", "iceberg")
	if err != nil {
		return nil, err
	}
	res.Hive, res.Iceberg, res.PairedCPU, res.PairedWall = p.a, p.b, p.cpuRatio, p.wallRatio
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if res.HiveRows, err = countRows(ctx, db, lakes[0]); err != nil {
		return nil, err
	}
	if res.IcebergRows, err = countRows(ctx, db, lakes[1]); err != nil {
		return nil, err
	}
	return res, nil
}

func (r *tableFormatResult) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "### 6. What the Iceberg table format costs: `import` of %d call records (%.0f MB of JSON), `--table-format iceberg` against `hive`\n\n", r.Records, float64(r.Bytes)/1e6)
	fmt.Fprintf(&b, "%d pairs, Hive and Iceberg alternating, the raw archive on; the run of median CPU of each side, and the median of the pairs' ratios. Iceberg's side includes its Hive commit, the data files' copies (hard links in a local lake) and one SQLite-catalog commit per table.\n\n", r.Runs)
	fmt.Fprintln(&b, "| Hive: CPU / wall | Iceberg: CPU / wall | CPU cost | paired CPU / wall cost | target ≤ 15% |")
	fmt.Fprintln(&b, "|---:|---:|---:|---:|---|")
	fmt.Fprintf(&b, "| %.2f s / %.2f s | %.2f s / %.2f s | %+.1f%% | %+.1f%% / %+.1f%% | %s |\n", r.Hive.cpu().Seconds(), r.Hive.Wall.Seconds(),
		r.Iceberg.cpu().Seconds(), r.Iceberg.Wall.Seconds(), 100*r.cpuCost(), 100*(r.PairedCPU-1), 100*(r.PairedWall-1),
		met(r.cpuCost() <= targetIceberg && r.PairedCPU-1 <= targetIceberg))
	fmt.Fprintf(&b, "\nRows per table, Iceberg run = Hive run: %s.\n\n", map[bool]string{true: "yes", false: "**NO**"}[len(r.check()) == 0])
	return b.String()
}
