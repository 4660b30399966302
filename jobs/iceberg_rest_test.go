package jobs_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/iceberg-go/table"

	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/load/iceberg"
	"github.com/callrecords-etl/callrecords-etl/load/iceberg/icebergtest"
	"github.com/callrecords-etl/callrecords-etl/load/icebergproc"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// TestRun_IcebergREST: an Iceberg run whose catalog is a REST catalog (a
// warehouse, OAuth2 client credentials from a file) commits one snapshot
// per table, naming the run, whose rows (read back through iceberg-go
// scans) are the Hive layout's; a rerun that changes nothing commits
// nothing; maintain expires snapshots through it. The same holds when the
// server places the tables itself, outside the lake (as S3 Tables does):
// the data files are then under the tables' locations, none in the lake's
// iceberg/ folder.
func TestRun_IcebergREST(t *testing.T) {
	t.Parallel()
	t.Run("the lake's locations", func(t *testing.T) {
		t.Parallel()
		testIcebergREST(t, "")
	})
	t.Run("the server's locations", func(t *testing.T) {
		t.Parallel()
		testIcebergREST(t, "file://"+filepath.ToSlash(t.TempDir())+"/tables")
	})
}

func testIcebergREST(t *testing.T, serverLocations string) {
	srv := icebergtest.Start(t, t.TempDir(), icebergtest.Options{
		Warehouse: "lake", ClientID: "etl", ClientSecret: "s3cret", Token: "tok-1", Locations: serverLocations})
	credFile := filepath.Join(t.TempDir(), "credential")
	if err := os.WriteFile(credFile, []byte("etl:s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, nil)
	rest := func(c *jobs.Config) {
		c.TableFormat, c.IcebergCatalog = jobs.TableFormatIceberg, srv.URL
		c.IcebergREST = jobs.IcebergREST{Warehouse: "lake", CredentialFile: credFile}
	}
	reader := iceberg.WithREST(icebergproc.REST{Warehouse: "lake", Token: "tok-1"})
	sum := f.MustRun(t, rest)
	want := lakeRows(t, f.dest)
	if len(want[schemas.TableCallRecords]) == 0 {
		t.Fatal("the run wrote no call records")
	}
	diffLakes(t, "first run", icebergRowsIn(t, f.dest, srv.URL, reader), want)
	tables := icebergTablesIn(t, f.dest, srv.URL, reader)
	if len(tables) == 0 {
		t.Fatal("no Iceberg table in the REST catalog")
	}
	assertSnapshotsOfRun(t, tables, sum.RunID)
	if sum.IcebergSnapshots == 0 {
		t.Error("summary counts no Iceberg snapshot")
	}
	if serverLocations != "" {
		assertDataFilesUnder(t, tables, serverLocations)
		if err := filepath.WalkDir(filepath.Join(f.dest, "iceberg"), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				t.Errorf("a file in the lake's iceberg/ folder: %s", p)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}

	again := f.MustRun(t, rest)
	if again.IcebergSnapshots != 1 {
		t.Errorf("a rerun that changed nothing committed %d snapshots, want 1 (the ledger's)", again.IcebergSnapshots)
	}
	diffLakes(t, "rerun", icebergRowsIn(t, f.dest, srv.URL, reader), want)

	// New versions, then maintain: the expiry commits through the server.
	for _, id := range callRecordsOf(t, want)[:2] {
		f.sim.Bump(id)
	}
	f.clock.Add(6 * time.Hour)
	f.MustRun(t, rest)
	want = icebergRowsIn(t, f.dest, srv.URL, reader)
	diffLakes(t, "incremental run", want, lakeRows(t, f.dest))
	if serverLocations != "" {
		assertDataFilesUnder(t, icebergTablesIn(t, f.dest, srv.URL, reader), serverLocations)
	}
	cfg := f.config()
	rest(&cfg)
	maintainToLastSnapshot(t, cfg, func() map[string]*table.Table { return icebergTablesIn(t, f.dest, srv.URL, reader) })
	diffLakes(t, "after maintain", icebergRowsIn(t, f.dest, srv.URL, reader), want)
	if n := srv.Unauthorized.Load(); n != 0 {
		t.Errorf("the server refused %d requests", n)
	}
}

// TestRun_IcebergRESTConfig: REST settings given for another catalog, an
// unreadable credential file and a refused credential each stop the run
// with a configuration error naming the setting, before anything is written.
func TestRun_IcebergRESTConfig(t *testing.T) {
	t.Parallel()
	srv := icebergtest.Start(t, t.TempDir(), icebergtest.Options{
		Warehouse: "lake", ClientID: "etl", ClientSecret: "s3cret", Token: "tok-1"})
	for _, c := range []struct {
		name    string
		catalog string
		rest    jobs.IcebergREST
		want    string
	}{
		{"warehouse of a SQLite catalog", "", jobs.IcebergREST{Warehouse: "lake"}, "IcebergREST.Warehouse is only for a REST catalog"},
		{"missing credential file", srv.URL, jobs.IcebergREST{Warehouse: "lake", CredentialFile: "/nonexistent/credential"}, "IcebergREST.CredentialFile: open /nonexistent/credential"},
		{"wrong token", srv.URL, jobs.IcebergREST{Warehouse: "lake", Token: "tok-2"}, "NotAuthorizedException"},
		{"signing for a SQLite catalog", "", jobs.IcebergREST{SigV4Service: "s3tables"}, "IcebergREST.SigV4Service is only for a REST catalog"},
		{"a signing region without a service", srv.URL, jobs.IcebergREST{Warehouse: "lake", Token: "tok-1", SigV4Region: "us-east-2"}, "IcebergREST.SigV4Region is set without a service to sign for"},
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

// TestRun_IcebergRESTLostCommitResponse: when the catalog commits a child
// table's snapshot but its answer is lost (503: the run cannot tell whether
// it landed), the run fails without publishing call_records (it waits for
// its children), and the next run converges: it commits call_records
// alone, and the tables hold the Hive layout's rows, each once.
func TestRun_IcebergRESTLostCommitResponse(t *testing.T) {
	t.Parallel()
	var lost atomic.Int32
	srv := icebergtest.Start(t, t.TempDir(), icebergtest.Options{LoseResponse: func(ident table.Identifier) bool {
		return ident[len(ident)-1] == schemas.TableSessions && lost.Add(1) == 1
	}})
	f := newFixture(t, nil)
	rest := func(c *jobs.Config) { c.TableFormat, c.IcebergCatalog = jobs.TableFormatIceberg, srv.URL }
	_, err := f.run(t, rest)
	if err == nil || !strings.Contains(err.Error(), "publish "+schemas.TableSessions+" as Iceberg") {
		t.Fatalf("run whose sessions commit's answer was lost: %v, want its error", err)
	}
	t.Log(err)
	tables := icebergTablesIn(t, f.dest, srv.URL)
	if tables[schemas.TableSessions] == nil || tables[schemas.TableSessions].CurrentSnapshot() == nil {
		t.Fatal("the sessions commit did not land: the test lost nothing")
	}
	if tbl := tables[schemas.TableCallRecords]; tbl != nil && tbl.CurrentSnapshot() != nil {
		t.Error("call_records was published though its sessions' commit failed")
	}
	if tbl := tables[schemas.TableCallRecordLedger]; tbl != nil && tbl.CurrentSnapshot() != nil {
		t.Error("the ledger was published though call_records was not")
	}

	again := f.MustRun(t, rest)
	if again.IcebergSnapshots != 2 {
		t.Errorf("the rerun committed %d snapshots, want 2 (call_records, then the ledger)", again.IcebergSnapshots)
	}
	diffLakes(t, "rerun", icebergRowsIn(t, f.dest, srv.URL), lakeRows(t, f.dest))
	if n := len(icebergTablesIn(t, f.dest, srv.URL)[schemas.TableSessions].Metadata().Snapshots()); n != 1 {
		t.Errorf("sessions has %d snapshots, want the one whose answer was lost", n)
	}
}

// assertDataFilesUnder checks that every table is located under base and
// that each data file of its current snapshot is under its location.
func assertDataFilesUnder(t *testing.T, tables map[string]*table.Table, base string) {
	t.Helper()
	for name, tbl := range tables {
		if !strings.HasPrefix(tbl.Location(), base+"/") {
			t.Errorf("%s: location %s, want one the server chose under %s", name, tbl.Location(), base)
			continue
		}
		tasks, err := tbl.Scan().PlanFiles(t.Context())
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, task := range tasks {
			if p := task.File.FilePath(); !strings.HasPrefix(p, tbl.Location()+"/data/") {
				t.Errorf("%s: data file %s outside the table's location %s", name, p, tbl.Location())
			}
		}
	}
}
