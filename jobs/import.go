package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/callrecords-etl/callrecords-etl/load/lake"
	"github.com/callrecords-etl/callrecords-etl/schemas"
	"github.com/callrecords-etl/callrecords-etl/transform"
)

// Import loads whole call records (one JSON object per line, as `get` prints
// them or as kept in a raw archive, or the other forms importInput reads)
// into the lake, through the same partition rewrite and commit as a run: a
// record replaces the stored one only when its version is at least as high.
// Records are spooled per start date on local disk and each date's partition
// is rewritten once per spool-full (input in any order is correct: a date
// seen again after a flush is merged in again). Input sorted by date (a dump,
// an archive) is written as it is read: a date is loaded, whole, as soon as
// the next one starts. It never touches Graph nor the checkpoints.
func Import(ctx context.Context, cfg Config, src io.Reader) (*Summary, error) {
	if err := cfg.validate(false); err != nil {
		return nil, err
	}
	return execute(ctx, cfg, false, func(ctx context.Context, r *runner) error {
		if err := r.openIceberg(ctx); err != nil {
			return err
		}
		err := r.importCallRecords(ctx, src)
		return errors.Join(err, r.publishIceberg(ctx, []string{schemas.DatasetCallRecords}))
	})
}

func (r *runner) importCallRecords(ctx context.Context, src io.Reader) error {
	const ds = schemas.DatasetCallRecords
	log := r.cfg.Logger.With("dataset", ds, "import", true)
	in, err := newImportInput(src, r.cfg.importRecordBytes())
	if err != nil {
		return err
	}
	dir := filepath.Join(r.tmp, "import")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create import spool: %w", err)
	}
	defer os.RemoveAll(dir)
	if r.privacy.pseudonymiser == nil && !r.cfg.DryRun {
		// A record too long to hold goes to the quarantine as it is read;
		// under a privacy policy only its digest does: it would wait on
		// disk in clear, and cannot be pseudonymised a part at a time.
		in.longDir = dir
	}

	// The chunks are written by another goroutine while the input is read:
	// reading, checking and spooling the input is one core's work that
	// used to come before any writing.
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(wctx)
	// Unbuffered: the spool holds the chunk being written and the one being
	// read, no more.
	queue := make(chan *importChunk)
	g.Go(func() error { return r.writeImportChunks(gctx, queue, log) })
	queued := true
	// stop ends the queue and returns the writer's outcome.
	stop := func() error {
		if queued {
			close(queue)
			queued = false
		}
		return g.Wait()
	}
	chunks := map[string]*importChunk{}
	defer func() {
		cancel()
		stop()
		for _, c := range chunks {
			c.remove()
		}
	}()
	send := func(c *importChunk) error {
		delete(chunks, c.date)
		select {
		case queue <- c:
			return nil
		case <-gctx.Done(): // the writer gave up, or the run is cancelled
			c.remove()
			if err := stop(); err != nil {
				return err
			}
			return context.Cause(gctx)
		}
	}
	var spooled int64
	sorted, last := true, "" // whether the input's dates never went back, the latest
	for {
		raw, pos, err := in.next()
		var tooLong *tooLongError
		if err != nil && !errors.As(err, &tooLong) {
			return err
		}
		if raw == nil && tooLong == nil {
			break
		}
		var head transform.CallRecordHead
		herr := err
		if tooLong == nil {
			head, herr = peekRecord(raw)
		}
		if herr != nil {
			id := head.ID
			if id == "" {
				id = fmt.Sprintf("%s-%d", in.unit(), pos)
			}
			stats := r.sum.dataset(ds)
			r.sum.update(func() { stats.Listed++ })
			if tooLong != nil {
				err = r.quarantineLong(ctx, ds, id, tooLong, log)
			} else {
				err = r.quarantine(ctx, ds, id, raw, herr, log)
			}
			if err != nil {
				return err
			}
			continue
		}
		date := head.Date()
		switch {
		case date < last:
			sorted = false
		case date > last:
			if c := chunks[last]; sorted && c != nil {
				// Sorted so far: the previous date is most likely
				// complete. (If it comes back, it is merged in again.)
				spooled -= c.size
				if err := send(c); err != nil {
					return err
				}
			}
			last = date
		}
		if err := spoolRecord(chunks, dir, date, head, raw, false); err != nil {
			return err
		}
		limit := r.cfg.importSpoolBytes()
		if sorted && len(chunks) == 1 {
			limit = r.cfg.importDayBytes()
		}
		if spooled += int64(len(raw)) + 1; spooled > limit {
			for _, date := range sortedKeys(chunks) {
				if err := send(chunks[date]); err != nil {
					return err
				}
			}
			spooled = 0
		}
	}
	for _, date := range sortedKeys(chunks) {
		if err := send(chunks[date]); err != nil {
			return err
		}
	}
	return stop()
}

// writeImportChunks writes the chunks it receives, in order, until the channel
// closes. Each chunk's files are finished and committed in the background
// while the next chunk is decoded; commits stay one at a time, in order, and a
// chunk waits for the commit of an earlier chunk of its date. It returns at
// the first error.
func (r *runner) writeImportChunks(ctx context.Context, chunks <-chan *importChunk, log *slog.Logger) error {
	var commits committer
	for c := range chunks {
		err := func() error {
			defer c.remove()
			// Before the partition is opened: it is read once an earlier
			// chunk of its date is committed.
			if err := commits.ready(c.date, false); err != nil {
				return err
			}
			part, err := r.openPartition(ctx, schemas.DatasetCallRecords, c.date)
			if err != nil {
				return err
			}
			return r.writeImportChunk(ctx, c, part, &commits, log)
		}()
		if err != nil {
			// An earlier chunk's failed commit is the first error.
			if cerr := commits.wait(); cerr != nil {
				return cerr
			}
			return err // the reader stops sending and removes what is left
		}
	}
	return commits.wait()
}

// importChunk rewrites one date's partition with the chunk's records: of several
// copies of a record the highest version wins, and a stored higher version is
// never replaced by a lower one.
func (r *runner) importChunk(ctx context.Context, c *importChunk, log *slog.Logger) error {
	part, err := r.openPartition(ctx, schemas.DatasetCallRecords, c.date)
	if err != nil {
		return err
	}
	var commits committer
	if err := r.writeImportChunk(ctx, c, part, &commits, log); err != nil {
		return err
	}
	return commits.wait()
}

// writeImportChunk writes the chunk's records into the opened partition
// (after which the chunk may go) and hands the partition's commit to commits.
// A large partition (stored rows count too) first waits for the commit
// running. The partition is cleaned up either way.
func (r *runner) writeImportChunk(ctx context.Context, c *importChunk, part *lake.Partition, commits *committer, log *slog.Logger) (err error) {
	stats := r.sum.dataset(schemas.DatasetCallRecords)
	committing := false
	defer func() {
		if !committing {
			part.Cleanup()
		}
	}()
	large := r.large(part, len(c.best))
	if err := commits.ready(c.date, large); err != nil {
		return err
	}
	if err := c.flush(); err != nil {
		return err
	}
	stored, err := storedVersions(ctx, part)
	if err != nil {
		return err
	}
	type line struct {
		id           string
		offset, size int64
	}
	var take []line // the lines to load, in spool order
	unchanged := 0
	for id, best := range c.best {
		if sv, ok := stored[id]; ok && sv >= best.version {
			unchanged++
			continue
		}
		take = append(take, line{id, best.offset, best.size})
	}
	slices.SortFunc(take, func(a, b line) int { return cmp.Compare(a.offset, b.offset) })
	ps := r.privacy.pseudonymiser
	if c.pseudonymised {
		ps = nil
	}
	replaced, _, write, err := r.writeCallRecords(ctx, part, ps, len(take), func(add func(string, []byte) error) error {
		// Each record is read on its own (the spool holds every copy of a
		// record; only the best is loaded) into a buffer the writer keeps.
		for _, l := range take {
			raw, err := c.line(l.offset, l.size)
			if err != nil {
				return err
			}
			if err := add(l.id, raw); err != nil {
				return err
			}
		}
		return nil
	}, log)
	if err != nil {
		return err
	}
	c.remove()
	records := len(c.best)
	err = commits.start(c.date, large, func() error {
		defer part.Cleanup()
		if err := write(ctx); err != nil {
			return err
		}
		r.sum.update(func() {
			stats.Listed += records
			stats.Unchanged += unchanged
			stats.countNewOrUpdated(maps.Keys(replaced), stored)
			if len(replaced) > 0 {
				stats.Partitions++
			}
		})
		log.Info("partition done", "dt", part.Date(), "records", records, "loaded", len(replaced))
		return nil
	})
	committing = err == nil
	return err
}

// peekRecord reads what routing a raw record needs: its id, version and
// start; a record without them is refused with the decoder's own explanation.
func peekRecord(raw []byte) (transform.CallRecordHead, error) {
	h, err := transform.PeekCallRecord(raw)
	if err != nil || h.ID == "" || h.Start.IsZero() {
		_, derr := transform.DecodeCallRecord(raw)
		if derr == nil {
			derr = fmt.Errorf("%w: %v", transform.ErrInvalidRecord, err)
		}
		return h, derr
	}
	return h, nil
}

// importChunk spools the raw records of one date, remembering where the
// highest version of each id is.
type importChunk struct {
	*spoolFile
	best map[string]spooled // highest version per id
	// pseudonymised: the records are spooled under the run's privacy
	// policy already (those fetched for notifications), not as received.
	pseudonymised bool
}

type spooled struct {
	version int64
	offset  int64
	size    int64 // of the record, without its newline
}

// spoolRecord adds a record to the chunk of its date, which it starts if
// need be; pseudonymised says the records are under the policy already.
func spoolRecord(chunks map[string]*importChunk, dir, date string, head transform.CallRecordHead, raw []byte, pseudonymised bool) error {
	c, ok := chunks[date]
	if !ok {
		f, err := newSpoolFile(dir, date)
		if err != nil {
			return err
		}
		c = &importChunk{spoolFile: f, best: map[string]spooled{}, pseudonymised: pseudonymised}
		chunks[date] = c
	}
	offset, err := c.add(raw)
	if err != nil {
		return err
	}
	if b, ok := c.best[head.ID]; !ok || head.Version >= b.version {
		c.best[head.ID] = spooled{version: head.Version, offset: offset, size: int64(len(raw))}
	}
	return nil
}
