package iceberg_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/iceberg"
	"github.com/callrecords-etl/callrecords-etl/load/iceberg/icebergtest"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// glueURI names the catalog of the test server's account.
const glueURI = "glue://?region=eu-west-1&catalog-id=123456789012"

// openGlue opens the lake at dir with the Glue catalog uri, as a run does.
func openGlue(t *testing.T, dir, uri string) (*iceberg.Catalog, load.Store) {
	t.Helper()
	store, err := load.NewLocalStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	root, err := iceberg.RootURI(dir)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := iceberg.Open(context.Background(), uri, root, store)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	return cat, store
}

// TestPublish_Glue: publishing through AWS Glue (a test server following
// its API, found through AWS_ENDPOINT_URL_GLUE) commits one snapshot per
// publish naming the run and tenant; concurrent tenants all land, each
// tenant's days once, though Glue refused some updates for a stale
// VersionId (another tenant's commit won the race); a publish with nothing
// changed commits nothing.
func TestPublish_Glue(t *testing.T) {
	dir := t.TempDir()
	// The first update of tenant-a finds that tenant-b's publish committed
	// first, whatever the scheduling: its VersionId is stale.
	var raced atomic.Bool
	var racer func()
	srv := icebergtest.StartGlue(t, icebergtest.GlueOptions{CatalogID: "123456789012", BeforeUpdate: func(string, string) {
		if racer != nil && raced.CompareAndSwap(false, true) {
			racer()
		}
	}})
	icebergtest.GlueEnv(t, srv)
	_, store := openGlue(t, dir, glueURI)
	tenants := []string{"tenant-a", "tenant-b", "tenant-c", "tenant-d"}
	want := map[string]int64{}
	for i, tn := range tenants {
		for d, day := range []string{"2026-11-18", "2026-11-19"} {
			commitHive(t, store, tn, day, 3+i+d)
			want[tn+"/dt="+day] = int64(3 + i + d)
		}
	}
	cat, _ := openGlue(t, dir, glueURI)
	racer = func() {
		other, _ := openGlue(t, dir, glueURI)
		if _, err := other.Publish(context.Background(), schemas.TablePstnCalls, schemas.PstnCallRow{}, "tenant-b", "run-tenant-b"); err != nil {
			t.Errorf("publish of tenant-b during tenant-a's: %v", err)
		}
	}
	pub, err := cat.Publish(context.Background(), schemas.TablePstnCalls, schemas.PstnCallRow{}, "tenant-a", "run-tenant-a")
	if err != nil {
		t.Fatalf("publish of tenant-a: %v", err)
	}
	t.Logf("updates refused for a stale VersionId: %d", srv.Conflicts.Load())
	if srv.Conflicts.Load() == 0 {
		t.Fatalf("no update was refused: the race was not made")
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
			c, _ := openGlue(t, dir, glueURI) // a catalog per run, as separate processes have
			_, errs[i] = c.Publish(context.Background(), schemas.TablePstnCalls, schemas.PstnCallRow{}, tn, "run-"+tn)
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
	if pub, err := cat.Publish(context.Background(), schemas.TablePstnCalls, schemas.PstnCallRow{}, "tenant-b", "run-3"); err != nil || pub.Snapshot != 0 {
		t.Fatalf("a publish with nothing changed: %+v, %v; want no snapshot", pub, err)
	}
	if n := srv.Unsigned.Load(); n != 0 {
		t.Errorf("the server refused %d unsigned requests", n)
	}
}

// TestOpen_GlueURI: a Glue catalog's URI gives its region and the account
// whose catalog it is (every request names it); another account's catalog
// is refused when the catalog is opened; an unknown setting or a host is a
// clear error naming the URI.
func TestOpen_GlueURI(t *testing.T) {
	srv := icebergtest.StartGlue(t, icebergtest.GlueOptions{CatalogID: "123456789012"})
	icebergtest.GlueEnv(t, srv)
	dir := t.TempDir()
	store, err := load.NewLocalStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	root, err := iceberg.RootURI(dir)
	if err != nil {
		t.Fatal(err)
	}
	commitHive(t, store, "tenant-a", "2026-11-18", 3)
	for _, c := range []struct {
		uri  string
		want string // the error's, or "" for a catalog that publishes
	}{
		{glueURI, ""},
		{"glue://?catalog-id=210987654321", "AccessDeniedException"},
		{"glue", "AccessDeniedException"}, // the caller's own account: not the server's
		{"glue://?region=eu-west-1&warehouse=x", `unknown setting "warehouse"`},
		{"glue://?region=", "region is empty"},
		{"glue://host/path", "no host or path"},
	} {
		t.Run(c.uri, func(t *testing.T) {
			cat, err := iceberg.Open(context.Background(), c.uri, root, store)
			if c.want != "" {
				if err == nil {
					cat.Close()
					t.Fatal("opened, want refused")
				}
				if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.uri) {
					t.Fatalf("error %v; want %q naming %s", err, c.want, c.uri)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer cat.Close()
			if _, err := cat.Publish(context.Background(), schemas.TablePstnCalls, schemas.PstnCallRow{}, "tenant-a", "run-1"); err != nil {
				t.Fatal(err)
			}
			if got := currentFiles(t, cat); fmt.Sprint(got) != "map[tenant-a/dt=2026-11-18:3]" {
				t.Fatalf("published %v", got)
			}
		})
	}
}
