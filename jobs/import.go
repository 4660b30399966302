package jobs

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/callrecords-etl/callrecords-etl/schemas"
	"github.com/callrecords-etl/callrecords-etl/transform"
)

// importSpoolBytes bounds the local spool: past it, every date spooled so far is
// loaded and the spool starts again.
const importSpoolBytes = 256 << 20

// Import loads whole call records (one JSON object per line, as `get` prints
// them or as kept in a raw archive) into the lake, through the same partition
// rewrite and commit as a run: a record replaces the stored one only when its
// version is at least as high. Records are spooled per start date on local disk
// and each date's partition is rewritten once per spool-full (input in any order
// is correct: a date seen again after a flush is merged in again). It never
// touches Graph nor the checkpoints.
func Import(ctx context.Context, cfg Config, src io.Reader) (*Summary, error) {
	if err := cfg.validate(false); err != nil {
		return nil, err
	}
	return execute(ctx, cfg, false, func(ctx context.Context, r *runner) error {
		return r.importCallRecords(ctx, src)
	})
}

func (r *runner) importCallRecords(ctx context.Context, src io.Reader) error {
	const ds = schemas.DatasetCallRecords
	log := r.cfg.Logger.With("dataset", ds, "import", true)
	sc := bufio.NewScanner(src)
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	dir := filepath.Join(r.tmp, "import")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create import spool: %w", err)
	}
	defer os.RemoveAll(dir)
	chunks := map[string]*importChunk{}
	var spooled int64
	// Each date's files are finished and committed in the background while
	// the next date is decoded; commits stay one at a time, in date order.
	flush := func() error {
		var finishing chan error
		wait := func() error {
			if finishing == nil {
				return nil
			}
			err := <-finishing
			finishing = nil
			return err
		}
		prevLarge := false
		for _, date := range sortedKeys(chunks) {
			c := chunks[date]
			if prevLarge || len(c.best) >= spillRecords {
				// Large partitions are not overlapped: memory stays that of one.
				if err := wait(); err != nil {
					return err
				}
			}
			prevLarge = len(c.best) >= spillRecords
			finish, err := r.writeImportChunk(ctx, c, log)
			c.remove()
			delete(chunks, date)
			if werr := wait(); werr != nil {
				return werr
			}
			if err != nil {
				return err
			}
			finishing = make(chan error, 1)
			go func() { finishing <- finish(ctx) }()
		}
		spooled = 0
		return wait()
	}
	defer func() {
		for _, c := range chunks {
			c.remove()
		}
	}()

	line := 0
	for sc.Scan() {
		line++
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		head, herr := peekRecord(raw)
		if herr != nil {
			id := head.ID
			if id == "" {
				id = fmt.Sprintf("line-%d", line)
			}
			r.sum.dataset(ds) // the dataset shows in the summary even if nothing loads
			if err := r.quarantine(ctx, ds, id, raw, herr, log); err != nil {
				return err
			}
			continue
		}
		date := head.date()
		c, ok := chunks[date]
		if !ok {
			var err error
			if c, err = newImportChunk(dir, date); err != nil {
				return err
			}
			chunks[date] = c
		}
		if err := c.add(head.ID, head.Version, raw); err != nil {
			return err
		}
		if spooled += int64(len(raw)) + 1; spooled > importSpoolBytes {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read import line %d: %w", line+1, err)
	}
	return flush()
}

// importChunk rewrites one date's partition with the chunk's records: of several
// copies of a record the highest version wins, and a stored higher version is
// never replaced by a lower one.
func (r *runner) importChunk(ctx context.Context, c *importChunk, log *slog.Logger) error {
	finish, err := r.writeImportChunk(ctx, c, log)
	if err != nil {
		return err
	}
	return finish(ctx)
}

// writeImportChunk is importChunk in two steps: it writes the chunk's records
// (after which the chunk may go), and finish commits the partition and counts
// it.
func (r *runner) writeImportChunk(ctx context.Context, c *importChunk, log *slog.Logger) (finish func(context.Context) error, err error) {
	const ds = schemas.DatasetCallRecords
	stats := r.sum.dataset(ds)
	if err := c.w.Flush(); err != nil {
		return nil, fmt.Errorf("spool import: %w", err)
	}
	part, err := r.openPartition(ctx, ds, c.date)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			part.cleanup()
		}
	}()
	stored, err := storedVersions(ctx, part)
	if err != nil {
		return nil, err
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
	replaced, failed, write, err := r.writeCallRecords(ctx, part, len(take), func(add func(string, []byte) error) error {
		// Each record is read on its own (the spool holds every copy of a
		// record; only the best is loaded) into a buffer the writer keeps.
		for _, l := range take {
			raw := make([]byte, l.size)
			if _, err := c.f.ReadAt(raw, l.offset); err != nil {
				return fmt.Errorf("read import spool: %w", err)
			}
			if err := add(l.id, raw); err != nil {
				return err
			}
		}
		return nil
	}, log)
	if err != nil {
		return nil, err
	}
	records := len(c.best)
	return func(ctx context.Context) error {
		defer part.cleanup()
		if err := write(ctx); err != nil {
			return err
		}
		r.sum.update(func() {
			stats.Listed += records
			stats.Unchanged += unchanged
			stats.Failed += failed
			stats.countNewOrUpdated(maps.Keys(replaced), stored)
			if len(replaced) > 0 {
				stats.Partitions++
			}
		})
		log.Info("partition done", "dt", part.date, "records", records, "loaded", len(replaced))
		return nil
	}, nil
}

// recordHead is what routing a raw record needs.
type recordHead struct {
	ID      string       `json:"id"`
	Version int64        `json:"version"`
	Start   schemas.Time `json:"startDateTime"`
}

func (h recordHead) date() string { return schemas.PartitionDate(h.Start.Time) }

// peekRecord reads a record's id, version and start; a record without them is
// refused with the decoder's own explanation.
func peekRecord(raw []byte) (recordHead, error) {
	th, err := transform.PeekCallRecord(raw) // as json.Unmarshal into a recordHead
	h := recordHead(th)
	if err != nil || h.ID == "" || h.Start.IsZero() {
		_, derr := transform.DecodeCallRecord(raw)
		if derr == nil {
			derr = fmt.Errorf("%w: %v", transform.ErrInvalidRecord, err)
		}
		return h, derr
	}
	return h, nil
}

// importChunk spools the raw records of one date.
type importChunk struct {
	f    *os.File
	w    *bufio.Writer
	date string
	size int64
	best map[string]spooled // highest version per id
}

type spooled struct {
	version int64
	offset  int64
	size    int64 // of the record, without its newline
}

func newImportChunk(dir, date string) (*importChunk, error) {
	f, err := os.Create(filepath.Join(dir, date+".jsonl"))
	if err != nil {
		return nil, fmt.Errorf("create import spool: %w", err)
	}
	return &importChunk{f: f, date: date, w: bufio.NewWriterSize(f, 64<<10), best: map[string]spooled{}}, nil
}

func (c *importChunk) add(id string, version int64, raw []byte) error {
	if b, ok := c.best[id]; !ok || version >= b.version {
		c.best[id] = spooled{version: version, offset: c.size, size: int64(len(raw))}
	}
	n, err := c.w.Write(raw)
	if err == nil {
		err = c.w.WriteByte('\n')
		n++
	}
	c.size += int64(n)
	if err != nil {
		return fmt.Errorf("spool import: %w", err)
	}
	return nil
}

func (c *importChunk) remove() {
	c.f.Close()
	os.Remove(c.f.Name())
}
