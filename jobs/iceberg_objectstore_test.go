package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/iceberg"
	"github.com/callrecords-etl/callrecords-etl/load/lake"
	"github.com/callrecords-etl/callrecords-etl/load/loadtest"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// TestRun_IcebergS3 runs Iceberg into a real S3 server (versitygw, behind a
// fault proxy) with a SQLite catalog: iceberg-go's IO is configured from the
// store's settings (endpoint, path-style addressing, region).
func TestRun_IcebergS3(t *testing.T) {
	t.Parallel() // StartS3 finds the AWS variables TestMain set
	s3cfg, _ := loadtest.StartS3(t)
	proxy := loadtest.StartFaultProxy(t, s3cfg.Endpoint, nil)
	s3cfg.Endpoint = proxy.URL
	testIcebergOnStore(t, objectStoreLake{
		proxy:        proxy,
		dest:         "s3://" + s3cfg.Bucket + "/lake",
		catalog:      filepath.Join(t.TempDir(), "iceberg.db"),
		sc:           load.StoreConfig{S3: s3cfg},
		serverCopies: true,
	})
}

// TestRun_IcebergAzure is TestRun_IcebergS3 on Azure Blob Storage (Azurite,
// behind the proxy, reached with the account key and an endpoint). Azurite
// is told to accept any service version: iceberg-go's client speaks one
// newer than it knows, and cannot be told to speak the store's.
func TestRun_IcebergAzure(t *testing.T) {
	t.Parallel()
	az := loadtest.StartAzuriteAnyVersion(t)
	server, _ := strings.CutSuffix(az.Endpoint, "/"+loadtest.AzureAccount)
	proxy := loadtest.StartFaultProxy(t, server, nil)
	testIcebergOnStore(t, objectStoreLake{
		proxy:        proxy,
		dest:         az.Dest("lake"),
		catalog:      filepath.Join(t.TempDir(), "iceberg.db"),
		sc:           load.StoreConfig{Azure: load.AzureConfig{AccountKey: loadtest.AzureKey, Endpoint: proxy.URL + "/" + loadtest.AzureAccount}},
		serverCopies: true,
	})
}

// objectStoreLake is an Iceberg lake on an object store behind a fault
// proxy, its catalog a SQLite file.
type objectStoreLake struct {
	proxy   *loadtest.FaultProxy
	dest    string
	catalog string
	sc      load.StoreConfig
	// serverCopies: the store copies each data file from its Hive object
	// (S3's CopyObject, Azure's Copy Blob) rather than the run uploading
	// it again.
	serverCopies bool
}

func (l objectStoreLake) edit(c *jobs.Config) {
	icebergFormat(c)
	c.Dest, c.IcebergCatalog, c.S3, c.Azure = l.dest, l.catalog, l.sc.S3, l.sc.Azure
}

func (l objectStoreLake) store(t *testing.T) load.Store {
	t.Helper()
	store, err := load.OpenStore(context.Background(), l.dest, l.sc)
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// tables loads the Iceberg table of every fact table (those that exist),
// as last committed, through a catalog opened as a run opens it.
func (l objectStoreLake) tables(t *testing.T) map[string]*table.Table {
	t.Helper()
	ctx := context.Background()
	props, err := iceberg.IOProperties(ctx, l.dest, l.sc)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := iceberg.Open(ctx, l.catalog, l.dest, l.store(t), iceberg.WithIO(props))
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	out := map[string]*table.Table{}
	for _, tb := range schemas.Tables {
		tbl, err := cat.Load(ctx, tb.Name)
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

// icebergRows renders every row of the current snapshots, as lakeRows the
// Hive layout: the files a scan plans, read through iceberg-go's IO. Each
// data file's row count in the metadata must be its own.
func (l objectStoreLake) icebergRows(t *testing.T) map[string][]string {
	t.Helper()
	ctx := context.Background()
	out := map[string][]string{}
	dir := t.TempDir()
	tables := l.tables(t)
	for _, tb := range schemas.Tables {
		tbl := tables[tb.Name]
		if tbl == nil || tbl.CurrentSnapshot() == nil {
			continue
		}
		if loc := tbl.MetadataLocation(); !strings.HasPrefix(loc, l.dest+"/iceberg/"+tb.Name+"/metadata/") {
			t.Fatalf("%s: metadata at %s, not under the lake", tb.Name, loc)
		}
		tasks, err := tbl.Scan().PlanFiles(ctx)
		if err != nil {
			t.Fatalf("plan %s: %v", tb.Name, err)
		}
		fs, err := tbl.FS(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i, task := range tasks {
			loc := task.File.FilePath()
			if !strings.HasPrefix(loc, l.dest+"/iceberg/"+tb.Name+"/data/") {
				t.Fatalf("%s: data file %s, not under the lake", tb.Name, loc)
			}
			r, err := fs.Open(loc)
			if err != nil {
				t.Fatalf("open %s: %v", loc, err)
			}
			data, err := io.ReadAll(r)
			r.Close()
			if err != nil {
				t.Fatalf("read %s: %v", loc, err)
			}
			local := filepath.Join(dir, fmt.Sprintf("%s-%d.parquet", tb.Name, i))
			if err := os.WriteFile(local, data, 0o644); err != nil {
				t.Fatal(err)
			}
			if n, err := load.ParquetRows(local); err != nil || n != task.File.Count() {
				t.Fatalf("%s: data file %s has %d rows (%v), its metadata says %d", tb.Name, loc, n, err, task.File.Count())
			}
			renderFile(t, tb, local, partitionDt(t, task.File), out)
		}
		sort.Strings(out[tb.Name])
	}
	return out
}

// hiveRows renders the rows of the Hive layout in the store.
func (l objectStoreLake) hiveRows(t *testing.T) map[string][]string {
	t.Helper()
	return lakeRows(t, loadtest.DownloadAll(t, l.store(t)))
}

// assertNoSecretKept: the secrets given to iceberg-go's IO are in neither
// the catalog nor the lake.
func (l objectStoreLake) assertNoSecretKept(t *testing.T) {
	t.Helper()
	props, err := iceberg.IOProperties(context.Background(), l.dest, l.sc)
	if err != nil {
		t.Fatal(err)
	}
	var secrets []string
	for k, v := range props {
		if strings.Contains(k, ".key") || strings.Contains(k, "sas-token") || strings.Contains(k, "connection-string") {
			secrets = append(secrets, v)
		}
	}
	files := map[string][]byte{}
	for _, p := range []string{l.catalog, l.catalog + "-wal"} {
		data, _ := os.ReadFile(p)
		files[p] = data
	}
	dir := loadtest.DownloadAll(t, l.store(t))
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files[p], _ = os.ReadFile(p)
		}
		return nil
	})
	for _, secret := range secrets {
		for p, data := range files {
			if bytes.Contains(data, []byte(secret)) {
				t.Errorf("%s holds a secret of the table IO", p)
			}
		}
	}
}

// testIcebergOnStore: on an object store, an Iceberg run commits one
// snapshot per table, naming the run, whose rows are the Hive layout's,
// its metadata and data files in the lake; a rerun commits nothing; an
// incremental run keeps one row per call record; and a failure at any of
// the Iceberg metadata writes of a run's publish leaves the tables at whole
// snapshots, which a rerun brings to the Hive layout's rows.
func testIcebergOnStore(t *testing.T, l objectStoreLake) {
	f := newFixtureWith(t, noBigMeetings, nil)
	data, _ := json.Marshal(lake.Checkpoint{Tenant: tenant, Dataset: schemas.DatasetCallRecords, Watermark: f.clock.Now().Add(-72 * time.Hour)})
	if _, err := l.store(t).PutIfAbsent(context.Background(), "_etl/state/"+tenant+"/callrecords.json", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	var uploads, copies atomic.Int32 // of data files
	l.proxy.SetFaults(func(r *http.Request, _ int) loadtest.Fault {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/iceberg/") && strings.Contains(r.URL.Path, "/data/") {
			if r.Header.Get("X-Amz-Copy-Source") != "" || r.Header.Get("X-Ms-Copy-Source") != "" {
				copies.Add(1)
			} else {
				uploads.Add(1)
			}
		}
		return loadtest.Pass
	})
	sum := f.MustRun(t, l.edit)
	l.proxy.SetFaults(nil)
	want := l.hiveRows(t)
	if len(want[schemas.TableCallRecords]) == 0 {
		t.Fatal("the run wrote no call records")
	}
	if l.serverCopies && (uploads.Load() != 0 || copies.Load() == 0) {
		t.Errorf("the run uploaded %d data files and had the store copy %d, want every data file a copy of its Hive object made by the store", uploads.Load(), copies.Load())
	}
	diffLakes(t, "first run", l.icebergRows(t), want)
	assertSnapshotsOfRun(t, l.tables(t), sum.RunID)
	var metadata, manifests int
	err := l.store(t).List(context.Background(), "iceberg/"+schemas.TableCallRecords+"/metadata/", func(o load.Object) error {
		switch {
		case strings.HasSuffix(o.Key, ".metadata.json"):
			metadata++
		case strings.HasSuffix(o.Key, ".avro"):
			manifests++
		}
		return nil
	})
	if err != nil || metadata == 0 || manifests == 0 {
		t.Errorf("call_records metadata in the store: %d metadata files, %d manifests (%v)", metadata, manifests, err)
	}
	l.assertNoSecretKept(t)

	again := f.MustRun(t, l.edit)
	if again.IcebergSnapshots != 1 {
		t.Errorf("a rerun that changed nothing committed %d snapshots, want 1 (the ledger's)", again.IcebergSnapshots)
	}

	bumpRecent(t, f, callRecordsOf(t, want), 2)
	f.clock.Add(6 * time.Hour)
	f.MustRun(t, l.edit)
	if n := len(l.tables(t)[schemas.TableCallRecords].Metadata().Snapshots()); n != 2 {
		t.Errorf("call_records has %d snapshots after the incremental run, want 2", n)
	}
	got := l.icebergRows(t)
	diffLakes(t, "incremental run", got, l.hiveRows(t))
	assertRowsWhole(t, "incremental run", got)

	// Fail the Iceberg metadata writes of a run's publish: all of them (no
	// table commits), those of call_records (its children commit, it does
	// not), or only its metadata file (its manifests are written).
	parent := "/iceberg/" + schemas.TableCallRecords + "/metadata/"
	for _, c := range []struct {
		name string
		fail func(path string) bool
	}{
		{"every metadata write", func(string) bool { return true }},
		{"call_records' metadata writes", func(p string) bool { return strings.Contains(p, parent) }},
		{"call_records' metadata file", func(p string) bool {
			return strings.Contains(p, parent) && strings.HasSuffix(p, ".metadata.json")
		}},
	} {
		before := l.icebergRows(t)
		bumpRecent(t, f, callRecordsOf(t, before), 1)
		f.clock.Add(time.Hour)
		failed := 0
		var mu sync.Mutex
		l.proxy.SetFaults(func(r *http.Request, _ int) loadtest.Fault {
			if !isIcebergMetadataWrite(r) || !c.fail(r.URL.Path) {
				return loadtest.Pass
			}
			mu.Lock()
			failed++
			mu.Unlock()
			return loadtest.Status403
		})
		_, err := f.run(t, l.edit)
		l.proxy.SetFaults(nil)
		if err == nil || failed == 0 {
			t.Fatalf("a run failing %s: Run = %v after %d failed writes, want an error", c.name, err, failed)
		}
		label := "after a run failing " + c.name
		after := l.icebergRows(t)
		assertRowsWhole(t, label, after)
		diffLakes(t, label+": call_records as before", map[string][]string{schemas.TableCallRecords: after[schemas.TableCallRecords]},
			map[string][]string{schemas.TableCallRecords: before[schemas.TableCallRecords]})
		f.MustRun(t, l.edit)
		diffLakes(t, label+", then a rerun", l.icebergRows(t), l.hiveRows(t))
	}

	// Maintenance through the same IO: one snapshot left per table, the
	// rows as they were.
	want = l.icebergRows(t)
	cfg := f.config()
	l.edit(&cfg)
	maintainToLastSnapshot(t, cfg, func() map[string]*table.Table { return l.tables(t) })
	diffLakes(t, "after maintenance", l.icebergRows(t), want)
}

// isIcebergMetadataWrite reports whether r writes a table's Iceberg metadata
// (metadata file, manifest list, manifest).
func isIcebergMetadataWrite(r *http.Request) bool {
	return r.Method != http.MethodGet && r.Method != http.MethodHead &&
		strings.Contains(r.URL.Path, "/iceberg/") && strings.Contains(r.URL.Path, "/metadata/")
}

// bumpRecent publishes new versions of n of the call records ids started in
// the last day.
func bumpRecent(t *testing.T, f *fixture, ids []string, n int) {
	t.Helper()
	bumped := 0
	for _, id := range ids {
		raw, _ := f.sim.Record(id)
		var rec struct {
			Start time.Time `json:"startDateTime"`
		}
		json.Unmarshal(raw, &rec)
		if bumped < n && f.clock.Now().Sub(rec.Start) < 24*time.Hour && f.sim.Bump(id) {
			bumped++
		}
	}
	if bumped != n {
		t.Fatalf("bumped %d records, want %d", bumped, n)
	}
}

// TestCommand_IcebergObjectStores runs the real command into versitygw and
// Azurite with the store flags alone (AWS_REGION removed from its
// environment: the region iceberg-go uses comes from --s3-region), then
// `maintain`: the Iceberg tables hold the Hive layout's rows.
func TestCommand_IcebergObjectStores(t *testing.T) {
	t.Parallel() // StartS3 finds the AWS variables TestMain set
	s3cfg, _ := loadtest.StartS3(t)
	az := loadtest.StartAzuriteAnyVersion(t)
	p := newProcessFixture(t, 0)
	for _, c := range []struct {
		lake  objectStoreLake
		flags []string
	}{
		{objectStoreLake{dest: "s3://" + s3cfg.Bucket + "/cmd", catalog: filepath.Join(t.TempDir(), "s3.db"), sc: load.StoreConfig{S3: s3cfg}},
			[]string{"--s3-endpoint", s3cfg.Endpoint, "--s3-path-style", "--s3-region", s3cfg.Region}},
		{objectStoreLake{dest: az.Dest("cmd"), catalog: filepath.Join(t.TempDir(), "azure.db"),
			sc: load.StoreConfig{Azure: load.AzureConfig{AccountKey: loadtest.AzureKey, Endpoint: az.Endpoint}}},
			[]string{"--azure-storage-key", loadtest.AzureKey, "--azure-blob-endpoint", az.Endpoint}},
	} {
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "AWS_REGION=") && !strings.HasPrefix(kv, "AWS_DEFAULT_REGION=") {
				env = append(env, kv)
			}
		}
		cmd := p.command(c.lake.dest)
		cmd.Args = append(cmd.Args, append([]string{"--table-format", "iceberg", "--iceberg-catalog", c.lake.catalog}, c.flags...)...)
		cmd.Env = append(env, "CALLRECORDS_GRAPH_TOKEN=tok")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: run: %v\n%s", c.lake.dest, err, out)
		}
		maintain := exec.Command(p.bin, append([]string{"maintain", "--dest", c.lake.dest, "--iceberg-catalog", c.lake.catalog,
			"--retain-last", "1", "--orphans-older-than", "24h"}, c.flags...)...)
		maintain.Env = cmd.Env
		if out, err := maintain.CombinedOutput(); err != nil {
			t.Fatalf("%s: maintain: %v\n%s", c.lake.dest, err, out)
		}
		want := c.lake.hiveRows(t)
		if len(want[schemas.TableCallRecords]) == 0 || len(want[schemas.TablePstnCalls]) == 0 {
			t.Fatalf("%s: the run wrote %d call records, %d PSTN rows", c.lake.dest, len(want[schemas.TableCallRecords]), len(want[schemas.TablePstnCalls]))
		}
		diffLakes(t, c.lake.dest, c.lake.icebergRows(t), want)
	}
}
