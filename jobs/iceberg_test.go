package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	icego "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/iceberg"
	"github.com/callrecords-etl/callrecords-etl/load/icebergproc"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

func icebergFormat(c *jobs.Config) { c.TableFormat = jobs.TableFormatIceberg }

// icebergTables loads the Iceberg table of every fact table and of the
// ledger of a local lake (those that exist), as last committed.
func icebergTables(t *testing.T, dest string) map[string]*table.Table {
	return icebergTablesIn(t, dest, filepath.Join(dest, "_etl", "iceberg.db"))
}

// icebergTablesIn is icebergTables with the catalog that catalogURI names.
func icebergTablesIn(t *testing.T, dest, catalogURI string, opts ...iceberg.Option) map[string]*table.Table {
	t.Helper()
	root, err := icebergproc.RootURI(dest)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := iceberg.Open(context.Background(), catalogURI, root, mustLocal(t, dest), opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	out := map[string]*table.Table{}
	for _, tb := range slices.Concat(schemas.Tables, schemas.LedgerTables) {
		tbl, err := cat.Load(context.Background(), tb.Name)
		if errors.Is(err, catalog.ErrNoSuchTable) {
			continue
		}
		if err != nil {
			t.Fatalf("load %s: %v", tb.Name, err)
		}
		out[tb.Name] = tbl
	}
	return out
}

// icebergRows renders every row of the current snapshot of every Iceberg
// table of a local lake, as lakeRows the Hive layout: what an Iceberg reader
// sees. Each data file's row count in the metadata must be its own.
func icebergRows(t *testing.T, dest string) map[string][]string {
	return icebergRowsIn(t, dest, filepath.Join(dest, "_etl", "iceberg.db"))
}

// icebergRowsIn is icebergRows with the catalog that catalogURI names.
func icebergRowsIn(t *testing.T, dest, catalogURI string, opts ...iceberg.Option) map[string][]string {
	t.Helper()
	return icebergTableRowsIn(t, dest, catalogURI, schemas.Tables, opts...)
}

// icebergTableRows is icebergRows of tables.
func icebergTableRows(t *testing.T, dest string, tables []schemas.Table) map[string][]string {
	t.Helper()
	return icebergTableRowsIn(t, dest, filepath.Join(dest, "_etl", "iceberg.db"), tables)
}

// icebergTableRowsIn is icebergRowsIn of tables.
func icebergTableRowsIn(t *testing.T, dest, catalogURI string, tables []schemas.Table, opts ...iceberg.Option) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	loaded := icebergTablesIn(t, dest, catalogURI, opts...)
	for _, tb := range tables {
		tbl := loaded[tb.Name]
		if tbl == nil || tbl.CurrentSnapshot() == nil {
			continue
		}
		tasks, err := tbl.Scan().PlanFiles(context.Background())
		if err != nil {
			t.Fatalf("plan %s: %v", tb.Name, err)
		}
		for _, task := range tasks {
			path := strings.TrimPrefix(task.File.FilePath(), "file://")
			if n, err := load.ParquetRows(path); err != nil || n != task.File.Count() {
				t.Fatalf("%s: data file %s has %d rows (%v), its metadata says %d", tb.Name, path, n, err, task.File.Count())
			}
			renderFile(t, tb, path, partitionDt(t, task.File), out)
		}
		sort.Strings(out[tb.Name])
	}
	return out
}

// partitionDt is a data file's dt as its partition says, as the Hive
// layout's folder names it ("dt=YYYY-MM-DD"): readers take it from there.
func partitionDt(t *testing.T, f icego.DataFile) string {
	t.Helper()
	for _, v := range f.Partition() {
		if d, ok := v.(icego.Date); ok {
			return "dt=" + time.Unix(int64(d)*86400, 0).UTC().Format(time.DateOnly)
		}
	}
	t.Fatalf("data file %s: no day in its partition %v", f.FilePath(), f.Partition())
	return ""
}

// TestRun_Iceberg: an Iceberg run commits one snapshot per table, naming the
// run, whose rows are the Hive layout's; a rerun that changes nothing
// commits nothing; an incremental run with new versions commits a snapshot
// in which each record is once, at its new version.
func TestRun_Iceberg(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	sum := f.MustRun(t, icebergFormat)
	want := lakeRows(t, f.dest)
	if len(want[schemas.TableCallRecords]) == 0 {
		t.Fatal("the run wrote no call records")
	}
	diffLakes(t, "first run", icebergRows(t, f.dest), want)
	assertSnapshotsOfRun(t, icebergTables(t, f.dest), sum.RunID)
	assertSortOrderIsKey(t, icebergTables(t, f.dest))
	if sum.IcebergSnapshots == 0 {
		t.Error("summary counts no Iceberg snapshot")
	}
	ledger := lakeTableRows(t, f.dest, schemas.LedgerTables)
	if len(ledger[schemas.TableCallRecordLedger]) == 0 {
		t.Fatal("the run wrote no ledger")
	}
	diffLakes(t, "first run's ledger", icebergTableRows(t, f.dest, schemas.LedgerTables), ledger)

	// The same window again: Graph has nothing new, no fact table gets a
	// snapshot; the ledger does (it counts the runs that listed a record).
	again := f.MustRun(t, icebergFormat)
	if again.IcebergSnapshots != 1 {
		t.Errorf("a rerun that changed nothing committed %d snapshots, want 1 (the ledger's)", again.IcebergSnapshots)
	}
	for name, tbl := range icebergTables(t, f.dest) {
		if tbl.CurrentSnapshot() == nil {
			continue // no rows yet (call_journey_hops without queues)
		}
		snapshots := 1
		if name == schemas.TableCallRecordLedger {
			snapshots = 2
		}
		if n := len(tbl.Metadata().Snapshots()); n != snapshots {
			t.Errorf("%s: %d snapshots after a rerun, want %d", name, n, snapshots)
		}
	}
	diffLakes(t, "rerun", icebergRows(t, f.dest), want)
	diffLakes(t, "rerun's ledger", icebergTableRows(t, f.dest, schemas.LedgerTables), lakeTableRows(t, f.dest, schemas.LedgerTables))

	// New versions of two records: each once, at its new version.
	bumpRecent(t, f, callRecordsOf(t, want), 2)
	f.clock.Add(6 * time.Hour)
	f.MustRun(t, icebergFormat)
	if n := len(icebergTables(t, f.dest)[schemas.TableCallRecords].Metadata().Snapshots()); n != 2 {
		t.Errorf("call_records has %d snapshots after the incremental run, want 2", n)
	}
	got := icebergRows(t, f.dest)
	diffLakes(t, "incremental run", got, lakeRows(t, f.dest))
	diffLakes(t, "incremental run's ledger", icebergTableRows(t, f.dest, schemas.LedgerTables), lakeTableRows(t, f.dest, schemas.LedgerTables))
	ids := map[string]bool{}
	for _, r := range callRecordsOf(t, got) {
		if ids[r] {
			t.Errorf("call record %s twice in the Iceberg table", r)
		}
		ids[r] = true
	}

	// A replay rewrites the tables from the archive (here under a policy
	// that hashes every class: every row changes) and publishes them.
	cfg := replayConfig(f)
	icebergFormat(&cfg)
	cfg.PrivacyPolicyFile, cfg.PrivacyKey = policyFile(t, "default: hash\n"), privacyKey
	if _, err := jobs.Replay(t.Context(), cfg, nil); err != nil {
		t.Fatalf("Replay: %v", err)
	}
	replayed := lakeRows(t, f.dest)
	if strings.Join(replayed[schemas.TableSessions], "\n") == strings.Join(want[schemas.TableSessions], "\n") {
		t.Fatal("the replay under a hash policy left the sessions as they were")
	}
	diffLakes(t, "replay", icebergRows(t, f.dest), replayed)
}

// assertSnapshotsOfRun: every Iceberg table with rows has one snapshot, and
// it names runID.
func assertSnapshotsOfRun(t *testing.T, tables map[string]*table.Table, runID string) {
	t.Helper()
	for name, tbl := range tables {
		snap := tbl.CurrentSnapshot()
		if snap == nil {
			continue // a table of no rows
		}
		if got := snap.Summary.Properties[iceberg.PropRunID]; got != runID {
			t.Errorf("%s: snapshot names run %q, want %q", name, got, runID)
		}
		if n := len(tbl.Metadata().Snapshots()); n != 1 {
			t.Errorf("%s: %d snapshots after one run, want 1", name, n)
		}
	}
}

// assertSortOrderIsKey checks that every table declares its key (schemas)
// as its sort order, ascending, for the engines that rewrite it, and that
// no data file of the job claims that order: the job does not sort.
func assertSortOrderIsKey(t *testing.T, tables map[string]*table.Table) {
	t.Helper()
	keys := map[string][]string{}
	for _, tb := range slices.Concat(schemas.Tables, schemas.LedgerTables) {
		keys[tb.Name] = tb.Key
	}
	for name, tbl := range tables {
		order := tbl.SortOrder()
		var cols []string
		for _, f := range order.Fields() {
			col, _ := tbl.Schema().FindColumnName(f.SourceIDs[0])
			if f.Direction != table.SortASC || f.Transform.String() != "identity" {
				t.Errorf("%s: sort field %s is %s %s, want identity asc", name, col, f.Transform, f.Direction)
			}
			cols = append(cols, col)
		}
		if order.OrderID() == 0 || !slices.Equal(cols, keys[name]) {
			t.Errorf("%s: sort order %d %v, want its key %v", name, order.OrderID(), cols, keys[name])
		}
		if tbl.CurrentSnapshot() == nil {
			continue
		}
		tasks, err := tbl.Scan().PlanFiles(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range tasks {
			if id := task.File.SortOrderID(); id != nil {
				t.Errorf("%s: data file %s claims sort order %d; the job writes unsorted files", name, task.File.FilePath(), *id)
			}
		}
	}
}

// callRecordsOf lists the call record ids of rendered call_records rows.
func callRecordsOf(t *testing.T, rows map[string][]string) []string {
	t.Helper()
	var ids []string
	for _, line := range rows[schemas.TableCallRecords] {
		i := strings.Index(line, `"CallRecordID":"`)
		if i < 0 {
			t.Fatalf("no id in %s", line)
		}
		id, _, _ := strings.Cut(line[i+len(`"CallRecordID":"`):], `"`)
		ids = append(ids, id)
	}
	return ids
}

// TestRun_IcebergFailureAtEveryCommitStep fails the store at one write after
// another of an Iceberg run (partition objects, data file copies, checkpoint,
// summary): the Iceberg tables then still show whole snapshots (each key
// once, every call record with its sessions), and a rerun brings them to
// what a clean run publishes, row for row.
func TestRun_IcebergFailureAtEveryCommitStep(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, noBigMeetings, nil)
	watermark := f.clock.Now().Add(-72 * time.Hour)
	f.seedCheckpoint(t, f.dest, watermark)
	f.MustRun(t, icebergFormat)
	want := icebergRows(t, f.dest)
	if len(want[schemas.TableCallRecords]) == 0 {
		t.Fatal("the clean run published no call records")
	}
	noRenewal := func(c *jobs.Config) { icebergFormat(c); c.LockTTL = 24 * time.Hour }

	probeDir := t.TempDir()
	f.seedCheckpoint(t, probeDir, watermark)
	probe := &faultyStore{Store: mustLocal(t, probeDir)}
	f.MustRun(t, func(c *jobs.Config) { noRenewal(c); c.Dest, c.Store = probeDir, probe })
	total := probe.ops.Load() - 1 // the lease's release only logs its failure
	points := []int64{1, 2, total - 2, total - 1, total}
	for k := int64(3); k < total-2; k += max(1, total/6) {
		points = append(points, k)
	}
	for _, k := range points {
		dest := t.TempDir()
		f.seedCheckpoint(t, dest, watermark)
		fs := &faultyStore{Store: mustLocal(t, dest), failAt: k}
		if _, err := f.run(t, func(c *jobs.Config) { noRenewal(c); c.Dest, c.Store = dest, fs }); !errors.Is(err, errInjected) {
			t.Fatalf("fault at write %d of %d: Run = %v, want the injected error", k, total, err)
		}
		label := fmt.Sprintf("after a fault at write %d of %d", k, total)
		assertRowsWhole(t, label, icebergRows(t, dest))
		expireLease(t, dest)
		if _, err := f.run(t, func(c *jobs.Config) { icebergFormat(c); c.Dest = dest }); err != nil {
			t.Fatalf("rerun after fault at write %d: %v", k, err)
		}
		diffLakes(t, label+", then a rerun", icebergRows(t, dest), want)
	}
}

// TestKill_IcebergRealProcess SIGKILLs the real command during Iceberg runs,
// at random instants and late in the run, where it commits its snapshots:
// right after each kill the Iceberg tables show whole snapshots, and after a
// rerun they hold what a run that was never interrupted publishes.
func TestKill_IcebergRealProcess(t *testing.T) {
	t.Parallel()
	p := newProcessFixture(t, 2*time.Millisecond)
	command := func(dest string) *exec.Cmd {
		cmd := p.command(dest)
		cmd.Args = append(cmd.Args, "--table-format", "iceberg")
		return cmd
	}
	clean := t.TempDir()
	start := time.Now()
	if out, err := command(clean).CombinedOutput(); err != nil {
		t.Fatalf("clean run: %v\n%s", err, out)
	}
	took := time.Since(start)
	want := icebergRows(t, clean)
	if len(want[schemas.TableCallRecords]) == 0 || len(want[schemas.TablePstnCalls]) == 0 {
		t.Fatalf("clean lake is empty: %d call records, %d PSTN rows", len(want[schemas.TableCallRecords]), len(want[schemas.TablePstnCalls]))
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("clean run took %s; kill points drawn with seed %d", took, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for i := range 6 {
		after := time.Duration(rng.Int64N(int64(took)))
		if i%2 == 1 { // the last fifth: the snapshots' commits
			after = took - time.Duration(rng.Int64N(int64(took/5)))
		}
		dest := t.TempDir()
		cmd := command(dest)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(after)
		cmd.Process.Kill()
		cmd.Wait()
		label := "killed after " + after.String()
		assertRowsWhole(t, label, icebergRows(t, dest))

		deadline := time.Now().Add(30 * time.Second)
		for {
			out, err := command(dest).CombinedOutput()
			code := exitCode(err)
			if code == 0 {
				break
			}
			if code != 5 || time.Now().After(deadline) {
				t.Fatalf("kill %d (after %s): rerun exit %d: %s", i, after, code, out)
			}
			time.Sleep(500 * time.Millisecond)
		}
		diffLakes(t, label+", then a rerun", icebergRows(t, dest), want)
	}
}

// TestMaintainIceberg: maintenance expires the snapshots beyond the last
// one kept, deletes an old file no snapshot references (a killed run's data
// file) but not a recent one (a run's, not published yet), and leaves the
// tables' rows as they were.
func TestMaintainIceberg(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.MustRun(t, icebergFormat)
	for _, id := range callRecordsOf(t, icebergRows(t, f.dest))[:2] {
		f.sim.Bump(id)
	}
	f.clock.Add(6 * time.Hour)
	f.MustRun(t, icebergFormat)
	want := icebergRows(t, f.dest)
	dataDir := filepath.Join(f.dest, "iceberg", schemas.TableCallRecords, "data", "dt=2026-11-19", tenant)
	old, recent := filepath.Join(dataDir, "killed-run.parquet"), filepath.Join(dataDir, "running.parquet")
	for _, p := range []string{old, recent} {
		if err := os.MkdirAll(dataDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("PAR1"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(old, time.Now().Add(-72*time.Hour), time.Now().Add(-72*time.Hour)); err != nil {
		t.Fatal(err)
	}
	cfg := f.config()
	maintainToLastSnapshot(t, cfg, func() map[string]*table.Table { return icebergTables(t, f.dest) })
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("an old unreferenced data file is still there: %v", err)
	}
	if _, err := os.Stat(recent); err != nil {
		t.Errorf("a recent unreferenced data file was deleted: %v", err)
	}
	diffLakes(t, "after maintenance", icebergRows(t, f.dest), want)
}

// maintainToLastSnapshot runs maintain on the lake of cfg keeping the last
// snapshot of each table (orphans older than a day): it must expire some,
// and tables (loaded afterwards) must hold one snapshot each.
func maintainToLastSnapshot(t *testing.T, cfg jobs.Config, tables func() map[string]*table.Table) {
	t.Helper()
	done, err := jobs.MaintainIceberg(context.Background(), cfg, jobs.IcebergMaintenance{RetainLast: 1, OrphansOlderThan: 24 * time.Hour})
	if err != nil {
		t.Fatalf("MaintainIceberg: %v", err)
	}
	expired := 0
	for _, m := range done {
		expired += m.SnapshotsExpired
	}
	if expired == 0 {
		t.Errorf("maintain expired no snapshot: %+v", done)
	}
	for name, tbl := range tables() {
		if n := len(tbl.Metadata().Snapshots()); n > 1 {
			t.Errorf("%s keeps %d snapshots after maintain, want 1", name, n)
		}
	}
}

// TestMaintainIceberg_NoCatalog: maintenance of a lake with no SQLite
// catalog where the settings say (a mistyped destination or catalog path)
// fails naming the setting, and creates nothing there, instead of opening a
// new empty catalog and reporting nothing to do.
func TestMaintainIceberg_NoCatalog(t *testing.T) {
	dir := t.TempDir()
	m := jobs.IcebergMaintenance{RetainLast: 1, OrphansOlderThan: 24 * time.Hour}
	for _, c := range []struct{ dest, catalog, want string }{
		{filepath.Join(dir, "typo"), "", "Dest"},
		{dir, filepath.Join(dir, "typo.db"), "IcebergCatalog"},
		{dir, "sqlite://" + filepath.Join(dir, "typo.db"), "IcebergCatalog"},
	} {
		cfg := jobs.DefaultConfig()
		cfg.Dest, cfg.IcebergCatalog, cfg.Logger = c.dest, c.catalog, testLogger()
		_, err := jobs.MaintainIceberg(context.Background(), cfg, m)
		if !errors.Is(err, jobs.ErrConfig) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "no Iceberg catalog") {
			t.Errorf("dest %s catalog %q: %v, want a configuration error naming %s", c.dest, c.catalog, err, c.want)
		}
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Errorf("maintenance without a catalog left %v (%v)", entries, err)
	}
}

// TestConfig_TableFormat: an unknown table format, and the Iceberg format
// with an object-store destination but no catalog, are configuration errors
// naming the setting.
func TestConfig_TableFormat(t *testing.T) {
	for _, c := range []struct {
		format, dest, catalog, want string
	}{
		{"delta", "/tmp/lake", "", "TableFormat"},
		{jobs.TableFormatIceberg, "s3://bucket/lake", "", "IcebergCatalog"},
		// A catalog with the Hive format (the default, or named) would be
		// ignored: the user forgot the format.
		{"", "/tmp/lake", "glue", "IcebergCatalog"},
		{jobs.TableFormatHive, "/tmp/lake", "/tmp/lake/catalog.db", "IcebergCatalog"},
	} {
		cfg := jobs.DefaultConfig()
		cfg.TenantID, cfg.Dest, cfg.TableFormat, cfg.IcebergCatalog = tenant, c.dest, c.format, c.catalog
		err := cfg.Validate()
		if !errors.Is(err, jobs.ErrConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("format %q dest %s: Validate = %v, want a configuration error naming %s", c.format, c.dest, err, c.want)
		}
	}
	hiveWithREST := jobs.DefaultConfig()
	hiveWithREST.TenantID, hiveWithREST.Dest, hiveWithREST.IcebergREST.Token = tenant, "/tmp/lake", "secret-token"
	if err := hiveWithREST.Validate(); !errors.Is(err, jobs.ErrConfig) || !strings.Contains(err.Error(), "IcebergREST.Token") || strings.Contains(err.Error(), "secret-token") {
		t.Errorf("a REST token with the Hive format: Validate = %v, want a configuration error naming the setting, not its value", err)
	}
	for _, cfg := range []jobs.Config{
		{TableFormat: jobs.TableFormatIceberg, Dest: "/tmp/lake"},
		{TableFormat: jobs.TableFormatIceberg, Dest: "s3://bucket/lake", IcebergCatalog: "glue"},
	} {
		c := jobs.DefaultConfig()
		c.TenantID, c.Dest, c.TableFormat, c.IcebergCatalog = tenant, cfg.Dest, cfg.TableFormat, cfg.IcebergCatalog
		if err := c.Validate(); err != nil {
			t.Errorf("dest %s catalog %q: Validate = %v", cfg.Dest, cfg.IcebergCatalog, err)
		}
	}
}
