package main

import (
	"fmt"
	"strings"
)

// The targets of the benchmark issue.
const (
	targetRatio      = 4.0       // flatten-and-write throughput vs DuckDB
	targetRSS        = 256 << 20 // peak RSS at 1M call records
	targetCeiling    = 0.90      // share of the per-app-per-tenant ceiling
	targetThrottled  = 0.01      // 429s per request
	flatTolerance    = 1.25      // "flat": the largest volume within 25% of 100k
	flatReference    = 100_000
	largestScaleGoal = 1_000_000
)

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}

// markdown renders the report as the figures section of BENCHMARKS.md.
func (r report) markdown() string {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "Measured %s on commit `%s`: %d CPUs (%s), %s GiB memory, Linux %s, %s; load average at start %s",
		r.Date.Format("2006-01-02 15:04 UTC"), r.Commit, m.CPUs, m.CPUModel, m.MemoryGiB, m.Kernel, m.Go, m.LoadAvg)
	if m.CPUPressure != "" {
		fmt.Fprintf(&b, ", CPU pressure %s (time tasks waited for a CPU, last 5 minutes)", m.CPUPressure)
	}
	b.WriteString(".\n\n")

	if f := r.Flatten; f != nil {
		o, d := f.Ours, f.DuckDB
		mb := float64(f.Bytes) / 1e6
		fmt.Fprintf(&b, "### 1. Flatten and write: %d call records, %.0f MB of JSON lines, six tables of partitioned zstd Parquet\n\n", f.Records, mb)
		fmt.Fprintf(&b, "Median of %d runs each, alternating; each side in its own process on the same %d cores (DuckDB `threads=%d`).\n\n", f.Runs, m.CPUs, f.Threads)
		fmt.Fprintln(&b, "| | wall | CPU (user+sys) | rows/s | MB/s of JSON | records/s | peak RSS |")
		fmt.Fprintln(&b, "|---|---:|---:|---:|---:|---:|---:|")
		for _, s := range []struct {
			name string
			side sideResult
		}{{"callrecords-etl import (`--raw-archive=false`: DuckDB's work)", o}, {"DuckDB 1.5.6 (read_json + unnest + COPY … PARTITION_BY dt)", d},
			{"callrecords-etl import with the raw archive (the default)", f.Archived}, {"callrecords-etl replay of the tables from that archive", f.Replay}} {
			w := s.side.Usage.Wall.Seconds()
			fmt.Fprintf(&b, "| %s | %.2f s | %.2f s | %.0f | %.1f | %.0f | %.0f MiB |\n", s.name, w, s.side.Usage.cpu().Seconds(),
				float64(s.side.totalRows())/w, mb/w, float64(f.Records)/w, mib(s.side.Peak))
		}
		fmt.Fprintf(&b, "\nThroughput ratio (DuckDB wall / ours): **%.2fx** (target ≥ %.0fx: %s). ", f.Ratio, targetRatio, met(f.Ratio >= targetRatio))
		if f.Archived.Usage.Wall > 0 {
			fmt.Fprintf(&b, "The raw archive holds the %d records in %.1f MB, **%.1f KB per call record** (%.0f%% of their JSON); it costs the import %.0f%% more wall time. "+
				"Replay of the tables from it takes %.2fx the wall time of `import` as it runs by default, with the archive (target ≤ 1: %s), and %.2fx that of an import with the archive off (the same work but for reading JSON lines instead of the archive). ",
				f.Records, float64(f.ArchiveBytes)/1e6, float64(f.ArchiveBytes)/float64(f.Records)/1e3, 100*float64(f.ArchiveBytes)/float64(f.Bytes),
				100*(f.Archived.Usage.Wall.Seconds()/o.Usage.Wall.Seconds()-1),
				f.Replay.Usage.Wall.Seconds()/f.Archived.Usage.Wall.Seconds(), met(f.Replay.Usage.Wall <= f.Archived.Usage.Wall),
				f.Replay.Usage.Wall.Seconds()/o.Usage.Wall.Seconds())
		}
		fmt.Fprintf(&b, "Rows per table, ours = DuckDB: %s.\n\n", map[bool]string{true: "yes", false: "**NO**"}[f.RowsMatch])
		fmt.Fprintln(&b, "| table | rows (ours) | rows (DuckDB) | columns (ours / DuckDB) |")
		fmt.Fprintln(&b, "|---|---:|---:|---:|")
		for _, t := range tableOrder {
			fmt.Fprintf(&b, "| %s | %d | %d | %d / %d |\n", t, o.Rows[t], d.Rows[t], f.Columns[t][0], f.Columns[t][1])
		}
		b.WriteString("\n")
	}

	if len(r.Scale) > 0 {
		fmt.Fprintln(&b, "### 2. Memory with scale: `import` fed by `simulate --dump` through a pipe")
		fmt.Fprintln(&b)
		fmt.Fprintln(&b, "| call records | JSON | wall | CPU | records/s | peak RSS | in the lake |")
		fmt.Fprintln(&b, "|---:|---:|---:|---:|---:|---:|---:|")
		var ref, largest scalePoint
		for _, p := range r.Scale {
			w := p.Usage.Wall.Seconds()
			fmt.Fprintf(&b, "| %d | %.2f GB | %.1f s | %.1f s | %.0f | %.0f MiB | %d |\n", p.Records, float64(p.Bytes)/1e9, w, p.Usage.cpu().Seconds(), float64(p.Records)/w, mib(p.Usage.MaxRSS), p.Stored)
			if p.Target == flatReference {
				ref = p
			}
			if p.Target > largest.Target {
				largest = p
			}
		}
		fmt.Fprintln(&b)
		fmt.Fprintln(&b, "The simulator producing the JSON runs on the same cores at the same time, so these rates are lower than benchmark 1's.")
		if largest.Target >= largestScaleGoal && ref.Target != 0 {
			growth := float64(largest.Usage.MaxRSS) / float64(ref.Usage.MaxRSS)
			fmt.Fprintf(&b, "Peak RSS at %d records: %.0f MiB (target ≤ 256 MiB: %s); %.2fx the 100k figure (flat: %s).\n",
				largest.Records, mib(largest.Usage.MaxRSS), met(largest.Usage.MaxRSS <= targetRSS), growth, met(growth <= flatTolerance))
		} else {
			fmt.Fprintln(&b, "The 1M point is opt-in (`make bench-1m`); see the last recorded 1M figures below.")
		}
		b.WriteString("\n")
	}

	if e := r.Extract; e != nil {
		fmt.Fprintf(&b, "### 3. Extraction: a whole run against the simulator (latency %s–%s, documented throttling on)\n\n", e.Latency[0], e.Latency[1])
		ceil := e.ceiling()
		share := e.achieved() / ceil
		rate429 := float64(e.Throttled) / float64(max(e.Requests, 1))
		fmt.Fprintln(&b, "| records | requests sent | wall | admitted req/s | share of 75 req/s | 429s | records/s | busiest 20 s |")
		fmt.Fprintln(&b, "|---:|---:|---:|---:|---:|---:|---:|---:|")
		fmt.Fprintf(&b, "| %d | %d | %.1f s | %.1f | %.1f%% | %d (%.2f%%) | %.1f | %d requests |\n\n", e.Fetched, e.Requests, e.Wall.Seconds(),
			e.achieved(), 100*share, e.Throttled, 100*rate429, float64(e.Fetched)/e.Wall.Seconds(), e.MaxInWindow)
		fmt.Fprintf(&b, "`--concurrency %d --graph-max-rps %g`; requests by endpoint %v, retries %d. Over the span from the first to the last request (%.1f s) the rate is %.1f req/s (%.1f%%).\n",
			e.Concurrency, e.MaxRPS, e.ByEndpoint, e.Retries, e.Span.Seconds(), e.achievedSpan(), 100*e.achievedSpan()/ceil)
		fmt.Fprintf(&b, "Every record fetched and in the lake: %s (%d of %d). Target ≥ 90%% of the ceiling with 429s < 1%%: %s.\n\n",
			map[bool]string{true: "yes", false: "**NO**"}[len(e.check()) == 0], e.LakeRecords, e.Truth, met(share >= targetCeiling && rate429 < targetThrottled))
	}
	if len(r.Big) > 0 {
		fmt.Fprintln(&b, "### 4. One very large call record: a whole `run`, its sessions served in pages of 60")
		fmt.Fprintln(&b)
		fmt.Fprintln(&b, "| record | sessions | wall | CPU | peak RSS | bound | in the lake |")
		fmt.Fprintln(&b, "|---:|---:|---:|---:|---:|---:|---:|")
		for _, p := range r.Big {
			fmt.Fprintf(&b, "| %d MiB | %d | %.1f s | %.1f s | %.0f MiB | < %.0f MiB: %s | %d sessions |\n", p.MiB, p.Sessions, p.Usage.Wall.Seconds(),
				p.Usage.cpu().Seconds(), mib(p.Usage.MaxRSS), mib(p.Target), met(p.Usage.MaxRSS < p.Target), p.Stored)
		}
		b.WriteString("\n")
	}
	if r.WholeRun != nil {
		b.WriteString(r.WholeRun.markdown())
	}
	if r.Privacy != nil {
		b.WriteString(r.Privacy.markdown())
	}
	if r.Format != nil {
		b.WriteString(r.Format.markdown())
	}
	for _, f := range r.Failures {
		fmt.Fprintf(&b, "- FAILED CHECK: %s\n", f)
	}
	return b.String()
}
