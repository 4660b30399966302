package jobs_test

import (
	"testing"

	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/load/iceberg"
	"github.com/callrecords-etl/callrecords-etl/load/iceberg/icebergtest"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// TestRun_IcebergREST: an Iceberg run whose catalog is a REST catalog
// commits one snapshot per table, naming the run, whose rows (read back
// through iceberg-go scans) are the Hive layout's; a rerun that changes
// nothing commits nothing.
func TestRun_IcebergREST(t *testing.T) {
	t.Parallel()
	srv := icebergtest.Start(t, t.TempDir(), icebergtest.Options{})
	f := newFixture(t, nil)
	rest := func(c *jobs.Config) {
		c.TableFormat, c.IcebergCatalog = jobs.TableFormatIceberg, srv.URL
	}
	sum := f.MustRun(t, rest)
	want := lakeRows(t, f.dest)
	if len(want[schemas.TableCallRecords]) == 0 {
		t.Fatal("the run wrote no call records")
	}
	diffLakes(t, "first run", icebergRowsIn(t, f.dest, srv.URL), want)
	tables := icebergTablesIn(t, f.dest, srv.URL)
	if len(tables) == 0 {
		t.Fatal("no Iceberg table in the REST catalog")
	}
	for name, tbl := range tables {
		snap := tbl.CurrentSnapshot()
		if snap == nil {
			continue
		}
		if got := snap.Summary.Properties[iceberg.PropRunID]; got != sum.RunID {
			t.Errorf("%s: snapshot names run %q, want %q", name, got, sum.RunID)
		}
		if n := len(tbl.Metadata().Snapshots()); n != 1 {
			t.Errorf("%s: %d snapshots after one run, want 1", name, n)
		}
	}
	if sum.IcebergSnapshots == 0 {
		t.Error("summary counts no Iceberg snapshot")
	}

	again := f.MustRun(t, rest)
	if again.IcebergSnapshots != 0 {
		t.Errorf("a rerun that changed nothing committed %d snapshots", again.IcebergSnapshots)
	}
	diffLakes(t, "rerun", icebergRowsIn(t, f.dest, srv.URL), want)
}
