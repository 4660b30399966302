package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// targetPrivacy: a hash policy costs an import at most this much more
// than keep (issue 18).
const targetPrivacy = 0.15

// benchKey is the pseudonymisation key of benchmark 5: a benchmark's.
const benchKey = "callrecords-etl benchmark key, not a secret"

// privacyResult is benchmark 5: what a privacy policy costs an import,
// with the raw archive on (the default) and off.
type privacyResult struct {
	Records int64         `json:"records"`
	Bytes   int64         `json:"input_bytes"`
	Runs    int           `json:"runs"`
	Policy  string        `json:"policy"`
	Modes   []privacyMode `json:"modes"`
}

type privacyMode struct {
	Archive bool  `json:"raw_archive"`
	Keep    usage `json:"keep"`   // the run of median CPU
	Hashed  usage `json:"hashed"` // the run of median CPU
	// PairedCPU and PairedWall are the medians of each pair's ratio
	// (hashed / keep), which a drift of the host's load moves less.
	PairedCPU  float64          `json:"paired_cpu_ratio"`
	PairedWall float64          `json:"paired_wall_ratio"`
	KeepRows   map[string]int64 `json:"keep_rows"`
	HashedRows map[string]int64 `json:"hashed_rows"`
}

func (m privacyMode) cpuCost() float64 { return m.Hashed.cpu().Seconds()/m.Keep.cpu().Seconds() - 1 }

func (p *privacyResult) check() []string {
	var out []string
	for _, m := range p.Modes {
		for _, t := range tableOrder {
			if m.KeepRows[t] != m.HashedRows[t] || m.KeepRows[t] == 0 {
				out = append(out, fmt.Sprintf("privacy (archive %t): %s has %d rows under the policy, %d without", m.Archive, t, m.HashedRows[t], m.KeepRows[t]))
			}
		}
	}
	return out
}

// benchPrivacy runs benchmark 5: `import` of the flatten benchmark's records
// without a policy and under o.policy, alternating, with the raw archive on
// and off.
func benchPrivacy(ctx context.Context, o options) (*privacyResult, error) {
	input, records, size, err := simulatorInput(ctx, o)
	if err != nil {
		return nil, err
	}
	policy, err := filepath.Abs(o.policy)
	if err != nil {
		return nil, err
	}
	res := &privacyResult{Records: records, Bytes: size, Runs: o.privacyRepeat, Policy: o.policy}
	fmt.Printf("privacy: %d records, %.1f MB of JSON, %s against no policy; %d pairs per mode, alternating\n", records, float64(size)/1e6, o.policy, o.privacyRepeat)
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	for _, archive := range []bool{true, false} {
		m := privacyMode{Archive: archive}
		lakes := [2]string{filepath.Join(o.work, "privacy-keep"), filepath.Join(o.work, "privacy-hashed")}
		importTo := func(i int) *exec.Cmd {
			args := []string{"import", "--tenant-id", tenant, "--dest", lakes[i], fmt.Sprintf("--raw-archive=%t", archive), "--log-level", "warn"}
			if i == 1 {
				args = append(args, "--privacy-policy", policy)
			}
			cmd := exec.CommandContext(ctx, o.bin, append(args, input)...)
			cmd.Env = append(os.Environ(), "CALLRECORDS_PRIVACY_KEY="+benchKey)
			return cmd
		}
		p, err := alternate(o.privacyRepeat, lakes, importTo, fmt.Sprintf("archive %-5t", archive), "keep", "policy")
		if err != nil {
			return nil, err
		}
		m.Keep, m.Hashed, m.PairedCPU, m.PairedWall = p.a, p.b, p.cpuRatio, p.wallRatio
		if m.KeepRows, err = countRows(ctx, db, lakes[0]); err != nil {
			return nil, err
		}
		if m.HashedRows, err = countRows(ctx, db, lakes[1]); err != nil {
			return nil, err
		}
		res.Modes = append(res.Modes, m)
	}
	return res, nil
}

// pairs is what alternate measured: each side's run of median CPU, and the
// medians of the pairs' ratios (b / a), which a drift of the host's load
// moves less.
type pairs struct {
	a, b                usage
	cpuRatio, wallRatio float64
}

// alternate runs n pairs of commands, side a then side b, each into its
// fresh destination dests[side] (cmd makes side's command).
func alternate(n int, dests [2]string, cmd func(side int) *exec.Cmd, label, nameA, nameB string) (pairs, error) {
	var as, bs []usage
	var cpuRatios, wallRatios []float64
	for i := range n {
		var pair [2]usage
		for side := range 2 {
			os.RemoveAll(dests[side])
			var err error
			if pair[side], err = runChild(cmd(side)); err != nil {
				return pairs{}, err
			}
		}
		as, bs = append(as, pair[0]), append(bs, pair[1])
		cpuRatios = append(cpuRatios, pair[1].cpu().Seconds()/pair[0].cpu().Seconds())
		wallRatios = append(wallRatios, pair[1].Wall.Seconds()/pair[0].Wall.Seconds())
		fmt.Printf("  %s pair %d: %s %5.2fs CPU %5.2fs wall   %s %5.2fs CPU %5.2fs wall\n", label, i+1,
			nameA, pair[0].cpu().Seconds(), pair[0].Wall.Seconds(), nameB, pair[1].cpu().Seconds(), pair[1].Wall.Seconds())
	}
	return pairs{a: medianCPU(as), b: medianCPU(bs), cpuRatio: medianOf(cpuRatios), wallRatio: medianOf(wallRatios)}, nil
}

func medianOf(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}

// countRows counts the rows of each table of the lake at root.
func countRows(ctx context.Context, db *sql.DB, root string) (map[string]int64, error) {
	out := map[string]int64{}
	for _, t := range tableOrder {
		glob := filepath.Join(root, t, "*", "*.parquet")
		var n int64
		if err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*) FROM read_parquet('%s')", glob)).Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s: %w", glob, err)
		}
		out[t] = n
	}
	return out, nil
}

func (p *privacyResult) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "### 5. What a privacy policy costs: `import` of %d call records (%.0f MB of JSON) under `%s` against no policy\n\n", p.Records, float64(p.Bytes)/1e6, p.Policy)
	fmt.Fprintf(&b, "%d pairs per mode, keep and the policy alternating; the run of median CPU of each side, and the median of the pairs' ratios.\n\n", p.Runs)
	fmt.Fprintln(&b, "| raw archive | keep: CPU / wall | policy: CPU / wall | CPU cost | paired CPU / wall cost | target ≤ 15% |")
	fmt.Fprintln(&b, "|---|---:|---:|---:|---:|---|")
	for _, m := range p.Modes {
		fmt.Fprintf(&b, "| %s | %.2f s / %.2f s | %.2f s / %.2f s | %+.1f%% | %+.1f%% / %+.1f%% | %s |\n", map[bool]string{true: "on (the default)", false: "off"}[m.Archive],
			m.Keep.cpu().Seconds(), m.Keep.Wall.Seconds(), m.Hashed.cpu().Seconds(), m.Hashed.Wall.Seconds(), 100*m.cpuCost(),
			100*(m.PairedCPU-1), 100*(m.PairedWall-1), met(m.cpuCost() <= targetPrivacy && m.PairedCPU-1 <= targetPrivacy))
	}
	fmt.Fprintf(&b, "\nRows per table under the policy = without: %s.\n\n", map[bool]string{true: "yes", false: "**NO**"}[len(p.check()) == 0])
	return b.String()
}
