package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/callrecords-etl/callrecords-etl/extract"
	"github.com/callrecords-etl/callrecords-etl/load"
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
	var cp Checkpoint
	etag, found, err := readJSON(ctx, r.store, checkpointKey(r.cfg.TenantID, ds), &cp)
	if err != nil {
		return err
	}
	w, gap := r.plan(cp, found, now, Retention)
	if gap != nil {
		log.Error("retention gap: call records expired before they were read",
			"gap_from", gap.From, "gap_to", gap.To)
		r.sum.update(func() { r.sum.Gaps = append(r.sum.Gaps, *gap) })
	}
	stats := r.sum.dataset(ds)
	r.sum.update(func() { stats.From, stats.To = w.From, w.To })
	log = log.With("window", w.String())
	log.Info("window planned", "explicit", r.sum.Explicit)

	for _, day := range w.days() {
		if err := r.callRecordsDay(ctx, day, log); err != nil {
			return err
		}
	}
	if r.sum.Explicit || r.cfg.DryRun {
		return nil // a backfill never moves the scheduled watermark
	}
	cp.Tenant, cp.Dataset = r.cfg.TenantID, ds
	cp.Watermark, cp.LastSuccess, cp.LastRunID = w.To, now, r.cfg.RunID
	if gap != nil {
		cp.Gaps = append(cp.Gaps, *gap)
	}
	if _, err := writeJSON(ctx, r.store, checkpointKey(r.cfg.TenantID, ds), etag, cp); err != nil {
		return fmt.Errorf("advance checkpoint: %w", err)
	}
	log.Info("checkpoint advanced", "watermark", cp.Watermark)
	return nil
}

// callRecordsDay brings one day's partition up to date: list the records that
// started in day, fetch those that are new or have a higher version than the lake
// holds, and rewrite the partition as the stored rows of every other record plus
// the new rows. The new manifest is the commit; old files go after it.
func (r *runner) callRecordsDay(ctx context.Context, day window, log *slog.Logger) error {
	const ds = schemas.DatasetCallRecords
	date := schemas.PartitionDate(day.From)
	log = log.With("dt", date)
	stats := r.sum.dataset(ds)

	listed := map[string]int64{}
	err := r.graph.ListCallRecords(ctx, day.From, day.To, func(rec extract.ListedRecord) error {
		if v, ok := listed[rec.ID]; !ok || rec.Version > v {
			listed[rec.ID] = rec.Version
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list call records %s: %w", date, err)
	}

	part, err := r.openPartition(ctx, ds, date)
	if err != nil {
		return err
	}
	defer part.cleanup()
	stored, err := storedVersions(ctx, part)
	if err != nil {
		return err
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
	if r.cfg.DryRun {
		r.sum.update(func() {
			for _, id := range fetch {
				if _, ok := stored[id]; ok {
					stats.Updated++
				} else {
					stats.New++
				}
			}
		})
		if len(fetch) > 0 {
			log.Info("dry run: would fetch and rewrite the partition", "listed", len(listed), "fetch", len(fetch))
		}
		return nil
	}
	if len(fetch) == 0 {
		return part.removeOrphans(ctx, log)
	}

	var notFound int
	replaced, failed, err := r.rewriteCallRecords(ctx, part, func(add func(id string, raw []byte) error) error {
		err := r.graph.GetCallRecords(ctx, fetch, r.cfg.Concurrency, func(id string, raw json.RawMessage) error {
			return add(id, raw)
		}, func(id string) {
			// Listed a moment ago, gone now: expired or not yet published. Its
			// stored rows (if any) stay; the next run tries again.
			notFound++
			log.Warn("call record not found", "id", id)
		})
		if err != nil {
			return fmt.Errorf("fetch call records %s: %w", date, err)
		}
		return nil
	}, log)
	if err != nil {
		return err
	}
	r.sum.update(func() {
		stats.NotFound += notFound
		stats.Failed += failed
		for id := range replaced {
			if _, ok := stored[id]; ok {
				stats.Updated++
			} else {
				stats.New++
			}
		}
		if len(replaced) > 0 {
			stats.Partitions++
		}
	})
	log.Info("partition done", "listed", len(listed), "fetched", len(replaced),
		"records", part.prev.Records, "not_found", notFound, "quarantined", failed)
	return nil
}

// rewriteCallRecords writes a partition anew: the records that feed hands to add
// replace the stored rows of their ids, and the stored rows of every other record
// are carried over; then the partition is committed. A record that does not
// decode is quarantined and its stored rows stay. Nothing is written when no
// record was replaced (beyond removing leftovers).
func (r *runner) rewriteCallRecords(ctx context.Context, part *partition, feed func(add func(id string, raw []byte) error) error, log *slog.Logger) (replaced map[string]bool, failed int, err error) {
	w := newCallRecordWriters(r.parquetOptions())
	defer w.abort()
	replaced = map[string]bool{}
	err = feed(func(id string, raw []byte) error {
		rec, err := transform.DecodeCallRecord(raw)
		if err != nil {
			failed++
			return r.quarantine(ctx, part.dataset, id, raw, err, log)
		}
		if err := w.add(transform.FlattenCallRecord(r.cfg.TenantID, rec)); err != nil {
			return fmt.Errorf("write call record %s: %w", id, err)
		}
		replaced[id] = true
		return nil
	})
	if err != nil {
		return nil, failed, err
	}
	if len(replaced) == 0 {
		return replaced, failed, part.removeOrphans(ctx, log)
	}
	keep := func(id string) bool { return !replaced[id] }
	if err := errors.Join(
		carryOver(ctx, part, schemas.TableCallRecords, w.records, func(r *schemas.CallRecordRow) string { return r.CallRecordID }, keep),
		carryOver(ctx, part, schemas.TableSessions, w.sessions, func(r *schemas.SessionRow) string { return r.CallRecordID }, keep),
		carryOver(ctx, part, schemas.TableSegments, w.segments, func(r *schemas.SegmentRow) string { return r.CallRecordID }, keep),
		carryOver(ctx, part, schemas.TableMediaStreams, w.streams, func(r *schemas.MediaStreamRow) string { return r.CallRecordID }, keep),
		carryOver(ctx, part, schemas.TableParticipants, w.participants, func(r *schemas.ParticipantRow) string { return r.CallRecordID }, keep),
	); err != nil {
		return nil, failed, fmt.Errorf("carry over partition %s: %w", part.date, err)
	}
	files, err := w.close()
	if err != nil {
		return nil, failed, fmt.Errorf("write partition %s: %w", part.date, err)
	}
	return replaced, failed, part.commit(ctx, files, log)
}

// quarantine keeps a payload that could not be processed under _etl/quarantine/
// and records it in the summary. Nothing is dropped silently.
func (r *runner) quarantine(ctx context.Context, ds, id string, raw []byte, cause error, log *slog.Logger) error {
	key := quarantineKey(r.cfg.TenantID, ds, id)
	doc, _ := json.Marshal(struct {
		ID      string          `json:"id"`
		Error   string          `json:"error"`
		RunID   string          `json:"run_id"`
		Payload json.RawMessage `json:"payload,omitempty"`
		Raw     string          `json:"raw,omitempty"`
	}{ID: id, Error: cause.Error(), RunID: r.cfg.RunID, Payload: validJSON(raw), Raw: invalidJSON(raw)})
	if err := r.store.Put(ctx, key, bytesReader(doc)); err != nil {
		return fmt.Errorf("quarantine call record %s: %w", id, err)
	}
	log.Error("call record quarantined", "id", id, "key", key, "err", cause)
	r.sum.update(func() { r.sum.Quarantined = append(r.sum.Quarantined, id) })
	return nil
}

func validJSON(b []byte) json.RawMessage {
	if json.Valid(b) {
		return b
	}
	return nil
}

func invalidJSON(b []byte) string {
	if json.Valid(b) {
		return ""
	}
	return string(b)
}

// callRecordWriters holds one Parquet writer per call-record table.
type callRecordWriters struct {
	records      *load.FileSetWriter[schemas.CallRecordRow]
	sessions     *load.FileSetWriter[schemas.SessionRow]
	segments     *load.FileSetWriter[schemas.SegmentRow]
	streams      *load.FileSetWriter[schemas.MediaStreamRow]
	participants *load.FileSetWriter[schemas.ParticipantRow]
}

func newCallRecordWriters(opts load.ParquetOptions) *callRecordWriters {
	return &callRecordWriters{
		records:      load.NewFileSetWriter[schemas.CallRecordRow](opts),
		sessions:     load.NewFileSetWriter[schemas.SessionRow](opts),
		segments:     load.NewFileSetWriter[schemas.SegmentRow](opts),
		streams:      load.NewFileSetWriter[schemas.MediaStreamRow](opts),
		participants: load.NewFileSetWriter[schemas.ParticipantRow](opts),
	}
}

func (w *callRecordWriters) add(rows schemas.CallRecordRows) error {
	return errors.Join(
		w.records.Write([]schemas.CallRecordRow{rows.CallRecord}),
		writeIfAny(w.sessions, rows.Sessions),
		writeIfAny(w.segments, rows.Segments),
		writeIfAny(w.streams, rows.MediaStreams),
		writeIfAny(w.participants, rows.Participants),
	)
}

func writeIfAny[T any](w *load.FileSetWriter[T], rows []T) error {
	if len(rows) == 0 {
		return nil
	}
	return w.Write(rows)
}

func (w *callRecordWriters) close() (map[string][]load.LocalFile, error) {
	out := map[string][]load.LocalFile{}
	var errs []error
	add := func(table string, files []load.LocalFile, err error) {
		out[table] = files
		errs = append(errs, err)
	}
	f, err := w.records.Close()
	add(schemas.TableCallRecords, f, err)
	f, err = w.sessions.Close()
	add(schemas.TableSessions, f, err)
	f, err = w.segments.Close()
	add(schemas.TableSegments, f, err)
	f, err = w.streams.Close()
	add(schemas.TableMediaStreams, f, err)
	f, err = w.participants.Close()
	add(schemas.TableParticipants, f, err)
	return out, errors.Join(errs...)
}

func (w *callRecordWriters) abort() {
	w.records.Abort()
	w.sessions.Abort()
	w.segments.Abort()
	w.streams.Abort()
	w.participants.Abort()
}

// storedVersions reads the (id, version) index of a partition from its committed
// call_records files.
func storedVersions(ctx context.Context, p *partition) (map[string]int64, error) {
	out := map[string]int64{}
	for _, f := range p.prev.Tables[schemas.TableCallRecords] {
		path, err := p.local(ctx, f.Key)
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
			return nil, fmt.Errorf("read %s: %w", f.Key, err)
		}
	}
	return out, nil
}

// carryOver copies the committed rows of table whose record is kept into w.
func carryOver[T any](ctx context.Context, p *partition, table string, w *load.FileSetWriter[T], id func(*T) string, keep func(string) bool) error {
	for _, f := range p.prev.Tables[table] {
		path, err := p.local(ctx, f.Key)
		if err != nil {
			return err
		}
		err = load.ReadParquet(path, 4096, func(rows []T) error {
			kept := make([]T, 0, len(rows))
			for i := range rows {
				if keep(id(&rows[i])) {
					kept = append(kept, rows[i])
				}
			}
			return writeIfAny(w, kept)
		})
		if err != nil {
			return fmt.Errorf("read %s: %w", f.Key, err)
		}
		p.forget(f.Key)
	}
	return nil
}

func (r *runner) parquetOptions() load.ParquetOptions {
	return load.ParquetOptions{
		// Five writers are open at once; 32 MiB row groups keep their page
		// buffers (in memory: spilling them costs more than it saves at a
		// day's volume) well bounded and still large for readers.
		MaxRowGroupBytes: 32 << 20,
		TempDir:          r.tmp,
		CreatedBy:        "callrecords-etl",
		Metadata:         map[string]string{"callrecords_etl.run_id": r.cfg.RunID},
	}
}
