package lake_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/lake"
	"github.com/callrecords-etl/callrecords-etl/load/loadtest"
)

const tenant = "0b3c1d2e-aaaa-4bbb-8ccc-0123456789ab"

var t0 = time.Date(2026, 12, 4, 2, 55, 0, 0, time.UTC)

// The lake's protocol is checked on every store: in memory, a local
// directory, a real S3 server (versitygw) and Azure Blob Storage (Azurite).
func TestLake_Memory(t *testing.T) {
	runLakeTests(t, func(t *testing.T) load.Store { return loadtest.Memory() })
}

func TestLake_Local(t *testing.T) {
	runLakeTests(t, func(t *testing.T) load.Store {
		s, err := load.NewLocalStore(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestLake_S3(t *testing.T) {
	cfg, _ := loadtest.StartS3(t)
	runLakeTests(t, func(t *testing.T) load.Store {
		c := cfg
		c.Prefix = strings.ReplaceAll(t.Name(), "/", "_")
		s, err := load.NewS3Store(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func runLakeTests(t *testing.T, newStore func(t *testing.T) load.Store) {
	for _, tt := range []struct {
		name string
		fn   func(t *testing.T, s load.Store)
	}{
		{"CommitNewPartition", testCommitNew},
		{"CommitReplaces", testCommitReplaces},
		{"CommitOrder", testCommitOrder},
		{"CommitConflict", testCommitConflict},
		{"Checkpoint", testCheckpoint},
		{"Lease", testLease},
		{"LeaseLost", testLeaseLost},
		{"Quarantine", testQuarantine},
		{"Inbox", testInbox},
	} {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
}

var tables = []string{"parent", "child_a", "child_b"}

// localFile writes content to a file for a commit.
func localFile(t *testing.T, content string) load.LocalFile {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return load.LocalFile{Path: path, Rows: int64(len(content)), Bytes: int64(len(content))}
}

type row struct {
	X int64 `parquet:"x"`
}

// parentFile writes a Parquet file of n rows: a partition reads its parent
// table's row count from the footer.
func parentFile(t *testing.T, n int) load.LocalFile {
	t.Helper()
	w := load.NewFileWriter[row](load.ParquetOptions{TempDir: t.TempDir()})
	if err := w.Write(make([]row, n)); err != nil {
		t.Fatal(err)
	}
	f, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// parentRows is the row count of the committed parent object (-1 if none).
func parentRows(t *testing.T, s load.Store, date string) int64 {
	t.Helper()
	path, _, err := load.Download(context.Background(), s, lake.TableKey("parent", date, tenant), t.TempDir())
	if errors.Is(err, load.ErrNotExist) {
		return -1
	}
	if err != nil {
		t.Fatal(err)
	}
	n, err := load.ParquetRows(path)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func read(t *testing.T, s load.Store, key string) string {
	t.Helper()
	data, _, err := s.Get(context.Background(), key)
	if errors.Is(err, load.ErrNotExist) {
		return "<none>"
	}
	if err != nil {
		t.Fatalf("Get(%s) = %v", key, err)
	}
	return string(data)
}

// files lists the objects under the tables' folders.
func files(t *testing.T, s load.Store) []string {
	t.Helper()
	var out []string
	for _, tb := range tables {
		s.List(context.Background(), tb+"/", func(o load.Object) error {
			out = append(out, o.Key)
			return nil
		})
	}
	return out
}

func open(t *testing.T, l *lake.Lake) *lake.Partition {
	t.Helper()
	p, err := l.Partition(context.Background(), "ds", "2026-12-03", tables...)
	if err != nil {
		t.Fatalf("Partition = %v", err)
	}
	t.Cleanup(p.Cleanup)
	return p
}

func testCommitNew(t *testing.T, s load.Store) {
	ctx := context.Background()
	l := lake.New(s, tenant, t.TempDir(), nil)
	p := open(t, l)
	if p.Rows() != 0 {
		t.Errorf("Rows of a new partition = %d", p.Rows())
	}
	for _, tb := range tables {
		if keys, err := p.Files(ctx, tb); err != nil || len(keys) != 0 {
			t.Errorf("Files(%s) of a new partition = %v, %v", tb, keys, err)
		}
	}
	if err := p.Commit(ctx, map[string]load.LocalFile{"parent": parentFile(t, 2), "child_a": localFile(t, "A1")}); err != nil {
		t.Fatalf("Commit = %v", err)
	}
	want := []string{"parent/dt=2026-12-03/" + tenant + ".parquet", "child_a/dt=2026-12-03/" + tenant + ".parquet"}
	if got := files(t, s); !slices.Equal(got, want) {
		t.Errorf("objects = %v, want %v", got, want)
	}
	if got := read(t, s, lake.TableKey("child_a", "2026-12-03", tenant)); got != "A1" {
		t.Errorf("child_a = %q", got)
	}
	if p.Rows() != 2 {
		t.Errorf("Rows after the commit = %d, want the parent file's 2", p.Rows())
	}
}

// testCommitReplaces: a reopened partition reads the committed objects and a
// commit replaces each (a table with no rows now loses its object).
func testCommitReplaces(t *testing.T, s load.Store) {
	ctx := context.Background()
	l := lake.New(s, tenant, t.TempDir(), nil)
	p := open(t, l)
	if err := p.Commit(ctx, map[string]load.LocalFile{"parent": parentFile(t, 2), "child_a": localFile(t, "A1"), "child_b": localFile(t, "B1")}); err != nil {
		t.Fatal(err)
	}
	q := open(t, l)
	if q.Rows() != 2 {
		t.Errorf("Rows of the reopened partition = %d, want 2", q.Rows())
	}
	keys, err := q.Files(ctx, "child_a")
	if err != nil || len(keys) != 1 {
		t.Fatalf("Files(child_a) = %v, %v", keys, err)
	}
	path, err := q.Local(ctx, keys[0])
	if data, _ := os.ReadFile(path); err != nil || string(data) != "A1" {
		t.Errorf("Local(%s) = %q, %v", keys[0], data, err)
	}
	if err := q.Commit(ctx, map[string]load.LocalFile{"parent": parentFile(t, 5), "child_a": localFile(t, "A2")}); err != nil {
		t.Fatalf("second Commit = %v", err)
	}
	if got := parentRows(t, s, "2026-12-03"); got != 5 {
		t.Errorf("parent has %d rows, want the second commit's 5", got)
	}
	if got := read(t, s, lake.TableKey("child_b", "2026-12-03", tenant)); got != "<none>" {
		t.Errorf("child_b = %q, want no object (no rows now)", got)
	}
	if got := len(files(t, s)); got != 2 {
		t.Errorf("%d objects, want 2", got)
	}
}

// orderStore records the keys of the writes and deletes it sees.
type orderStore struct {
	load.Store
	mu   sync.Mutex
	keys []string
}

func (o *orderStore) note(key string) {
	o.mu.Lock()
	o.keys = append(o.keys, key)
	o.mu.Unlock()
}

func (o *orderStore) PutIfAbsent(ctx context.Context, key string, r io.Reader) (string, error) {
	o.note(key)
	return o.Store.PutIfAbsent(ctx, key, r)
}

func (o *orderStore) PutIfMatch(ctx context.Context, key string, r io.Reader, etag string) (string, error) {
	o.note(key)
	return o.Store.PutIfMatch(ctx, key, r, etag)
}

func (o *orderStore) DeleteIfMatch(ctx context.Context, key, etag string) error {
	o.note(key)
	return o.Store.DeleteIfMatch(ctx, key, etag)
}

// testCommitOrder: the parent table is written after every child, so that a
// reader joining them never finds a parent row without its children.
func testCommitOrder(t *testing.T, s load.Store) {
	ctx := context.Background()
	rec := &orderStore{Store: s}
	l := lake.New(rec, tenant, t.TempDir(), nil)
	for i := range 2 {
		p := open(t, l)
		files := map[string]load.LocalFile{"parent": parentFile(t, i+1), "child_a": localFile(t, "A"), "child_b": localFile(t, "B")}
		if i == 1 {
			delete(files, "child_b") // deleted, before the parent too
		}
		if err := p.Commit(ctx, files); err != nil {
			t.Fatal(err)
		}
		if n := len(rec.keys); n != 3 || rec.keys[n-1] != lake.TableKey("parent", "2026-12-03", tenant) {
			t.Errorf("commit %d wrote %v, want the parent last", i, rec.keys)
		}
		rec.keys = nil
	}
}

// testCommitConflict: an object changed since the partition read it (only
// another writer can do that) stops the commit with ErrConflict and is left
// as the other writer made it.
func testCommitConflict(t *testing.T, s load.Store) {
	ctx := context.Background()
	l := lake.New(s, tenant, t.TempDir(), nil)
	if err := open(t, l).Commit(ctx, map[string]load.LocalFile{"parent": parentFile(t, 1), "child_a": localFile(t, "A1")}); err != nil {
		t.Fatal(err)
	}
	p := open(t, l)
	keys, _ := p.Files(ctx, "child_a")
	if _, err := p.Local(ctx, keys[0]); err != nil {
		t.Fatal(err)
	}
	loadtest.MustPut(t, s, lake.TableKey("child_a", "2026-12-03", tenant), []byte("other run"))
	err := p.Commit(ctx, map[string]load.LocalFile{"parent": parentFile(t, 2), "child_a": localFile(t, "A2")})
	if !errors.Is(err, lake.ErrConflict) {
		t.Fatalf("Commit over a changed object = %v, want ErrConflict", err)
	}
	if got := read(t, s, lake.TableKey("child_a", "2026-12-03", tenant)); got != "other run" {
		t.Errorf("child_a = %q, want the other run's", got)
	}
	if got := parentRows(t, s, "2026-12-03"); got != 1 {
		t.Errorf("parent has %d rows, want the first commit's 1: a failed child commit stops before the parent", got)
	}
	// A new day created meanwhile by another writer conflicts too.
	q, err := l.Partition(ctx, "ds", "2026-12-04", tables...)
	if err != nil {
		t.Fatal(err)
	}
	loadtest.MustPut(t, s, lake.TableKey("parent", "2026-12-04", tenant), []byte("other run"))
	if err := q.Commit(ctx, map[string]load.LocalFile{"parent": parentFile(t, 1)}); !errors.Is(err, lake.ErrConflict) {
		t.Errorf("Commit of a day created meanwhile = %v, want ErrConflict", err)
	}
}

func testCheckpoint(t *testing.T, s load.Store) {
	ctx := context.Background()
	now := t0
	l := lake.New(s, tenant, "", func() time.Time { return now })
	cp, err := l.Checkpoint(ctx, "callrecords")
	if err != nil || cp.Found() {
		t.Fatalf("Checkpoint of a new lake = %+v, %v; want none", cp, err)
	}
	gap := &lake.Gap{From: t0.Add(-40 * 24 * time.Hour), To: t0.Add(-30 * 24 * time.Hour), RunID: "r1"}
	if err := l.Advance(ctx, &cp, "callrecords", t0, "r1", gap); err != nil {
		t.Fatalf("Advance = %v", err)
	}
	other := lake.New(s, tenant, "", nil)
	stale, _ := other.Checkpoint(ctx, "callrecords")
	now = now.Add(time.Hour)
	if err := l.Advance(ctx, &cp, "callrecords", t0.Add(time.Hour), "r2", nil); err != nil {
		t.Fatalf("second Advance = %v", err)
	}
	if err := other.Advance(ctx, &stale, "callrecords", t0.Add(time.Minute), "r3", nil); !errors.Is(err, load.ErrPrecondition) {
		t.Errorf("Advance over a checkpoint moved meanwhile = %v, want ErrPrecondition", err)
	}
	got, err := l.Checkpoint(ctx, "callrecords")
	if err != nil || !got.Found() || !got.Watermark.Equal(t0.Add(time.Hour)) || got.LastRunID != "r2" || len(got.Gaps) != 1 || !got.LastSuccess.Equal(now) {
		t.Errorf("Checkpoint = %+v, %v; want watermark +1h by r2, the gap kept", got, err)
	}
	st, err := lake.ReadStatus(ctx, s, tenant, now)
	if err != nil || len(st) != 1 || st[0].LagSeconds != 0 || st[0].ExpiresAt != t0.Add(time.Hour+lake.Retention) {
		t.Errorf("ReadStatus = %+v, %v", st, err)
	}
}

func testLease(t *testing.T, s load.Store) {
	ctx := context.Background()
	now := t0
	l := lake.New(s, tenant, "", func() time.Time { return now })
	first, err := l.Acquire(ctx, "run-1", time.Minute)
	if err != nil {
		t.Fatalf("Acquire = %v", err)
	}
	if _, err := l.Acquire(ctx, "run-2", time.Minute); !errors.Is(err, lake.ErrLocked) || !strings.Contains(err.Error(), "run-1") {
		t.Errorf("Acquire by another run = %v, want ErrLocked naming run-1", err)
	}
	// The same run again (its acquire was retried after a lost reply).
	now = now.Add(time.Second)
	again, err := l.Acquire(ctx, "run-1", time.Minute)
	if err != nil {
		t.Fatalf("Acquire by the holder itself = %v, want its lease", err)
	}
	if err := first.Release(ctx); err != nil {
		t.Errorf("Release of a lease replaced by its own run = %v", err)
	}
	if _, err := l.Acquire(ctx, "run-2", time.Minute); !errors.Is(err, lake.ErrLocked) {
		t.Errorf("Acquire after the stale handle's release = %v, want ErrLocked (run-1 still holds it)", err)
	}
	now = now.Add(2 * time.Minute) // run-1 died: its lease expires
	third, err := l.Acquire(ctx, "run-3", time.Minute)
	if err != nil {
		t.Fatalf("Acquire of an expired lease = %v", err)
	}
	if err := again.Release(ctx); err != nil {
		t.Errorf("Release of a lease taken over = %v, want nil (nothing to do)", err)
	}
	if err := third.Release(ctx); err != nil {
		t.Fatalf("Release = %v", err)
	}
	if _, err := l.Acquire(ctx, "run-4", time.Minute); err != nil {
		t.Errorf("Acquire after a release = %v", err)
	}
}

// testLeaseLost: a renewal that finds the lease taken over reports it.
func testLeaseLost(t *testing.T, s load.Store) {
	ctx := context.Background()
	now := t0
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	l := lake.New(s, tenant, "", clock)
	le, err := l.Acquire(ctx, "run-1", 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	if _, err := l.Acquire(ctx, "run-2", 3*time.Second); err != nil {
		t.Fatal(err)
	}
	lost := make(chan error, 1)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	go le.KeepAlive(ctx, discard, func(err error) { lost <- err })
	select {
	case err := <-lost:
		if !errors.Is(err, lake.ErrLockLost) {
			t.Errorf("lost = %v, want ErrLockLost", err)
		}
	case <-ctx.Done():
		t.Fatal("KeepAlive never noticed the lease was taken over")
	}
}

// testQuarantine: any id, even one that is no valid key, is quarantined under
// a name of its own, and the object names it.
func testQuarantine(t *testing.T, s load.Store) {
	ctx := context.Background()
	l := lake.New(s, tenant, "", nil)
	ids := []string{"../x", "..hidden", ".", "a/b\\c\x00d", strings.Repeat("z", 300), "ok-id"}
	seen := map[string]bool{}
	for _, id := range ids {
		key, err := l.Quarantine(ctx, "pstn", id, []byte(`{"id":`+strings.Repeat(" ", 1)+`"x"}`))
		if err != nil {
			t.Errorf("Quarantine(%q) = %v", id, err)
			continue
		}
		if key != lake.QuarantineKey(tenant, "pstn", id) || seen[key] {
			t.Errorf("Quarantine(%q) key %s: want QuarantineKey, one per id", id, key)
		}
		seen[key] = true
	}
	n := 0
	s.List(ctx, "_etl/quarantine/"+tenant+"/pstn/", func(load.Object) error { n++; return nil })
	if n != len(ids) {
		t.Errorf("%d quarantined objects, want %d", n, len(ids))
	}
}

func testInbox(t *testing.T, s load.Store) {
	ctx := context.Background()
	l := lake.New(s, tenant, "", nil)
	if empty, err := l.InboxEmpty(ctx); err != nil || !empty {
		t.Fatalf("InboxEmpty of a new lake = %v, %v", empty, err)
	}
	for _, id := range []string{"a", "b", "a"} {
		if err := l.Notify(ctx, lake.InboxEntry{ID: id, ReceivedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	items, err := l.Inbox(ctx)
	if err != nil || len(items) != 2 {
		t.Fatalf("Inbox = %v, %v; want a and b once", items, err)
	}
	if err := l.Retry(ctx, items[1]); err != nil {
		t.Fatal(err)
	}
	// a is notified again after the run read it: the run's Done keeps it.
	if err := l.Notify(ctx, lake.InboxEntry{ID: "a", ChangeType: "updated", ReceivedAt: t0.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := l.Done(ctx, items[0]); err != nil {
		t.Fatal(err)
	}
	items, _ = l.Inbox(ctx)
	if len(items) != 2 || items[0].ChangeType != "updated" || items[1].Attempts != 1 {
		t.Errorf("Inbox = %+v, want a (renotified) and b (one attempt)", items)
	}
	for _, it := range items {
		if err := l.Done(ctx, it); err != nil {
			t.Fatal(err)
		}
	}
	if empty, err := l.InboxEmpty(ctx); err != nil || !empty {
		t.Errorf("InboxEmpty after Done = %v, %v", empty, err)
	}
}

// TestReadStatus_MissingDestination: status on a destination that does not
// exist says so, and creates nothing.
func TestReadStatus_MissingDestination(t *testing.T) {
	root := filepath.Join(t.TempDir(), "typo")
	s, err := load.NewLocalStore(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lake.ReadStatus(context.Background(), s, "", t0); !errors.Is(err, load.ErrNoDestination) {
		t.Errorf("ReadStatus(missing directory) = %v, want ErrNoDestination", err)
	}
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		t.Errorf("ReadStatus created %s: %v", root, err)
	}
}

func TestLake_Azure(t *testing.T) {
	t.Parallel()
	az := loadtest.StartAzurite(t)
	runLakeTests(t, func(t *testing.T) load.Store {
		loc, err := load.ParseAzureURL(az.Dest(strings.ReplaceAll(t.Name(), "/", "_")))
		if err != nil {
			t.Fatal(err)
		}
		s, err := load.NewAzureStore(loc, az.Config())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// slowRenewals applies a lease renewal, then answers only when the test says
// so, and answers the caller's cancellation if it came meanwhile: a reply
// lost to a run that ended while its renewal was under way.
type slowRenewals struct {
	load.Store
	once     sync.Once
	started  chan struct{} // closed once the first renewal is applied
	answered chan struct{} // closed by the test: renewals may answer
}

func (s *slowRenewals) PutIfMatch(ctx context.Context, key string, r io.Reader, etag string) (string, error) {
	newEtag, err := s.Store.PutIfMatch(context.WithoutCancel(ctx), key, r, etag)
	s.once.Do(func() { close(s.started) })
	<-s.answered
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	return newEtag, err
}

// TestLease_RenewalUnderWayAtTheEnd: a run that ends while a renewal is
// under way finishes that renewal before releasing, so the release matches
// what the store holds and the lease is gone (not left until it expires).
func TestLease_RenewalUnderWayAtTheEnd(t *testing.T) {
	base := loadtest.Memory()
	store := &slowRenewals{Store: base, started: make(chan struct{}), answered: make(chan struct{})}
	l := lake.New(store, tenant, "", time.Now)
	lease, err := l.Acquire(context.Background(), "run-1", 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		lease.KeepAlive(ctx, slog.New(slog.DiscardHandler), func(err error) { t.Errorf("lease lost: %v", err) })
	}()
	<-store.started // the first renewal (after 100 ms) is applied, its reply not yet in
	cancel()
	close(store.answered)
	<-done
	if err := lease.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := base.Get(context.Background(), "_etl/locks/"+tenant+".json"); !errors.Is(err, load.ErrNotExist) {
		t.Errorf("lease after release = %v, want it gone", err)
	}
}
