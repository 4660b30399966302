package iceberg_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/iceberg"
	"github.com/callrecords-etl/callrecords-etl/load/iceberg/icebergtest"
	"github.com/callrecords-etl/callrecords-etl/load/icebergproc"
	"github.com/callrecords-etl/callrecords-etl/load/loadtest"
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
	root, err := icebergproc.RootURI(dir)
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
	open := func() (*iceberg.Catalog, load.Store) { return openGlue(t, dir, glueURI) }
	checkRacedPublishes(t, open, func(r func()) { racer = r }, srv.Conflicts.Load)
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
	root, err := icebergproc.RootURI(dir)
	if err != nil {
		t.Fatal(err)
	}
	commitHive(t, store, "tenant-a", "2026-11-18", 3)
	for _, c := range []struct {
		uri    string
		want   string // the error's, or "" for a catalog that publishes
		bundle bool   // AWS_CA_BUNDLE names a CA bundle (the SDK then builds its own HTTP client)
	}{
		{glueURI, "", false},
		{glueURI, "", true},
		{"glue://?catalog-id=210987654321", "AccessDeniedException", false},
		{"glue", "AccessDeniedException", false}, // the caller's own account: not the server's
		{"glue://?region=eu-west-1&warehouse=x", `unknown setting "warehouse"`, false},
		{"glue://?region=", "region is empty", false},
		{"glue://host/path", "no host or path", false},
	} {
		t.Run(fmt.Sprintf("%s bundle=%t", c.uri, c.bundle), func(t *testing.T) {
			if c.bundle {
				t.Setenv("AWS_CA_BUNDLE", loadtest.CABundle(t))
			}
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
			if _, err := cat.Publish(context.Background(), schemas.TablePstnCalls, "tenant-a", "run-1"); err != nil {
				t.Fatal(err)
			}
			if got := currentFiles(t, cat); fmt.Sprint(got) != "map[tenant-a/dt=2026-11-18:3]" {
				t.Fatalf("published %v", got)
			}
		})
	}
}
