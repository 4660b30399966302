// Package iceberg publishes the lake's tables as Apache Iceberg tables: a
// second way to commit, next to the Hive layout of package lake.
//
// The Hive layout stays the job's working copy (every command reads and
// rewrites it under the tenant's lease). Publishing a table makes its
// Iceberg table hold, for each day of the tenant, an immutable copy of the
// tenant's committed Hive object of that day, in one snapshot per table and
// publish: the days whose object changed are overwritten (their previous data
// file deleted from the table, the new one added). A data file is invisible
// to Iceberg readers until the snapshot naming it is committed, so a run
// killed at any point leaves the previous snapshot whole, and the next
// publish converges: it compares the two sides, not what a run remembers.
//
// Layout, under the lake's root:
//
//	iceberg/<table>/metadata/...                                   Iceberg metadata (written by iceberg-go)
//	iceberg/<table>/data/<tenant>/YYYY-MM-DD_<stamp>-<run>.parquet    the data files
//
// A tenant's data files of a table share one folder (readers take the day
// from the manifests, never from a path), so that in a local lake a publish
// makes its new names durable with one fsync per table, not one per day.
// Data files written before that layout, under data/dt=YYYY-MM-DD/<tenant>/,
// stay where they are and are read as before.
//
// A catalog that chooses each table's location itself (S3 Tables, a managed
// warehouse) gets the same layout under its location, written through the
// table's IO (with the credentials the catalog vends) and never listed: a
// file a killed run left there is an orphan that no snapshot names.
//
// The Iceberg table of <table> is <namespace>.<table with / as _>, partitioned
// by identity on dt (a date column that the data files do not hold: readers
// take it from the partition, as for a table migrated from Hive), read
// through the schema's name mapping (the files carry no field ids).
package iceberg

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
	icego "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/rest" // --iceberg-catalog http(s)://
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	icebergio "github.com/apache/iceberg-go/io"
	_ "github.com/apache/iceberg-go/io/gocloud" // s3://, abfs:// and gs:// table locations
	"github.com/apache/iceberg-go/table"
	"github.com/apache/iceberg-go/utils"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/parquet-go/parquet-go"
	_ "modernc.org/sqlite" // the SQL catalog's SQLite, without cgo

	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/icebergproc"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// The types of the seam the job uses the catalog through.
type (
	Published   = icebergproc.Published
	Maintenance = icebergproc.Maintenance
	Maintained  = icebergproc.Maintained
)

var _ icebergproc.Catalog = (*Catalog)(nil)

// OpenCatalog opens the catalog o names, its tables' IO configured from the
// store's settings ([IOProperties]): the job's way in, in process or in the
// Iceberg binary.
func OpenCatalog(ctx context.Context, o icebergproc.Options) (icebergproc.Catalog, error) {
	ioProps, err := IOProperties(ctx, o.Dest, o.StoreConfig)
	if err != nil {
		return nil, fmt.Errorf("destination %s: %w", o.Dest, err)
	}
	c, err := Open(ctx, o.CatalogURI, o.RootURI, o.Store, WithREST(o.REST), WithIO(ioProps))
	if err != nil {
		return nil, err // not a typed nil
	}
	return c, nil
}

// lakeTableOf describes a lake table: its row, for the schema, and its key.
func lakeTableOf(lakeTable string) (schemas.Table, error) {
	for _, t := range slices.Concat(schemas.Tables, schemas.RawTables, schemas.LedgerTables) {
		if t.Name == lakeTable {
			return t, nil
		}
	}
	return schemas.Table{}, fmt.Errorf("iceberg: no lake table %q", lakeTable)
}

// Namespace holds the lake's Iceberg tables.
const Namespace = "callrecords"

// CatalogName is the catalog's name: in the SQL catalog's rows, where Spark's
// JDBC catalog of that name finds the tables.
const CatalogName = "callrecords"

// Snapshot summary properties a publish sets.
const (
	PropRunID  = "callrecords-etl.run-id"
	PropTenant = "callrecords-etl.tenant"
)

// commitRetry is how a commit that lost to another writer (another tenant's
// run publishing the same table) is retried: planned again over the
// winner's snapshot after a wait that doubles from minWait up to maxWait,
// drawn at random between minWait and that ceiling so that the losers do
// not collide again, at most retries times and until total has passed.
type commitRetry struct {
	retries                 int
	minWait, maxWait, total time.Duration
}

// defaultCommitRetry is the job's: every tenant of a lake publishes the same
// tables in the same minute (Java's defaults, 4 retries, lose that race for
// a dozen tenants), and a scheduled run must end.
var defaultCommitRetry = commitRetry{retries: 20, minWait: 100 * time.Millisecond, maxWait: 10 * time.Second, total: 10 * time.Minute}

// commitRetryOf is the retry of a commit to a table with props: none of the
// job's own when the table sets the spec's commit.retry.num-retries, as
// iceberg-go then retries inside the commit as the table says (Java does the
// same); else c's.
func (c *Catalog) commitRetryOf(props icego.Properties) commitRetry {
	if _, ok := props[table.CommitNumRetriesKey]; ok {
		return commitRetry{}
	}
	return c.retry
}

// again waits before retry n (from 1) of a commit that failed with err and
// returns nil, or returns the error that ends the retries: err itself when
// it is not a race lost to another writer or the retries are spent, or when
// the time is up or ctx ends.
func (r commitRetry) again(ctx context.Context, n int, began time.Time, err error) error {
	if !lostToAnother(err) || n > r.retries {
		return err
	}
	wait := r.wait(n)
	if time.Since(began)+wait > r.total {
		return fmt.Errorf("lost to other writers for %s (%d attempts): %w", time.Since(began).Round(time.Second), n, err)
	}
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-time.After(wait):
		return nil
	}
}

// wait is the pause before retry n (from 1).
func (r commitRetry) wait(n int) time.Duration {
	ceiling := max(r.maxWait, r.minWait)
	if n < 32 && r.minWait<<(n-1) < ceiling {
		ceiling = r.minWait << (n - 1)
	}
	return r.minWait + rand.N(ceiling-r.minWait+1)
}

// Catalog is the lake's Iceberg catalog, with the store the lake is in.
type Catalog struct {
	cat   catalog.Catalog
	store load.Store
	root  string      // the lake root's URI, ending in /
	retry commitRetry // of a commit that lost to another writer
	// placesTables: the catalog may put a table elsewhere than the job
	// asks (a REST server); the SQL and Glue catalogs put it there.
	placesTables bool
	// awsConfig is the AWS configuration of the tables' S3 IO (nil for a
	// lake elsewhere), loaded once: iceberg-go loads one for every table it
	// loads unless the context carries one, each time parsing the CA bundle
	// the environment names and starting a new credential chain
	// (ioContext).
	awsConfig *aws.Config

	mu sync.Mutex
	// stagedRows: the row counts of the data files Stage wrote, which
	// publish then need not read from their footers.
	stagedRows map[string]int64
	// tables: each table as this process first loaded or created it, for
	// Stage: its location and IO, which do not change.
	tables map[string]*table.Table
	// elsewhere: the data files Stage wrote for the tables whose location
	// is not the lake's (chosen by the catalog), by table. Such a location
	// is never listed (S3 Tables cannot), so only this process's files are
	// known to its publishes.
	elsewhere map[string][]stagedFile
}

// Open opens the catalog that uri names, for the lake whose root is rootURI
// (file:///abs/path, s3://bucket/prefix, ...) in store, configured by opts
// (the tables' IO: [WithIO]; a REST catalog: [WithREST]):
//
//	/path/to/catalog.db, sqlite:///path/to/catalog.db  an SQL catalog on a SQLite file (created if need be)
//	http://host/..., https://host/..., rest://host/... an Iceberg REST catalog (rest:// is https://)
//	glue, glue://?region=R&catalog-id=A                AWS Glue (in region R, account A's catalog), else configured from the environment
func Open(ctx context.Context, uri, rootURI string, store load.Store, opts ...Option) (*Catalog, error) {
	root := strings.TrimSuffix(rootURI, "/") + "/"
	props := icego.Properties{"warehouse": root + "iceberg"}
	switch {
	case uri == "glue", strings.HasPrefix(uri, "glue://"):
		if err := glueProperties(uri, props); err != nil {
			return nil, err
		}
	case strings.HasPrefix(uri, "rest://"):
		props["type"], props["uri"] = "rest", "https://"+strings.TrimPrefix(uri, "rest://")
	case strings.HasPrefix(uri, "http://"), strings.HasPrefix(uri, "https://"):
		props["type"], props["uri"] = "rest", uri
	default:
		file, _ := icebergproc.SQLiteFile(uri)
		if file == "" {
			return nil, fmt.Errorf("iceberg catalog %q: want a SQLite file's path, sqlite://path, http(s)://, rest:// or glue", uri)
		}
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			return nil, fmt.Errorf("iceberg catalog %s: %w", uri, err)
		}
		props["type"] = "sql"
		props[sqlcat.DriverKey], props[sqlcat.DialectKey] = "sqlite", string(sqlcat.SQLite)
		// Tables and runs of several tenants commit at once: a transaction
		// takes the write lock when it begins (a read lock upgraded later
		// fails at once when another writer holds one) and waits for it.
		// Every commit is fsynced (synchronous FULL, SQLite's default, said
		// here): the snapshot it names must survive a power loss.
		props["uri"] = "file:" + file + "?_txlock=immediate&_pragma=busy_timeout(30000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)"
		props["init_catalog_tables"] = "true"
	}
	for _, o := range opts {
		o(props)
	}
	var awsConfig *aws.Config
	if strings.HasPrefix(root, "s3://") {
		// The table properties (region, endpoint, addressing, a REST
		// catalog's vended keys) still apply over it.
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("iceberg S3 IO: load aws config: %w", err)
		}
		awsConfig = &cfg
	}
	var cat catalog.Catalog
	var err error
	if props["type"] == "glue" {
		cat, err = openGlue(ctx, props)
	} else {
		cat, err = catalog.Load(ctx, CatalogName, props)
	}
	if err != nil {
		return nil, fmt.Errorf("iceberg catalog %s: %w", uri, err)
	}
	err = cat.CreateNamespace(ctx, table.Identifier{Namespace}, nil)
	if err != nil && !errors.Is(err, catalog.ErrNamespaceAlreadyExists) {
		return nil, fmt.Errorf("iceberg catalog %s: create namespace %s: %w", uri, Namespace, err)
	}
	return &Catalog{cat: cat, store: store, root: root, retry: defaultCommitRetry, placesTables: props["type"] == "rest", awsConfig: awsConfig,
		stagedRows: map[string]int64{}, tables: map[string]*table.Table{}, elsewhere: map[string][]stagedFile{}}, nil
}

// ioContext is ctx for iceberg-go's calls: with the AWS configuration of
// the tables' S3 IO, which iceberg-go would otherwise load again for each.
func (c *Catalog) ioContext(ctx context.Context) context.Context {
	if c.awsConfig == nil {
		return ctx
	}
	return utils.WithAwsConfig(ctx, c.awsConfig)
}

// Close releases the catalog's connections (the SQL catalog's database).
func (c *Catalog) Close() error {
	if cl, ok := c.cat.(interface{ Close() error }); ok {
		return cl.Close()
	}
	return nil
}

// Identifier is the Iceberg table of a lake table.
func Identifier(lakeTable string) table.Identifier {
	return table.Identifier{Namespace, strings.ReplaceAll(lakeTable, "/", "_")}
}

// Load returns the Iceberg table of a lake table, as last committed.
func (c *Catalog) Load(ctx context.Context, lakeTable string) (*table.Table, error) {
	return c.cat.LoadTable(c.ioContext(ctx), Identifier(lakeTable))
}

// Publish makes the Iceberg table of lakeTable hold the tenant's committed
// Hive objects of that table, in one snapshot whose summary names runID,
// retrying a commit that lost to another writer.
func (c *Catalog) Publish(ctx context.Context, lakeTable, tenant, runID string) (Published, error) {
	ctx = c.ioContext(ctx)
	lt, err := lakeTableOf(lakeTable)
	if err != nil {
		return Published{}, err
	}
	tbl, err := c.loadOrCreate(ctx, lt)
	if err != nil {
		return Published{}, err
	}
	c.remember(lakeTable, tbl)
	hive, err := c.hiveObjects(ctx, lakeTable, tenant)
	if err != nil {
		return Published{}, err
	}
	var staged map[string][]stagedFile
	if c.inLake(lakeTable, tbl) {
		if staged, err = c.stagedFiles(ctx, lakeTable, tenant); err != nil {
			return Published{}, err
		}
	} else {
		staged = c.stagedElsewhere(lakeTable, tenant)
		c.dropStagedInLake(ctx, lakeTable, tenant)
	}
	props := icego.Properties{PropRunID: runID, PropTenant: tenant}
	retry, began := c.commitRetryOf(tbl.Properties()), time.Now()
	for attempt := 1; ; attempt++ {
		plan, err := c.plan(ctx, tbl, lakeTable, tenant, runID, hive, staged)
		if err != nil {
			return Published{}, err
		}
		if len(plan.remove) == 0 && len(plan.add) == 0 {
			return Published{}, nil
		}
		if err := c.syncLinks(ctx, plan.add); err != nil {
			return Published{}, fmt.Errorf("iceberg %s: %w", lakeTable, err)
		}
		txn := tbl.NewTransaction()
		if err := txn.ReplaceDataFilesWithDataFiles(ctx, plan.remove, plan.add, props); err != nil {
			return Published{}, fmt.Errorf("iceberg %s: %w", lakeTable, err)
		}
		next, err := txn.Commit(ctx)
		if err == nil {
			return Published{Snapshot: next.CurrentSnapshot().SnapshotID, Days: plan.days, Rows: plan.rows}, nil
		}
		if err := retry.again(ctx, attempt, began, err); err != nil {
			return Published{}, fmt.Errorf("iceberg %s: commit: %w", lakeTable, err)
		}
		// Another writer committed first: plan again over its snapshot
		// (the copies this attempt made are in staged).
		if tbl, err = c.Load(ctx, lakeTable); err != nil {
			return Published{}, fmt.Errorf("iceberg %s: reload after a conflict: %w", lakeTable, err)
		}
	}
}

// lostToAnother reports whether a commit failed because another writer
// committed first, which commits nothing: the catalogs say so with
// ErrCommitFailed, except the SQL catalog's failed requirements (the table's
// branch moved, or was created by another writer's first commit).
func lostToAnother(err error) bool {
	return errors.Is(err, table.ErrCommitFailed) || strings.Contains(strings.ToLower(err.Error()), "requirement failed")
}

// loadOrCreate loads the Iceberg table of a lake table, creating it with
// the schema of its row's type and its key as sort order if it does not
// exist.
func (c *Catalog) loadOrCreate(ctx context.Context, lt schemas.Table) (*table.Table, error) {
	lakeTable := lt.Name
	tbl, err := c.Load(ctx, lakeTable)
	if err == nil || !errors.Is(err, catalog.ErrNoSuchTable) {
		return tbl, err
	}
	sc, err := Schema(lt.Row)
	if err != nil {
		return nil, fmt.Errorf("iceberg %s: schema: %w", lakeTable, err)
	}
	order, err := sortOrder(sc, lt.Key)
	if err != nil {
		return nil, fmt.Errorf("iceberg %s: sort order: %w", lakeTable, err)
	}
	dt, _ := sc.FindFieldByName(dtColumn)
	spec := icego.NewPartitionSpec(icego.PartitionField{
		SourceIDs: []int{dt.ID}, FieldID: 1000, Name: dtColumn, Transform: icego.IdentityTransform{}})
	opts := []catalog.CreateTableOpt{
		catalog.WithPartitionSpec(&spec),
		catalog.WithSortOrder(order),
		catalog.WithProperties(icego.Properties{
			"format-version": "2",
			// The data files carry no field ids: readers map columns by name.
			table.DefaultNameMappingKey: mustNameMapping(sc),
		}),
	}
	tbl, err = c.cat.CreateTable(ctx, Identifier(lakeTable), sc,
		append(opts, catalog.WithLocation(c.root+tableLocation(lakeTable)))...)
	if errors.Is(err, rest.ErrBadRequest) {
		// A REST catalog that places its tables itself may refuse a
		// location (Glue's endpoint requires one): let it choose.
		tbl, err = c.cat.CreateTable(ctx, Identifier(lakeTable), sc, opts...)
	}
	if errors.Is(err, catalog.ErrTableAlreadyExists) {
		return c.Load(ctx, lakeTable) // another run created it meanwhile
	}
	if err != nil {
		return nil, fmt.Errorf("iceberg %s: create: %w", lakeTable, err)
	}
	return tbl, nil
}

// sortOrder is a table's default sort order: its key, ascending. It is what
// an engine that rewrites the table sorts by (Spark's rewrite_data_files,
// S3 Tables' sort compaction); the job's own data files claim no order (no
// sort_order_id): a day's rows are in the order the job carried them over
// and added new ones, which the spec allows a writer that cannot sort
// cheaply.
func sortOrder(sc *icego.Schema, key []string) (table.SortOrder, error) {
	fields := make([]table.SortField, len(key))
	for i, col := range key {
		f, ok := sc.FindFieldByName(col)
		if !ok {
			return table.SortOrder{}, fmt.Errorf("no column %q", col)
		}
		fields[i] = table.SortField{SourceIDs: []int{f.ID}, Transform: icego.IdentityTransform{},
			Direction: table.SortASC, NullOrder: table.NullsFirst}
	}
	return table.NewSortOrder(1, fields)
}

// table returns lakeTable's table as this process first loaded or created
// it: for its location and IO, not its snapshots.
func (c *Catalog) table(ctx context.Context, lakeTable string) (*table.Table, error) {
	c.mu.Lock()
	tbl, ok := c.tables[lakeTable]
	c.mu.Unlock()
	if ok {
		return tbl, nil
	}
	lt, err := lakeTableOf(lakeTable)
	if err != nil {
		return nil, err
	}
	if tbl, err = c.loadOrCreate(ctx, lt); err != nil {
		return nil, err
	}
	c.remember(lakeTable, tbl)
	return tbl, nil
}

func (c *Catalog) remember(lakeTable string, tbl *table.Table) {
	c.mu.Lock()
	if _, ok := c.tables[lakeTable]; !ok {
		c.tables[lakeTable] = tbl
	}
	c.mu.Unlock()
}

// inLake reports whether tbl is at the location the job gives lakeTable
// under the lake's root, where its data files are the store's objects; a
// catalog may have chosen another (S3 Tables, a managed warehouse).
func (c *Catalog) inLake(lakeTable string, tbl *table.Table) bool {
	return strings.TrimSuffix(tbl.Location(), "/") == c.root+tableLocation(lakeTable)
}

// dtColumn is the partition column, as in the Hive layout.
const dtColumn = "dt"

// Schema is the Iceberg schema of a table whose rows are of row's type: its
// Parquet schema, as the job writes it, converted by arrow, plus dt.
func Schema(row any) (*icego.Schema, error) {
	var buf bytes.Buffer
	w := parquet.NewWriter(&buf, parquet.SchemaOf(row))
	if err := w.Close(); err != nil {
		return nil, err
	}
	rdr, err := file.NewParquetReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		return nil, err
	}
	asc, err := pqarrow.FromParquet(rdr.MetaData().Schema, &pqarrow.ArrowReadProperties{}, nil)
	if err != nil {
		return nil, err
	}
	sc, err := table.ArrowSchemaToIcebergWithFreshIDs(asc, true)
	if err != nil {
		return nil, err
	}
	fields := append(sc.Fields(), icego.NestedField{
		ID: sc.HighestFieldID() + 1, Name: dtColumn, Type: icego.PrimitiveTypes.Date, Required: false,
		Doc: "the UTC day of the row's record (the Hive layout's dt), from the partition"})
	return icego.NewSchema(0, fields...), nil
}

func mustNameMapping(sc *icego.Schema) string {
	data, err := json.Marshal(sc.NameMapping())
	if err != nil {
		panic(err) // a mapping of plain names and ids always marshals
	}
	return string(data)
}

func tableLocation(lakeTable string) string { return "iceberg/" + lakeTable }

// tenantDataPrefix is the folder of the tenant's data files of lakeTable.
func tenantDataPrefix(lakeTable, tenant string) string {
	return tableLocation(lakeTable) + "/data/" + tenant + "/"
}

// dataKey is the key of a new data file of lakeTable's day for tenant.
func dataKey(lakeTable, day, tenant, runID string, now time.Time) string {
	return dataName(tableLocation(lakeTable), day, tenant, runID, now)
}

// dataName is the name of a new data file of a day for tenant under a
// table's location.
func dataName(tableLocation, day, tenant, runID string, now time.Time) string {
	return fmt.Sprintf("%s/data/%s/%s_%s-%s.parquet", strings.TrimSuffix(tableLocation, "/"), tenant, day,
		now.UTC().Format(stampLayout), runID)
}

// stampLayout is the time a data file was written, in its name: the names
// of a day's files sort as they were written.
const stampLayout = "20060102T150405.000000000"

// dataFileName is what a data file's key or location says of it.
type dataFileName struct {
	day, tenant string
	// written orders a tenant's files of a day by when they were written:
	// its stamp and run.
	written string
}

// parseDataFile reads a data file's key or location, in the layout of
// dataName or in the one before it (data/dt=<day>/<tenant>/<stamp>-<run>);
// ok is false if it is neither.
func parseDataFile(loc string) (f dataFileName, ok bool) {
	if !strings.HasSuffix(loc, ".parquet") {
		return f, false
	}
	parts := strings.Split(loc, "/")
	n := len(parts)
	if n >= 4 && parts[n-3] == "data" {
		day, written, ok := strings.Cut(parts[n-1], "_")
		if ok && isDay(day) {
			return dataFileName{day: day, tenant: parts[n-2], written: written}, true
		}
	}
	if n >= 5 && parts[n-4] == "data" && strings.HasPrefix(parts[n-3], "dt=") && isDay(parts[n-3][len("dt="):]) {
		return dataFileName{day: parts[n-3][len("dt="):], tenant: parts[n-2], written: parts[n-1]}, true
	}
	return f, false
}

func isDay(s string) bool {
	_, err := time.Parse(time.DateOnly, s)
	return err == nil
}

// hiveObject is the size of the tenant's committed Hive object of a day.
type hiveObject struct{ size int64 }

// hiveObjects lists the tenant's committed Hive objects of lakeTable, by day.
func (c *Catalog) hiveObjects(ctx context.Context, lakeTable, tenant string) (map[string]hiveObject, error) {
	out := map[string]hiveObject{}
	prefix := lakeTable + "/dt="
	err := c.store.List(ctx, prefix, func(o load.Object) error {
		day, name, ok := strings.Cut(strings.TrimPrefix(o.Key, prefix), "/")
		if ok && name == tenant+".parquet" {
			out[day] = hiveObject{size: o.Size}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	return out, nil
}

// newStaged describes the data file at loc.
func newStaged(loc string, size, rows int64) stagedFile {
	name, _ := parseDataFile(loc)
	return stagedFile{loc: loc, written: name.written, size: size, rows: rows}
}

// stagedFile is a data file written for the tenant, committed or not.
type stagedFile struct {
	loc     string // its location
	written string // its dataFileName's
	size    int64
	rows    int64 // -1: not read yet
}

// stagedFiles lists the tenant's data files of lakeTable, by day, oldest first.
func (c *Catalog) stagedFiles(ctx context.Context, lakeTable, tenant string) (map[string][]stagedFile, error) {
	out := map[string][]stagedFile{}
	prefix := tenantDataPrefix(lakeTable, tenant)
	err := c.store.List(ctx, prefix, func(o load.Object) error {
		if name, ok := parseDataFile(o.Key); ok && name.tenant == tenant {
			c.mu.Lock()
			rows, ok := c.stagedRows[o.Key]
			c.mu.Unlock()
			if !ok {
				rows = -1
			}
			out[name.day] = append(out[name.day], stagedFile{loc: c.root + o.Key, written: name.written, size: o.Size, rows: rows})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", prefix, err)
	}
	sortStaged(out)
	return out, nil
}

// dropStagedInLake deletes the tenant's data files of lakeTable that Stage
// put in the lake while the table is elsewhere (a SQL or Glue table created
// at another location: Stage does not load those tables to learn where they
// are). No snapshot names them: the table's files are at its location, and
// the lake's folder is not, so maintain would never find them. Best effort:
// a file that cannot be deleted stays, as a killed run's would.
func (c *Catalog) dropStagedInLake(ctx context.Context, lakeTable, tenant string) {
	prefix := tenantDataPrefix(lakeTable, tenant)
	c.mu.Lock()
	var keys []string
	for key := range c.stagedRows {
		if strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
			delete(c.stagedRows, key)
		}
	}
	c.mu.Unlock()
	for _, key := range keys {
		c.store.Delete(ctx, key)
	}
}

// stagedElsewhere is what stagedFiles is for a table outside the lake: the
// data files this process wrote there for the tenant, by day.
func (c *Catalog) stagedElsewhere(lakeTable, tenant string) map[string][]stagedFile {
	out := map[string][]stagedFile{}
	c.mu.Lock()
	for _, f := range c.elsewhere[lakeTable] {
		if name, _ := parseDataFile(f.loc); name.tenant == tenant {
			out[name.day] = append(out[name.day], f)
		}
	}
	c.mu.Unlock()
	sortStaged(out)
	return out
}

// sortStaged orders each day's files oldest first.
func sortStaged(byDay map[string][]stagedFile) {
	for _, files := range byDay {
		slices.SortFunc(files, func(a, b stagedFile) int { return strings.Compare(a.written, b.written) })
	}
}

type plan struct {
	remove, add []icego.DataFile
	days        int
	rows        int64
}

// plan compares the tenant's days in the table's current snapshot with its
// Hive objects. A day whose object is gone is removed; a day whose object
// is new or changed gets the newest data file staged after the current one
// that has the object's size (a run's copy), or else a new copy.
func (c *Catalog) plan(ctx context.Context, tbl *table.Table, lakeTable, tenant, runID string, hive map[string]hiveObject, staged map[string][]stagedFile) (plan, error) {
	current := map[string][]icego.DataFile{}
	if tbl.CurrentSnapshot() != nil {
		tasks, err := tbl.Scan().PlanFiles(ctx)
		if err != nil {
			return plan{}, fmt.Errorf("iceberg %s: plan files: %w", lakeTable, err)
		}
		for _, t := range tasks {
			if name, ok := parseDataFile(t.File.FilePath()); ok && name.tenant == tenant {
				current[name.day] = append(current[name.day], t.File)
			}
		}
	}
	var pl plan
	days := map[string]bool{}
	for d := range hive {
		days[d] = true
	}
	for d := range current {
		days[d] = true
	}
	for _, day := range slices.Sorted(maps.Keys(days)) {
		obj, inHive := hive[day]
		cur := current[day]
		if !inHive {
			pl.remove = append(pl.remove, cur...)
			pl.days++
			continue
		}
		var newest string // when the current file was written, to find those staged after it
		for _, f := range cur {
			name, _ := parseDataFile(f.FilePath())
			newest = max(newest, name.written)
		}
		pick := -1
		for i, f := range staged[day] {
			if f.written > newest && f.size == obj.size {
				pick = i
			}
		}
		if pick < 0 && len(cur) == 1 && cur[0].FileSizeBytes() == obj.size {
			continue // unchanged
		}
		var f stagedFile
		if pick >= 0 {
			f = staged[day][pick]
		} else {
			var err error
			if f, err = c.copyHive(ctx, tbl, lakeTable, day, tenant, runID, obj.size); err != nil {
				return plan{}, err
			}
			staged[day] = append(staged[day], f)
		}
		df, err := c.dataFile(ctx, tbl, day, &f)
		if err != nil {
			return plan{}, err
		}
		pl.remove = append(pl.remove, cur...)
		pl.add = append(pl.add, df)
		pl.days++
		pl.rows += f.rows
	}
	return pl, nil
}

// Stage copies the tenant's Hive object of lakeTable's day, just committed
// from local (its rows), to a new data file: the next publish finds it there
// instead of copying the object then. A store that copies objects itself
// does so (a local store's link is made durable by the publish that names
// it; S3 copies in the bucket).
//
// Only with a catalog that may place the table elsewhere is the table
// loaded (or created) here, to learn where: else the data file goes under
// the lake's location for it, and the publish loads the table.
func (c *Catalog) Stage(ctx context.Context, lakeTable, day, tenant, runID string, local load.LocalFile) error {
	ctx = c.ioContext(ctx)
	var tbl *table.Table
	var err error
	if c.placesTables {
		if tbl, err = c.table(ctx, lakeTable); err != nil {
			return fmt.Errorf("stage %s: %w", lakeTable, err)
		}
	}
	if tbl != nil && !c.inLake(lakeTable, tbl) {
		f, err := os.Open(local.Path)
		if err != nil {
			return fmt.Errorf("stage %s: %w", lakeTable, err)
		}
		defer f.Close()
		if _, err := c.writeElsewhere(ctx, lakeTable, tbl, day, tenant, runID, f, local.Rows); err != nil {
			return fmt.Errorf("stage %s: %w", lakeTable, err)
		}
		return nil
	}
	key := dataKey(lakeTable, day, tenant, runID, time.Now())
	if cp, ok := c.store.(load.Copier); ok {
		err = cp.Copy(ctx, hiveKey(lakeTable, day, tenant), key, local.Bytes)
	} else {
		err = putFile(ctx, c.store, key, local.Path)
	}
	if err != nil {
		return fmt.Errorf("stage %s: %w", key, err)
	}
	c.mu.Lock()
	c.stagedRows[key] = local.Rows
	c.mu.Unlock()
	return nil
}

// linkSyncer is a store whose copies (hard links) are durable only once
// synced ([load.LocalStore]).
type linkSyncer interface {
	SyncLinks(ctx context.Context, keys ...string) error
}

// syncLinks makes the data files of a linkSyncer store that a snapshot is
// about to name durable (the folder of a tenant's data files of a table,
// once): before the snapshot, not at each link.
func (c *Catalog) syncLinks(ctx context.Context, files []icego.DataFile) error {
	l, ok := c.store.(linkSyncer)
	if !ok {
		return nil
	}
	var keys []string
	for _, f := range files {
		if key, ok := strings.CutPrefix(f.FilePath(), c.root); ok {
			keys = append(keys, key)
		}
	}
	return l.SyncLinks(ctx, keys...)
}

func putFile(ctx context.Context, store load.Store, key, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return store.Put(ctx, key, f)
}

func hiveKey(lakeTable, day, tenant string) string {
	return fmt.Sprintf("%s/dt=%s/%s.parquet", lakeTable, day, tenant)
}

// writeElsewhere writes r (rows rows, -1 if not known) to a new data file
// of the tenant's day under tbl's location, which is not the lake's,
// through the table's IO, and remembers it for this process's publishes.
func (c *Catalog) writeElsewhere(ctx context.Context, lakeTable string, tbl *table.Table, day, tenant, runID string, r io.Reader, rows int64) (stagedFile, error) {
	loc := dataName(tbl.Location(), day, tenant, runID, time.Now())
	fsys, err := tbl.FS(ctx)
	if err != nil {
		return stagedFile{}, fmt.Errorf("write %s: %w", loc, err)
	}
	wfs, ok := fsys.(icebergio.WriteFileIO)
	if !ok {
		return stagedFile{}, fmt.Errorf("write %s: the table's IO (%T) cannot write", loc, fsys)
	}
	w, err := wfs.Create(loc)
	if err != nil {
		return stagedFile{}, fmt.Errorf("write %s: %w", loc, err)
	}
	n, err := io.Copy(w, r)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return stagedFile{}, fmt.Errorf("write %s: %w", loc, err)
	}
	f := newStaged(loc, n, rows)
	c.mu.Lock()
	c.elsewhere[lakeTable] = append(c.elsewhere[lakeTable], f)
	c.mu.Unlock()
	return f, nil
}

// copyHive copies the tenant's Hive object of a day, listed with size, to a
// new data file of tbl.
func (c *Catalog) copyHive(ctx context.Context, tbl *table.Table, lakeTable, day, tenant, runID string, size int64) (stagedFile, error) {
	src := hiveKey(lakeTable, day, tenant)
	if !c.inLake(lakeTable, tbl) {
		r, err := c.store.Open(ctx, src)
		if err != nil {
			return stagedFile{}, fmt.Errorf("copy %s: %w", src, err)
		}
		defer r.Close()
		f, err := c.writeElsewhere(ctx, lakeTable, tbl, day, tenant, runID, r, -1)
		if err != nil {
			return stagedFile{}, fmt.Errorf("copy %s: %w", src, err)
		}
		return f, nil
	}
	key := dataKey(lakeTable, day, tenant, runID, time.Now())
	if cp, ok := c.store.(load.Copier); ok {
		if err := cp.Copy(ctx, src, key, size); err != nil {
			return stagedFile{}, fmt.Errorf("copy %s: %w", src, err)
		}
		// The copy is the object listed (no other run writes the tenant's
		// objects while this one holds its lease): its size.
		return newStaged(c.root+key, size, -1), nil
	}
	r, err := c.store.Open(ctx, src)
	if err != nil {
		return stagedFile{}, fmt.Errorf("copy %s: %w", src, err)
	}
	defer r.Close()
	cr := &countingReader{r: r}
	if err := c.store.Put(ctx, key, cr); err != nil {
		return stagedFile{}, fmt.Errorf("copy %s to %s: %w", src, key, err)
	}
	return newStaged(c.root+key, cr.n, -1), nil
}

// dataFile describes a staged file to the table, reading its row count
// from its footer if need be.
func (c *Catalog) dataFile(ctx context.Context, tbl *table.Table, day string, f *stagedFile) (icego.DataFile, error) {
	loc := f.loc
	if f.rows < 0 {
		fs, err := tbl.FS(ctx)
		if err != nil {
			return nil, err
		}
		r, err := fs.Open(loc)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", loc, err)
		}
		pf, err := parquet.OpenFile(r, f.size, parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", loc, err)
		}
		f.rows = pf.NumRows()
	}
	date, err := time.Parse("2006-01-02", day)
	if err != nil {
		return nil, fmt.Errorf("data file %s: day %q: %w", loc, day, err)
	}
	spec := tbl.Spec()
	b, err := icego.NewDataFileBuilder(spec, icego.EntryContentData, loc, icego.ParquetFile,
		map[int]any{spec.Field(0).FieldID: icego.Date(date.Unix() / 86400)}, nil, nil, f.rows, f.size)
	if err != nil {
		return nil, err
	}
	return b.Build(), nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Maintain expires the snapshots of lakeTable's Iceberg table older than
// mt.OlderThan, keeping the last mt.RetainLast whatever their age, deleting
// the files only they referenced; then it deletes the files under the table's
// location that no snapshot references and that are older than
// mt.OrphansOlderThan (which must outlast a run: a run's data files are
// unreferenced until it publishes). A table not created yet is left alone.
func (c *Catalog) Maintain(ctx context.Context, lakeTable string, mt Maintenance) (Maintained, error) {
	ctx = c.ioContext(ctx)
	m := Maintained{Table: lakeTable}
	tbl, err := c.Load(ctx, lakeTable)
	if errors.Is(err, catalog.ErrNoSuchTable) {
		return m, nil
	}
	if err != nil {
		return m, fmt.Errorf("iceberg %s: %w", lakeTable, err)
	}
	// A run may commit meanwhile (maintain and the hourly runs share the
	// tables): the expiry is retried over its snapshot as a publish is.
	retry, began := c.commitRetryOf(tbl.Properties()), time.Now()
	for attempt := 1; ; attempt++ {
		before := len(tbl.Metadata().Snapshots())
		txn := tbl.NewTransaction()
		if err := txn.ExpireSnapshots(table.WithOlderThan(mt.OlderThan), table.WithRetainLast(mt.RetainLast)); err != nil {
			return m, fmt.Errorf("iceberg %s: expire snapshots: %w", lakeTable, err)
		}
		next, err := txn.Commit(ctx)
		if err == nil {
			// The expired count: what this commit removed of the table it read.
			m.SnapshotsExpired, tbl = max(0, before-len(next.Metadata().Snapshots())), next
			break
		}
		if err := retry.again(ctx, attempt, began, err); err != nil {
			return m, fmt.Errorf("iceberg %s: expire snapshots: %w", lakeTable, err)
		}
		if tbl, err = c.Load(ctx, lakeTable); err != nil {
			return m, fmt.Errorf("iceberg %s: reload after a conflict: %w", lakeTable, err)
		}
	}
	res, err := tbl.DeleteOrphanFiles(ctx, table.WithFilesOlderThan(mt.OrphansOlderThan))
	if err != nil {
		return m, fmt.Errorf("iceberg %s: delete orphan files: %w", lakeTable, err)
	}
	m.OrphansDeleted = len(res.DeletedFiles)
	return m, nil
}
