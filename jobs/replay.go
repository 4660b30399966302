package jobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/lake"
	"github.com/callrecords-etl/callrecords-etl/schemas"
	"github.com/callrecords-etl/callrecords-etl/transform"
)

// Replay rebuilds fact tables from the raw archive alone, without Graph:
// for every archived day (of cfg.From..cfg.To, when set), each call record at
// its highest archived version and each report row go through the same
// flatten and partition commit as a run. The use: a new column or a fixed
// rule after an upgrade, for data Graph no longer has. tables names the
// tables to rebuild (all when empty); the others, the archive and the
// checkpoints are left as they are. A record whose stored version is higher
// than any archived one (written while the archive was off) keeps its rows.
func Replay(ctx context.Context, cfg Config, tables []string) (*Summary, error) {
	if err := cfg.validate(false); err != nil {
		return nil, err
	}
	for _, t := range tables {
		if !slices.Contains(schemas.TableNames(), t) {
			return nil, configError(fmt.Sprintf(": unknown table %q (known: %v)", t, schemas.TableNames()), "Tables")
		}
	}
	return execute(ctx, cfg, false, func(ctx context.Context, r *runner) error {
		r.sum.Explicit = true // a replay never moves a checkpoint
		if err := r.openIceberg(ctx); err != nil {
			return err
		}
		var replayed []string
		var err error
		for _, ds := range []string{schemas.DatasetCallRecords, schemas.DatasetPstn, schemas.DatasetDirectRouting} {
			var rebuild []string
			for _, t := range schemas.TablesOf(ds) {
				if len(tables) == 0 || slices.Contains(tables, t) {
					rebuild = append(rebuild, t)
				}
			}
			if len(rebuild) == 0 {
				continue
			}
			replayed = append(replayed, ds)
			if err = r.replay(ctx, ds, rebuild); err != nil {
				break
			}
		}
		// What was rewritten is published, as after a run: the Iceberg
		// tables follow the rebuilt days.
		return errors.Join(err, r.publishIceberg(ctx, replayed))
	})
}

// replay rebuilds tables of dataset ds for every archived day in the window.
func (r *runner) replay(ctx context.Context, ds string, tables []string) error {
	log := r.cfg.Logger.With("dataset", ds, "replay", true)
	dates, err := r.lake.Dates(ctx, schemas.RawTableOf(ds))
	if err != nil {
		return err
	}
	if len(dates) == 0 {
		log.Warn("the lake holds no raw archive of this dataset: nothing to replay (runs keep one unless it is turned off)", "archive", schemas.RawTableOf(ds))
	}
	dates = slices.DeleteFunc(dates, func(d string) bool { return !r.inWindow(d) })
	stats := r.sum.dataset(ds)
	if !r.cfg.From.IsZero() {
		r.sum.update(func() { stats.From, stats.To = r.cfg.From.UTC(), r.cfg.To.UTC() })
	}
	log.Info("replaying the raw archive", "days", len(dates), "tables", tables)
	// A day's files are committed while the next day is decoded, as in an
	// import; commits stay one at a time, in day order.
	var commits committer
	defer commits.wait()
	for _, date := range dates {
		var err error
		switch ds {
		case schemas.DatasetCallRecords:
			err = r.replayCallRecordsDay(ctx, date, tables, &commits, len(dates), log.With("dt", date))
		case schemas.DatasetPstn:
			err = replayUsageDay(ctx, r, r.pstnDataset(), date, log.With("dt", date))
		case schemas.DatasetDirectRouting:
			err = replayUsageDay(ctx, r, r.directRoutingDataset(), date, log.With("dt", date))
		}
		if err != nil {
			// An earlier day's failed commit is the first error.
			if cerr := commits.wait(); cerr != nil {
				return cerr
			}
			return err
		}
		if ds != schemas.DatasetCallRecords {
			r.progress(ds, len(dates)) // its day is committed
		}
	}
	return commits.wait()
}

// inWindow reports whether day date overlaps the configured window (every
// day does when there is none).
func (r *runner) inWindow(date string) bool {
	if r.cfg.From.IsZero() {
		return true
	}
	day, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return false
	}
	return day.Add(24*time.Hour).After(r.cfg.From) && day.Before(r.cfg.To)
}

// openArchive opens the raw archive of dataset ds on date and returns the
// local path of its file ("" when it has none).
func (r *runner) openArchive(ctx context.Context, ds, date string) (*lake.Partition, string, error) {
	table := schemas.RawTableOf(ds)
	arch, err := r.lake.Partition(ctx, ds, date, table)
	if err != nil {
		return nil, "", err
	}
	keys, err := arch.Files(ctx, table)
	if err != nil || len(keys) == 0 {
		return arch, "", err
	}
	path, err := arch.Local(ctx, keys[0])
	return arch, path, err
}

// replayCallRecordsDay rebuilds tables of one day from its archive: it
// writes the day's files and hands their commit to commits (of days days,
// for the progress).
func (r *runner) replayCallRecordsDay(ctx context.Context, date string, tables []string, commits *committer, days int, log *slog.Logger) error {
	const ds = schemas.DatasetCallRecords
	done := func() error { r.progress(ds, days); return nil }
	arch, path, err := r.openArchive(ctx, ds, date)
	if err != nil {
		return err
	}
	defer arch.Cleanup()
	if path == "" {
		return commits.start(date, false, done) // counted in its turn
	}
	// The highest archived version of each record: the one the tables hold.
	type head struct {
		ID      string `parquet:"call_record_id"`
		Version int64  `parquet:"version"`
	}
	latest := map[string]int64{}
	err = load.ReadParquet(path, 4096, func(rows []head) error {
		for _, h := range rows {
			if v, ok := latest[h.ID]; !ok || h.Version > v {
				latest[h.ID] = h.Version
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("read the archive of %s: %w", date, err)
	}

	part, err := r.lake.Partition(ctx, ds, date, tables...)
	if err != nil {
		return err
	}
	committing := false
	defer func() {
		if !committing {
			part.Cleanup()
		}
	}()
	large := r.large(part, len(latest))
	if err := commits.ready(date, large); err != nil {
		return err
	}
	stored, err := r.storedCallRecordVersions(ctx, part)
	if err != nil {
		return err
	}
	ps, err := r.archivePseudonymiser(path)
	if err != nil {
		return err
	}
	replaced, failed, write, err := r.writeCallRecords(ctx, part, ps, len(latest), func(add func(string, []byte) error) error {
		type partial struct {
			next int32 // the piece expected next
			json []byte
		}
		pieces := map[rawKey]*partial{} // records archived in pieces, being put together
		err := load.ReadParquet(path, carryBatch[schemas.RawCallRecordRow](), func(rows []schemas.RawCallRecordRow) error {
			for _, row := range rows {
				id := row.CallRecordID
				if v, ok := latest[id]; !ok || row.Version != v || stored[id] > row.Version {
					continue
				}
				raw := bytes.Clone(row.JSON)
				if row.Pieces > 1 {
					k := rawKey{id, row.Version}
					p := pieces[k]
					if p == nil {
						p = &partial{json: make([]byte, 0, int(row.Pieces)*schemas.RawPieceBytes)}
						pieces[k] = p
					}
					if row.Piece != p.next {
						continue // archived twice; a gap is caught below
					}
					p.json, p.next = append(p.json, row.JSONPiece...), p.next+1
					if p.next < row.Pieces {
						continue
					}
					raw = p.json
					delete(pieces, k)
				}
				delete(latest, id) // once, should the archive hold it twice
				if err := add(id, raw); err != nil {
					return err
				}
			}
			return nil
		})
		for k := range pieces {
			return fmt.Errorf("the archive of %s holds %s version %d in part only", date, k.id, k.version)
		}
		return err
	}, log)
	if err != nil {
		return err
	}
	err = commits.start(date, large, func() error {
		defer part.Cleanup()
		if err := write(ctx); err != nil {
			return err
		}
		stats := r.sum.dataset(ds)
		r.sum.update(func() {
			stats.Listed += len(replaced) + failed
			stats.countNewOrUpdated(maps.Keys(replaced), stored)
			if len(replaced) > 0 {
				stats.Partitions++
			}
		})
		log.Info("partition replayed", "records", len(replaced), "quarantined", failed)
		return done()
	})
	committing = err == nil
	return err
}

// storedCallRecordVersions is storedVersions of the day of part, read from
// call_records even when part does not rewrite it.
func (r *runner) storedCallRecordVersions(ctx context.Context, part *lake.Partition) (map[string]int64, error) {
	if part.Has(schemas.TableCallRecords) {
		return storedVersions(ctx, part)
	}
	p, err := r.lake.Partition(ctx, schemas.DatasetCallRecords, part.Date(), schemas.TableCallRecords)
	if err != nil {
		return nil, err
	}
	defer p.Cleanup()
	return storedVersions(ctx, p)
}

// replayUsageDay rebuilds a report table of one day from its archive.
func replayUsageDay[T any](ctx context.Context, r *runner, ds usageDataset[T], date string, log *slog.Logger) error {
	arch, path, err := r.openArchive(ctx, ds.name, date)
	if err != nil {
		return err
	}
	defer arch.Cleanup()
	if path == "" {
		return nil
	}
	part, err := r.lake.Partition(ctx, ds.name, date, ds.table)
	if err != nil {
		return err
	}
	defer part.Cleanup()
	ps, err := r.archivePseudonymiser(path)
	if err != nil {
		return err
	}
	stats := r.sum.dataset(ds.name)
	return usageDay(ctx, r, ds, part, ps, func(fn func([]byte) error) error {
		return load.ReadParquet(path, carryBatch[schemas.RawUsageRow](), func(rows []schemas.RawUsageRow) error {
			r.sum.update(func() { stats.Listed += len(rows) }) // what the archive lists
			for _, row := range rows {
				if err := fn(row.JSON); err != nil {
					return err
				}
			}
			return nil
		})
	}, log)
}

// archivePseudonymiser is what the records of the archive file at path
// need to follow the run's privacy policy: nothing (nil) when the file was
// written under it; else the policy's Pseudonymiser (a new key hashes the
// old pseudonyms again: the same person keeps one pseudonym, unlinked
// from the old one).
func (r *runner) archivePseudonymiser(path string) (*transform.Pseudonymiser, error) {
	under, err := r.privacy.wroteFile(path)
	if err != nil || under {
		return nil, err
	}
	return r.privacy.pseudonymiser, nil
}
