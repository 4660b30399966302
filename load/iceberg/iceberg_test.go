package iceberg_test

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	icego "github.com/apache/iceberg-go"

	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/iceberg"
	"github.com/callrecords-etl/callrecords-etl/load/icebergproc"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// commitHive commits a Hive object of pstn_calls for tenant and day, with
// rows rows, as a run does, and returns the local file it was written from.
func commitHive(t *testing.T, store load.Store, tenant, day string, rows int) string {
	t.Helper()
	w := load.NewFileWriter[schemas.PstnCallRow](load.ParquetOptions{TempDir: t.TempDir()})
	batch := make([]schemas.PstnCallRow, rows)
	for i := range batch {
		batch[i] = schemas.PstnCallRow{ID: fmt.Sprintf("%s-%s-%d", tenant, day, i), TenantID: tenant}
	}
	if err := w.Write(batch); err != nil {
		t.Fatal(err)
	}
	f, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	r, err := os.Open(f.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := store.Put(context.Background(), fmt.Sprintf("%s/dt=%s/%s.parquet", schemas.TablePstnCalls, day, tenant), r); err != nil {
		t.Fatal(err)
	}
	return f.Path
}

// currentFiles lists the current snapshot's data files: tenant/day -> rows.
func currentFiles(t *testing.T, cat *iceberg.Catalog) map[string]int64 {
	t.Helper()
	tbl, err := cat.Load(context.Background(), schemas.TablePstnCalls)
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := tbl.Scan().PlanFiles(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, task := range tasks {
		// The tenant from the file's folder, the day from its partition
		// (as readers take it).
		var day string
		for _, v := range task.File.Partition() {
			day = time.Unix(int64(v.(icego.Date))*86400, 0).UTC().Format(time.DateOnly)
		}
		out[path.Base(path.Dir(task.File.FilePath()))+"/dt="+day] += task.File.Count()
	}
	return out
}

func open(t *testing.T, dir string) (*iceberg.Catalog, load.Store) {
	t.Helper()
	return openCatalog(t, dir, filepath.Join(dir, "_etl", "iceberg.db"))
}

// localLake is the local lake at dir: its store, and the root URI a catalog
// is opened with.
func localLake(t *testing.T, dir string) (load.Store, string) {
	t.Helper()
	store, err := load.NewLocalStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	root, err := icebergproc.RootURI(dir)
	if err != nil {
		t.Fatal(err)
	}
	return store, root
}

// openCatalog opens the local lake at dir with the catalog that uri names,
// as a run does.
func openCatalog(t *testing.T, dir, uri string, opts ...iceberg.Option) (*iceberg.Catalog, load.Store) {
	t.Helper()
	store, root := localLake(t, dir)
	cat, err := iceberg.Open(context.Background(), uri, root, store, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	return cat, store
}

// lakeWithOneDay is a fresh local lake holding one committed day of
// pstn_calls (tenant-a, 2026-11-18, 3 rows), for openAndPublish.
func lakeWithOneDay(t *testing.T) (load.Store, string) {
	t.Helper()
	store, root := localLake(t, t.TempDir())
	commitHive(t, store, "tenant-a", "2026-11-18", 3)
	return store, root
}

// openAndPublish opens the catalog uri names over a lake from
// lakeWithOneDay, as a run does, and returns the error if it is refused;
// else it publishes that day and checks the table holds it.
func openAndPublish(t *testing.T, store load.Store, root, uri string, opts ...iceberg.Option) error {
	t.Helper()
	cat, err := iceberg.Open(context.Background(), uri, root, store, opts...)
	if err != nil {
		return err
	}
	defer cat.Close()
	if _, err := cat.Publish(context.Background(), schemas.TablePstnCalls, "tenant-a", "run-1"); err != nil {
		t.Fatal(err)
	}
	if got := currentFiles(t, cat); fmt.Sprint(got) != "map[tenant-a/dt=2026-11-18:3]" {
		t.Fatalf("published %v", got)
	}
	tbl, err := cat.Load(context.Background(), schemas.TablePstnCalls)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, f := range tbl.SortOrder().Fields() {
		col, _ := tbl.Schema().FindColumnName(f.SourceIDs[0])
		order = append(order, fmt.Sprintf("%s %s %s", col, f.Direction, f.NullOrder))
	}
	if fmt.Sprint(order) != "[tenant_id asc nulls-first id asc nulls-first]" {
		t.Errorf("sort order as the catalog keeps it: %v, want the table's key", order)
	}
	return nil
}

// TestPublish_ConcurrentTenants: runs of several tenants publishing the same
// table at once all land (a commit that loses is planned again over the
// winner's snapshot), each tenant's days once; a day whose Hive object is
// gone leaves the table, and a publish with nothing changed commits nothing.
func TestPublish_ConcurrentTenants(t *testing.T) {
	dir := t.TempDir()
	_, store := open(t, dir)
	// Sixteen, as a partner's tenants whose runs start in the same minute:
	// more than the five attempts (without a wait) that once failed here.
	tenants := []string{"tenant-a", "tenant-b", "tenant-c", "tenant-d"}
	for i := range 12 {
		tenants = append(tenants, fmt.Sprintf("tenant-%02d", i))
	}
	want := map[string]int64{}
	for i, tn := range tenants {
		for d, day := range []string{"2026-11-18", "2026-11-19"} {
			commitHive(t, store, tn, day, 3+i+d)
			want[tn+"/dt="+day] = int64(3 + i + d)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(tenants))
	for i, tn := range tenants {
		wg.Go(func() {
			cat, _ := open(t, dir) // a catalog per run, as separate processes have
			_, errs[i] = cat.Publish(context.Background(), schemas.TablePstnCalls, tn, "run-"+tn)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("publish of %s: %v", tenants[i], err)
		}
	}
	cat, _ := open(t, dir)
	if got := currentFiles(t, cat); fmt.Sprint(sorted(got)) != fmt.Sprint(sorted(want)) {
		t.Fatalf("after concurrent publishes: %v, want %v", sorted(got), sorted(want))
	}

	if err := store.(load.Deleter).Delete(context.Background(), schemas.TablePstnCalls+"/dt=2026-11-18/tenant-b.parquet"); err != nil {
		t.Fatal(err)
	}
	commitHive(t, store, "tenant-b", "2026-11-19", 10)
	pub, err := cat.Publish(context.Background(), schemas.TablePstnCalls, "tenant-b", "run-2")
	if err != nil {
		t.Fatal(err)
	}
	delete(want, "tenant-b/dt=2026-11-18")
	want["tenant-b/dt=2026-11-19"] = 10
	if got := currentFiles(t, cat); fmt.Sprint(sorted(got)) != fmt.Sprint(sorted(want)) || pub.Days != 2 || pub.Rows != 10 {
		t.Fatalf("after a removed and a rewritten day: %v (%+v), want %v", sorted(got), pub, sorted(want))
	}
	if pub, err := cat.Publish(context.Background(), schemas.TablePstnCalls, "tenant-b", "run-3"); err != nil || pub.Snapshot != 0 {
		t.Fatalf("a publish with nothing changed: %+v, %v; want no snapshot", pub, err)
	}
}

func sorted(m map[string]int64) []string {
	var out []string
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(out)
	return out
}

// TestPublish_EarlierLayout: a table whose snapshot names a data file in the
// layout before the tenant's folder (data/dt=<day>/<tenant>/<stamp>-<run>)
// is read as before: that day is unchanged while its Hive object is, and
// replaced by one new file when the object changes.
func TestPublish_EarlierLayout(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cat, store := open(t, dir)
	commitHive(t, store, "tenant-a", "2026-11-18", 3)
	if _, err := cat.Publish(ctx, schemas.TablePstnCalls, "tenant-a", "run-1"); err != nil {
		t.Fatal(err)
	}
	// Day 2026-11-19, committed by an earlier version of the job.
	commitHive(t, store, "tenant-a", "2026-11-19", 2)
	const old = "iceberg/" + schemas.TablePstnCalls + "/data/dt=2026-11-19/tenant-a/20261119T100000.000000000-run-0.parquet"
	if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, old)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, schemas.TablePstnCalls, "dt=2026-11-19", "tenant-a.parquet"), filepath.Join(dir, old)); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, old))
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := cat.Load(ctx, schemas.TablePstnCalls)
	if err != nil {
		t.Fatal(err)
	}
	spec := tbl.Spec()
	b, err := icego.NewDataFileBuilder(spec, icego.EntryContentData, "file://"+filepath.ToSlash(dir)+"/"+old, icego.ParquetFile,
		map[int]any{spec.Field(0).FieldID: icego.Date(time.Date(2026, 11, 19, 0, 0, 0, 0, time.UTC).Unix() / 86400)},
		nil, nil, 2, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	txn := tbl.NewTransaction()
	if err := txn.AddDataFiles(ctx, []icego.DataFile{b.Build()}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := txn.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	want := "map[tenant-a/dt=2026-11-18:3 tenant-a/dt=2026-11-19:2]"
	if got := currentFiles(t, cat); fmt.Sprint(got) != want {
		t.Fatalf("before: %v, want %v", got, want)
	}

	p, err := cat.Publish(ctx, schemas.TablePstnCalls, "tenant-a", "run-2")
	if err != nil {
		t.Fatal(err)
	}
	if p.Snapshot != 0 {
		t.Errorf("a publish with no Hive object changed committed snapshot %d (%d days), want none", p.Snapshot, p.Days)
	}

	commitHive(t, store, "tenant-a", "2026-11-19", 5)
	p, err = cat.Publish(ctx, schemas.TablePstnCalls, "tenant-a", "run-3")
	if err != nil {
		t.Fatal(err)
	}
	if p.Days != 1 || p.Rows != 5 {
		t.Errorf("published %d days, %d rows; want the changed day, 5 rows", p.Days, p.Rows)
	}
	want = "map[tenant-a/dt=2026-11-18:3 tenant-a/dt=2026-11-19:5]"
	if got := currentFiles(t, cat); fmt.Sprint(got) != want {
		t.Errorf("after the day changed: %v, want %v", got, want)
	}
	tbl, err = cat.Load(ctx, schemas.TablePstnCalls)
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := tbl.Scan().PlanFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var locs []string
	for _, task := range tasks {
		locs = append(locs, strings.TrimPrefix(task.File.FilePath(), "file://"+filepath.ToSlash(dir)+"/"))
	}
	sort.Strings(locs)
	if len(locs) != 2 || !strings.HasPrefix(locs[0], "iceberg/"+schemas.TablePstnCalls+"/data/tenant-a/2026-11-18_") ||
		!strings.HasPrefix(locs[1], "iceberg/"+schemas.TablePstnCalls+"/data/tenant-a/2026-11-19_") {
		t.Errorf("data files %v, want one per day in the tenant's folder", locs)
	}
}

// syncRecorder is a local store that records what SyncLinks was given, and
// whether the table had a snapshot then.
type syncRecorder struct {
	*load.LocalStore
	cat             func() *iceberg.Catalog
	synced          []string
	snapshotAtSync  bool
	linked, syncedN int
}

// Copy counts the store's own copies: in a local store, links.
func (s *syncRecorder) Copy(ctx context.Context, src, dst string, size int64) error {
	s.linked++
	return s.LocalStore.Copy(ctx, src, dst, size)
}

func (s *syncRecorder) SyncLinks(ctx context.Context, keys ...string) error {
	s.syncedN++
	s.synced = append(s.synced, keys...)
	if tbl, err := s.cat().Load(ctx, schemas.TablePstnCalls); err == nil && tbl.CurrentSnapshot() != nil {
		s.snapshotAtSync = true
	}
	return s.LocalStore.SyncLinks(ctx, keys...)
}

// TestPublish_SyncsLinksFirst: in a local lake, the data files a publish
// names (staged links, and the copy of a day not staged) are synced before
// the snapshot that names them is committed, in one call.
func TestPublish_SyncsLinksFirst(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	local, root := localLake(t, dir)
	rec := &syncRecorder{LocalStore: local.(*load.LocalStore)}
	cat, err := iceberg.Open(ctx, filepath.Join(dir, "_etl", "iceberg.db"), root, rec)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	rec.cat = func() *iceberg.Catalog { return cat }
	for i, day := range []string{"2026-11-18", "2026-11-19"} {
		path := commitHive(t, rec, "tenant-a", day, 2+i)
		if err := cat.Stage(ctx, schemas.TablePstnCalls, day, "tenant-a", "run-1", load.LocalFile{Path: path, Rows: int64(2 + i)}); err != nil {
			t.Fatal(err)
		}
	}
	commitHive(t, rec, "tenant-a", "2026-11-20", 4) // not staged: the publish copies it
	if _, err := cat.Publish(ctx, schemas.TablePstnCalls, "tenant-a", "run-1"); err != nil {
		t.Fatal(err)
	}
	if rec.linked != 3 {
		t.Errorf("%d links, want 3 (two staged, one copied at publish)", rec.linked)
	}
	if rec.syncedN != 1 || len(rec.synced) != 3 {
		t.Errorf("SyncLinks called %d times with %v, want once with the 3 data files", rec.syncedN, rec.synced)
	}
	for _, key := range rec.synced {
		if !strings.HasPrefix(key, "iceberg/"+schemas.TablePstnCalls+"/data/tenant-a/") {
			t.Errorf("synced %s, not a data file of the table", key)
		}
	}
	if rec.snapshotAtSync {
		t.Error("the snapshot was committed before its data files were synced")
	}
	if got, want := fmt.Sprint(currentFiles(t, cat)), "map[tenant-a/dt=2026-11-18:2 tenant-a/dt=2026-11-19:3 tenant-a/dt=2026-11-20:4]"; got != want {
		t.Errorf("published %v, want %v", got, want)
	}
}

// TestPublish_SQLTableElsewhere: a SQL catalog's table created at another
// location than the lake's (by another lake's run, or by hand) gets the
// day's data file there, and the copy Stage made in the lake, which no
// snapshot names and maintain would never find, is deleted.
func TestPublish_SQLTableElsewhere(t *testing.T) {
	ctx := context.Background()
	dir, other := t.TempDir(), t.TempDir()
	uri := filepath.Join(dir, "_etl", "iceberg.db")
	if err := os.MkdirAll(filepath.Dir(uri), 0o755); err != nil {
		t.Fatal(err)
	}
	// Another lake's run creates the table, at its own location.
	first, otherStore := openCatalog(t, other, uri)
	commitHive(t, otherStore, "tenant-b", "2026-11-17", 2)
	if _, err := first.Publish(ctx, schemas.TablePstnCalls, "tenant-b", "run-1"); err != nil {
		t.Fatal(err)
	}
	first.Close()

	cat, store := openCatalog(t, dir, uri)
	const day = "2026-11-18"
	local := commitHive(t, store, "tenant-a", day, 3)
	if err := cat.Stage(ctx, schemas.TablePstnCalls, day, "tenant-a", "run-2", load.LocalFile{Path: local, Rows: 3}); err != nil {
		t.Fatal(err)
	}
	if _, err := cat.Publish(ctx, schemas.TablePstnCalls, "tenant-a", "run-2"); err != nil {
		t.Fatal(err)
	}
	if got := currentFiles(t, cat); fmt.Sprint(got) != "map[tenant-a/dt="+day+":3 tenant-b/dt=2026-11-17:2]" {
		t.Fatalf("published %v", got)
	}
	tbl, err := cat.Load(ctx, schemas.TablePstnCalls)
	if err != nil {
		t.Fatal(err)
	}
	otherRoot, _ := icebergproc.RootURI(other)
	tasks, err := tbl.Scan().PlanFiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		if !strings.HasPrefix(task.File.FilePath(), otherRoot) {
			t.Errorf("data file %s, want it at the table's location under %s", task.File.FilePath(), otherRoot)
		}
	}
	if err := store.List(ctx, "iceberg/", func(o load.Object) error {
		t.Errorf("left in the lake's iceberg/: %s", o.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
