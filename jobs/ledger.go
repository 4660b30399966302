package jobs

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/lake"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// The completeness ledger (schemas.LedgerRow, table call_record_ledger) is
// brought up to date after each day's call records are committed, from what
// the run saw of that day: its listing, the versions in call_records, what
// it fetched, quarantined or did not find, and the notifications of the
// inbox. Days the run does not list keep their ledger as it was. Each day is
// its own partition (lake.LedgerDataset), committed like the tables', so a
// reader sees the previous ledger or the next, and a killed run leaves the
// previous one.

// DefaultSettleRuns is how many runs in a row must list a record at the
// same version before its ledger row counts it as settled.
const DefaultSettleRuns = 3

// ledgerRun is what a run carries from day to day for the ledger.
type ledgerRun struct {
	// notified: the inbox as the run found it; pending: those of its ids
	// Graph did not return (not yet published, or never).
	notified map[string]time.Time
	pending  map[string]bool
	// prevDay: the ids of the day written before (prevDate), so that an
	// id notified on a day but started the day before (a call across
	// midnight) leaves the notified-only row it had on its notification's
	// day.
	prevDate string
	prevDay  map[string]bool
}

// dayOutcome is what fetching a day's records came to, for its ledger.
type dayOutcome struct {
	replaced    map[string]bool // committed at the listed version
	notFound    map[string]bool
	quarantined map[string]bool // at listing or fetch
}

// noteInbox remembers the inbox for the ledger: every id with when it was
// notified, and which Graph did not return.
func (l *ledgerRun) noteInbox(items []lake.InboxItem, missing []lake.InboxItem) {
	l.notified = make(map[string]time.Time, len(items))
	for _, it := range items {
		l.notified[it.ID] = it.ReceivedAt.UTC()
	}
	l.pending = map[string]bool{}
	for _, it := range missing {
		l.pending[it.ID] = true
	}
}

// writeLedgerDay merges what the run saw of a committed day into its ledger.
func (r *runner) writeLedgerDay(ctx context.Context, pl *dayPlan) error {
	if r.cfg.DryRun {
		return nil
	}
	now := r.cfg.Now().UTC()
	// Runs list a record for --lookback after it started: one listed that
	// long after its day began is at (or near) its last listing.
	settleAfter := pl.day.Add(r.cfg.Lookback)
	seen := map[string]bool{}
	var prevDay map[string]bool
	if r.ledger.prevDate == schemas.PartitionDate(pl.day.Add(-24*time.Hour)) {
		prevDay = r.ledger.prevDay
	}
	err := r.updateLedger(ctx, pl.date, func(rows map[string]*schemas.LedgerRow) {
		row := func(id string) *schemas.LedgerRow {
			seen[id] = true
			x, ok := rows[id]
			if !ok {
				x = &schemas.LedgerRow{TenantID: r.cfg.TenantID, CallRecordID: id}
				rows[id] = x
			}
			return x
		}
		for id, v := range pl.listed {
			x := row(id)
			if x.FirstListedAt.IsZero() {
				x.FirstListedAt = now
			}
			x.Listed, x.LastListedAt = true, now
			if v <= x.Version && x.RunsAtVersion > 0 { // a version never goes back
				x.RunsAtVersion++
			} else {
				x.Version, x.VersionFirstSeenAt, x.VersionFirstSeenRun, x.RunsAtVersion = v, now, r.cfg.RunID, 1
			}
		}
		for id, v := range pl.stored {
			x := row(id)
			x.Fetched, x.CommittedVersion = true, max(x.CommittedVersion, v)
		}
		for id := range pl.outcome.replaced {
			// The version listed: the detail is fetched right after.
			x := row(id)
			x.Fetched, x.CommittedVersion = true, max(x.CommittedVersion, pl.listed[id])
		}
		for id := range pl.outcome.quarantined {
			x := row(id)
			_, fetched := slices.BinarySearch(pl.fetch, id) // sorted
			x.Fetched, x.Quarantined = x.Fetched || fetched, true
		}
		for id, at := range r.ledger.notified {
			x, ok := rows[id]
			switch {
			case ok:
			case r.ledger.pending[id] && schemas.PartitionDate(at) == pl.date:
				x = row(id)
			default:
				continue
			}
			if x.NotifiedAt.IsZero() || at.Before(x.NotifiedAt) {
				x.NotifiedAt = at
			}
		}
		for id, x := range rows {
			if !x.Listed && x.CommittedVersion == 0 && prevDay[id] {
				delete(rows, id) // notified here, listed the day before
				continue
			}
			x.Version = max(x.Version, x.CommittedVersion)
			x.Committed = x.CommittedVersion > 0 && x.CommittedVersion >= x.Version
			if x.Committed {
				x.Quarantined = false
			}
			if seen[id] {
				x.Settled = x.Listed && x.Committed &&
					(int(x.RunsAtVersion) >= r.cfg.settleRuns() || !x.LastListedAt.Before(settleAfter))
			}
		}
	})
	if err != nil {
		return err
	}
	r.ledger.prevDate, r.ledger.prevDay = pl.date, seen
	return nil
}

// noteGivenUp puts notified ids that Graph never returned, and that the
// inbox is giving up on, into the ledger of the day each was notified: once
// out of the inbox, the ledger is all that remembers them.
func (r *runner) noteGivenUp(ctx context.Context, items []lake.InboxItem) error {
	if len(items) == 0 || r.cfg.DryRun {
		return nil
	}
	byDay := map[string][]lake.InboxItem{}
	for _, it := range items {
		d := schemas.PartitionDate(it.ReceivedAt)
		byDay[d] = append(byDay[d], it)
	}
	for _, date := range slices.Sorted(maps.Keys(byDay)) {
		err := r.updateLedger(ctx, date, func(rows map[string]*schemas.LedgerRow) {
			for _, it := range byDay[date] {
				x, ok := rows[it.ID]
				if !ok {
					x = &schemas.LedgerRow{TenantID: r.cfg.TenantID, CallRecordID: it.ID}
					rows[it.ID] = x
				}
				if at := it.ReceivedAt.UTC(); x.NotifiedAt.IsZero() || at.Before(x.NotifiedAt) {
					x.NotifiedAt = at
				}
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// updateLedger reads the tenant's ledger of date, lets merge change its rows
// (by call record id), and commits it.
func (r *runner) updateLedger(ctx context.Context, date string, merge func(map[string]*schemas.LedgerRow)) error {
	const table = schemas.TableCallRecordLedger
	part, err := r.lake.Partition(ctx, lake.LedgerDataset, date, table)
	if err != nil {
		return err
	}
	defer part.Cleanup()
	rows := map[string]*schemas.LedgerRow{}
	keys, err := part.Files(ctx, table)
	if err != nil {
		return err
	}
	for _, key := range keys {
		path, err := part.Local(ctx, key)
		if err != nil {
			return err
		}
		err = load.ReadParquet(path, 4096, func(batch []schemas.LedgerRow) error {
			for _, x := range batch {
				rows[x.CallRecordID] = &x
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("read %s: %w", key, err)
		}
	}
	merge(rows)

	w := load.NewFileWriter[schemas.LedgerRow](r.parquetOptions())
	defer w.Abort()
	batch := make([]schemas.LedgerRow, 0, 1024)
	for _, id := range slices.Sorted(maps.Keys(rows)) {
		batch = append(batch, *rows[id])
		if len(batch) == cap(batch) {
			if err := w.Write(batch); err != nil {
				return fmt.Errorf("write ledger of %s: %w", date, err)
			}
			batch = batch[:0]
		}
	}
	if err := writeIfAny(w, batch); err != nil {
		return fmt.Errorf("write ledger of %s: %w", date, err)
	}
	f, err := w.Close()
	if err != nil {
		return fmt.Errorf("write ledger of %s: %w", date, err)
	}
	if f.Path != "" {
		defer os.Remove(f.Path)
	}
	files := map[string]load.LocalFile{table: f}
	if err := r.icebergCommittable(ctx); err != nil {
		return err
	}
	if err := part.Commit(ctx, files); err != nil {
		return err
	}
	r.stageIceberg(ctx, date, files)
	return nil
}
