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

// keys are the columns that identify a row of each table.
var keys = map[string]string{
	schemas.TableCallRecords:        "call_record_id",
	schemas.TableSessions:           "call_record_id, session_index",
	schemas.TableSegments:           "call_record_id, session_index, segment_index",
	schemas.TableMediaStreams:       "call_record_id, session_index, segment_index, media_index, stream_index",
	schemas.TableParticipants:       "call_record_id, participant_index",
	schemas.TablePstnCalls:          "id",
	schemas.TableDirectRoutingCalls: "id",
}

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
	clk := &settable{t: now}
	sim := graphsim.New(graphsim.Config{Seed: 42, TenantID: tenant, Now: clk.Now, RecordsPerDay: 4, PstnPerDay: 8, DirectRoutingPerDay: 5, Token: "tok"})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	s3cfg, root := loadtest.StartS3(t)
	seed := uint64(time.Now().UnixNano())
	proxy := loadtest.StartFaultProxy(t, s3cfg.Endpoint, nil)
	faulty := s3cfg
	// Two attempts per request instead of five: with the 18% of faults,
	// some requests fail for good and attempts fail part-way, which is what
	// the reader's view must survive.
	faulty.Endpoint, faulty.MaxAttempts = proxy.URL, 2
	t.Logf("faults drawn with seed %d", seed)
	db := openDuckDB(t)

	run := func(dest string, s3 load.S3Config) error {
		cfg := jobs.DefaultConfig()
		cfg.TenantID, cfg.GraphURL, cfg.Dest, cfg.S3 = tenant, srv.URL, dest, s3
		cfg.Credential = extract.StaticToken("tok")
		cfg.MaxRPS, cfg.Concurrency, cfg.Now = 0, 4, clk.Now
		cfg.Logger = quietLogger
		_, err := jobs.Run(context.Background(), cfg)
		return err
	}
	clean := t.TempDir()
	lake := filepath.Join(root, s3cfg.Bucket, "lake")
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
		if err := run(clean, load.S3Config{}); err != nil {
			t.Fatalf("clean run, phase %d: %v", phase, err)
		}
		snapshot := filepath.Join(t.TempDir(), "clean")
		copyTree(t, clean, snapshot)
		allowed = append(allowed, snapshot)

		proxy.SetFaults(loadtest.RandomFaults(seed+uint64(phase), 0.18))
		for attempt := 1; ; attempt++ {
			err := run("s3://"+s3cfg.Bucket+"/lake", faulty)
			label := fmt.Sprintf("phase %d attempt %d (%v)", phase, attempt, err)
			checkReaderView(t, db, label, lake, allowed)
			if err == nil {
				break
			}
			if errors.Is(err, jobs.ErrLocked) {
				// The failed attempt could not release its lease: it expires.
				os.Remove(filepath.Join(lake, "_etl", "locks", tenant+".json"))
			}
			failed++
			if attempt == 40 {
				t.Fatalf("no success in %d attempts; last: %v", attempt, err)
			}
		}
		proxy.SetFaults(nil)
		if got, want := fingerprint(t, db, lake), fingerprint(t, db, clean); fmt.Sprint(got) != fmt.Sprint(want) {
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
		if dup := scan[int](t, db, fmt.Sprintf("SELECT count(*) FROM (SELECT %s FROM %s GROUP BY ALL HAVING count(*) > 1)", keys[tb.Name], table(lake, tb.Name))); dup != 0 {
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
