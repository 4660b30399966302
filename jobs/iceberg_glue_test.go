package jobs_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/apache/iceberg-go/table"

	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/iceberg/icebergtest"
	"github.com/callrecords-etl/callrecords-etl/load/loadtest"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// TestRun_IcebergGlue: an Iceberg run whose catalog is AWS Glue (a test
// server following its API, found through AWS_ENDPOINT_URL_GLUE; the lake
// and the metadata on local disk) commits one snapshot per table, naming
// the run, whose rows (read back through iceberg-go scans) are the Hive
// layout's; a rerun that changes nothing commits only the ledger's
// snapshot; maintain expires snapshots through it. Not parallel: it sets
// the AWS environment.
func TestRun_IcebergGlue(t *testing.T) {
	srv := icebergtest.StartGlue(t, icebergtest.GlueOptions{CatalogID: "123456789012"})
	icebergtest.GlueEnv(t, srv)
	const uri = "glue://?region=eu-west-1&catalog-id=123456789012"
	f := newFixture(t, nil)
	glue := func(c *jobs.Config) { c.TableFormat, c.IcebergCatalog = jobs.TableFormatIceberg, uri }
	sum := f.MustRun(t, glue)
	want := lakeRows(t, f.dest)
	if len(want[schemas.TableCallRecords]) == 0 {
		t.Fatal("the run wrote no call records")
	}
	diffLakes(t, "first run", icebergRowsIn(t, f.dest, uri), want)
	tables := icebergTablesIn(t, f.dest, uri)
	if len(tables) == 0 {
		t.Fatal("no Iceberg table in the Glue catalog")
	}
	assertSnapshotsOfRun(t, tables, sum.RunID)
	if sum.IcebergSnapshots == 0 {
		t.Error("summary counts no Iceberg snapshot")
	}

	again := f.MustRun(t, glue)
	if again.IcebergSnapshots != 1 {
		t.Errorf("a rerun that changed nothing committed %d snapshots, want 1 (the ledger's)", again.IcebergSnapshots)
	}
	diffLakes(t, "rerun", icebergRowsIn(t, f.dest, uri), want)

	// New versions, then maintain: the expiry commits through Glue.
	for _, id := range callRecordsOf(t, want)[:2] {
		f.sim.Bump(id)
	}
	f.clock.Add(6 * time.Hour)
	f.MustRun(t, glue)
	want = icebergRowsIn(t, f.dest, uri)
	diffLakes(t, "incremental run", want, lakeRows(t, f.dest))
	cfg := f.config()
	glue(&cfg)
	maintainToLastSnapshot(t, cfg, func() map[string]*table.Table { return icebergTablesIn(t, f.dest, uri) })
	diffLakes(t, "after maintain", icebergRowsIn(t, f.dest, uri), want)
	if n := srv.Unsigned.Load(); n != 0 {
		t.Errorf("the server refused %d unsigned requests", n)
	}
}

// TestRun_IcebergS3Glue is TestRun_IcebergS3 with the Glue catalog: the
// metadata that the Glue tables point at is on S3 (versitygw), written
// through the store's settings, while Glue is reached at its own endpoint.
func TestRun_IcebergS3Glue(t *testing.T) {
	// Not parallel: AWS_ENDPOINT_URL_GLUE is set in the process's environment.
	s3cfg, _ := loadtest.StartS3(t)
	proxy := loadtest.StartFaultProxy(t, s3cfg.Endpoint, nil)
	s3cfg.Endpoint = proxy.URL
	srv := icebergtest.StartGlue(t, icebergtest.GlueOptions{})
	t.Setenv("AWS_ENDPOINT_URL_GLUE", srv.URL)
	testIcebergOnStore(t, objectStoreLake{
		proxy:        proxy,
		dest:         "s3://" + s3cfg.Bucket + "/lake",
		catalog:      "glue",
		sc:           load.StoreConfig{S3: s3cfg},
		serverCopies: true,
	})
	if n := srv.Unsigned.Load(); n != 0 {
		t.Errorf("the server refused %d unsigned requests", n)
	}
}

// TestRun_IcebergGlueConfig: a Glue URI with a setting it does not have, and
// REST settings given with Glue, stop the run with a configuration error
// naming them, before anything is written.
func TestRun_IcebergGlueConfig(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name    string
		catalog string
		rest    jobs.IcebergREST
		want    string
	}{
		{"unknown setting", "glue://?region=eu-west-1&endpoint=http://x", jobs.IcebergREST{}, `unknown setting "endpoint"`},
		{"warehouse of a Glue catalog", "glue", jobs.IcebergREST{Warehouse: "lake"}, "IcebergREST.Warehouse is only for a REST catalog"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, nil)
			_, err := f.run(t, func(cfg *jobs.Config) {
				cfg.TableFormat, cfg.IcebergCatalog, cfg.IcebergREST = jobs.TableFormatIceberg, c.catalog, c.rest
			})
			if !errors.Is(err, jobs.ErrConfig) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("run: %v; want a configuration error with %q", err, c.want)
			}
			if rows := lakeRows(t, f.dest); len(rows[schemas.TableCallRecords]) != 0 {
				t.Errorf("the refused run wrote %d call records", len(rows[schemas.TableCallRecords]))
			}
		})
	}
}
