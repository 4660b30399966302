package main

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
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
	// S3 is the same measured into S3 (versitygw on loopback), when asked.
	S3 *tableFormatResult `json:"s3,omitempty"`
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
	if r.S3 != nil {
		for _, f := range r.S3.check() {
			out = append(out, "S3 "+f)
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
	if o.versitygw != "" {
		if res.S3, err = benchTableFormatS3(ctx, o, input, db); err != nil {
			return nil, fmt.Errorf("tableformat on S3: %w", err)
		}
		res.S3.Records, res.S3.Bytes, res.S3.Runs = records, size, o.privacyRepeat
	}
	return res, nil
}

// benchTableFormatS3 is benchmark 6 into S3: versitygw (POSIX backend) on
// loopback, a fresh bucket per run (and SQLite catalog, on the Iceberg side),
// where the Iceberg side's data files are copies the bucket makes.
func benchTableFormatS3(ctx context.Context, o options, input string, db *sql.DB) (*tableFormatResult, error) {
	root := filepath.Join(o.work, "s3")
	endpoint, stop, err := startVersitygw(ctx, o.versitygw, root)
	if err != nil {
		return nil, err
	}
	defer stop()
	fmt.Printf("tableformat: the same into S3 (%s on %s)\n", filepath.Base(o.versitygw), endpoint)
	buckets := [2]string{filepath.Join(root, "bench-hive"), filepath.Join(root, "bench-iceberg")}
	formats := [2]string{"hive", "iceberg"}
	catalog := filepath.Join(o.work, "s3-iceberg.db")
	env := append(os.Environ(), "AWS_ACCESS_KEY_ID="+versitygwKey, "AWS_SECRET_ACCESS_KEY="+versitygwSecret, "AWS_REGION=us-east-1",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null")
	p, err := alternate(o.privacyRepeat, buckets, func(side int) *exec.Cmd {
		os.MkdirAll(buckets[side], 0o755) // the bucket, emptied
		args := []string{"import", "--tenant-id", tenant, "--dest", "s3://" + filepath.Base(buckets[side]) + "/lake", "--s3-endpoint", endpoint,
			"--s3-path-style", "--table-format", formats[side], "--log-level", "warn"}
		if formats[side] == "iceberg" {
			for _, suffix := range []string{"", "-wal", "-shm"} {
				os.Remove(catalog + suffix)
			}
			args = append(args, "--iceberg-catalog", catalog)
		}
		cmd := exec.CommandContext(ctx, o.bin, append(args, input)...)
		cmd.Env = env
		return cmd
	}, "import into S3", "hive", "iceberg")
	if err != nil {
		return nil, err
	}
	res := &tableFormatResult{Hive: p.a, Iceberg: p.b, PairedCPU: p.cpuRatio, PairedWall: p.wallRatio}
	// The POSIX backend keeps each object as the file <root>/<bucket>/<key>.
	if res.HiveRows, err = countRows(ctx, db, filepath.Join(buckets[0], "lake")); err != nil {
		return nil, err
	}
	if res.IcebergRows, err = countRows(ctx, db, filepath.Join(buckets[1], "lake")); err != nil {
		return nil, err
	}
	return res, nil
}

// The root credentials the harness's versitygw takes.
const (
	versitygwKey    = "bench-access-key"
	versitygwSecret = "bench-secret-key"
)

// startVersitygw serves root (its folders are buckets) on a free loopback
// port, and returns its endpoint once it answers.
func startVersitygw(ctx context.Context, bin, root string) (endpoint string, stop func(), err error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.CommandContext(ctx, bin, "--port", addr, "--quiet", "posix", root)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+versitygwKey, "ROOT_SECRET_KEY="+versitygwSecret)
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start %s: %w", bin, err)
	}
	stop = func() {
		cmd.Process.Kill()
		cmd.Wait()
	}
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr, stop, nil
		}
	}
	stop()
	return "", nil, fmt.Errorf("%s did not answer on %s within 15 s", bin, addr)
}

func (r *tableFormatResult) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "### 6. What the Iceberg table format costs: `import` of %d call records (%.0f MB of JSON), `--table-format iceberg` against `hive`\n\n", r.Records, float64(r.Bytes)/1e6)
	fmt.Fprintf(&b, "%d pairs, Hive and Iceberg alternating, the raw archive on; the run of median CPU of each side, and the median of the pairs' ratios. Iceberg's side includes its Hive commit, the data files' copies (hard links in a local lake, the bucket's own copies on S3) and one SQLite-catalog commit per table.\n\n", r.Runs)
	fmt.Fprintln(&b, "| lake | Hive: CPU / wall | Iceberg: CPU / wall | CPU cost | paired CPU / wall cost | target ≤ 15% |")
	fmt.Fprintln(&b, "|---|---:|---:|---:|---:|---|")
	row := func(lake string, r *tableFormatResult, verdict string) {
		fmt.Fprintf(&b, "| %s | %.2f s / %.2f s | %.2f s / %.2f s | %+.1f%% | %+.1f%% / %+.1f%% | %s |\n", lake, r.Hive.cpu().Seconds(), r.Hive.Wall.Seconds(),
			r.Iceberg.cpu().Seconds(), r.Iceberg.Wall.Seconds(), 100*r.cpuCost(), 100*(r.PairedCPU-1), 100*(r.PairedWall-1), verdict)
	}
	within := func(r *tableFormatResult) bool { return r.cpuCost() <= targetIceberg && r.PairedCPU-1 <= targetIceberg }
	row("local", r, met(within(r)))
	if r.S3 != nil {
		row("S3 (versitygw on loopback; the bucket copies the data files)", r.S3, fmt.Sprintf("%s (not the target's benchmark)", strings.Trim(met(within(r.S3)), "*")))
	}
	fmt.Fprintf(&b, "\nRows per table, Iceberg run = Hive run: %s.\n\n", map[bool]string{true: "yes", false: "**NO**"}[len(r.check()) == 0])
	return b.String()
}
