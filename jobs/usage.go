package jobs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/callrecords-etl/callrecords-etl/extract"
	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/lake"
	"github.com/callrecords-etl/callrecords-etl/schemas"
	"github.com/callrecords-etl/callrecords-etl/transform"
)

// usageDataset is a PSTN or Direct Routing report: flat rows keyed by id,
// partitioned by the call's start date, arriving 24-48 h late.
type usageDataset[T any] struct {
	name  string
	table string
	list  func(ctx context.Context, from, to time.Time, fn func(extract.UsageRow) error) error
	// row decodes and flattens one raw row.
	row func(tenant string, raw []byte) (T, transform.Report, error)
	id  func(*T) string
}

func (r *runner) pstnDataset() usageDataset[schemas.PstnCallRow] {
	return usageDataset[schemas.PstnCallRow]{
		name: schemas.DatasetPstn, table: schemas.TablePstnCalls, list: r.graph.ListPstnCalls,
		row: func(tenant string, raw []byte) (schemas.PstnCallRow, transform.Report, error) {
			v, rep, err := transform.DecodePstnCallWithReport(raw)
			return transform.FlattenPstnCall(tenant, v), rep, err
		},
		id: func(r *schemas.PstnCallRow) string { return r.ID },
	}
}

func (r *runner) directRoutingDataset() usageDataset[schemas.DirectRoutingCallRow] {
	return usageDataset[schemas.DirectRoutingCallRow]{
		name: schemas.DatasetDirectRouting, table: schemas.TableDirectRoutingCalls, list: r.graph.ListDirectRoutingCalls,
		row: func(tenant string, raw []byte) (schemas.DirectRoutingCallRow, transform.Report, error) {
			v, rep, err := transform.DecodeDirectRoutingCallWithReport(raw)
			return transform.FlattenDirectRoutingCall(tenant, v), rep, err
		},
		id: func(r *schemas.DirectRoutingCallRow) string { return r.ID },
	}
}

// runUsage reads a report window in one pass (the client splits it into
// requests of at most 90 days), spools the raw rows per start date on local disk,
// then rewrites each date's partition: the rows received, deduplicated on id
// (the latest received wins), plus the stored rows of every other id.
func runUsage[T any](ctx context.Context, r *runner, ds usageDataset[T]) error {
	log := r.cfg.Logger.With("dataset", ds.name)
	now := r.cfg.Now().UTC()
	cp, err := r.lake.Checkpoint(ctx, ds.name)
	if err != nil {
		return err
	}
	w := r.planUsage(cp, now)
	stats := r.sum.dataset(ds.name)
	r.sum.update(func() { stats.From, stats.To = w.From, w.To })
	log = log.With("window", w.String())
	log.Info("window planned", "explicit", r.sum.Explicit)

	ps := r.privacy.pseudonymiser
	// The rows wait on local disk, a file per date: memory does not grow
	// with the window.
	dir := filepath.Join(r.tmp, ds.name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create spool: %w", err)
	}
	defer os.RemoveAll(dir)
	spool := spoolDates{}
	defer spool.remove()
	var listed int
	err = ds.list(ctx, w.From, w.To, func(row extract.UsageRow) error {
		listed++
		if row.ID == "" || row.StartDateTime.IsZero() {
			_, _, err := ds.row(r.cfg.TenantID, row.Raw) // for the error that names what is wrong
			if err == nil {
				err = errors.New("no id or no start date")
			}
			return r.quarantine(ctx, ds.name, rowID(row.ID, row.Raw), row.Raw, err, log)
		}
		// Spooled under the policy: no personal value reaches the disk in
		// clear, and the rows are made from the JSON as the archive keeps it.
		raw, err := ps.JSON(row.Raw)
		if err != nil {
			return r.quarantine(ctx, ds.name, rowID(row.ID, row.Raw), row.Raw, err, log)
		}
		f, err := spool.file(dir, schemas.PartitionDate(row.StartDateTime))
		if err == nil {
			_, err = f.add(compactLine(raw))
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("list %s %s .. %s: %w", ds.name, w.From.Format(time.RFC3339), w.To.Format(time.RFC3339), err)
	}
	r.sum.update(func() { stats.Listed += listed })
	dates := sortedKeys(spool)
	for _, date := range dates {
		part, err := r.openPartition(ctx, ds.name, date)
		if err != nil {
			return err
		}
		// nil: the spooled rows are under the policy already.
		err = usageDay(ctx, r, ds, part, nil, spool[date].each, log.With("dt", date))
		part.Cleanup()
		if err != nil {
			return err
		}
		r.progress(ds.name, len(dates))
	}
	if r.sum.Explicit || r.cfg.DryRun {
		return nil
	}
	if err := r.lake.Advance(ctx, &cp, ds.name, w.To, r.cfg.RunID, nil); err != nil {
		return err
	}
	log.Info("checkpoint advanced", "watermark", cp.Watermark)
	return nil
}

// rowID names a report row in the quarantine: its id, or for a row without
// one a digest of its bytes (the same row gets the same name every run).
func rowID(id string, raw []byte) string {
	if id != "" {
		return id
	}
	return fmt.Sprintf("row without id %x", sha256.Sum256(raw))
}

// planUsage: the explicit window, or from the watermark less the usage lookback
// (rows arrive late) to now; a first run reads UsageHistory back.
func (r *runner) planUsage(cp lake.Checkpoint, now time.Time) window {
	if !r.cfg.From.IsZero() {
		return window{r.cfg.From.UTC(), r.cfg.To.UTC()}
	}
	from := now.Add(-r.cfg.UsageHistory)
	if cp.Found() {
		if f := cp.Watermark.Add(-r.cfg.UsageLookback); f.After(from) {
			from = f
		}
	}
	return window{from, now}
}

// usageDay rewrites a report partition: the rows each hands over replace the
// stored rows of their ids (and are archived, if part has the raw archive).
// ps brings them under the run's privacy policy (nil: they are already). A
// partition the rewrite would leave as it is (every row received stored
// already, unchanged, its JSON archived as received, its files in today's
// schema and under the run's policy) is not rewritten: the lookback re-reads
// days whose rows mostly did not change, and a rewrite of the same rows
// would replace the day's files (and commit an Iceberg snapshot) for nothing.
// A dry run reads the partition to count what would change, and writes
// nothing.
func usageDay[T any](ctx context.Context, r *runner, ds usageDataset[T], part *lake.Partition, ps *transform.Pseudonymiser, each func(fn func(raw []byte) error) error, log *slog.Logger) error {
	stats := r.sum.dataset(ds.name)
	date := part.Date()
	w := load.NewFileWriter[T](r.parquetOptions())
	defer w.Abort()
	rawTable := schemas.RawTableOf(ds.name)
	archive := newWriterIf[schemas.RawUsageRow](part.Has(rawTable), rawOptions(r.parquetOptions()))
	defer abortIf(archive)

	dry := r.cfg.DryRun
	seen := map[string]uint64{}       // the digest of each row received
	archived := map[string][32]byte{} // the digest of each received row's JSON as archived
	var dups int
	err := each(func(raw []byte) error {
		row, rep, err := ds.row(r.cfg.TenantID, raw)
		if err != nil {
			var probe struct {
				ID string `json:"id"`
			}
			json.Unmarshal(raw, &probe)
			return r.quarantineUnder(ctx, ps, ds.name, rowID(probe.ID, raw), raw, err, log)
		}
		id := ds.id(&row)
		if _, ok := seen[id]; ok {
			dups++ // the same row on two pages or in overlapping requests
			return nil
		}
		if archive != nil {
			raw, err := ps.JSON(raw)
			if err == nil && !dry {
				err = archive.Write([]schemas.RawUsageRow{{TenantID: r.cfg.TenantID, ID: id, FetchedAt: r.cfg.Now().UTC(), JSON: raw}})
			}
			if err != nil {
				return err
			}
			archived[id] = sha256.Sum256(raw)
		}
		r.addReport(ds.name, rep, log)
		rows := []T{row}
		transform.Rows(ps, rows)
		seen[id] = load.RowDigest(&rows[0])
		if dry {
			return nil
		}
		return w.Write(rows)
	})
	if err != nil {
		return fmt.Errorf("%s partition %s: %w", ds.name, date, err)
	}
	// Before the carry-over, which lets go of the stored files' local copies.
	current, err := filesCurrent[T](ctx, r.privacy, part, ds.table)
	if err == nil && current && archive != nil {
		current, err = filesCurrent[schemas.RawUsageRow](ctx, r.privacy, part, rawTable)
	}
	if err != nil {
		return fmt.Errorf("%s partition %s: %w", ds.name, date, err)
	}
	// A stored row received again is replaced; it is updated only if a
	// value changed.
	var replaced, unchanged int
	keep := func(id string, stored *T) bool {
		digest, ok := seen[id]
		if !ok {
			return !dry
		}
		replaced++
		if load.RowDigest(stored) == digest {
			unchanged++
		}
		return false
	}
	if err := carryOver(ctx, r.privacy, part, ds.table, w, ds.id, keep); err != nil {
		return fmt.Errorf("carry over %s partition %s: %w", ds.name, date, err)
	}
	rawSame, rawChanged := map[string]bool{}, false
	keepRaw := func(id string, stored *schemas.RawUsageRow) bool {
		digest, ok := archived[id]
		if !ok {
			return !dry
		}
		if sha256.Sum256(stored.JSON) == digest {
			rawSame[id] = true
		} else {
			rawChanged = true
		}
		return false
	}
	if archive != nil {
		if err := carryOver(ctx, r.privacy, part, rawTable, archive, func(r *schemas.RawUsageRow) string { return r.ID }, keepRaw); err != nil {
			return fmt.Errorf("carry over %s partition %s: %w", rawTable, date, err)
		}
	}
	same := current && replaced == len(seen) && unchanged == replaced && !rawChanged && len(rawSame) == len(archived)
	count := func() {
		stats.Listed -= dups // listed as they came, counted once
		if !same {
			stats.Partitions++
		}
		stats.New += len(seen) - replaced
		stats.Updated += replaced - unchanged
		stats.Unchanged += unchanged
	}
	switch {
	case same:
		r.sum.update(count)
		log.Info("partition unchanged: not rewritten", "rows_received", len(seen))
		return nil
	case dry:
		r.sum.update(count)
		log.Info("dry run: would rewrite the partition", "rows_received", len(seen), "new", len(seen)-replaced, "updated", replaced-unchanged)
		return nil
	}
	file, err := w.Close()
	if err != nil {
		return fmt.Errorf("write %s partition %s: %w", ds.name, date, err)
	}
	files := map[string]load.LocalFile{ds.table: file}
	if archive != nil {
		if files[rawTable], err = archive.Close(); err != nil {
			return fmt.Errorf("write %s partition %s: %w", rawTable, date, err)
		}
	}
	if err := r.commit(ctx, part, files); err != nil {
		return err
	}
	r.sum.update(count)
	log.Info("partition committed", "rows_received", len(seen), "rows", part.Rows())
	return nil
}

// filesCurrent reports whether the partition's stored files of table are
// as a rewrite would write them: no files of an earlier version of the job,
// today's schema, written under the run's privacy policy.
func filesCurrent[T any](ctx context.Context, priv privacy, part *lake.Partition, table string) (bool, error) {
	if part.Legacy() {
		return false, nil
	}
	keys, err := part.Files(ctx, table)
	if err != nil {
		return false, err
	}
	for _, key := range keys {
		path, err := part.Local(ctx, key)
		if err != nil {
			return false, err
		}
		ok, err := priv.wroteFile(path)
		if err == nil && ok {
			ok, err = load.HasSchemaOf[T](path)
		}
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// compactLine is raw on one line, for the spool: a report row may contain
// newlines. What is not JSON is kept as a JSON string, for the quarantine.
func compactLine(raw []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		buf.Reset()
		b, _ := json.Marshal(string(raw))
		buf.Write(b)
	}
	return buf.Bytes()
}
