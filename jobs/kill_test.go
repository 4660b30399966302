package jobs_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/callrecords-etl/callrecords-etl/graphsim"
	"github.com/callrecords-etl/callrecords-etl/load/icebergproc"
	"github.com/callrecords-etl/callrecords-etl/load/loadtest"
)

// builtBinaries holds the real command and, next to it, the Iceberg binary it
// starts for --table-format iceberg: built once per test binary, as linking
// them takes longer than most tests here.
var builtBinaries struct {
	once sync.Once
	dir  string
	err  error
}

// buildBinary returns the real command's path, building both binaries on
// the first call.
func buildBinary(t *testing.T) string {
	t.Helper()
	b := &builtBinaries
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "callrecords-etl-bin-"); b.err != nil {
			return
		}
		var g errgroup.Group
		for name, pkg := range map[string]string{"callrecords-etl": "..", icebergproc.Binary: "../cmd/" + icebergproc.Binary} {
			g.Go(func() error {
				cmd := exec.Command("go", "build", "-o", filepath.Join(b.dir, name), pkg)
				cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
				if out, err := cmd.CombinedOutput(); err != nil {
					return fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
				}
				return nil
			})
		}
		b.err = g.Wait()
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return filepath.Join(b.dir, "callrecords-etl")
}

// TestMain removes the binaries built for the tests.
func TestMain(m *testing.M) {
	loadtest.SetS3Environment() // the tests on versitygw run in parallel
	code := m.Run()
	repeatedKeys.Lock() // a test's goroutine may still log
	if len(repeatedKeys.lines) > 0 {
		slices.Sort(repeatedKeys.lines)
		fmt.Fprintf(os.Stderr, "FAIL: log lines with a key twice:\n%s\n", strings.Join(slices.Compact(repeatedKeys.lines), "\n"))
		code = max(code, 1)
	}
	repeatedKeys.Unlock()
	if builtBinaries.dir != "" {
		os.RemoveAll(builtBinaries.dir)
	}
	os.Exit(code)
}

type processFixture struct {
	bin, url string
	from, to time.Time
}

func (p processFixture) command(dest string) *exec.Cmd {
	cmd := exec.Command(p.bin, "run", "--graph-url", p.url, "--tenant-id", tenant, "--dest", dest,
		"--from", p.from.Format(time.RFC3339), "--to", p.to.Format(time.RFC3339),
		"--datasets", "callrecords,pstn,directrouting", "--graph-max-rps", "0", "--lock-ttl", "3s", "--log-level", "error")
	cmd.Env = append(os.Environ(), "CALLRECORDS_GRAPH_TOKEN=tok")
	return cmd
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func newProcessFixture(t *testing.T, latency time.Duration) processFixture {
	t.Helper()
	// The simulator's clock is pinned and the window lies well inside its
	// retention, so every run sees the same records whatever the wall clock
	// says (the process's own clock only times its lease).
	t0 := time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC)
	sim := graphsim.New(graphsim.Config{Seed: 11, TenantID: tenant, Now: func() time.Time { return t0 },
		RecordsPerDay: 6, PstnPerDay: 20, DirectRoutingPerDay: 10, Token: "tok", Latency: [2]time.Duration{latency / 2, latency}})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return processFixture{bin: buildBinary(t), url: srv.URL, from: t0.Add(-6 * 24 * time.Hour), to: t0.Add(-2 * 24 * time.Hour)}
}

// TestKill_RealProcess SIGKILLs the real command at random instants of a run:
// right after each kill a reader globbing the lake sees committed data only
// (every key once, no torn partition); then it reruns (waiting out the dead
// run's lease) and the lake ends up equal, row for row, to the lake of a run
// that was never interrupted, with nothing else in the table folders.
func TestKill_RealProcess(t *testing.T) {
	t.Parallel() // mostly waiting for leases to expire
	p := newProcessFixture(t, 2*time.Millisecond)
	clean := t.TempDir()
	start := time.Now()
	if out, err := p.command(clean).CombinedOutput(); err != nil {
		t.Fatalf("clean run: %v\n%s", err, out)
	}
	took := time.Since(start)
	want := lakeRows(t, clean)
	if len(want["call_records"]) == 0 || len(want["pstn_calls"]) == 0 {
		t.Fatalf("clean lake is empty: %d call records, %d PSTN rows", len(want["call_records"]), len(want["pstn_calls"]))
	}

	seed := uint64(time.Now().UnixNano())
	t.Logf("clean run took %s; kill points drawn with seed %d", took, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for i := range 5 {
		start := time.Now()
		dest := t.TempDir()
		cmd := p.command(dest)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		after := time.Duration(rng.Int64N(int64(took)))
		time.Sleep(after)
		cmd.Process.Kill()
		cmd.Wait()
		// What a reader globbing the table folders sees now: every key once,
		// every call record with its sessions, no file but the commits.
		assertReaderView(t, "killed after "+after.String(), dest)

		// Rerun; the killed run's lease blocks it (exit 5) until it expires.
		deadline := time.Now().Add(30 * time.Second)
		for {
			out, err := p.command(dest).CombinedOutput()
			code := exitCode(err)
			if code == 0 {
				break
			}
			if code != 5 || time.Now().After(deadline) {
				t.Fatalf("kill %d (after %s): rerun exit %d: %s", i, after, code, out)
			}
			time.Sleep(500 * time.Millisecond)
		}
		t.Logf("kill %d after %s: repaired by %s", i, after, time.Since(start))
		diffLakes(t, "killed after "+after.String(), lakeRows(t, dest), want)
		assertNoLeftovers(t, dest)
	}
}

// TestKill_ConcurrentProcesses: a second process started while the first holds
// the tenant's lock exits with code 5 and writes nothing; the first completes.
func TestKill_ConcurrentProcesses(t *testing.T) {
	t.Parallel()
	p := newProcessFixture(t, 20*time.Millisecond)
	dest := t.TempDir()
	first := p.command(dest)
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	lockFile := filepath.Join(dest, "_etl", "locks", tenant+".json")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(lockFile); err == nil {
			break
		}
		if time.Now().After(deadline) {
			first.Process.Kill()
			t.Fatal("the first run never took the lock")
		}
	}
	out, err := p.command(dest).CombinedOutput()
	if code := exitCode(err); code != 5 {
		t.Errorf("second process exit %d, want 5 (lock held): %s", code, out)
	}
	if err := first.Wait(); err != nil {
		t.Errorf("first process: %v", err)
	}
	if _, err := os.Stat(lockFile); !os.IsNotExist(err) {
		t.Errorf("lock not released after the run: %v", err)
	}
}
