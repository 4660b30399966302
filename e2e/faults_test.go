package e2e_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/extract"
	"github.com/callrecords-etl/callrecords-etl/graphsim"
	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/loadtest"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// quietLogger drops the job's log: the faulty attempts log every retry.
var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// settable is a clock shared by the simulator and the job.
type settable struct {
	mu sync.Mutex
	t  time.Time
}

func (c *settable) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *settable) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestLake_ReaderViewUnderS3Faults runs the job into a real S3 server
// (versitygw) through a proxy that breaks 18% of the requests (500, 503,
// connection resets, lost responses, truncated bodies; seeded), attempt after
// attempt until a run succeeds, first into an empty lake, then again after
// records changed. After every attempt, failed or not, DuckDB globbing the
// table folders (as Athena and Spark do) finds no key twice and no row that a
// clean run does not write; once the attempts succeed the lake equals a clean
// run's, table by table.
func TestLake_ReaderViewUnderS3Faults(t *testing.T) {
	t.Parallel() // StartS3 finds the AWS variables TestMain set
	s3cfg, root := loadtest.StartS3(t)
	proxy := loadtest.StartFaultProxy(t, s3cfg.Endpoint, nil)
	faulty := s3cfg
	// Two attempts per request instead of five: with the 18% of faults,
	// some requests fail for good and attempts fail part-way, which is what
	// the reader's view must survive.
	faulty.Endpoint, faulty.MaxAttempts = proxy.URL, 2
	faulty.MaxBackoff = 20 * time.Millisecond // what is checked is what readers see, not how long a retry waits
	lake := filepath.Join(root, s3cfg.Bucket, "lake")
	testReaderViewUnderFaults(t, proxy, faultyLake{
		dest:      "s3://" + s3cfg.Bucket + "/lake",
		configure: func(c *jobs.Config) { c.S3 = faulty },
		view:      func(*testing.T) string { return lake },
		expire:    func() { os.Remove(filepath.Join(lake, "_etl", "locks", tenant+".json")) },
	})
}

// TestLake_ReaderViewUnderAzureFaults: the same on Azure Blob Storage
// (Azurite behind the proxy); the reader's view is the lake as listed and
// downloaded through a store that bypasses the proxy.
func TestLake_ReaderViewUnderAzureFaults(t *testing.T) {
	t.Parallel()
	az := loadtest.StartAzurite(t)
	server, _ := strings.CutSuffix(az.Endpoint, "/"+loadtest.AzureAccount)
	proxy := loadtest.StartFaultProxy(t, server, nil)
	faulty := load.AzureConfig{ConnectionString: az.ConnectionString(proxy.URL + "/" + loadtest.AzureAccount), MaxRetries: 1,
		RetryDelay: 5 * time.Millisecond}
	dest := az.Dest("lake")
	direct, err := load.OpenStore(context.Background(), dest, load.StoreConfig{Azure: az.Config()})
	if err != nil {
		t.Fatal(err)
	}
	testReaderViewUnderFaults(t, proxy, faultyLake{
		dest:      dest,
		configure: func(c *jobs.Config) { c.Azure = faulty },
		view:      func(t *testing.T) string { return loadtest.DownloadAll(t, direct) },
		expire:    func() { direct.Delete(context.Background(), "_etl/locks/"+tenant+".json") },
	})
}

// faultyLake is a lake on a real store behind a fault proxy.
type faultyLake struct {
	dest      string
	configure func(c *jobs.Config) // reaches the store through the proxy
	view      func(t *testing.T) string
	expire    func() // removes the lease a failed attempt left
}

// maxFaultyAttempts only stops a phase that never converges. An attempt
// succeeds when none of its ~130 store requests fails twice in a row (one
// retry): about one attempt in ten at this fault rate (7 runs of the two
// tests: 10 to 25 failed attempts over a test's two phases), so the earlier
// cap of 40 was reached by chance about once in 80 phases (0.9^40, one CI run
// in 20 with both tests); 0.9^200 is 1 in 10^9.
const maxFaultyAttempts = 200

// testReaderViewUnderFaults runs the job twice (a second run with new
// versions) through a proxy that breaks 18% of the store's requests,
// retrying each failed attempt, and after every attempt reads the lake as a
// glob reader does: only rows some clean run wrote, no key twice; at the end
// the lake equals a clean run's.
func testReaderViewUnderFaults(t *testing.T, proxy *loadtest.FaultProxy, remote faultyLake) {
	clk := &settable{t: now}
	// No big meetings: they are most of a month's bytes, which every attempt
	// fetches again, and they add no store request (their days' files stay
	// far below a multipart upload).
	sim := graphsim.New(graphsim.Config{Seed: 42, TenantID: tenant, Now: clk.Now, RecordsPerDay: 4, PstnPerDay: 8, DirectRoutingPerDay: 5, Token: "tok", NoBigMeetings: true})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	seed := uint64(time.Now().UnixNano())
	t.Logf("faults drawn with seed %d", seed)
	db := openDuckDB(t)

	run := func(dest string, edit func(*jobs.Config)) error {
		cfg := jobs.DefaultConfig()
		cfg.TenantID, cfg.GraphURL, cfg.Dest = tenant, srv.URL, dest
		cfg.Credential = extract.StaticToken("tok")
		cfg.MaxRPS, cfg.Concurrency, cfg.Now = 0, 4, clk.Now
		cfg.Logger = quietLogger
		if edit != nil {
			edit(&cfg)
		}
		_, err := jobs.Run(context.Background(), cfg)
		return err
	}
	clean := t.TempDir()
	var allowed []string // clean lakes whose rows a reader may see
	failed := 0
	for phase := range 2 {
		if phase == 1 {
			// Two records get new versions, others are published.
			tr := sim.Truth(clk.Now().Add(-48*time.Hour), clk.Now())
			for _, id := range tr.IDs[:2] {
				sim.Bump(id)
			}
			clk.Add(6 * time.Hour)
		}
		if err := run(clean, nil); err != nil {
			t.Fatalf("clean run, phase %d: %v", phase, err)
		}
		snapshot := filepath.Join(t.TempDir(), "clean")
		copyTree(t, clean, snapshot)
		allowed = append(allowed, snapshot)

		proxy.SetFaults(loadtest.RandomFaults(seed+uint64(phase), 0.18))
		for attempt := 1; ; attempt++ {
			err := run(remote.dest, remote.configure)
			label := fmt.Sprintf("phase %d attempt %d (%v)", phase, attempt, err)
			checkReaderView(t, db, label, remote.view(t), allowed)
			if err == nil {
				break
			}
			if errors.Is(err, jobs.ErrLocked) {
				// The failed attempt could not release its lease: it expires.
				remote.expire()
			}
			failed++
			if attempt == maxFaultyAttempts {
				t.Fatalf("no success in %d attempts; last: %v", attempt, err)
			}
		}
		proxy.SetFaults(nil)
		if got, want := fingerprint(t, db, remote.view(t)), fingerprint(t, db, clean); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("phase %d: the lake after the faulty attempts differs from a clean run's:\nfaults %v\nclean  %v", phase, got, want)
		}
	}
	t.Logf("%d attempts failed; faults injected: %v", failed, proxy.Counts())
	if c := proxy.Counts(); c[loadtest.LostResponse] == 0 || c[loadtest.Truncate] == 0 || c[loadtest.Reset] == 0 {
		t.Errorf("faults injected %v: want every kind", c)
	}
}

// checkReaderView reads the lake as a glob reader does: no key twice in any
// table, and every row is one that some clean run wrote (no half-written or
// leftover file).
func checkReaderView(t *testing.T, db *sql.DB, label, lake string, allowed []string) {
	t.Helper()
	for _, tb := range schemas.Tables {
		if _, err := os.Stat(filepath.Join(lake, tb.Name)); err != nil {
			continue // nothing committed yet
		}
		if dup := scan[int](t, db, fmt.Sprintf("SELECT count(*) FROM (SELECT %s FROM %s GROUP BY ALL HAVING count(*) > 1)", strings.Join(tb.Key, ", "), table(lake, tb.Name))); dup != 0 {
			t.Errorf("%s: %s holds %d keys twice", label, tb.Name, dup)
		}
		union := ""
		for i, a := range allowed {
			if i > 0 {
				union += " UNION ALL "
			}
			union += "SELECT * FROM " + table(a, tb.Name)
		}
		q := fmt.Sprintf("SELECT count(*) FROM (SELECT * FROM %s EXCEPT SELECT * FROM (%s))", table(lake, tb.Name), union)
		if n := scan[int](t, db, q); n != 0 {
			t.Errorf("%s: %s holds %d rows no clean run wrote", label, tb.Name, n)
			rows, err := db.Query(fmt.Sprintf("SELECT * FROM %s EXCEPT SELECT * FROM (%s) LIMIT 3", table(lake, tb.Name), union))
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				cols, _ := rows.Columns()
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				rows.Scan(ptrs...)
				t.Logf("  such a row: %v", vals)
			}
			rows.Close()
		}
	}
}

// copyTree copies the regular files under src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(rel)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
