package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"runtime"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/callrecords-etl/callrecords-etl/extract"
	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/lake"
	"github.com/callrecords-etl/callrecords-etl/schemas"
	"github.com/callrecords-etl/callrecords-etl/transform"
)

// callRecords runs the call-records dataset: plan the window, then rewrite each
// UTC day it touches, oldest first, then move the checkpoint.
func (r *runner) callRecords(ctx context.Context) error {
	const ds = schemas.DatasetCallRecords
	log := r.cfg.Logger.With("dataset", ds)
	now := r.cfg.Now().UTC()

	// Notified records first: the window below then finds them stored at their
	// current version and does not fetch them again.
	if err := r.drainInbox(ctx); err != nil {
		return err
	}
	cp, err := r.lake.Checkpoint(ctx, ds)
	if err != nil {
		return err
	}
	w, gap := r.plan(cp, now, Retention)
	if gap != nil {
		log.Error("retention gap: call records expired before they were read",
			"gap_from", gap.From, "gap_to", gap.To)
		r.sum.update(func() { r.sum.Gaps = append(r.sum.Gaps, *gap) })
	}
	stats := r.sum.dataset(ds)
	r.sum.update(func() { stats.From, stats.To = w.From, w.To })
	log = log.With("window", w.String())
	log.Info("window planned", "explicit", r.sum.Explicit)
	if oldest := now.Add(-Retention); r.sum.Explicit && w.From.Before(oldest) {
		// A backfill finds nothing of those days, which is no sign that
		// there were no calls: say so.
		log.Warn("the window starts before Graph's retention: call records that started before then are gone from Graph (replay rebuilds the tables from the raw archive)",
			"retained_from", oldest.Format(time.RFC3339))
	} else if r.sum.Explicit && !w.From.Before(now) {
		log.Warn("the window has not begun: there is no call record to read in it yet", "now", now.Format(time.RFC3339))
	}

	failed, err := r.callRecordsDays(ctx, w.days(), log)
	if err != nil {
		return err
	}
	// The checkpoint moves up to the first day that failed, never past it:
	// the next run reads that day again.
	watermark := w.To
	if len(failed) > 0 {
		watermark = failed[0].day.From
	}
	if !r.sum.Explicit && !r.cfg.DryRun && (!cp.Found() || watermark.After(cp.Watermark)) {
		if err := r.lake.Advance(ctx, &cp, ds, watermark, r.cfg.RunID, gap); err != nil {
			return err
		}
		log.Info("checkpoint advanced", "watermark", cp.Watermark)
	}
	if len(failed) > 0 {
		errs := make([]error, len(failed))
		for i, f := range failed {
			errs[i] = f
		}
		return fmt.Errorf("call records of %d days could not be read; the checkpoint stays at %s: %w",
			len(failed), watermark.Format(time.RFC3339), errors.Join(errs...))
	}
	return nil
}

// dayError is a day whose call records Graph did not serve readably (a list
// page that cannot be read, paging that does not end, a fetch that kept
// failing): that day fails alone, and the other days are committed.
type dayError struct {
	day window
	err error
}

func (e *dayError) Error() string {
	return fmt.Sprintf("call records of %s: %v", schemas.PartitionDate(e.day.From), e.err)
}

func (e *dayError) Unwrap() error { return e.err }

// maxFailedDays is how many days may fail in one run before the dataset stops
// (Graph is failing as a whole, not one day).
const maxFailedDays = 3

// isolated reports whether err fails its day alone: a Graph data problem of
// that day, not an authentication failure, a cancelled run or a store error.
func isolated(ctx context.Context, err error) (*dayError, bool) {
	var de *dayError
	if !errors.As(err, &de) || ctx.Err() != nil || errors.Is(err, extract.ErrAuth) || errors.Is(err, context.Canceled) {
		return nil, false
	}
	return de, true
}

// callRecordsDays brings each day's partition up to date, oldest first, as a
// pipeline: while the records of one day are fetched, the next day is listed
// and the previous day's files are finished and committed in the background,
// so the Graph requests do not stall between days. Partitions are committed
// one at a time, in day order; it returns once every day is committed. A day
// whose Graph data cannot be read fails alone (failed, in day order) and the
// later days go on, unless maxFailedDays fail; err is what stops the run.
func (r *runner) callRecordsDays(ctx context.Context, days []window, log *slog.Logger) (failed []*dayError, err error) {
	// Stopping cancels the listing and fetching of the next days; a
	// partition being committed runs on (under the parent context) and is
	// waited for.
	commitCtx := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type planned struct {
		plan *dayPlan
		err  error
	}
	// The stages: the planner lists the next day; the fetcher starts a day's
	// fetches as soon as the day before has started its last, so that the
	// requests do not stall while that day's last records are answered (the
	// longest is often one record's chain of session pages); this goroutine
	// writes a day; commits finishes the day before. The days' fetches share
	// one limit, and a fetched record waits, holding its place in it, until
	// its day is written: no more records are held than before.
	plans := make(chan planned)    // unbuffered: planned one day ahead
	fetching := make(chan planned) // unbuffered: fetched one day ahead
	limit := extract.NewFetchLimit(r.cfg.Concurrency)
	var stages sync.WaitGroup
	stages.Go(func() {
		defer close(plans)
		for _, day := range days {
			p, err := r.planCallRecordsDay(ctx, day, log)
			select {
			case plans <- planned{p, err}:
			case <-ctx.Done():
				if p != nil {
					p.discard()
				}
				return
			}
		}
	})
	stages.Go(func() {
		defer close(fetching)
		for pl := range plans {
			if ctx.Err() != nil {
				if pl.plan != nil {
					pl.plan.discard()
				}
				continue // until the planner stops
			}
			var dispatched chan struct{}
			if pl.plan != nil && !r.cfg.DryRun && len(pl.plan.fetch) > 0 {
				dispatched = make(chan struct{})
				pl.plan.fetched = r.startFetch(ctx, pl.plan.fetch, limit, func() { close(dispatched) })
			}
			select {
			case fetching <- pl:
			case <-ctx.Done():
				if pl.plan != nil {
					pl.plan.discard()
				}
				continue
			}
			if dispatched != nil {
				select {
				case <-dispatched:
				case <-ctx.Done():
				}
			}
		}
	})
	var commits committer
	defer func() {
		// On error, stop listing and fetching and wait for what still runs.
		cancel()
		for pl := range fetching {
			if pl.plan != nil {
				pl.plan.discard()
			}
		}
		stages.Wait()
		if cerr := commits.wait(); err == nil {
			err = cerr
		}
	}()
	fail := func(de *dayError) bool {
		log.Error("call records of a day could not be read; the later days go on", "dt", schemas.PartitionDate(de.day.From), "err", de.err)
		failed = append(failed, de)
		return len(failed) < maxFailedDays
	}
	for pl := range fetching {
		err := pl.err
		if err == nil {
			err = r.fetchCallRecordsDay(ctx, commitCtx, pl.plan, &commits, len(days))
		}
		if err != nil {
			de, ok := isolated(ctx, err)
			if !ok {
				return failed, err
			}
			if !fail(de) {
				return failed, nil
			}
		}
	}
	return failed, commits.wait()
}

// dayFetch is the Graph side of a day, started before the day is written:
// an outcome that comes before the day's writer is ready waits for it (its
// fetch holding its place in the limit), then goes to the writer's callbacks.
type dayFetch struct {
	to     extract.Fetched // the day writer's, set before ready is closed
	ready  chan struct{}
	done   chan struct{} // closed when the fetch has returned
	cancel context.CancelFunc
	err    error // the fetch's, once done is closed
	// toErr is the first error of the writer's callbacks: returned before
	// the fetch's, which may be a fetch cancelled by it that the errgroup
	// happened to record first.
	toErr error
}

// startFetch starts fetching ids within limit; dispatched is called once
// every fetch has started.
func (r *runner) startFetch(ctx context.Context, ids []string, limit *extract.FetchLimit, dispatched func()) *dayFetch {
	ctx, cancel := context.WithCancel(ctx)
	f := &dayFetch{ready: make(chan struct{}), done: make(chan struct{}), cancel: cancel}
	// deliver calls one of the day writer's callbacks once the writer is
	// ready; after an error of the writer's, nothing more reaches it.
	deliver := func(call func(to extract.Fetched) error) error {
		select {
		case <-f.ready:
		case <-ctx.Done():
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		err := call(f.to)
		if err != nil {
			f.toErr = err // callbacks are serialised: no lock needed
			cancel()
		}
		return err
	}
	go func() {
		defer close(f.done)
		f.err = r.graph.GetCallRecordsWithin(ctx, ids, limit, extract.Fetched{
			Record: func(id string, raw json.RawMessage) error {
				return deliver(func(to extract.Fetched) error {
					if err := to.Record(id, raw); err != nil {
						return fmt.Errorf("call record %s: %w", id, err)
					}
					return nil
				})
			},
			NotFound: func(id string) {
				_ = deliver(func(to extract.Fetched) error {
					if to.NotFound != nil {
						to.NotFound(id)
					}
					return nil
				})
			},
			Bad: func(e *extract.RecordError) error {
				return deliver(func(to extract.Fetched) error { return to.Bad(e) })
			},
			Dispatched: dispatched,
		})
	}()
	return f
}

// each hands the fetch's outcomes to to, once at a time, and returns the
// first error of to's (the fetches left are then cancelled), else the
// fetch's. It is called once.
func (f *dayFetch) each(to extract.Fetched) error {
	f.to = to
	close(f.ready)
	<-f.done
	if f.toErr != nil {
		return f.toErr
	}
	return f.err
}

// stop cancels what is left of the fetch and waits for it to return.
func (f *dayFetch) stop() {
	f.cancel()
	<-f.done
}

// localError is an error of ours (the lake, the flattening) met inside a
// Graph callback: it stops the run rather than failing the day alone.
type localError struct{ err error }

func (e localError) Error() string { return e.err.Error() }
func (e localError) Unwrap() error { return e.err }

// orNil is e, or nil when it wraps none.
func (e localError) orNil() error {
	if e.err == nil {
		return nil
	}
	return e
}

// dayPlan is one day of a run: what Graph lists, what the lake holds, what to
// fetch. Its partition's local copies go with part.Cleanup.
type dayPlan struct {
	day    time.Time
	date   string
	log    *slog.Logger
	listed map[string]int64
	part   *lake.Partition
	stored map[string]int64
	fetch  []string
	// fetched: the fetch of the ids in fetch, started before the day is
	// written (nil when there is nothing to fetch, or in a dry run).
	fetched *dayFetch
	// outcome: set by fetchCallRecordsDay, for the ledger.
	outcome dayOutcome
}

// discard stops a day's fetch, if started, and removes its partition's local
// copies: the day is not written.
func (pl *dayPlan) discard() {
	if pl.fetched != nil {
		pl.fetched.stop()
	}
	pl.part.Cleanup()
}

// planCallRecordsDay lists the records that started in day and compares their
// versions with the partition's.
func (r *runner) planCallRecordsDay(ctx context.Context, day window, log *slog.Logger) (*dayPlan, error) {
	const ds = schemas.DatasetCallRecords
	date := schemas.PartitionDate(day.From)
	log = log.With("dt", date)
	stats := r.sum.dataset(ds)

	listed := map[string]int64{}
	quarantined := map[string]bool{}
	var bad int
	err := r.graph.ListCallRecords(ctx, day.From, day.To, func(rec extract.ListedRecord) error {
		if rec.Err != nil {
			// Quarantined, and listed again by the next run while in the lookback.
			bad++
			id := rec.ID
			if id != "" {
				quarantined[id] = true
			}
			if id == "" {
				id = fmt.Sprintf("listed item %x", sha256.Sum256(rec.Raw))
			}
			return localError{r.quarantine(ctx, ds, id, rec.Raw, rec.Err, log)}.orNil()
		}
		if v, ok := listed[rec.ID]; !ok || rec.Version > v {
			listed[rec.ID] = rec.Version
		}
		return nil
	})
	var le localError
	if errors.As(err, &le) {
		return nil, le.err
	}
	if err != nil {
		return nil, &dayError{day, fmt.Errorf("list: %w", err)}
	}
	r.sum.update(func() { stats.Listed += bad })

	part, err := r.openPartition(ctx, ds, date)
	if err != nil {
		return nil, err
	}
	stored, err := storedVersions(ctx, part)
	if err != nil {
		part.Cleanup()
		return nil, err
	}

	var fetch []string
	for id, v := range listed {
		if sv, ok := stored[id]; !ok || v > sv {
			fetch = append(fetch, id)
		}
	}
	slices.Sort(fetch)
	r.sum.update(func() {
		stats.Listed += len(listed)
		stats.Unchanged += len(listed) - len(fetch)
	})
	return &dayPlan{day: day.From, date: date, log: log, listed: listed, part: part, stored: stored, fetch: fetch,
		outcome: dayOutcome{quarantined: quarantined}}, nil
}

// fetchCallRecordsDay writes the records of the day's fetch (started by the
// fetcher) into new files and hands the rest of the day to commits: carrying
// the stored rows over, committing the partition (under commitCtx, which
// outlives a fetch that is stopped), counting it, then the day's ledger. A
// large day first waits for the commit running. The fetch is stopped and the
// partition cleaned up either way.
func (r *runner) fetchCallRecordsDay(ctx, commitCtx context.Context, pl *dayPlan, commits *committer, days int) (err error) {
	const ds = schemas.DatasetCallRecords
	stats := r.sum.dataset(ds)
	log, part, stored, fetch, listed := pl.log, pl.part, pl.stored, pl.fetch, pl.listed
	committing := false
	defer func() {
		if pl.fetched != nil {
			pl.fetched.stop() // all taken, unless the day stopped early
		}
		if !committing {
			part.Cleanup()
		}
	}()
	large := r.large(part, len(fetch))
	if err := commits.ready(pl.date, large); err != nil {
		return err
	}
	// commit runs write, then what follows the tables.
	commit := func(write func(context.Context) error) func() error {
		return func() error {
			defer part.Cleanup()
			err := write(commitCtx)
			if err == nil {
				// The ledger follows the tables: it never counts a
				// record committed before it is.
				err = r.writeLedgerDay(commitCtx, pl)
			}
			if err == nil {
				r.progress(ds, days)
			}
			return err
		}
	}
	if r.cfg.DryRun || len(fetch) == 0 {
		if r.cfg.DryRun {
			r.sum.update(func() {
				stats.countNewOrUpdated(slices.Values(fetch), stored)
				if len(fetch) > 0 {
					stats.Partitions++
				}
			})
			if len(fetch) > 0 {
				log.Info("dry run: would fetch and rewrite the partition", "listed", len(listed), "fetch", len(fetch))
			}
		}
		err = commits.start(pl.date, large, commit(func(context.Context) error { return nil }))
		committing = err == nil
		return err
	}

	var notFound, bad int
	notFoundIDs := map[string]bool{}
	replaced, failed, write, err := r.writeCallRecords(ctx, part, r.privacy.pseudonymiser, len(fetch), func(add func(id string, raw []byte) error) error {
		err := pl.fetched.each(extract.Fetched{
			Record: func(id string, raw json.RawMessage) error {
				return localError{add(id, raw)}.orNil()
			},
			NotFound: func(id string) {
				// Listed a moment ago, gone now: expired or not yet published.
				// Its stored rows (if any) stay; the next run tries again.
				notFound++
				notFoundIDs[id] = true
				log.Warn("call record not found", "id", id)
			},
			Bad: func(e *extract.RecordError) error {
				// Its stored rows (if any) stay; the next run tries again.
				bad++
				return localError{r.quarantine(ctx, ds, e.ID, e.Raw, e.Err, log)}.orNil()
			},
		})
		var le localError
		if err != nil && !errors.As(err, &le) {
			return &dayError{window{From: pl.day}, fmt.Errorf("fetch: %w", err)}
		}
		return err
	}, log)
	if err != nil {
		return err
	}
	failed += bad
	// Fetched and neither written nor missing: quarantined (by Graph's
	// answer or its decoding).
	pl.outcome.replaced, pl.outcome.notFound = replaced, notFoundIDs
	for _, id := range fetch {
		if !replaced[id] && !notFoundIDs[id] {
			pl.outcome.quarantined[id] = true
		}
	}
	err = commits.start(pl.date, large, commit(func(ctx context.Context) error {
		if err := write(ctx); err != nil {
			return err
		}
		r.sum.update(func() {
			stats.NotFound += notFound
			stats.countNewOrUpdated(maps.Keys(replaced), stored)
			if len(replaced) > 0 {
				stats.Partitions++
			}
		})
		log.Info("partition done", "listed", len(listed), "fetched", len(replaced),
			"records", part.Rows(), "not_found", notFound, "quarantined", failed)
		return nil
	}))
	committing = err == nil
	return err
}

// writeCallRecords writes a partition anew: the records that feed hands to
// add replace the stored rows of their ids, and finish (to be called once,
// unless err is not nil) carries the stored rows of every other record over
// and commits the partition; a caller may overlap finish with the next
// partition's work. Only the partition's tables are written (replay may
// rebuild some); when it has the raw archive, each record added is archived
// at its version. A record that does not decode is quarantined and its
// stored rows stay. Nothing is written when no record was replaced (beyond
// removing leftovers). incoming is about how many records feed will hand
// over: a large partition buffers its pages on disk (Config.SpillRecords).
func (r *runner) writeCallRecords(ctx context.Context, part *lake.Partition, ps *transform.Pseudonymiser, incoming int, feed func(add func(id string, raw []byte) error) error, log *slog.Logger) (replaced map[string]bool, failed int, finish func(context.Context) error, err error) {
	opts := r.parquetOptions()
	isLarge := r.large(part, incoming)
	if isLarge {
		// Memory stays flat however large the day: pages wait on disk and
		// the tables are finished one at a time.
		opts.SpillPages = true
	}
	w := newCallRecordWriters(opts, part.Has)
	w.sequential = isLarge
	replaced = map[string]bool{}
	archived := map[rawKey]bool{}
	fp := r.startFlatten(ctx, part, ps, w, replaced, archived, &failed, log)
	err = feed(fp.add)
	if perr := fp.wait(); perr != nil {
		err = perr
	}
	if err != nil {
		w.abort()
		return nil, failed, nil, err
	}
	if len(replaced) == 0 {
		w.abort()
		return replaced, failed, func(context.Context) error { return nil }, nil
	}
	return replaced, failed, func(ctx context.Context) error {
		defer w.abort()
		keep := func(id string) bool { return !replaced[id] }
		if err := w.each(
			carryOverInto(ctx, r.privacy, part, schemas.TableCallRecords, w.records, func(r *schemas.CallRecordRow) string { return r.CallRecordID }, keep),
			carryOverInto(ctx, r.privacy, part, schemas.TableSessions, w.sessions, func(r *schemas.SessionRow) string { return r.CallRecordID }, keep),
			carryOverInto(ctx, r.privacy, part, schemas.TableSegments, w.segments, func(r *schemas.SegmentRow) string { return r.CallRecordID }, keep),
			carryOverInto(ctx, r.privacy, part, schemas.TableMedia, w.media, func(r *schemas.MediaRow) string { return r.CallRecordID }, keep),
			carryOverInto(ctx, r.privacy, part, schemas.TableMediaStreams, w.streams, func(r *schemas.MediaStreamRow) string { return r.CallRecordID }, keep),
			carryOverInto(ctx, r.privacy, part, schemas.TableParticipants, w.participants, func(r *schemas.ParticipantRow) string { return r.CallRecordID }, keep),
			carryOverInto(ctx, r.privacy, part, schemas.TableCallJourneyHops, w.hops, func(r *schemas.CallJourneyHopRow) string { return r.CallRecordID }, keep),
			// Each (id, version) once: an archived version added again
			// (a run that died before its commit ended) replaces itself.
			carryOverInto(ctx, r.privacy, part, schemas.TableRawCallRecords, w.raw, func(r *schemas.RawCallRecordRow) rawKey { return rawKey{r.CallRecordID, r.Version} },
				func(k rawKey) bool { return !archived[k] }),
		); err != nil {
			return fmt.Errorf("carry over partition %s: %w", part.Date(), err)
		}
		files, err := w.close()
		if err != nil {
			return fmt.Errorf("write partition %s: %w", part.Date(), err)
		}
		return r.commit(ctx, part, files)
	}, nil
}

// archive writes raw into the raw archive as row: whole, or in pieces when
// it is large (one piece at a time, so that the writer never holds a
// second copy of a large record).
func archive(w *load.FileWriter[schemas.RawCallRecordRow], row schemas.RawCallRecordRow, raw []byte) error {
	if len(raw) <= schemas.RawPieceFrom {
		row.JSON, row.Pieces = raw, 1
		return w.Write([]schemas.RawCallRecordRow{row})
	}
	pieces := schemas.RawPieces(raw)
	for i, p := range pieces {
		row.Piece, row.Pieces, row.JSONPiece = int32(i), int32(len(pieces)), string(p)
		if err := w.Write([]schemas.RawCallRecordRow{row}); err != nil {
			return err
		}
	}
	return nil
}

// rawKey is what the raw archive keeps once: a version of a call record.
type rawKey struct {
	id      string
	version int64
}

// carryOverInto is the carry-over of table into w, or nothing when the
// partition does not rewrite table (w is nil).
func carryOverInto[T any, K comparable](ctx context.Context, priv privacy, part *lake.Partition, table string, w *load.FileWriter[T], key func(*T) K, keep func(K) bool) func() error {
	return func() error {
		if w == nil {
			return nil
		}
		return carryOver(ctx, priv, part, table, w, key, func(k K, _ *T) bool { return keep(k) })
	}
}

// parallel runs fns at once (one table each) and joins their errors in order.
func parallel(fns ...func() error) error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() { errs[i] = fn() })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// flattenPipeline decodes and flattens the records fed to a partition rewrite
// on every core, and hands their rows to the writers (or quarantines them) in
// the order they were fed, so the files are those of a sequential rewrite.
// The decoding used to run on one core, under the fetch callback's lock.
type flattenPipeline struct {
	work    chan *flattenJob // to the decoders
	order   chan *flattenJob // to the writer, in feed order
	done    chan struct{}    // closed when the writer is done
	workers sync.WaitGroup

	mu  sync.Mutex
	err error // the first write or quarantine error
}

type flattenJob struct {
	id   string
	raw  []byte
	rows schemas.CallRecordRows
	big  *transform.BigCallRecord // a record too large to decode at once: the writer does it a session at a time
	err  error                    // decode error
	rep  transform.Report         // values stored as NULL, unknown properties (of a big record: in big)
	// ps is the pseudonymiser the rows still need: nil once they were
	// made from pseudonymised JSON.
	ps *transform.Pseudonymiser
	// buf holds raw when it is pseudonymised JSON, until it is archived.
	buf   *[]byte
	ready chan struct{} // closed once decoded
}

// Records of more than bigRecordBytes of JSON (a meeting with thousands of
// sessions) are decoded, flattened and written a few sessions at a time,
// bigBatchStreams media-stream rows per batch, so that neither their decoded
// sessions nor their rows exist all at once: memory follows the payload and a
// batch, not the record's decoded size.
const (
	bigRecordBytes  = 8 << 20
	bigBatchStreams = 1024
)

// startFlatten starts the decoders and the writer of one partition rewrite;
// the writer alone touches w, replaced and failed until wait returns.
func (r *runner) startFlatten(ctx context.Context, part *lake.Partition, ps *transform.Pseudonymiser, w *callRecordWriters, replaced map[string]bool, archived map[rawKey]bool, failed *int, log *slog.Logger) *flattenPipeline {
	n := runtime.GOMAXPROCS(0)
	depth := max(8, 4*n) // records in flight: bounds memory
	p := &flattenPipeline{
		work:  make(chan *flattenJob, depth),
		order: make(chan *flattenJob, depth),
		done:  make(chan struct{}),
	}
	for range n {
		p.workers.Add(1)
		go func() {
			defer p.workers.Done()
			for j := range p.work {
				r.decode(j, ps, w.raw != nil)
				close(j.ready)
			}
		}()
	}
	go func() {
		defer close(p.done)
		for j := range p.order {
			<-j.ready
			if p.failed() != nil {
				continue // drain
			}
			if j.err != nil {
				*failed++
				if err := r.quarantineUnder(ctx, ps, schemas.DatasetCallRecords, j.id, j.raw, j.err, log); err != nil {
					p.fail(err)
				}
				continue
			}
			var err error
			version, rep := j.rows.CallRecord.Version, j.rep
			if j.big != nil {
				version, rep = j.big.Version(), j.big.Report()
			}
			if k := (rawKey{j.id, version}); w.raw != nil && !archived[k] {
				// First, so that a large payload is not held
				// past its rows.
				archived[k] = true
				err = archive(w.raw, schemas.RawCallRecordRow{
					TenantID: r.cfg.TenantID, CallRecordID: j.id, Version: version, FetchedAt: r.cfg.Now().UTC(),
				}, j.raw)
			}
			j.raw = nil
			j.release()
			switch {
			case err != nil:
			case j.big != nil:
				err = j.big.Rows(r.cfg.TenantID, bigBatchStreams, func(rows schemas.CallRecordRows, last bool) error {
					j.ps.CallRecordRows(&rows)
					if err := w.add(rows, last); err != nil {
						return err
					}
					return w.flush() // each batch's pages to the file, not memory
				})
				j.big = nil
			default:
				err = w.add(j.rows, true)
			}
			if err != nil {
				p.fail(fmt.Errorf("write call record %s: %w", j.id, err))
				continue
			}
			replaced[j.id] = true
			r.addReport(schemas.DatasetCallRecords, rep, log)
		}
	}()
	return p
}

// decode decodes and flattens j under ps. With the archive on, the record
// is pseudonymised first and, when that gives the same rows, they are made
// from that JSON: the policy is applied once, not to the JSON and again to
// the rows. A record that does not decode keeps its payload as received,
// for the quarantine.
func (r *runner) decode(j *flattenJob, ps *transform.Pseudonymiser, archive bool) {
	clear, big := j.raw, len(j.raw) > bigRecordBytes
	j.ps = ps
	if archive && ps != nil && ps.SameRowsFromJSON() {
		var dst []byte
		if !big {
			// Not a big record's: it is decoded from its JSON
			// after the writer archived it.
			j.buf = jsonBuffers.Get().(*[]byte)
			dst = *j.buf
		}
		out, err := ps.JSONTo(dst, j.raw)
		switch {
		case err != nil:
			j.release()
			j.err = err
			return
		case j.buf != nil && len(out) > 0 && &out[0] != &clear[0]: // rewritten, not raw itself
			*j.buf = out
		default:
			j.release()
		}
		j.raw, j.ps = out, nil
	}
	if big {
		rec, ok, err := transform.DecodeBigCallRecord(j.raw)
		if ok {
			j.big, j.err = rec, err
			if err != nil {
				j.raw = clear
			} else if archive && j.ps != nil {
				j.archiveUnder(j.ps)
			}
			return
		}
	}
	rec, rep, err := transform.DecodeCallRecordWithReport(j.raw)
	j.rep = rep
	if err != nil {
		j.err, j.raw = err, clear
		j.release()
		return
	}
	if !archive {
		// The payload is kept for the quarantine and the archive
		// only: let a large one go before its rows are made.
		j.raw = nil
	}
	j.rows = transform.FlattenCallRecord(r.cfg.TenantID, rec)
	j.ps.CallRecordRows(&j.rows)
	if archive && j.ps != nil {
		j.archiveUnder(j.ps)
	}
}

// jsonBuffers are reused for records' pseudonymised JSON: warm memory, not
// fresh pages to fault in and zero for every record.
var jsonBuffers = sync.Pool{New: func() any { return new([]byte) }}

// release gives j's buffer back once nothing refers to it: the rows are
// copies, and the archive's writer copies what it is given.
func (j *flattenJob) release() {
	if j.buf != nil {
		*j.buf = (*j.buf)[:0]
		jsonBuffers.Put(j.buf)
		j.buf = nil
	}
}

// archiveUnder makes j's payload the JSON ps writes to the archive; one that
// cannot be is quarantined as received.
func (j *flattenJob) archiveUnder(ps *transform.Pseudonymiser) {
	if out, err := ps.JSON(j.raw); err != nil {
		j.err = err
	} else {
		j.raw = out
	}
}

// add queues one record; it returns the pipeline's error once there is one.
func (p *flattenPipeline) add(id string, raw []byte) error {
	if err := p.failed(); err != nil {
		return err
	}
	j := &flattenJob{id: id, raw: raw, ready: make(chan struct{})}
	p.order <- j // the writer always drains, so this cannot block for ever
	p.work <- j
	return nil
}

// wait stops the pipeline once everything fed is written; it returns the
// first write or quarantine error.
func (p *flattenPipeline) wait() error {
	close(p.work)
	close(p.order)
	<-p.done
	p.workers.Wait()
	return p.failed()
}

func (p *flattenPipeline) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
	}
}

func (p *flattenPipeline) failed() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// quarantine keeps a payload that could not be processed under _etl/quarantine/
// and records it in the summary. Nothing is dropped silently.
func (r *runner) quarantine(ctx context.Context, ds, id string, raw []byte, cause error, log *slog.Logger) error {
	return r.quarantineUnder(ctx, r.privacy.pseudonymiser, ds, id, raw, cause, log)
}

// quarantineUnder is quarantine of a payload that ps brings under the
// run's privacy policy (nil: replay's payloads from an archive already
// under it). log is the dataset's: it names the dataset. The summary counts
// the record here, whatever found it bad.
func (r *runner) quarantineUnder(ctx context.Context, ps *transform.Pseudonymiser, ds, id string, raw []byte, cause error, log *slog.Logger) error {
	stats := r.sum.dataset(ds)
	r.sum.update(func() { r.sum.Quarantined = append(r.sum.Quarantined, id); stats.Failed++ })
	if r.cfg.DryRun {
		log.Warn("dry run: would quarantine a payload that cannot be processed", "id", id, "err", cause)
		return nil
	}
	doc := quarantineDoc{ID: id, Dataset: ds, Error: cause.Error(), RunID: r.cfg.RunID, PrivacyPolicy: r.privacy.digest}
	raw, doc.Digest = quarantinePayload(ps, raw)
	switch {
	case raw == nil:
	case json.Valid(raw):
		doc.Payload = raw
	case utf8.Valid(raw):
		doc.Raw = string(raw)
	default:
		doc.Bytes = raw
	}
	return r.writeQuarantine(ctx, doc, cause, log)
}

// quarantineDoc is what the quarantine keeps of a payload.
type quarantineDoc struct {
	ID      string          `json:"id"`
	Dataset string          `json:"dataset"`
	Error   string          `json:"error"`
	RunID   string          `json:"run_id"`
	Payload json.RawMessage `json:"payload,omitempty"`    // as received, when it is JSON
	Raw     string          `json:"raw,omitempty"`        // as received, when it is text but not JSON
	Bytes   []byte          `json:"raw_base64,omitempty"` // as received, otherwise
	// PayloadObject holds the payload, as received, when it is too long to
	// hold in memory (PayloadBytes long).
	PayloadObject string `json:"payload_object,omitempty"`
	PayloadBytes  int64  `json:"payload_bytes,omitempty"`
	// Digest: the payload's SHA-256 when it is too long, and, under a
	// privacy policy, instead of a payload that cannot be pseudonymised
	// (not JSON, or too long).
	Digest        string `json:"raw_sha256,omitempty"`
	PrivacyPolicy string `json:"privacy_policy,omitempty"`
}

func (r *runner) writeQuarantine(ctx context.Context, doc quarantineDoc, cause error, log *slog.Logger) error {
	data, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("quarantine %s: %w", doc.ID, err)
	}
	key, err := r.lake.Quarantine(ctx, doc.Dataset, doc.ID, data)
	if err != nil {
		return err
	}
	log.Error("quarantined: could not be processed; the payload is kept and a later run tries again", "id", doc.ID, "key", key, "err", cause)
	return nil
}

// quarantineLong quarantines a record of an import too long to hold in
// memory: its bytes (read past into a local file, unless a privacy policy
// applies: they cannot be pseudonymised a part at a time) go to an object
// of their own, named by the quarantine's, with their size and SHA-256.
func (r *runner) quarantineLong(ctx context.Context, ds, id string, e *tooLongError, log *slog.Logger) error {
	defer e.kept.remove()
	stats := r.sum.dataset(ds)
	r.sum.update(func() { r.sum.Quarantined = append(r.sum.Quarantined, id); stats.Failed++ })
	if r.cfg.DryRun {
		log.Warn("dry run: would quarantine a payload that cannot be processed", "id", id, "err", e)
		return nil
	}
	doc := quarantineDoc{ID: id, Dataset: ds, Error: e.Error(), RunID: r.cfg.RunID, PrivacyPolicy: r.privacy.digest,
		PayloadBytes: e.kept.size, Digest: "sha256:" + hex.EncodeToString(e.kept.Sum())}
	if e.kept.file != nil {
		key, err := r.lake.QuarantinePayload(ctx, ds, id, e.kept.file)
		if err != nil {
			return err
		}
		doc.PayloadObject = key
	}
	return r.writeQuarantine(ctx, doc, e, log)
}

// callRecordWriters holds one Parquet writer per call-record table a
// partition rewrites (nil for the others) and its raw archive's.
type callRecordWriters struct {
	records      *load.FileWriter[schemas.CallRecordRow]
	sessions     *load.FileWriter[schemas.SessionRow]
	segments     *load.FileWriter[schemas.SegmentRow]
	media        *load.FileWriter[schemas.MediaRow]
	streams      *load.FileWriter[schemas.MediaStreamRow]
	participants *load.FileWriter[schemas.ParticipantRow]
	hops         *load.FileWriter[schemas.CallJourneyHopRow]
	raw          *load.FileWriter[schemas.RawCallRecordRow]
	// sequential: carry over and finish one table at a time (large
	// partitions: each table's readers and encoders cost memory).
	sequential bool
}

// each runs one function per table, at once or one after the other, and
// joins their errors in order.
func (w *callRecordWriters) each(fns ...func() error) error {
	if !w.sequential {
		return parallel(fns...)
	}
	errs := make([]error, len(fns))
	for i, fn := range fns {
		errs[i] = fn()
	}
	return errors.Join(errs...)
}

// newCallRecordWriters opens a writer for each table has names.
func newCallRecordWriters(opts load.ParquetOptions, has func(table string) bool) *callRecordWriters {
	return &callRecordWriters{
		records:      newWriterIf[schemas.CallRecordRow](has(schemas.TableCallRecords), opts),
		sessions:     newWriterIf[schemas.SessionRow](has(schemas.TableSessions), opts),
		segments:     newWriterIf[schemas.SegmentRow](has(schemas.TableSegments), opts),
		media:        newWriterIf[schemas.MediaRow](has(schemas.TableMedia), opts),
		streams:      newWriterIf[schemas.MediaStreamRow](has(schemas.TableMediaStreams), opts),
		participants: newWriterIf[schemas.ParticipantRow](has(schemas.TableParticipants), opts),
		hops:         newWriterIf[schemas.CallJourneyHopRow](has(schemas.TableCallJourneyHops), opts),
		raw:          newWriterIf[schemas.RawCallRecordRow](has(schemas.TableRawCallRecords), rawOptions(opts)),
	}
}

// rawOptions are opts for a raw archive's file.
func rawOptions(opts load.ParquetOptions) load.ParquetOptions {
	opts.BlobColumns = []string{"json", "json_piece"}
	// Its compressed pages wait on disk: a day's payloads are the
	// largest of a partition's files.
	opts.SpillPages = true
	return opts
}

func newWriterIf[T any](ok bool, opts load.ParquetOptions) *load.FileWriter[T] {
	if !ok {
		return nil
	}
	return load.NewFileWriter[T](opts)
}

// add writes rows; withRecord: rows.CallRecord too (the last batch of a
// record flattened in batches, or all its rows).
func (w *callRecordWriters) add(rows schemas.CallRecordRows, withRecord bool) error {
	var parent error
	if withRecord {
		parent = writeIfAny(w.records, []schemas.CallRecordRow{rows.CallRecord})
	}
	return errors.Join(
		parent,
		writeIfAny(w.sessions, rows.Sessions),
		writeIfAny(w.segments, rows.Segments),
		writeIfAny(w.media, rows.Media),
		writeIfAny(w.streams, rows.MediaStreams),
		writeIfAny(w.participants, rows.Participants),
		writeIfAny(w.hops, rows.JourneyHops),
	)
}

// flush ends the row group of every table.
func (w *callRecordWriters) flush() error {
	return errors.Join(flushIf(w.records), flushIf(w.sessions), flushIf(w.segments), flushIf(w.media), flushIf(w.streams), flushIf(w.participants), flushIf(w.hops), flushIf(w.raw))
}

// writeIfAny writes rows, if there are any and w is not nil.
func writeIfAny[T any](w *load.FileWriter[T], rows []T) error {
	if len(rows) == 0 || w == nil {
		return nil
	}
	return w.Write(rows)
}

func flushIf[T any](w *load.FileWriter[T]) error {
	if w == nil {
		return nil
	}
	return w.Flush()
}

// close finishes the tables' files at once (encoding and compressing the
// last pages is most of a partition's writing).
func (w *callRecordWriters) close() (map[string]load.LocalFile, error) {
	files := map[string]load.LocalFile{}
	var mu sync.Mutex
	closer := func(table string, c func() (load.LocalFile, error)) func() error {
		return func() error {
			f, err := c()
			mu.Lock()
			files[table] = f
			mu.Unlock()
			return err
		}
	}
	err := w.each(
		closer(schemas.TableCallRecords, closeIf(w.records)),
		closer(schemas.TableSessions, closeIf(w.sessions)),
		closer(schemas.TableSegments, closeIf(w.segments)),
		closer(schemas.TableMedia, closeIf(w.media)),
		closer(schemas.TableMediaStreams, closeIf(w.streams)),
		closer(schemas.TableParticipants, closeIf(w.participants)),
		closer(schemas.TableCallJourneyHops, closeIf(w.hops)),
		closer(schemas.TableRawCallRecords, closeIf(w.raw)),
	)
	return files, err
}

func closeIf[T any](w *load.FileWriter[T]) func() (load.LocalFile, error) {
	return func() (load.LocalFile, error) {
		if w == nil {
			return load.LocalFile{}, nil
		}
		return w.Close()
	}
}

func (w *callRecordWriters) abort() {
	abortIf(w.records)
	abortIf(w.sessions)
	abortIf(w.segments)
	abortIf(w.media)
	abortIf(w.streams)
	abortIf(w.participants)
	abortIf(w.hops)
	abortIf(w.raw)
}

func abortIf[T any](w *load.FileWriter[T]) {
	if w != nil {
		w.Abort()
	}
}

// storedVersions reads the (id, version) index of a partition from its committed
// call_records rows.
func storedVersions(ctx context.Context, p *lake.Partition) (map[string]int64, error) {
	out := map[string]int64{}
	keys, err := p.Files(ctx, schemas.TableCallRecords)
	if err != nil {
		return nil, err
	}
	for _, key := range keys {
		path, err := p.Local(ctx, key)
		if err != nil {
			return nil, err
		}
		err = load.ReadParquet(path, 4096, func(rows []schemas.CallRecordRow) error {
			for _, row := range rows {
				if row.Version >= out[row.CallRecordID] {
					out[row.CallRecordID] = row.Version
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", key, err)
		}
	}
	return out, nil
}

// carryOver copies the committed rows of table whose record is kept into
// w, under the run's privacy policy.
func carryOver[T any, K comparable](ctx context.Context, priv privacy, p *lake.Partition, table string, w *load.FileWriter[T], id func(*T) K, keep func(K, *T) bool) error {
	keys, err := p.Files(ctx, table)
	if err != nil {
		return err
	}
	for _, key := range keys {
		path, err := p.Local(ctx, key)
		if err != nil {
			return err
		}
		under, err := priv.wroteFile(path)
		if err != nil {
			return err
		}
		err = load.ReadParquet(path, carryBatch[T](), func(rows []T) error {
			kept := rows[:0] // the writer copies what it is given
			for i := range rows {
				if keep(id(&rows[i]), &rows[i]) {
					kept = append(kept, rows[i])
				}
			}
			if !under {
				if err := rowsUnder(priv.pseudonymiser, kept); err != nil {
					return err
				}
			}
			return writeIfAny(w, kept)
		})
		if err != nil {
			return fmt.Errorf("read %s: %w", key, err)
		}
		p.Forget(key)
	}
	return nil
}

// carryBatch is how many rows of T carry-over reads at a time: about 1 MiB
// of rows (a media stream row is ~1.9 KB, so 4,096 of them were 8 MB, and the
// largest partitions' memory). A raw archive row is mostly its payload,
// which its struct size does not count: a few at a time.
func carryBatch[T any]() int {
	switch any(*new(T)).(type) {
	case schemas.RawCallRecordRow, schemas.RawUsageRow:
		return 16
	}
	return max(64, (1<<20)/int(reflect.TypeFor[T]().Size()))
}

// pageBytes is the page size of the files: 64 KiB pages compress about as well
// as parquet-go's 256 KiB (files 0.2% larger), and the column buffers of the
// five tables' ~290 columns stay near 40 MiB instead of 150. With 256 KiB, two
// overlapping partitions just under Config.SpillRecords took an import to 257 MiB.
const pageBytes = 64 << 10

// large reports whether the partition, with about incoming new records, is
// large in the sense of Config.SpillRecords.
func (r *runner) large(p *lake.Partition, incoming int) bool {
	return p.Rows()+int64(incoming) >= int64(r.cfg.spillRecords())
}

// openPartition opens the partition of dataset and date: its tables and,
// unless it is off, its raw archive (committed with them, as a child).
func (r *runner) openPartition(ctx context.Context, dataset, date string) (*lake.Partition, error) {
	tables := schemas.TablesOf(dataset)
	if !r.cfg.NoRawArchive {
		tables = append(tables, schemas.RawTableOf(dataset))
	}
	return r.lake.Partition(ctx, dataset, date, tables...)
}

// commit commits a partition's new files and counts them.
func (r *runner) commit(ctx context.Context, part *lake.Partition, files map[string]load.LocalFile) error {
	if err := r.icebergCommittable(ctx); err != nil {
		return err
	}
	if err := part.Commit(ctx, files); err != nil {
		return err
	}
	r.stageIceberg(ctx, part.Date(), files)
	for table, f := range files {
		if f.Path != "" {
			r.sum.addFile(table, f.Rows, f.Bytes)
		}
	}
	return nil
}

func (r *runner) parquetOptions() load.ParquetOptions {
	return load.ParquetOptions{
		// Five writers are open at once; 32 MiB row groups keep their page
		// buffers (in memory: spilling them costs more than it saves at a
		// day's volume) well bounded and still large for readers.
		MaxRowGroupBytes: 32 << 20,
		PageBufferSize:   pageBytes,
		TempDir:          r.tmp,
		CreatedBy:        "callrecords-etl",
		Metadata: map[string]string{
			"callrecords_etl.run_id": r.cfg.RunID,
			metaPrivacyPolicy:        r.privacy.digest,
			metaPrivacyKeyID:         r.privacy.keyID,
		},
	}
}
