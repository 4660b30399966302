package iceberg_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/table"

	"github.com/callrecords-etl/callrecords-etl/load/iceberg"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// racingCatalog runs before ahead of the first commit made through it, as
// another process committing in that instant would, and counts the commits
// the catalog refused.
type racingCatalog struct {
	catalog.Catalog
	before  func()
	raced   atomic.Bool
	refused atomic.Int64
}

// LoadTable returns the table bound to this catalog, so that its
// transactions commit through CommitTable below.
func (r *racingCatalog) LoadTable(ctx context.Context, ident table.Identifier) (*table.Table, error) {
	tbl, err := r.Catalog.LoadTable(ctx, ident)
	if err != nil {
		return nil, err
	}
	return table.New(ident, tbl.Metadata(), tbl.MetadataLocation(), tbl.FS, r), nil
}

func (r *racingCatalog) CommitTable(ctx context.Context, ident table.Identifier, reqs []table.Requirement, updates []table.Update) (table.Metadata, string, error) {
	if r.raced.CompareAndSwap(false, true) {
		r.before()
	}
	meta, loc, err := r.Catalog.CommitTable(ctx, ident, reqs, updates)
	if err != nil {
		r.refused.Add(1)
	}
	return meta, loc, err
}

// TestMaintain_RetriesALostRace: a run that commits to a table while
// maintain expires its snapshots makes maintain's commit lose the race (the
// table's branch moved); maintain expires them again over the run's
// snapshot instead of failing, and the run's snapshot stays current.
func TestMaintain_RetriesALostRace(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c, store := open(t, dir)
	for _, day := range []string{"2026-11-17", "2026-11-18", "2026-11-19"} {
		commitHive(t, store, "tenant-a", day, 1)
		if _, err := c.Publish(ctx, schemas.TablePstnCalls, "tenant-a", "run-"+day); err != nil {
			t.Fatal(err)
		}
	}
	var runSnapshot int64
	racing := &racingCatalog{before: func() {
		commitHive(t, store, "tenant-b", "2026-11-19", 1)
		other, _ := open(t, dir)
		pub, err := other.Publish(ctx, schemas.TablePstnCalls, "tenant-b", "run-b")
		if err != nil {
			t.Errorf("the racing run's publish: %v", err)
		}
		runSnapshot = pub.Snapshot
	}}
	iceberg.WrapCatalog(c, func(cat catalog.Catalog) catalog.Catalog { racing.Catalog = cat; return racing })
	iceberg.SetCommitRetry(c, 3, time.Millisecond, 5*time.Millisecond, time.Minute)
	m, err := c.Maintain(ctx, schemas.TablePstnCalls, iceberg.Maintenance{OlderThan: 0, RetainLast: 1, OrphansOlderThan: 24 * time.Hour})
	if err != nil {
		t.Fatalf("maintain during a run's commit: %v", err)
	}
	if racing.refused.Load() == 0 || runSnapshot == 0 {
		t.Fatalf("the race was not made: %d commits refused, the run's snapshot %d", racing.refused.Load(), runSnapshot)
	}
	check, _ := open(t, dir)
	tbl, err := check.Load(ctx, schemas.TablePstnCalls)
	if err != nil {
		t.Fatal(err)
	}
	if m.SnapshotsExpired < 3 || tbl.CurrentSnapshot() == nil || tbl.CurrentSnapshot().SnapshotID != runSnapshot || len(tbl.Metadata().Snapshots()) != 1 {
		t.Errorf("after maintain: %+v, current snapshot %v of %d, want the 3 earlier ones expired and the run's (%d) kept",
			m, tbl.CurrentSnapshot(), len(tbl.Metadata().Snapshots()), runSnapshot)
	}
}
