// Command bench measures callrecords-etl (`make bench`; see BENCHMARKS.md):
//
//  1. flatten: N expanded call records as JSON lines, turned into the six
//     call-record tables as partitioned Parquet on local disk, by
//     `callrecords-etl import` and by DuckDB doing the same job on the same
//     file and cores; each side runs in its own child process, so wall time,
//     CPU and peak RSS are the process's own (rusage). Row counts must agree.
//  2. scale: peak RSS of `callrecords-etl import` at growing volumes, the
//     records streamed from the simulator through a pipe (no disk copy).
//  3. extract: a whole run against the simulator with Graph's latency and
//     documented throttling, paced at the per-app-per-tenant ceiling.
//  4. bigrecord: the peak RSS of a run whose window holds one call record of
//     40 MiB, then one of 120 MiB.
//
// The figures are printed and, with -markdown, written between the bench
// markers of that file.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const tenant = "7a1c0e52-7c4e-4a57-9f0e-2f1f0c3b6a10"

type options struct {
	bin           string
	work          string
	perDay        int
	repeat        int
	scale         []int
	extractDay    int
	extractConc   int
	extractRPS    float64
	latency       [2]time.Duration
	markdown      string
	section       string
	jsonOut       string
	keep          bool
	benchmarks    []string
	duckdbThread  int
	wholeDay      int
	policy        string
	privacyRepeat int
	versitygw     string
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "duckdb-child" {
		duckChild(os.Args[2:])
		return
	}
	var o options
	var scale, which, latency string
	flag.StringVar(&o.bin, "bin", "bin/callrecords-etl", "the callrecords-etl binary")
	flag.StringVar(&o.work, "work", "", "work directory (default: a new temporary one, removed afterwards)")
	flag.IntVar(&o.perDay, "records-per-day", 100, "flatten: simulated records per day (30 days retained)")
	flag.IntVar(&o.repeat, "repeat", 5, "flatten: runs of each side (the median is reported)")
	flag.StringVar(&scale, "scale", "10000,44000,100000", "scale: call-record volumes, comma-separated (44,000: days just under the size from which partitions are written the large way, the in-memory way's peak)")
	flag.IntVar(&o.extractDay, "extract-records-per-day", 75, "extract: simulated records per day (about two requests each)")
	flag.IntVar(&o.extractConc, "extract-concurrency", 16, "extract: --concurrency")
	flag.Float64Var(&o.extractRPS, "extract-max-rps", 75, "extract: --graph-max-rps (Graph: 1,500 requests / 20 s)")
	flag.StringVar(&latency, "latency", "50ms-150ms", "extract: simulated Graph latency range")
	flag.StringVar(&o.markdown, "markdown", "", "write the figures into this file between its section's markers")
	flag.StringVar(&o.section, "section", "bench", "the section of -markdown: between <!-- SECTION:begin --> and <!-- SECTION:end -->")
	flag.StringVar(&o.jsonOut, "json", "", "write the figures as JSON to this file")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory")
	flag.IntVar(&o.wholeDay, "wholerun-records-per-day", 67, "wholerun: simulated records per day (30 days: about 2,000 records)")
	flag.StringVar(&o.policy, "privacy-policy", "deploy/privacy-policy.yaml", "privacy: the policy measured against none")
	flag.IntVar(&o.privacyRepeat, "privacy-repeat", 8, "privacy, tableformat: pairs of runs (per mode)")
	flag.StringVar(&which, "run", "flatten,scale,extract,bigrecord,wholerun", "benchmarks to run (also privacy and tableformat: make bench-privacy, make bench-iceberg)")
	flag.StringVar(&o.versitygw, "versitygw", "", "tableformat: a versitygw binary, to measure into S3 too (versitygw on loopback)")
	flag.IntVar(&o.duckdbThread, "duckdb-threads", runtime.NumCPU(), "flatten: DuckDB threads (default: the cores, like ours)")
	flag.Parse()
	o.benchmarks = strings.Split(which, ",")
	for _, s := range strings.Split(scale, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			fatal(fmt.Errorf("-scale %q: %v", scale, err))
		}
		o.scale = append(o.scale, n)
	}
	lo, hi, ok := strings.Cut(latency, "-")
	var err1, err2 error
	o.latency[0], err1 = time.ParseDuration(lo)
	o.latency[1], err2 = time.ParseDuration(hi)
	if !ok || err1 != nil || err2 != nil {
		fatal(fmt.Errorf("-latency %q: want MIN-MAX, e.g. 50ms-150ms", latency))
	}
	bin, err := filepath.Abs(o.bin)
	if err != nil {
		fatal(err)
	}
	o.bin = bin
	if _, err := os.Stat(o.bin); err != nil {
		fatal(fmt.Errorf("%v (build it with make build)", err))
	}
	if o.work == "" {
		if o.work, err = os.MkdirTemp("", "callrecords-bench-"); err != nil {
			fatal(err)
		}
		if !o.keep {
			defer os.RemoveAll(o.work)
		}
	}
	if err := run(context.Background(), o); err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

// report is every figure of one `make bench`.
type report struct {
	Commit   string             `json:"commit"`
	Date     time.Time          `json:"date"`
	Machine  machine            `json:"machine"`
	Flatten  *flattenResult     `json:"flatten,omitempty"`
	Scale    []scalePoint       `json:"scale,omitempty"`
	Extract  *extractResult     `json:"extract,omitempty"`
	Big      []bigPoint         `json:"bigrecord,omitempty"`
	WholeRun *wholeRunResult    `json:"wholerun,omitempty"`
	Privacy  *privacyResult     `json:"privacy,omitempty"`
	Format   *tableFormatResult `json:"tableformat,omitempty"`
	Failures []string           `json:"failures,omitempty"`
	Options  json.RawMessage    `json:"-"`
}

type machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	MemoryGiB string `json:"memory_gib"`
	Kernel    string `json:"kernel"`
	Go        string `json:"go"`
	LoadAvg   string `json:"load_average_at_start"`
	// CPUPressure is the kernel's share of time some task waited for a CPU
	// over the last 5 minutes (/proc/pressure/cpu): other guests of a
	// shared host show there, not in the load average.
	CPUPressure string `json:"cpu_pressure_at_start,omitempty"`
}

func run(ctx context.Context, o options) error {
	rep := report{Commit: commit(), Date: time.Now().UTC(), Machine: describeMachine()}
	fmt.Printf("callrecords-etl benchmarks: commit %s, %d CPUs (%s), %s GiB, load %s\n\n",
		rep.Commit, rep.Machine.CPUs, rep.Machine.CPUModel, rep.Machine.MemoryGiB, rep.Machine.LoadAvg)
	for _, b := range o.benchmarks {
		var err error
		switch strings.TrimSpace(b) {
		case "flatten":
			rep.Flatten, err = benchFlatten(ctx, o)
			if err == nil {
				rep.Failures = append(rep.Failures, rep.Flatten.check()...)
			}
		case "scale":
			rep.Scale, err = benchScale(ctx, o)
			if err == nil {
				rep.Failures = append(rep.Failures, scaleCheck(rep.Scale)...)
			}
		case "extract":
			rep.Extract, err = benchExtract(ctx, o)
			if err == nil {
				rep.Failures = append(rep.Failures, rep.Extract.check()...)
			}
		case "bigrecord":
			rep.Big, err = benchBigRecord(ctx, o)
			if err == nil {
				rep.Failures = append(rep.Failures, bigCheck(rep.Big)...)
			}
		case "wholerun":
			rep.WholeRun, err = benchWholeRun(ctx, o)
			if err == nil {
				rep.Failures = append(rep.Failures, rep.WholeRun.check()...)
			}
		case "privacy":
			rep.Privacy, err = benchPrivacy(ctx, o)
			if err == nil {
				rep.Failures = append(rep.Failures, rep.Privacy.check()...)
			}
		case "tableformat":
			rep.Format, err = benchTableFormat(ctx, o)
			if err == nil {
				rep.Failures = append(rep.Failures, rep.Format.check()...)
			}
		case "":
		default:
			err = fmt.Errorf("unknown benchmark %q (flatten, scale, extract, bigrecord, wholerun, privacy, tableformat)", b)
		}
		if err != nil {
			return err
		}
	}
	md := rep.markdown()
	fmt.Println()
	fmt.Print(md)
	if o.markdown != "" {
		if err := writeBetweenMarkers(o.markdown, o.section, md); err != nil {
			return err
		}
		fmt.Printf("\nwrote the figures into %s\n", o.markdown)
	}
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(o.jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if len(rep.Failures) > 0 {
		return fmt.Errorf("consistency checks failed:\n  %s", strings.Join(rep.Failures, "\n  "))
	}
	return nil
}

// usage is what a child process used, from its rusage.
type usage struct {
	Wall    time.Duration `json:"wall_ns"`
	User    time.Duration `json:"user_ns"`
	Sys     time.Duration `json:"sys_ns"`
	MaxRSS  int64         `json:"max_rss_bytes"`
	Started time.Time     `json:"-"`
}

func (u usage) cpu() time.Duration { return u.User + u.Sys }

// gnuTime measures a child's peak RSS. The rusage of a child that Go starts
// cannot: Go starts it with vfork (CLONE_VM), so until its exec it runs in
// this process's memory, and Linux records that memory's high-water mark in
// the child's ru_maxrss — the harness's own size (hundreds of MiB with the
// simulator's records), not the child's. GNU time forks (no CLONE_VM), so
// the child it waits for starts with a fresh high-water mark.
const gnuTime = "/usr/bin/time"

// runChild runs cmd to completion and returns its resource usage: CPU from
// its rusage, peak RSS as GNU time reports it for the program itself.
func runChild(cmd *exec.Cmd) (usage, error) {
	var stderr strings.Builder
	if cmd.Stderr == nil {
		cmd.Stderr = &stderr
	}
	rssFile, err := os.CreateTemp("", "bench-rss-")
	if err != nil {
		return usage{}, err
	}
	rssFile.Close()
	defer os.Remove(rssFile.Name())
	program := cmd.Args
	cmd.Args = append([]string{gnuTime, "-f", "%M", "-o", rssFile.Name(), cmd.Path}, cmd.Args[1:]...)
	cmd.Path = gnuTime
	start := time.Now()
	err = cmd.Run()
	u := usage{Wall: time.Since(start), Started: start}
	if st := cmd.ProcessState; st != nil {
		if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
			// time's own CPU (a few ms) plus the program's, which it waited for.
			u.User = time.Duration(ru.Utime.Nano())
			u.Sys = time.Duration(ru.Stime.Nano())
		}
	}
	if err != nil {
		return u, fmt.Errorf("%s: %w\n%s", strings.Join(program, " "), err, tail(stderr.String(), 2000))
	}
	out, err := os.ReadFile(rssFile.Name())
	if err != nil {
		return u, err
	}
	lines := strings.Fields(string(out))
	if len(lines) == 0 {
		return u, fmt.Errorf("%s: no peak RSS from %s", strings.Join(program, " "), gnuTime)
	}
	kib, err := strconv.ParseInt(lines[len(lines)-1], 10, 64)
	if err != nil {
		return u, fmt.Errorf("%s: peak RSS from %s: %q", strings.Join(program, " "), gnuTime, out)
	}
	u.MaxRSS = kib * 1024
	return u, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

func median(us []usage) usage {
	s := slices.Clone(us)
	slices.SortFunc(s, func(a, b usage) int { return int(a.Wall - b.Wall) })
	return s[len(s)/2]
}

func maxRSS(us []usage) int64 {
	var m int64
	for _, u := range us {
		m = max(m, u.MaxRSS)
	}
	return m
}

func commit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if exec.Command("git", "diff", "--quiet", "HEAD", "--", ".").Run() != nil {
		c += " + uncommitted changes"
	}
	return c
}

func describeMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				m.MemoryGiB = fmt.Sprintf("%.1f", kb/(1<<20))
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		f := strings.Fields(string(b))
		if len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	if b, err := os.ReadFile("/proc/pressure/cpu"); err == nil {
		for f := range strings.FieldsSeq(string(b)) {
			if v, ok := strings.CutPrefix(f, "avg300="); ok {
				m.CPUPressure = v + "%"
				break
			}
		}
	}
	return m
}

// writeBetweenMarkers replaces what lies between the markers of section in path.
func writeBetweenMarkers(path, section, body string) error {
	begin, end := "<!-- "+section+":begin -->", "<!-- "+section+":end -->"
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		return fmt.Errorf("%s has no %s … %s markers", path, begin, end)
	}
	s = s[:i+len(begin)] + "\n" + body + s[j:]
	return os.WriteFile(path, []byte(s), 0o644)
}

// countLines counts the records (lines) and bytes of a JSON-lines file.
func countLines(path string) (lines, size int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	n, err := io.Copy(&lineCounter{n: &lines}, bufio.NewReaderSize(f, 1<<20))
	return lines, n, err
}

// lineCounter counts newlines written through it.
type lineCounter struct {
	w io.Writer
	n *int64
}

func (c *lineCounter) Write(p []byte) (int, error) {
	for _, b := range p {
		if b == '\n' {
			*c.n++
		}
	}
	if c.w == nil {
		return len(p), nil
	}
	return c.w.Write(p)
}

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

func mib(b int64) float64 { return float64(b) / (1 << 20) }
