package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/loadtest"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// lakeRows renders every row of every table of a local lake, sorted, so that two
// lakes can be compared row for row (file names and run ids aside).
func lakeRows(t *testing.T, dest string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, tb := range schemas.Tables {
		files, _ := filepath.Glob(filepath.Join(dest, tb.Name, "dt=*", "*.parquet"))
		for _, f := range files {
			dt := filepath.Base(filepath.Dir(f))
			var err error
			switch tb.Row.(type) {
			case schemas.CallRecordRow:
				err = readRendered[schemas.CallRecordRow](f, dt, out, tb.Name)
			case schemas.SessionRow:
				err = readRendered[schemas.SessionRow](f, dt, out, tb.Name)
			case schemas.SegmentRow:
				err = readRendered[schemas.SegmentRow](f, dt, out, tb.Name)
			case schemas.MediaStreamRow:
				err = readRendered[schemas.MediaStreamRow](f, dt, out, tb.Name)
			case schemas.ParticipantRow:
				err = readRendered[schemas.ParticipantRow](f, dt, out, tb.Name)
			case schemas.PstnCallRow:
				err = readRendered[schemas.PstnCallRow](f, dt, out, tb.Name)
			case schemas.DirectRoutingCallRow:
				err = readRendered[schemas.DirectRoutingCallRow](f, dt, out, tb.Name)
			default:
				t.Fatalf("no reader for table %s", tb.Name)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		sort.Strings(out[tb.Name])
	}
	return out
}

func readRendered[T any](path, dt string, out map[string][]string, table string) error {
	return load.ReadParquet(path, 1000, func(rows []T) error {
		for _, r := range rows {
			b, err := json.Marshal(r)
			if err != nil {
				return err
			}
			out[table] = append(out[table], dt+" "+string(b))
		}
		return nil
	})
}

func diffLakes(t *testing.T, label string, got, want map[string][]string) {
	t.Helper()
	for table, w := range want {
		g := got[table]
		if strings.Join(g, "\n") != strings.Join(w, "\n") {
			t.Errorf("%s: table %s has %d rows, clean run has %d (or their contents differ)", label, table, len(g), len(w))
		}
	}
}

// faultyStore fails the n-th mutating operation (and every later one, as a
// process that died would), counting from 1.
type faultyStore struct {
	load.Store
	failAt int64
	ops    atomic.Int64
}

var errInjected = errors.New("injected fault")

func (f *faultyStore) hit() error {
	if n := f.ops.Add(1); f.failAt > 0 && n >= f.failAt {
		return fmt.Errorf("op %d: %w", n, errInjected)
	}
	return nil
}

func (f *faultyStore) Put(ctx context.Context, key string, r io.Reader) error {
	if err := f.hit(); err != nil {
		return err
	}
	return f.Store.Put(ctx, key, r)
}

func (f *faultyStore) Delete(ctx context.Context, key string) error {
	if err := f.hit(); err != nil {
		return err
	}
	return f.Store.Delete(ctx, key)
}

func (f *faultyStore) PutIfAbsent(ctx context.Context, key string, data []byte) (string, error) {
	if err := f.hit(); err != nil {
		return "", err
	}
	return f.Store.PutIfAbsent(ctx, key, data)
}

func (f *faultyStore) PutIfMatch(ctx context.Context, key string, data []byte, etag string) (string, error) {
	if err := f.hit(); err != nil {
		return "", err
	}
	return f.Store.PutIfMatch(ctx, key, data, etag)
}

// TestRun_FailureAtEveryCommitStep fails the store at one write after another
// (data files, manifests, deletes, checkpoint, summary): the failed run never
// advances the checkpoint past what it committed, and a rerun always ends with
// the lake a clean run produces, row for row, with no leftover files.
func TestRun_FailureAtEveryCommitStep(t *testing.T) {
	f := newFixture(t, nil)
	// Scheduled runs from a checkpoint three days old: a few partitions, the
	// checkpoint write, the summary.
	watermark := f.clock.Now().Add(-72 * time.Hour)
	f.seedCheckpoint(t, f.dest, watermark)
	f.MustRun(t, nil)
	want := lakeRows(t, f.dest)

	// Count the mutating operations of a clean run into an empty lake.
	probeDir := t.TempDir()
	f.seedCheckpoint(t, probeDir, watermark)
	probe := &faultyStore{Store: mustLocal(t, probeDir)}
	f.MustRun(t, func(c *jobs.Config) { c.Dest, c.Store = probeDir, probe })
	total := probe.ops.Load()
	if total < 12 {
		t.Fatalf("a clean run made only %d writes", total)
	}
	points := []int64{1, 2, total - 2, total - 1, total}
	for k := int64(3); k < total-2; k += max(1, total/4) {
		points = append(points, k)
	}
	for _, k := range points {
		dest := t.TempDir()
		f.seedCheckpoint(t, dest, watermark)
		fs := &faultyStore{Store: mustLocal(t, dest), failAt: k}
		_, err := f.run(t, func(c *jobs.Config) { c.Dest, c.Store = dest, fs })
		if !errors.Is(err, errInjected) {
			t.Fatalf("fault at write %d of %d: Run = %v, want the injected error", k, total, err)
		}
		if k < total-1 { // the checkpoint is the run's last write but the summary
			st, err := jobs.ReadStatus(context.Background(), dest, load.S3Config{}, tenant, f.clock.Now())
			if err != nil || len(st) != 1 || !st[0].Watermark.Equal(watermark) {
				t.Fatalf("fault at write %d of %d: checkpoint = %+v (%v), want it unmoved at %s", k, total, st, err, watermark)
			}
		}
		if _, err := f.run(t, func(c *jobs.Config) { c.Dest = dest }); err != nil {
			t.Fatalf("rerun after fault at write %d: %v", k, err)
		}
		diffLakes(t, fmt.Sprintf("fault at write %d of %d", k, total), lakeRows(t, dest), want)
		assertNoLeftovers(t, dest)
	}
}

// assertNoLeftovers checks that every data file is named by a manifest.
func assertNoLeftovers(t *testing.T, dest string) {
	t.Helper()
	named := map[string]bool{}
	manifests, _ := filepath.Glob(filepath.Join(dest, "_etl", "manifests", "*", "*", "*.json"))
	for _, m := range manifests {
		var man jobs.Manifest
		readJSONFile(t, m, &man)
		for _, files := range man.Tables {
			for _, f := range files {
				named[f.Key] = true
			}
		}
	}
	files, _ := filepath.Glob(filepath.Join(dest, "*", "dt=*", "*.parquet"))
	for _, f := range files {
		rel, _ := filepath.Rel(dest, f)
		if !named[filepath.ToSlash(rel)] {
			t.Errorf("leftover data file %s is named by no manifest", rel)
		}
	}
}

func mustLocal(t *testing.T, dir string) load.Store {
	t.Helper()
	s, err := load.NewLocalStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRun_ConcurrentRunsLock starts a second run while the first is in flight
// against the same destination: the second stops with ErrLocked and writes
// nothing; the first completes.
func TestRun_ConcurrentRunsLock(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	entered := make(chan struct{})
	f := newFixture(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			once.Do(func() { close(entered); <-release })
			next.ServeHTTP(w, r)
		})
	})
	first := make(chan error, 1)
	go func() {
		_, err := f.run(t, func(c *jobs.Config) { c.Datasets = []string{schemas.DatasetCallRecords} })
		first <- err
	}()
	<-entered // the first run holds the lock and waits on Graph
	_, err := f.run(t, func(c *jobs.Config) { c.Datasets = []string{schemas.DatasetCallRecords} })
	close(release)
	if !errors.Is(err, jobs.ErrLocked) {
		t.Errorf("second run = %v, want ErrLocked", err)
	}
	if err := <-first; err != nil {
		t.Errorf("first run = %v, want success", err)
	}
	if len(callRecords(t, f.dest)) == 0 {
		t.Error("the first run wrote nothing")
	}
}

// TestRun_StaleLockExpires: a lease left by a run that crashed does not block
// the next run once it has expired; a live one does.
func TestRun_StaleLockExpires(t *testing.T) {
	f := newFixture(t, nil)
	store := mustLocal(t, f.dest)
	put := func(expires time.Time) {
		doc, _ := json.Marshal(map[string]any{"run_id": "crashed", "host": "h", "pid": 1, "expires": expires})
		store.Delete(context.Background(), "_etl/locks/"+tenant+".json")
		if _, err := store.PutIfAbsent(context.Background(), "_etl/locks/"+tenant+".json", doc); err != nil {
			t.Fatal(err)
		}
	}
	put(f.clock.Now().Add(30 * time.Second))
	if _, err := f.run(t, nil); !errors.Is(err, jobs.ErrLocked) || !strings.Contains(err.Error(), "crashed") {
		t.Fatalf("run with a live lease = %v, want ErrLocked naming the holder", err)
	}
	if n := len(callRecords(t, f.dest)); n != 0 {
		t.Fatalf("a locked-out run wrote %d records", n)
	}
	put(f.clock.Now().Add(-time.Second))
	if _, err := f.run(t, func(c *jobs.Config) { c.Datasets = []string{schemas.DatasetCallRecords} }); err != nil {
		t.Fatalf("run with an expired lease = %v, want success", err)
	}
}

// conditionsIgnored is a store that accepts every conditional write, like the
// S3 gateways that silently ignore If-None-Match.
type conditionsIgnored struct{ load.Store }

func (c conditionsIgnored) PutIfAbsent(ctx context.Context, key string, data []byte) (string, error) {
	if err := c.Store.Put(ctx, key, strings.NewReader(string(data))); err != nil {
		return "", err
	}
	_, etag, err := c.Store.Get(ctx, key)
	return etag, err
}

func (c conditionsIgnored) PutIfMatch(ctx context.Context, key string, data []byte, _ string) (string, error) {
	return c.PutIfAbsent(ctx, key, data)
}

func TestRun_RefusesStoreWithoutConditionalWrites(t *testing.T) {
	f := newFixture(t, nil)
	s := conditionsIgnored{mustLocal(t, f.dest)}
	_, err := f.run(t, func(c *jobs.Config) { c.Store = s })
	if !errors.Is(err, jobs.ErrConfig) || !strings.Contains(err.Error(), "--single-writer") {
		t.Fatalf("Run on a store ignoring conditions = %v, want ErrConfig pointing at --single-writer", err)
	}
	if _, err := f.run(t, func(c *jobs.Config) {
		c.Store, c.SingleWriter, c.Datasets = s, true, []string{schemas.DatasetCallRecords}
	}); err != nil {
		t.Fatalf("Run with SingleWriter = %v", err)
	}
}

// TestRun_S3 runs against the real S3 server (versitygw): the conditional-write
// probe passes, the checkpoint moves by compare-and-swap, and a live lease keeps
// a run out (ErrLocked), as on the local directory. (The e2e module checks with
// DuckDB that the S3 lake's rows equal the local lake's.)
func TestRun_S3(t *testing.T) {
	s3cfg, _ := loadtest.StartS3(t)
	f := newFixture(t, nil)
	f.seedCheckpoint(t, f.dest, f.clock.Now().Add(-24*time.Hour)) // the local twin
	s3dest := "s3://" + s3cfg.Bucket + "/lake"
	store, err := load.OpenStore(context.Background(), s3dest, s3cfg)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(jobs.Checkpoint{Tenant: tenant, Dataset: schemas.DatasetCallRecords, Watermark: f.clock.Now().Add(-24 * time.Hour)})
	if _, err := store.PutIfAbsent(context.Background(), "_etl/state/"+tenant+"/callrecords.json", data); err != nil {
		t.Fatal(err)
	}
	onS3 := func(c *jobs.Config) { c.Dest, c.S3 = s3dest, s3cfg }
	f.MustRun(t, onS3)
	f.MustRun(t, nil)

	st, err := jobs.ReadStatus(context.Background(), s3dest, s3cfg, tenant, f.clock.Now())
	if err != nil || len(st) != 1 || !st[0].Watermark.Equal(f.clock.Now()) {
		t.Fatalf("S3 checkpoint = %+v, %v; want the watermark at now", st, err)
	}
	lease, _ := json.Marshal(map[string]any{"run_id": "other", "expires": f.clock.Now().Add(time.Minute)})
	if _, err := store.PutIfAbsent(context.Background(), "_etl/locks/"+tenant+".json", lease); err != nil {
		t.Fatal(err)
	}
	if _, err := f.run(t, onS3); !errors.Is(err, jobs.ErrLocked) {
		t.Errorf("run while another holds the S3 lease = %v, want ErrLocked", err)
	}
	var n int
	store.List(context.Background(), schemas.TableCallRecords+"/", func(o load.Object) error { n++; return nil })
	if local := len(callRecords(t, f.dest)); n == 0 || local == 0 {
		t.Errorf("S3 lake has %d call_records files, local %d rows", n, local)
	}
}
