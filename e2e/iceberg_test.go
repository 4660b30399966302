package e2e_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/iceberg"
	"github.com/callrecords-etl/callrecords-etl/load/icebergproc"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// icebergFiles lists the data files of the current snapshot of a table's
// Iceberg table, from its metadata, as DuckDB's read_parquet takes them.
func icebergFiles(t *testing.T, cat *iceberg.Catalog, name string) string {
	t.Helper()
	tbl, err := cat.Load(context.Background(), name)
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	tasks, err := tbl.Scan().PlanFiles(context.Background())
	if err != nil {
		t.Fatalf("plan %s: %v", name, err)
	}
	var files []string
	for _, task := range tasks {
		files = append(files, "'"+strings.TrimPrefix(task.File.FilePath(), "file://")+"'")
	}
	if len(files) == 0 {
		t.Fatalf("%s: no data file in the current snapshot", name)
	}
	return fmt.Sprintf("read_parquet([%s])", strings.Join(files, ", "))
}

// icebergScanRows counts the rows an iceberg-go scan of a table reads, and
// those whose dt (which the data files do not hold) it left null.
func icebergScanRows(t *testing.T, cat *iceberg.Catalog, name string) (rows, nullDt int64) {
	t.Helper()
	tbl, err := cat.Load(context.Background(), name)
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	// Batch by batch: ToArrowTable refuses to assemble them, its schema
	// making the values of a map (feedback tokens) nullable where the
	// batches read from the files say they are not.
	sc, batches, err := tbl.Scan().ToArrowRecords(context.Background())
	if err != nil {
		t.Fatalf("scan %s: %v", name, err)
	}
	dt := sc.FieldIndices("dt")
	for batch, err := range batches {
		if err != nil {
			t.Fatalf("scan %s: %v", name, err)
		}
		rows += batch.NumRows()
		if len(dt) == 1 {
			nullDt += int64(batch.Column(dt[0]).NullN())
		}
		batch.Release()
	}
	return rows, nullDt
}

func openIceberg(t *testing.T, dest string) *iceberg.Catalog {
	t.Helper()
	root, err := icebergproc.RootURI(dest)
	if err != nil {
		t.Fatal(err)
	}
	store, err := load.NewLocalStore(dest)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := iceberg.Open(context.Background(), filepath.Join(dest, "_etl", "iceberg.db"), root, store)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	return cat
}

// TestLake_Iceberg writes an Iceberg lake with the SQL catalog from the
// simulator and reads it back with iceberg-go scans and with DuckDB over the
// current snapshot's data files: row counts per table are the simulator's
// truth; after an incremental run with new versions, each record is once,
// at its new version.
func TestLake_Iceberg(t *testing.T) {
	t.Parallel()
	sim, url := newSim(t)
	dest := t.TempDir()
	icebergFormat := func(c *jobs.Config) { c.TableFormat, c.IcebergOpener = jobs.TableFormatIceberg, iceberg.OpenCatalog }
	runJobAt(t, now, url, dest, load.S3Config{}, icebergFormat)
	want := truth(t, sim)
	cat := openIceberg(t, dest)
	db := openDuckDB(t)
	for name, n := range want.rowsPerTable() {
		if got := scan[int](t, db, "SELECT count(*) FROM "+icebergFiles(t, cat, name)); got != n {
			t.Errorf("DuckDB over %s's current data files: %d rows, want %d (simulator truth)", name, got, n)
		}
		rows, nullDt := icebergScanRows(t, cat, name)
		if rows != int64(n) {
			t.Errorf("iceberg-go scan of %s: %d rows, want %d (simulator truth)", name, rows, n)
		}
		t.Logf("%s: %d rows, %d of them with dt null in iceberg-go's scan", name, rows, nullDt)
	}

	// New versions of records of the last day, then a run six hours later.
	bumped := map[string]bool{}
	for id, rec := range want.byID {
		start, _ := time.Parse(time.RFC3339, fmt.Sprint(rec["startDateTime"]))
		if now.Sub(start) < 24*time.Hour && len(bumped) < 3 && sim.Bump(id) {
			bumped[id] = true
		}
	}
	if len(bumped) == 0 {
		t.Fatal("no recent record to bump")
	}
	later := now.Add(6 * time.Hour)
	runJobAt(t, later, url, dest, load.S3Config{}, icebergFormat)
	after := truthAt(t, sim, later)
	cat = openIceberg(t, dest)
	records := icebergFiles(t, cat, schemas.TableCallRecords)
	total, distinct := scan[int](t, db, "SELECT count(*) FROM "+records), scan[int](t, db, "SELECT count(DISTINCT call_record_id) FROM "+records)
	if total != distinct || total < after.records {
		t.Errorf("after the incremental run: %d call records, %d distinct ids, want one row per id and at least %d", total, distinct, after.records)
	}
	for id := range bumped {
		var rec struct {
			Version int64 `json:"version"`
		}
		raw, _ := sim.Record(id)
		json.Unmarshal(raw, &rec)
		var got sql.NullInt64
		db.QueryRow("SELECT max(version) FROM "+records+" WHERE call_record_id = ?", id).Scan(&got)
		if got.Int64 != rec.Version {
			t.Errorf("record %s at version %d in the Iceberg table, want %d", id, got.Int64, rec.Version)
		}
	}
}
