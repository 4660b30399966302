package iceberg_test

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/iceberg-go/table"

	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/iceberg"
	"github.com/callrecords-etl/callrecords-etl/load/iceberg/icebergtest"
	"github.com/callrecords-etl/callrecords-etl/load/icebergproc"
	"github.com/callrecords-etl/callrecords-etl/load/loadtest"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// openREST opens the lake at dir with srv as its catalog, as a run does.
func openREST(t *testing.T, dir string, srv *icebergtest.Server) (*iceberg.Catalog, load.Store) {
	t.Helper()
	return openCatalog(t, dir, srv.URL)
}

// TestPublish_REST: publishing through an Iceberg REST catalog commits one
// snapshot per publish naming the run and tenant; concurrent tenants all
// land, each tenant's days once, though the server answered some commits
// 409 (another tenant's commit won the race); a publish with nothing
// changed commits nothing.
func TestPublish_REST(t *testing.T) {
	dir := t.TempDir()
	// The first commit of tenant-a finds that tenant-b's publish committed
	// first, whatever the scheduling: its requirement fails.
	var raced atomic.Bool
	var racer func()
	srv := icebergtest.Start(t, t.TempDir(), icebergtest.Options{BeforeCommit: func(table.Identifier) {
		if racer != nil && raced.CompareAndSwap(false, true) {
			racer()
		}
	}})
	open := func() (*iceberg.Catalog, load.Store) { return openREST(t, dir, srv) }
	checkRacedPublishes(t, open, func(r func()) { racer = r }, srv.Conflicts.Load)
}

// TestPublish_GivesUpAfterItsRetries: a publish that loses every race (each
// of its commits finds another tenant's snapshot committed first) retries,
// waiting between attempts, then fails saying so: the retries are bounded.
// The job's own retries first; then a table that sets the spec's
// commit.retry.num-retries (as Spark's ALTER TABLE ... SET TBLPROPERTIES
// would), which iceberg-go applies inside the commit instead, the job
// adding none.
func TestPublish_GivesUpAfterItsRetries(t *testing.T) {
	for _, tableSetsRetries := range []bool{false, true} {
		t.Run(fmt.Sprintf("table sets retries %v", tableSetsRetries), func(t *testing.T) {
			dir := t.TempDir()
			var racing atomic.Bool
			var racer func()
			var races atomic.Int64
			srv := icebergtest.Start(t, t.TempDir(), icebergtest.Options{BeforeCommit: func(table.Identifier) {
				if racer != nil && racing.CompareAndSwap(false, true) {
					defer racing.Store(false)
					races.Add(1)
					racer()
				}
			}})
			cat, store := openREST(t, dir, srv)
			commitHive(t, store, "tenant-z", "2026-11-01", 1)
			if _, err := cat.Publish(context.Background(), schemas.TablePstnCalls, "tenant-z", "run-0"); err != nil {
				t.Fatal(err)
			}
			if tableSetsRetries {
				iceberg.SetCommitRetry(cat, 50, time.Millisecond, time.Millisecond, time.Minute) // must not apply
				tbl, err := cat.Load(context.Background(), schemas.TablePstnCalls)
				if err != nil {
					t.Fatal(err)
				}
				txn := tbl.NewTransaction()
				if err := txn.SetProperties(map[string]string{"commit.retry.num-retries": "2", "commit.retry.min-wait-ms": "50", "commit.retry.max-wait-ms": "80"}); err != nil {
					t.Fatal(err)
				}
				if _, err := txn.Commit(context.Background()); err != nil {
					t.Fatal(err)
				}
			} else {
				iceberg.SetCommitRetry(cat, 2, 50*time.Millisecond, 80*time.Millisecond, time.Minute)
			}
			commitHive(t, store, "tenant-a", "2026-11-18", 3)
			n := 0
			racer = func() {
				// Another tenant's new day, committed before each of tenant-a's.
				n++
				tn := fmt.Sprintf("tenant-%d", n)
				commitHive(t, store, tn, "2026-11-18", 1)
				other, _ := openREST(t, dir, srv)
				if _, err := other.Publish(context.Background(), schemas.TablePstnCalls, tn, "run-"+tn); err != nil {
					t.Errorf("publish of %s: %v", tn, err)
				}
			}
			began := time.Now()
			_, err := cat.Publish(context.Background(), schemas.TablePstnCalls, "tenant-a", "run-a")
			if err == nil || !strings.Contains(err.Error(), "commit") {
				t.Fatalf("a publish that loses every race: %v, want it to fail", err)
			}
			if got := races.Load(); got != 3 {
				t.Errorf("%d attempts, want 3 (2 retries)", got)
			}
			if waited := time.Since(began); waited < 100*time.Millisecond {
				t.Errorf("the attempts came %s apart in all, want a wait of at least 50ms between them", waited)
			}
		})
	}
}

// TestCommitRetryWait: the job's waits between retries start at 100ms,
// double at most, never pass 10s, and are drawn at random (the losers of a
// race must not meet again).
func TestCommitRetryWait(t *testing.T) {
	for n := 1; n <= 25; n++ {
		ceiling := min(10*time.Second, 100*time.Millisecond<<min(n-1, 20))
		seen := map[time.Duration]bool{}
		for range 20 {
			w := iceberg.CommitRetryWait(n)
			if w < 100*time.Millisecond || w > ceiling {
				t.Fatalf("wait before retry %d: %s, want within [100ms, %s]", n, w, ceiling)
			}
			seen[w] = true
		}
		if n > 1 && len(seen) < 2 {
			t.Errorf("wait before retry %d: always %v", n, seen)
		}
	}
}

// TestOpen_RESTAuth: a REST catalog is opened with the warehouse it is
// asked for and OAuth2 client credentials (exchanged for its bearer token)
// or that token; wrong or missing credentials and an unknown warehouse are
// refused when the catalog is opened, not at the first commit.
func TestOpen_RESTAuth(t *testing.T) {
	srv := icebergtest.Start(t, t.TempDir(), icebergtest.Options{
		Warehouse: "lake", ClientID: "etl", ClientSecret: "s3cret", Token: "tok-1"})
	store, root := lakeWithOneDay(t)
	for _, c := range []struct {
		name string
		rest icebergproc.REST
		ok   bool
	}{
		{"client credentials", icebergproc.REST{Warehouse: "lake", Credential: "etl:s3cret"}, true},
		{"bearer token", icebergproc.REST{Warehouse: "lake", Token: "tok-1"}, true},
		{"wrong secret", icebergproc.REST{Warehouse: "lake", Credential: "etl:guess"}, false},
		{"wrong token", icebergproc.REST{Warehouse: "lake", Token: "tok-2"}, false},
		{"no credentials", icebergproc.REST{Warehouse: "lake"}, false},
		{"unknown warehouse", icebergproc.REST{Warehouse: "other", Token: "tok-1"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := openAndPublish(t, store, root, srv.URL, iceberg.WithREST(c.rest))
			if c.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("opened, want refused")
			}
			t.Log(err)
			if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "guess") {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}

// checkRacedPublishes publishes tenant-a's pstn_calls while setRacer's
// function (called by the catalog server before tenant-a's first commit)
// publishes tenant-b's, so that tenant-a's commit is refused (conflicts
// counts the refusals) and retried; then two tenants at once. Every
// tenant's days must be in the table once, each publish's snapshot naming
// its run and tenant, and a publish with nothing changed commits nothing.
func checkRacedPublishes(t *testing.T, open func() (*iceberg.Catalog, load.Store), setRacer func(func()), conflicts func() int64) {
	t.Helper()
	_, store := open()
	tenants := []string{"tenant-a", "tenant-b", "tenant-c", "tenant-d"}
	want := map[string]int64{}
	for i, tn := range tenants {
		for d, day := range []string{"2026-11-18", "2026-11-19"} {
			commitHive(t, store, tn, day, 3+i+d)
			want[tn+"/dt="+day] = int64(3 + i + d)
		}
	}
	cat, _ := open()
	setRacer(func() {
		other, _ := open()
		if _, err := other.Publish(context.Background(), schemas.TablePstnCalls, "tenant-b", "run-tenant-b"); err != nil {
			t.Errorf("publish of tenant-b during tenant-a's: %v", err)
		}
	})
	pub, err := cat.Publish(context.Background(), schemas.TablePstnCalls, "tenant-a", "run-tenant-a")
	if err != nil {
		t.Fatalf("publish of tenant-a: %v", err)
	}
	t.Logf("commits refused as stale: %d", conflicts())
	if conflicts() == 0 {
		t.Fatalf("no commit was refused as stale: the race was not made")
	}
	tbl, err := cat.Load(context.Background(), schemas.TablePstnCalls)
	if err != nil {
		t.Fatal(err)
	}
	snap := tbl.CurrentSnapshot()
	if snap == nil || snap.SnapshotID != pub.Snapshot || snap.Summary.Properties[iceberg.PropRunID] != "run-tenant-a" ||
		snap.Summary.Properties[iceberg.PropTenant] != "tenant-a" || len(tbl.Metadata().Snapshots()) != 2 {
		t.Fatalf("after two publishes: current snapshot %+v of %d, want tenant-a's run's %d of 2", snap, len(tbl.Metadata().Snapshots()), pub.Snapshot)
	}

	var wg sync.WaitGroup
	errs := make([]error, len(tenants))
	for i, tn := range tenants[2:] {
		wg.Go(func() {
			c, _ := open() // a catalog per run, as separate processes have
			_, errs[i] = c.Publish(context.Background(), schemas.TablePstnCalls, tn, "run-"+tn)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("publish of %s: %v", tenants[2+i], err)
		}
	}
	if got := currentFiles(t, cat); fmt.Sprint(sorted(got)) != fmt.Sprint(sorted(want)) {
		t.Fatalf("after concurrent publishes: %v, want %v", sorted(got), sorted(want))
	}
	if pub, err := cat.Publish(context.Background(), schemas.TablePstnCalls, "tenant-b", "run-3"); err != nil || pub.Snapshot != 0 {
		t.Fatalf("a publish with nothing changed: %+v, %v; want no snapshot", pub, err)
	}
}

// TestOpen_RESTSigV4: a REST catalog that wants AWS Signature Version 4
// (S3 Tables, Glue's Iceberg endpoint) is opened and published to with
// requests signed for its service and region with the environment's AWS
// credentials (the server recomputes each signature); signing for another
// service or region, with another secret, or not at all is refused when
// the catalog is opened.
func TestOpen_RESTSigV4(t *testing.T) {
	key := icebergtest.SigV4Key{AccessKeyID: "AKIDTEST", SecretAccessKey: "sigv4-secret", Region: "us-east-2", Service: "s3tables"}
	srv := icebergtest.Start(t, t.TempDir(), icebergtest.Options{Warehouse: "lake", SigV4: &key})
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": key.AccessKeyID, "AWS_SECRET_ACCESS_KEY": key.SecretAccessKey, "AWS_REGION": "eu-west-1",
		"AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "AWS_CONFIG_FILE": "/nonexistent/aws-config",
		"AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials", "AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, v)
	}
	store, root := lakeWithOneDay(t)
	for _, c := range []struct {
		name   string
		rest   icebergproc.REST
		secret string // AWS_SECRET_ACCESS_KEY, if not the server's
		ok     bool
	}{
		{"signed for the service and region", icebergproc.REST{Warehouse: "lake", SigV4Service: "s3tables", SigV4Region: "us-east-2"}, "", true},
		{"the environment's region", icebergproc.REST{Warehouse: "lake", SigV4Service: "s3tables"}, "", false},
		{"another service", icebergproc.REST{Warehouse: "lake", SigV4Service: "glue", SigV4Region: "us-east-2"}, "", false},
		{"another secret", icebergproc.REST{Warehouse: "lake", SigV4Service: "s3tables", SigV4Region: "us-east-2"}, "guess", false},
		{"not signed", icebergproc.REST{Warehouse: "lake"}, "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.secret != "" {
				t.Setenv("AWS_SECRET_ACCESS_KEY", c.secret)
			}
			before := srv.Unauthorized.Load()
			err := openAndPublish(t, store, root, srv.URL, iceberg.WithREST(c.rest))
			refused := srv.Unauthorized.Load() - before
			if c.ok {
				if err != nil || refused != 0 {
					t.Fatalf("%v; the server refused %d signatures", err, refused)
				}
				return
			}
			if err == nil {
				t.Fatal("opened, want refused")
			}
			if refused == 0 {
				t.Errorf("refused (%v) without the server refusing a signature", err)
			}
			if strings.Contains(err.Error(), key.SecretAccessKey) || strings.Contains(err.Error(), "guess") {
				t.Errorf("the error shows the secret: %v", err)
			}
		})
	}
}

// TestPublish_RESTServerLocations: a REST catalog that places its tables
// itself, outside the lake (as S3 Tables does), gets every data file under
// the table's location, written through the table's IO (on S3, iceberg-go's
// S3 client). A run killed between staging a day and publishing it leaves
// an orphan there that the next run, which does not list that location,
// neither publishes nor needs: it copies the day again; a day staged and
// published in one run is published from its staged file; maintain deletes
// the orphan. A server that refuses a create naming a location is asked
// again without one.
func TestPublish_RESTServerLocations(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		name := "local"
		if refuse {
			name += ", a location asked for refused"
		}
		t.Run(name, func(t *testing.T) {
			tables := "file://" + filepath.ToSlash(filepath.Join(t.TempDir(), "tables"))
			store, root := localLake(t, t.TempDir())
			testServerLocations(t, store, load.StoreConfig{}, root, icebergtest.Options{Locations: tables, RefuseLocation: refuse})
		})
	}
	t.Run("S3", func(t *testing.T) {
		s3cfg, _ := loadtest.StartS3(t)
		sc := load.StoreConfig{S3: s3cfg}
		root := "s3://" + s3cfg.Bucket + "/lake"
		store, err := load.OpenStore(context.Background(), root, sc)
		if err != nil {
			t.Fatal(err)
		}
		props, err := iceberg.IOProperties(context.Background(), root, sc)
		if err != nil {
			t.Fatal(err)
		}
		testServerLocations(t, store, sc, root, icebergtest.Options{Locations: "s3://" + s3cfg.Bucket + "/tables", IO: props})
	})
}

func testServerLocations(t *testing.T, store load.Store, sc load.StoreConfig, root string, opts icebergtest.Options) {
	ctx := context.Background()
	srv := icebergtest.Start(t, t.TempDir(), opts)
	tables := opts.Locations
	open := func() *iceberg.Catalog {
		cat, err := iceberg.Open(ctx, srv.URL, root, store, iceberg.WithIO(opts.IO))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cat.Close() })
		return cat
	}
	const day = "2026-11-18"
	local := commitHive(t, store, "tenant-a", day, 3)

	killed := open()
	if err := killed.Stage(ctx, schemas.TablePstnCalls, day, "tenant-a", "run-1", load.LocalFile{Path: local, Rows: 3}); err != nil {
		t.Fatal(err)
	}
	killed.Close() // the run dies before it publishes

	cat := open()
	if _, err := cat.Publish(ctx, schemas.TablePstnCalls, "tenant-a", "run-2"); err != nil {
		t.Fatal(err)
	}
	if got := currentFiles(t, cat); fmt.Sprint(got) != "map[tenant-a/dt="+day+":3]" {
		t.Fatalf("after the rerun: %v", got)
	}
	tbl, err := cat.Load(ctx, schemas.TablePstnCalls)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tbl.Location(), tables+"/") {
		t.Fatalf("table location %s, want one under %s", tbl.Location(), tables)
	}
	// The table's files, seen through a store opened at its location.
	at, err := load.OpenStore(ctx, tbl.Location(), sc)
	if err != nil {
		t.Fatal(err)
	}
	files := func() []string {
		t.Helper()
		var names []string
		if err := at.List(ctx, "data/tenant-a/"+day+"_", func(o load.Object) error {
			names = append(names, path.Base(o.Key))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		sort.Strings(names)
		return names
	}
	if got := files(); len(got) != 2 || !strings.HasSuffix(got[0], "-run-1.parquet") || !strings.HasSuffix(got[1], "-run-2.parquet") {
		t.Fatalf("data files %v, want the killed run's orphan and the rerun's copy", got)
	}
	if err := store.List(ctx, "iceberg/", func(o load.Object) error {
		t.Errorf("an object under the lake's iceberg/: %s", o.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// The day changes; this run stages it, then publishes that file.
	local = commitHive(t, store, "tenant-a", day, 5)
	if err := cat.Stage(ctx, schemas.TablePstnCalls, day, "tenant-a", "run-3", load.LocalFile{Path: local, Rows: 5}); err != nil {
		t.Fatal(err)
	}
	if _, err := cat.Publish(ctx, schemas.TablePstnCalls, "tenant-a", "run-3"); err != nil {
		t.Fatal(err)
	}
	if got := currentFiles(t, cat); fmt.Sprint(got) != "map[tenant-a/dt="+day+":5]" {
		t.Fatalf("after the change: %v", got)
	}
	if got := files(); len(got) != 3 {
		t.Fatalf("data files %v, want the run's staged file published, no other copy", got)
	}

	m, err := cat.Maintain(ctx, schemas.TablePstnCalls, iceberg.Maintenance{RetainLast: 1})
	if err != nil {
		t.Fatal(err)
	}
	// The rerun's copy goes with its expired snapshot; the killed run's
	// file, which no snapshot named, is the orphan.
	if got := files(); len(got) != 1 || !strings.HasSuffix(got[0], "-run-3.parquet") || m.OrphansDeleted != 1 {
		t.Errorf("after maintain: data files %v (%d orphans deleted), want the current one alone, one orphan deleted", got, m.OrphansDeleted)
	}
	if got := currentFiles(t, cat); fmt.Sprint(got) != "map[tenant-a/dt="+day+":5]" {
		t.Errorf("after maintain: %v", got)
	}
}
