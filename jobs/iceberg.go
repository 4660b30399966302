package jobs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/iceberg"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// Table formats (Config.TableFormat).
const (
	TableFormatHive    = "hive"
	TableFormatIceberg = "iceberg"
)

// TableFormats lists what Config.TableFormat may be.
var TableFormats = []string{TableFormatHive, TableFormatIceberg}

// icebergCatalogURI is the catalog an Iceberg run commits to: IcebergCatalog,
// or a SQLite file in the lake's _etl/ for a local destination.
func (c Config) icebergCatalogURI() (string, error) {
	if c.IcebergCatalog != "" {
		return c.IcebergCatalog, nil
	}
	if strings.Contains(c.Dest, "://") && !strings.HasPrefix(c.Dest, "file://") {
		return "", configError("is required with an object-store destination (a SQLite file's path, http(s):// or rest:// for a REST catalog, or glue)", "IcebergCatalog")
	}
	return filepath.Join(strings.TrimPrefix(c.Dest, "file://"), "_etl", "iceberg.db"), nil
}

// IcebergREST is a REST Iceberg catalog's warehouse and credentials. The
// secrets come from the environment or files (a Kubernetes Secret mounted),
// never from flags, and are never logged.
type IcebergREST struct {
	Warehouse string
	// Credential is OAuth2 client credentials, "client_id:client_secret";
	// CredentialFile a file that holds them, read when Credential is empty.
	Credential, CredentialFile string
	// OAuth2ServerURI is the token endpoint (default: the catalog's
	// /v1/oauth/tokens); Scope the scope asked for (default "catalog").
	OAuth2ServerURI, Scope string
	// Token is a bearer token used as is; TokenFile a file that holds it.
	Token, TokenFile string
}

// isRESTCatalog reports whether an Iceberg catalog URI names a REST catalog.
func isRESTCatalog(uri string) bool {
	return strings.HasPrefix(uri, "http://") || strings.HasPrefix(uri, "https://") || strings.HasPrefix(uri, "rest://")
}

// onlyForREST is an error if a setting is given for a catalog at uri that
// is not a REST catalog.
func (c IcebergREST) onlyForREST(uri string) error {
	if isRESTCatalog(uri) {
		return nil
	}
	for _, f := range []struct{ field, value string }{{"Warehouse", c.Warehouse}, {"Credential", c.Credential},
		{"CredentialFile", c.CredentialFile}, {"OAuth2ServerURI", c.OAuth2ServerURI}, {"Scope", c.Scope},
		{"Token", c.Token}, {"TokenFile", c.TokenFile}} {
		if f.value != "" {
			return configError(fmt.Sprintf("is only for a REST catalog (http://, https:// or rest://), not %q", uri), "IcebergREST."+f.field)
		}
	}
	return nil
}

// rest resolves the settings of a REST catalog at uri, reading the files.
func (c IcebergREST) rest(uri string) (iceberg.REST, error) {
	if err := c.onlyForREST(uri); err != nil || !isRESTCatalog(uri) {
		return iceberg.REST{}, err
	}
	r := iceberg.REST{Warehouse: c.Warehouse, Credential: c.Credential, OAuth2ServerURI: c.OAuth2ServerURI, Scope: c.Scope, Token: c.Token}
	for _, f := range []struct {
		value *string
		file  string
		field string
	}{{&r.Credential, c.CredentialFile, "IcebergREST.CredentialFile"}, {&r.Token, c.TokenFile, "IcebergREST.TokenFile"}} {
		if *f.value != "" || f.file == "" {
			continue
		}
		data, err := os.ReadFile(f.file)
		if err != nil {
			return iceberg.REST{}, configError(": "+err.Error(), f.field)
		}
		if *f.value = strings.TrimSpace(string(data)); *f.value == "" {
			return iceberg.REST{}, configError(fmt.Sprintf(": %s is empty", f.file), f.field)
		}
	}
	return r, nil
}

// openIceberg opens the Iceberg catalog of an Iceberg run (nil otherwise).
func (r *runner) openIceberg(ctx context.Context) error {
	if r.cfg.TableFormat != TableFormatIceberg || r.cfg.DryRun {
		return nil
	}
	uri, err := r.cfg.icebergCatalogURI()
	if err != nil {
		return err
	}
	rest, err := r.cfg.IcebergREST.rest(uri)
	if err != nil {
		return err
	}
	root, err := iceberg.RootURI(r.cfg.Dest)
	if err != nil {
		return fmt.Errorf("%w: destination %s: %v", ErrConfig, r.cfg.Dest, err)
	}
	store, err := openStore(ctx, r.cfg)
	if err != nil {
		return err
	}
	// The store's own settings; an Entra credential it builds cannot be passed.
	ioProps, err := iceberg.IOProperties(ctx, r.cfg.Dest, load.StoreConfig{S3: r.cfg.S3, Azure: r.cfg.Azure})
	if err != nil {
		return fmt.Errorf("%w: destination %s: %v", ErrConfig, r.cfg.Dest, err)
	}
	if r.ice, err = iceberg.Open(ctx, uri, root, store, iceberg.WithREST(rest), iceberg.WithIO(ioProps)); err != nil {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	return nil
}

// stageIceberg copies the files a partition just committed to new Iceberg
// data files, which the run's publish then commits. A copy that fails costs
// only time: publish copies the committed object instead.
func (r *runner) stageIceberg(ctx context.Context, date string, files map[string]load.LocalFile) {
	if r.ice == nil {
		return
	}
	var wg sync.WaitGroup
	for table, f := range files {
		if f.Path == "" {
			continue
		}
		wg.Go(func() {
			if err := r.ice.Stage(ctx, table, date, r.cfg.TenantID, r.cfg.RunID, f); err != nil {
				r.cfg.Logger.Warn("iceberg data file not staged; the publish copies the partition instead", "table", table, "dt", date, "err", err)
			}
		})
	}
	wg.Wait()
}

// publishIceberg commits, per table of datasets, one Iceberg
// snapshot that brings the table to the tenant's committed partitions; the
// children tables first, the parent (call_records) last, as in the Hive
// layout. It runs after the datasets, whether they all succeeded or not:
// what they committed is published, and what a killed or failed run left
// unpublished is published by the next.
func (r *runner) publishIceberg(ctx context.Context, datasets []string) error {
	if r.ice == nil {
		return nil
	}
	defer r.ice.Close()
	var errs []error
	for _, ds := range datasets {
		tables := schemas.TablesOf(ds)
		if len(tables) == 0 {
			continue // notifications: no table of its own
		}
		children := tables[1:]
		if !r.cfg.NoRawArchive {
			children = append(children, schemas.RawTableOf(ds))
		}
		childErrs := make([]error, len(children))
		var wg sync.WaitGroup
		for i, table := range children {
			wg.Go(func() { childErrs[i] = r.publishTable(ctx, table) })
		}
		wg.Wait()
		if err := errors.Join(childErrs...); err != nil {
			// The parent waits for its children: publishing it alone
			// would show records without their sessions.
			errs = append(errs, err)
			continue
		}
		if err := r.publishTable(ctx, tables[0]); err != nil {
			errs = append(errs, err)
			continue
		}
		if ds == schemas.DatasetCallRecords {
			// After the records it counts, as in the Hive layout. Runs
			// write it; import and replay publish what a run left.
			errs = append(errs, r.publishTable(ctx, schemas.TableCallRecordLedger))
		}
	}
	return errors.Join(errs...)
}

// publishTable commits one table's snapshot, if it changed.
func (r *runner) publishTable(ctx context.Context, table string) error {
	pub, err := r.ice.Publish(ctx, table, tableRow(table), r.cfg.TenantID, r.cfg.RunID)
	if err != nil {
		return fmt.Errorf("publish %s as Iceberg: %w", table, err)
	}
	if pub.Snapshot != 0 {
		r.cfg.Logger.Info("iceberg snapshot committed", "table", table, "snapshot", pub.Snapshot, "days", pub.Days, "rows", pub.Rows)
		r.sum.update(func() { r.sum.IcebergSnapshots++ })
	}
	return nil
}

// tableRow is a zero row of a lake table, for its schema.
func tableRow(table string) any {
	for _, t := range slices.Concat(schemas.Tables, schemas.RawTables, schemas.LedgerTables) {
		if t.Name == table {
			return t.Row
		}
	}
	panic("no such table: " + table)
}

// IcebergMaintenance says what MaintainIceberg removes.
type IcebergMaintenance struct {
	// OlderThan: snapshots older than this expire...
	OlderThan time.Duration
	// RetainLast: ...except the last RetainLast of each table.
	RetainLast int
	// OrphansOlderThan: files no snapshot references are deleted once this
	// old; it must outlast a run, whose data files are unreferenced until
	// it publishes them.
	OrphansOlderThan time.Duration
}

// MaintainedTable is what MaintainIceberg did to one table.
type MaintainedTable struct {
	Table            string `json:"table"`
	SnapshotsExpired int    `json:"snapshots_expired"`
	OrphansDeleted   int    `json:"orphan_files_deleted"`
}

// MaintainIceberg expires old snapshots and deletes orphan files in every
// Iceberg table of the lake at cfg.Dest (catalog: cfg.IcebergCatalog).
func MaintainIceberg(ctx context.Context, cfg Config, m IcebergMaintenance) ([]MaintainedTable, error) {
	switch {
	case m.RetainLast < 1:
		return nil, configError(fmt.Sprintf("must be at least 1, got %d", m.RetainLast), "RetainLast")
	case m.OlderThan < 0:
		return nil, configError("must not be negative", "OlderThan")
	case m.OrphansOlderThan < time.Hour:
		return nil, configError(fmt.Sprintf("must be at least 1h (longer than a run), got %s", m.OrphansOlderThan), "OrphansOlderThan")
	}
	cfg.TableFormat = TableFormatIceberg
	r := &runner{cfg: cfg}
	if err := r.openIceberg(ctx); err != nil {
		return nil, err
	}
	defer r.ice.Close()
	var out []MaintainedTable
	for _, tb := range slices.Concat(schemas.Tables, schemas.RawTables, schemas.LedgerTables) {
		done, err := r.ice.Maintain(ctx, tb.Name, m.OlderThan, m.RetainLast, m.OrphansOlderThan)
		if err != nil {
			return out, err
		}
		out = append(out, MaintainedTable{Table: tb.Name, SnapshotsExpired: done.SnapshotsExpired, OrphansDeleted: done.OrphansDeleted})
	}
	return out, nil
}
