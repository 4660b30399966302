package iceberg_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/iceberg"
	"github.com/callrecords-etl/callrecords-etl/load/iceberg/icebergtest"
	"github.com/callrecords-etl/callrecords-etl/load/loadtest"
)

// glueURI names the catalog of the test server's account.
const glueURI = "glue://?region=eu-west-1&catalog-id=123456789012"

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
	open := func() (*iceberg.Catalog, load.Store) { return openCatalog(t, dir, glueURI) }
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
	store, root := lakeWithOneDay(t)
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
			err := openAndPublish(t, store, root, c.uri)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("opened, want refused")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.uri) {
				t.Fatalf("error %v; want %q naming %s", err, c.want, c.uri)
			}
		})
	}
}
