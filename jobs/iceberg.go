package jobs

import (
	"context"
	"errors"
	"fmt"
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

// openIceberg opens the Iceberg catalog of an Iceberg run (nil otherwise).
func (r *runner) openIceberg(ctx context.Context) error {
	if r.cfg.TableFormat != TableFormatIceberg || r.cfg.DryRun {
		return nil
	}
	uri, err := r.cfg.icebergCatalogURI()
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
	if r.ice, err = iceberg.Open(ctx, uri, root, store, ioProps); err != nil {
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
		errs = append(errs, r.publishTable(ctx, tables[0]))
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
	for _, t := range append(slices.Clone(schemas.Tables), schemas.RawTables...) {
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
	for _, tb := range append(slices.Clone(schemas.Tables), schemas.RawTables...) {
		done, err := r.ice.Maintain(ctx, tb.Name, m.OlderThan, m.RetainLast, m.OrphansOlderThan)
		if err != nil {
			return out, err
		}
		out = append(out, MaintainedTable{Table: tb.Name, SnapshotsExpired: done.SnapshotsExpired, OrphansDeleted: done.OrphansDeleted})
	}
	return out, nil
}
