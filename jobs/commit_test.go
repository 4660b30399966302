package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/lake"
	"github.com/callrecords-etl/callrecords-etl/load/loadtest"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// lakeRows renders every row of every table of a local lake, sorted, so that two
// lakes can be compared row for row (file names and run ids aside).
func lakeRows(t *testing.T, dest string) map[string][]string {
	t.Helper()
	return lakeTableRows(t, dest, schemas.Tables)
}

// lakeTableRows is lakeRows of tables.
func lakeTableRows(t *testing.T, dest string, tables []schemas.Table) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, tb := range tables {
		files, _ := filepath.Glob(filepath.Join(dest, tb.Name, "dt=*", "*.parquet"))
		for _, f := range files {
			renderFile(t, tb, f, filepath.Base(filepath.Dir(f)), out)
		}
		sort.Strings(out[tb.Name])
	}
	return out
}

// renderFile renders the rows of a file of table tb, of partition dt, into out.
func renderFile(t *testing.T, tb schemas.Table, f, dt string, out map[string][]string) {
	t.Helper()
	var err error
	switch tb.Row.(type) {
	case schemas.CallRecordRow:
		err = readRendered[schemas.CallRecordRow](f, dt, out, tb.Name)
	case schemas.SessionRow:
		err = readRendered[schemas.SessionRow](f, dt, out, tb.Name)
	case schemas.SegmentRow:
		err = readRendered[schemas.SegmentRow](f, dt, out, tb.Name)
	case schemas.MediaRow:
		err = readRendered[schemas.MediaRow](f, dt, out, tb.Name)
	case schemas.MediaStreamRow:
		err = readRendered[schemas.MediaStreamRow](f, dt, out, tb.Name)
	case schemas.ParticipantRow:
		err = readRendered[schemas.ParticipantRow](f, dt, out, tb.Name)
	case schemas.PstnCallRow:
		err = readRendered[schemas.PstnCallRow](f, dt, out, tb.Name)
	case schemas.DirectRoutingCallRow:
		err = readRendered[schemas.DirectRoutingCallRow](f, dt, out, tb.Name)
	case schemas.CallJourneyHopRow:
		err = readRendered[schemas.CallJourneyHopRow](f, dt, out, tb.Name)
	case schemas.LedgerRow:
		err = readRendered[schemas.LedgerRow](f, dt, out, tb.Name)
	default:
		t.Fatalf("no reader for table %s", tb.Name)
	}
	if err != nil {
		t.Fatal(err)
	}
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

func (f *faultyStore) PutIfAbsent(ctx context.Context, key string, r io.Reader) (string, error) {
	if err := f.hit(); err != nil {
		return "", err
	}
	return f.Store.PutIfAbsent(ctx, key, r)
}

func (f *faultyStore) PutIfMatch(ctx context.Context, key string, r io.Reader, etag string) (string, error) {
	if err := f.hit(); err != nil {
		return "", err
	}
	return f.Store.PutIfMatch(ctx, key, r, etag)
}

func (f *faultyStore) DeleteIfMatch(ctx context.Context, key, etag string) error {
	if err := f.hit(); err != nil {
		return err
	}
	return f.Store.DeleteIfMatch(ctx, key, etag)
}

// TestRun_FailureAtEveryCommitStep fails the store at one write after another
// (partition objects, deletes, checkpoint, summary): after the failure a
// reader globbing the table folders finds every key once and nothing else; the
// failed run never advances the checkpoint past what it committed, and a rerun
// always ends with the lake a clean run produces, row for row, with no
// leftover files.
func TestRun_FailureAtEveryCommitStep(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, noBigMeetings, nil)
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
	// No lease renewal in these runs (a renewal is a write, and whether one
	// falls in a run depends on how fast the machine is).
	noRenewal := func(c *jobs.Config) { c.LockTTL = 24 * time.Hour }
	f.MustRun(t, func(c *jobs.Config) { noRenewal(c); c.Dest, c.Store = probeDir, probe })
	total := probe.ops.Load()
	if total < 12 {
		t.Fatalf("a clean run made only %d writes", total)
	}
	// The run's last writes: the checkpoint, the run summary, the release of
	// the lease (whose failure is only logged: the lease expires by itself).
	total--
	points := []int64{1, 2, total - 2, total - 1, total}
	for k := int64(3); k < total-2; k += max(1, total/4) {
		points = append(points, k)
	}
	for _, k := range points {
		dest := t.TempDir()
		f.seedCheckpoint(t, dest, watermark)
		fs := &faultyStore{Store: mustLocal(t, dest), failAt: k}
		_, err := f.run(t, func(c *jobs.Config) { noRenewal(c); c.Dest, c.Store = dest, fs })
		if !errors.Is(err, errInjected) {
			t.Fatalf("fault at write %d of %d: Run = %v, want the injected error", k, total, err)
		}
		assertReaderView(t, fmt.Sprintf("after a fault at write %d of %d", k, total), dest)
		if k < total-1 { // the checkpoint is the last write before the summary
			st, err := jobs.ReadStatus(context.Background(), jobs.Config{Dest: dest}, tenant, f.clock.Now())
			if err != nil || len(st) != 1 || !st[0].Watermark.Equal(watermark) {
				t.Fatalf("fault at write %d of %d: checkpoint = %+v (%v), want it unmoved at %s", k, total, st, err, watermark)
			}
		}
		expireLease(t, dest)
		if _, err := f.run(t, func(c *jobs.Config) { c.Dest = dest }); err != nil {
			t.Fatalf("rerun after fault at write %d: %v", k, err)
		}
		diffLakes(t, fmt.Sprintf("fault at write %d of %d", k, total), lakeRows(t, dest), want)
		assertNoLeftovers(t, dest)
	}
}

// assertNoLeftovers checks that the table folders hold one object per table,
// day and tenant, <tenant>.parquet, and nothing else (no file of an earlier
// layout, no temporary file): what a reader globbing them reads is the commit.
func assertNoLeftovers(t *testing.T, dest string) {
	t.Helper()
	tables := []string{schemas.TableRawCallRecords, schemas.TableRawPstnCalls, schemas.TableRawDirectRoutingCalls, schemas.TableCallRecordLedger}
	for _, tb := range schemas.Tables {
		tables = append(tables, tb.Name)
	}
	for _, tb := range tables {
		filepath.WalkDir(filepath.Join(dest, tb), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			if rel, _ := filepath.Rel(dest, path); d.Name() != tenant+".parquet" || !strings.HasPrefix(filepath.Base(filepath.Dir(path)), "dt=") {
				t.Errorf("leftover file %s in a table folder", rel)
			}
			return nil
		})
	}
	if m, _ := filepath.Glob(filepath.Join(dest, "_etl", "manifests", "*")); len(m) != 0 {
		t.Errorf("manifests of an earlier layout left: %v", m)
	}
}

// assertReaderView reads the lake as a glob reader does (every file of every
// dt= folder) and checks that it holds each key once, and every call record
// its sessions: whatever a run left, readers never double count.
func assertReaderView(t *testing.T, label, dest string) {
	t.Helper()
	assertNoLeftovers(t, dest)
	assertRowsWhole(t, label, lakeRows(t, dest))
	archived(t, dest) // each version once
}

// assertRowsWhole checks that rendered rows hold each key once, and every
// call record its sessions.
func assertRowsWhole(t *testing.T, label string, rows map[string][]string) {
	t.Helper()
	keys := map[string]func(map[string]any) string{
		schemas.TableCallRecords: func(r map[string]any) string { return fmt.Sprint(r["CallRecordID"]) },
		schemas.TableSessions:    func(r map[string]any) string { return fmt.Sprint(r["CallRecordID"], r["SessionIndex"]) },
		schemas.TableSegments: func(r map[string]any) string {
			return fmt.Sprint(r["CallRecordID"], r["SessionIndex"], r["SegmentIndex"])
		},
		schemas.TableMedia: func(r map[string]any) string {
			return fmt.Sprint(r["CallRecordID"], r["SessionIndex"], r["SegmentIndex"], r["MediaIndex"])
		},
		schemas.TableMediaStreams: func(r map[string]any) string {
			return fmt.Sprint(r["CallRecordID"], r["SessionIndex"], r["SegmentIndex"], r["MediaIndex"], r["StreamIndex"])
		},
		schemas.TableParticipants:       func(r map[string]any) string { return fmt.Sprint(r["CallRecordID"], r["ParticipantIndex"]) },
		schemas.TableCallJourneyHops:    func(r map[string]any) string { return fmt.Sprint(r["CallRecordID"], r["HopIndex"]) },
		schemas.TablePstnCalls:          func(r map[string]any) string { return fmt.Sprint(r["ID"]) },
		schemas.TableDirectRoutingCalls: func(r map[string]any) string { return fmt.Sprint(r["ID"]) },
	}
	var parents []string
	withSessions := map[string]bool{}
	for table, key := range keys {
		seen := map[string]bool{}
		for _, line := range rows[table] {
			_, js, _ := strings.Cut(line, " ")
			var r map[string]any
			if err := json.Unmarshal([]byte(js), &r); err != nil {
				t.Fatalf("%s: %v", label, err)
			}
			k := key(r)
			if seen[k] {
				t.Errorf("%s: %s holds key %s twice", label, table, k)
			}
			seen[k] = true
			switch table {
			case schemas.TableCallRecords:
				parents = append(parents, k)
			case schemas.TableSessions:
				withSessions[fmt.Sprint(r["CallRecordID"])] = true
			}
		}
	}
	for _, id := range parents {
		if !withSessions[id] {
			t.Errorf("%s: call record %s has no sessions", label, id)
		}
	}
}

// expireLease removes the tenant's lease, as if the run that failed to
// release it had died long enough ago for it to expire.
func expireLease(t *testing.T, dest string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dest, "_etl", "locks", tenant+".json")); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
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
	t.Parallel()
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
	t.Parallel()
	f := newFixture(t, nil)
	store := mustLocal(t, f.dest)
	put := func(expires time.Time) {
		doc, _ := json.Marshal(map[string]any{"run_id": "crashed", "host": "h", "pid": 1, "expires": expires})
		store.Delete(context.Background(), "_etl/locks/"+tenant+".json")
		if _, err := store.PutIfAbsent(context.Background(), "_etl/locks/"+tenant+".json", bytes.NewReader(doc)); err != nil {
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

func (c conditionsIgnored) PutIfAbsent(ctx context.Context, key string, r io.Reader) (string, error) {
	if err := c.Store.Put(ctx, key, r); err != nil {
		return "", err
	}
	return c.Store.Head(ctx, key)
}

func (c conditionsIgnored) PutIfMatch(ctx context.Context, key string, r io.Reader, _ string) (string, error) {
	return c.PutIfAbsent(ctx, key, r)
}

func TestRun_RefusesStoreWithoutConditionalWrites(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	s := conditionsIgnored{mustLocal(t, f.dest)}
	_, err := f.run(t, func(c *jobs.Config) { c.Store = s })
	var ce *jobs.ConfigError
	if !errors.Is(err, jobs.ErrConfig) || !errors.As(err, &ce) || !slices.Equal(ce.Fields, []string{"SingleWriter"}) {
		t.Fatalf("Run on a store ignoring conditions = %v, want a ConfigError pointing at SingleWriter", err)
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
	t.Parallel() // StartS3 finds the AWS variables TestMain set
	s3cfg, _ := loadtest.StartS3(t)
	f := newFixture(t, nil)
	f.seedCheckpoint(t, f.dest, f.clock.Now().Add(-24*time.Hour)) // the local twin
	s3dest := "s3://" + s3cfg.Bucket + "/lake"
	store, err := load.OpenStore(context.Background(), s3dest, load.StoreConfig{S3: s3cfg})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(lake.Checkpoint{Tenant: tenant, Dataset: schemas.DatasetCallRecords, Watermark: f.clock.Now().Add(-24 * time.Hour)})
	if _, err := store.PutIfAbsent(context.Background(), "_etl/state/"+tenant+"/callrecords.json", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	onS3 := func(c *jobs.Config) { c.Dest, c.S3 = s3dest, s3cfg }
	f.MustRun(t, onS3)
	f.MustRun(t, nil)

	st, err := jobs.ReadStatus(context.Background(), jobs.Config{Dest: s3dest, S3: s3cfg}, tenant, f.clock.Now())
	if err != nil || len(st) != 1 || !st[0].Watermark.Equal(f.clock.Now()) {
		t.Fatalf("S3 checkpoint = %+v, %v; want the watermark at now", st, err)
	}
	lease, _ := json.Marshal(map[string]any{"run_id": "other", "expires": f.clock.Now().Add(time.Minute)})
	if _, err := store.PutIfAbsent(context.Background(), "_etl/locks/"+tenant+".json", bytes.NewReader(lease)); err != nil {
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

// TestRun_Azure runs against Azure Blob Storage (Azurite, abfss://): the
// conditional-write probe passes, the checkpoint moves by compare-and-swap, and
// a live lease keeps a run out (ErrLocked), as on S3 and the local directory.
// (The e2e module checks with DuckDB that the Azure lake's rows equal the
// local lake's.)
func TestRun_Azure(t *testing.T) {
	t.Parallel()
	az := loadtest.StartAzurite(t)
	f := newFixture(t, nil)
	dest := az.Dest("lake")
	store, err := load.OpenStore(context.Background(), dest, load.StoreConfig{Azure: az.Config()})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(lake.Checkpoint{Tenant: tenant, Dataset: schemas.DatasetCallRecords, Watermark: f.clock.Now().Add(-24 * time.Hour)})
	if _, err := store.PutIfAbsent(context.Background(), "_etl/state/"+tenant+"/callrecords.json", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	onAzure := func(c *jobs.Config) { c.Dest, c.Azure = dest, az.Config() }
	f.MustRun(t, onAzure)

	st, err := jobs.ReadStatus(context.Background(), jobs.Config{Dest: dest, Azure: az.Config()}, tenant, f.clock.Now())
	if err != nil || len(st) != 1 || !st[0].Watermark.Equal(f.clock.Now()) {
		t.Fatalf("Azure checkpoint = %+v, %v; want the watermark at now", st, err)
	}
	lease, _ := json.Marshal(map[string]any{"run_id": "other", "expires": f.clock.Now().Add(time.Minute)})
	if _, err := store.PutIfAbsent(context.Background(), "_etl/locks/"+tenant+".json", bytes.NewReader(lease)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.run(t, onAzure); !errors.Is(err, jobs.ErrLocked) {
		t.Errorf("run while another holds the Azure lease = %v, want ErrLocked", err)
	}
	dir := loadtest.DownloadAll(t, store)
	assertReaderView(t, "azure", dir)
	if n := len(callRecords(t, dir)); n == 0 {
		t.Errorf("Azure lake has no call_records rows")
	}

	// A destination whose container does not exist is the user's to fix.
	missing := strings.Replace(dest, loadtest.AzureContainer+"@", "nosuchcontainer@", 1)
	_, err = f.run(t, func(c *jobs.Config) { c.Dest, c.Azure = missing, az.Config() })
	if !errors.Is(err, jobs.ErrConfig) {
		t.Errorf("run into a missing container = %v, want a configuration error", err)
	}
}
