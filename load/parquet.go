package load

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"os"
	"reflect"
	"slices"
	"unsafe"

	"github.com/parquet-go/parquet-go"
)

// Defaults for ParquetOptions fields left at zero.
const (
	DefaultMaxRowsPerRowGroup = 500_000
	DefaultMaxRowGroupBytes   = 128 << 20
)

// writeChunk is the number of rows written between two checks of the row
// group's size.
const writeChunk = 1024

// ParquetOptions configures a [FileWriter]. Zero fields take defaults.
type ParquetOptions struct {
	// MaxRowsPerRowGroup caps the rows of a row group (default 500 000).
	MaxRowsPerRowGroup int64
	// MaxRowGroupBytes cuts a row group once the writer's estimate of the
	// current row group (encoded pages plus values not yet encoded) grows
	// past it (default 128 MiB). It is checked after every Write and every
	// 1024 rows, so a row group can exceed it by that many rows.
	MaxRowGroupBytes int64
	// TempDir receives the Parquet files and, with SpillPages, the encoded
	// pages of the row group being built. Default os.TempDir().
	TempDir string
	// SpillPages keeps the encoded pages of the row group being built in temp
	// files instead of memory. It bounds memory for very large row groups at a
	// cost in system calls (one temp file per column chunk), which dominates
	// for small partitions; without it memory is bounded by MaxRowGroupBytes.
	SpillPages bool
	// PageBufferSize is the uncompressed size at which a column's page is
	// cut (default parquet-go's, 256 KiB). Every column of every open writer
	// buffers up to about twice this much, so wide tables in large
	// partitions want less.
	PageBufferSize int
	// CreatedBy is written verbatim to the footer's created_by, by
	// convention "<application> version <version> (build <build>)".
	// Default: parquet-go's own.
	CreatedBy string
	// Metadata is written to the footer's key/value metadata of every file.
	Metadata map[string]string
	// BlobColumns are columns of large values (the raw archive's JSON),
	// written without min/max anywhere: their pages hold a value or two
	// each, and page headers (not compressed), column chunk statistics and
	// the writer's memory would otherwise hold each bound value in full,
	// twice (a 120 MiB record cost 240 MiB more).
	BlobColumns []string
}

func (o ParquetOptions) withDefaults() ParquetOptions {
	if o.MaxRowsPerRowGroup <= 0 {
		o.MaxRowsPerRowGroup = DefaultMaxRowsPerRowGroup
	}
	if o.MaxRowGroupBytes <= 0 {
		o.MaxRowGroupBytes = DefaultMaxRowGroupBytes
	}
	if o.TempDir == "" {
		o.TempDir = os.TempDir()
	}
	return o
}

// LocalFile is a finished, verified Parquet file on local disk.
type LocalFile struct {
	// Path is the file's location; the caller removes it when done.
	Path string
	// Rows is the number of rows in the file, as read back from its footer.
	Rows int64
	// Bytes is the file's size.
	Bytes int64
}

// FileWriter writes rows of T into one temporary Parquet file, in row groups
// bounded by ParquetOptions, so that readers can stream a file of any size.
//
// The file is zstd-compressed, with statistics and a page index; columns are
// dictionary-encoded where the struct tags of T say so ("dict"). With
// SpillPages the encoded pages of the row group being built wait in TempDir,
// so memory is bounded by the values not yet encoded (one page per column)
// rather than by the row-group size. The finished file is reopened and its
// footer's row count checked before Close returns it.
//
// A FileWriter is not safe for concurrent use. After an error, every method
// returns that error; call Abort (or Close, which aborts) to remove the
// temporary files.
type FileWriter[T any] struct {
	opts    ParquetOptions
	pageDir string // temporary directory for page buffers, created lazily

	f    *os.File
	cw   *countingWriter
	w    *parquet.GenericWriter[T]
	rows int64 // rows written to the file

	groupRows int64    // rows written since the last flush of a row group
	chunks    *chunker // how T's rows are cut for parquet-go
	words     []uint64 // scratch for chunks
	shelf     *writerShelf[T]

	done   LocalFile // the finished file
	err    error
	closed bool
}

// NewFileWriter returns a writer; it creates no file until rows arrive.
func NewFileWriter[T any](opts ParquetOptions) *FileWriter[T] {
	opts = opts.withDefaults()
	return &FileWriter[T]{opts: opts, chunks: chunkerOf(reflect.TypeFor[T]()), shelf: shelfFor[T](opts)}
}

var errWriterClosed = errors.New("parquet writer is closed")

// Write appends rows. Pass batches (thousands of rows), not single rows.
func (w *FileWriter[T]) Write(rows []T) (err error) {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errWriterClosed
	}
	defer func() {
		if err != nil {
			w.err = err
		}
	}()
	for len(rows) > 0 {
		if w.w == nil {
			if err := w.open(); err != nil {
				return err
			}
		}
		n := min(len(rows), writeChunk)
		if err := w.write(rows[:n]); err != nil {
			return fmt.Errorf("write parquet %s: %w", w.f.Name(), err)
		}
		rows = rows[n:]
		// Size() is bytes already handed to the file plus the estimate of
		// the current row group; cw.n trails the former by at most the
		// writer's 32 KiB buffer.
		if w.w.Size()-w.cw.n >= w.opts.MaxRowGroupBytes {
			if err := w.w.Flush(); err != nil {
				return fmt.Errorf("flush parquet row group %s: %w", w.f.Name(), err)
			}
			w.groupRows = 0
		}
	}
	return nil
}

// Flush ends the row group being built, writing its pages to the file: the
// caller bounds the memory of a burst of rows (one very large record) below
// MaxRowGroupBytes.
func (w *FileWriter[T]) Flush() error {
	if w.err != nil {
		return w.err
	}
	if w.w == nil {
		return nil
	}
	if err := w.w.Flush(); err != nil {
		w.err = fmt.Errorf("flush parquet row group %s: %w", w.f.Name(), err)
		return w.err
	}
	w.groupRows = 0
	return nil
}

// write hands rows to parquet-go in the chunks it writes right (see
// parquet_nulls.go), turning its panics (invalid values or struct tags) into
// errors. A chunk never crosses a row group's row limit: parquet-go would
// split it there, and its search would then see other rows together.
func (w *FileWriter[T]) write(rows []T) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("parquet-go panic: %v", r)
		}
	}()
	for len(rows) > 0 {
		room := w.opts.MaxRowsPerRowGroup - w.groupRows%w.opts.MaxRowsPerRowGroup
		n := int(min(int64(len(rows)), room))
		if len(w.opts.BlobColumns) > 0 {
			// parquet-go cuts a page only between calls: a call of large
			// values (up to 8 MiB each) would be held whole in the column
			// buffer, a second copy of them.
			n = min(n, blobChunk)
		}
		n = w.chunks.safeRows(unsafe.Pointer(unsafe.SliceData(rows)), n, &w.words)
		written, err := w.w.Write(rows[:n])
		w.rows += int64(written)
		w.groupRows += int64(written)
		if err == nil && written != n {
			err = fmt.Errorf("wrote %d of %d rows", written, n)
		}
		if err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// blobChunk is the most rows of a table with BlobColumns handed to
// parquet-go at once (two, as before chunks: what the raw archive's memory
// and page sizes were measured with).
const blobChunk = 2

// zstdCodec is shared by every writer: a codec keeps a pool of encoders, and
// a new codec per file made a new encoder (and its tables) for every file.
var zstdCodec = newPageZstd()

// createdBy sets the footer's created_by verbatim.
type createdBy string

func (c createdBy) ConfigureWriter(cfg *parquet.WriterConfig) { cfg.CreatedBy = string(c) }

func (w *FileWriter[T]) open() (err error) {
	if w.pageDir == "" && w.opts.SpillPages {
		dir, err := os.MkdirTemp(w.opts.TempDir, "parquet-pages-")
		if err != nil {
			return fmt.Errorf("create parquet page directory: %w", err)
		}
		w.pageDir = dir
	}
	f, err := os.CreateTemp(w.opts.TempDir, "part-*.parquet")
	if err != nil {
		return fmt.Errorf("create parquet file: %w", err)
	}
	defer func() {
		if r := recover(); r != nil {
			f.Close()
			os.Remove(f.Name())
			err = fmt.Errorf("create parquet writer: parquet-go panic: %v", r)
		}
	}()
	cw := &countingWriter{w: f}
	if pw := w.shelf.take(); pw != nil {
		pw.Reset(cw)
		for k, v := range w.opts.Metadata {
			pw.SetKeyValueMetadata(k, v)
		}
		w.w = pw
	} else {
		w.w = parquet.NewGenericWriter[T](cw, w.writerOptions()...)
	}
	w.f, w.cw, w.rows, w.groupRows = f, cw, 0, 0
	return nil
}

// writerOptions are the options of a new parquet-go writer. Writers are
// shared between FileWriters whose options differ only in what shelfFor
// leaves out of its key.
func (w *FileWriter[T]) writerOptions() []parquet.WriterOption {
	options := []parquet.WriterOption{
		parquet.Compression(zstdCodec),
		parquet.MaxRowsPerRowGroup(w.opts.MaxRowsPerRowGroup),
	}
	for _, c := range w.opts.BlobColumns {
		options = append(options, parquet.SkipPageBounds(c), parquet.SkipPageStatistics(c))
	}
	if w.opts.SpillPages {
		options = append(options, parquet.ColumnPageBuffers(parquet.NewFileBufferPool(w.pageDir, "page-*")))
	}
	if w.opts.PageBufferSize > 0 {
		options = append(options, parquet.PageBufferSize(w.opts.PageBufferSize))
	}
	if w.opts.CreatedBy != "" {
		options = append(options, createdBy(w.opts.CreatedBy))
	}
	for _, k := range slices.Sorted(maps.Keys(w.opts.Metadata)) {
		options = append(options, parquet.KeyValueMetadata(k, w.opts.Metadata[k]))
	}
	return options
}

// finish closes the file, verifies it and records it.
func (w *FileWriter[T]) finish() error {
	name := w.f.Name()
	pw := w.w
	err := pw.Close()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	rows := w.rows
	w.w, w.f, w.cw, w.rows = nil, nil, nil, 0
	if err != nil {
		os.Remove(name)
		return fmt.Errorf("close parquet %s: %w", name, err)
	}
	lf, data, err := verifyParquet(name, rows)
	if err != nil {
		os.Remove(name)
		return err
	}
	if data <= shelfMaxData {
		w.shelf.put(pw)
	}
	w.done = lf
	return nil
}

// ParquetRows returns the number of rows of the Parquet file at path, from
// its footer.
func ParquetRows(path string) (rows int64, err error) {
	err = readFooter(path, func(pf *parquet.File) { rows = pf.NumRows() })
	return rows, err
}

// readFooter opens the Parquet file at path, reads its footer (not its page
// indexes nor bloom filters) and hands it to fn.
func readFooter(path string, fn func(*parquet.File)) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read parquet %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("read parquet %s: %w", path, err)
	}
	pf, err := parquet.OpenFile(f, fi.Size(), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return fmt.Errorf("read parquet %s: %w", path, err)
	}
	fn(pf)
	return nil
}

// verifyParquet reopens a finished file and checks its footer's row count.
// It also returns the size of the file's data uncompressed, from the footer.
func verifyParquet(name string, want int64) (lf LocalFile, data int64, err error) {
	var got int64
	err = readFooter(name, func(pf *parquet.File) {
		got = pf.NumRows()
		for _, rg := range pf.Metadata().RowGroups {
			data += rg.TotalByteSize
		}
	})
	if err != nil {
		return LocalFile{}, 0, fmt.Errorf("verify: %w", err)
	}
	if got != want {
		return LocalFile{}, 0, fmt.Errorf("verify parquet %s: footer has %d rows, wrote %d", name, got, want)
	}
	fi, err := os.Stat(name)
	if err != nil {
		return LocalFile{}, 0, fmt.Errorf("verify parquet %s: %w", name, err)
	}
	return LocalFile{Path: name, Rows: want, Bytes: fi.Size()}, data, nil
}

// Close finishes the file and returns it; a LocalFile with no Path if no
// row was written. On error, all temporary files are removed.
func (w *FileWriter[T]) Close() (LocalFile, error) {
	if w.closed && w.err == nil {
		return LocalFile{}, errWriterClosed
	}
	if w.err != nil {
		w.Abort()
		return LocalFile{}, w.err
	}
	if w.w != nil {
		if err := w.finish(); err != nil {
			w.err = err
			w.Abort()
			return LocalFile{}, err
		}
	}
	w.closed = true
	w.removePageDir()
	done := w.done
	w.done = LocalFile{}
	return done, nil
}

// Abort stops writing and removes every temporary file, finished or not.
// It is safe to call more than once, and after Close (the file returned by
// a successful Close is then left alone).
func (w *FileWriter[T]) Abort() {
	if w.w != nil {
		w.w.Reset(io.Discard) // releases the page buffers
		w.f.Close()
		os.Remove(w.f.Name())
		w.w, w.f, w.cw, w.rows = nil, nil, nil, 0
	}
	if w.done.Path != "" {
		os.Remove(w.done.Path)
		w.done = LocalFile{}
	}
	w.removePageDir()
	w.closed = true
	if w.err == nil {
		w.err = errWriterClosed
	}
}

func (w *FileWriter[T]) removePageDir() {
	if w.pageDir != "" {
		os.RemoveAll(w.pageDir)
		w.pageDir = ""
	}
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// RowDigest is a digest of row's values as a file stores them (times to
// the microsecond, NULLs apart from empty values): two rows that differ in
// no stored value have the same digest, which tells a row read again from
// its source and unchanged from one that changed.
func RowDigest[T any](row *T) uint64 {
	h := fnv.New64a()
	var buf []byte
	for _, v := range parquet.SchemaOf(row).Deconstruct(nil, row) {
		null := byte(0)
		if v.IsNull() {
			null = 1
		}
		b := v.Bytes()
		buf = append(buf[:0], byte(v.Kind()), byte(v.RepetitionLevel()), byte(v.DefinitionLevel()), null)
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(b)))
		h.Write(append(buf, b...))
	}
	return h.Sum64()
}

// ReadParquet streams the rows of the Parquet file at path into fn, batch
// rows at a time (batch <= 0 means 1024), so memory is bounded by a batch and
// the pages being decoded. The slice passed to fn is reused by the next call:
// fn may keep the rows it copies out, not the slice. An error from fn stops
// the reading and is returned as is. The file's columns are matched to T by
// name; columns missing from the file read as zero values.
func ReadParquet[T any](path string, batch int, fn func([]T) error) error {
	if batch <= 0 {
		batch = 1024
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read parquet %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("read parquet %s: %w", path, err)
	}
	pf, err := parquet.OpenFile(f, fi.Size())
	if err != nil {
		return fmt.Errorf("read parquet %s: %w", path, err)
	}
	r, err := newGenericReader[T](pf)
	if err != nil {
		return fmt.Errorf("read parquet %s: %w", path, err)
	}
	defer r.Close()
	// A batch no larger than the file: most partitions are small, and a
	// wide row type's batch is megabytes.
	buf := make([]T, max(1, min(int64(batch), pf.NumRows())))
	for {
		clear(buf) // fresh values each batch, so rows kept by fn are not overwritten
		n, rerr := readRows(r, buf)
		if n > 0 {
			if err := fn(buf[:n]); err != nil {
				return err
			}
		}
		if errors.Is(rerr, io.EOF) {
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("read parquet %s: %w", path, rerr)
		}
	}
}

// newGenericReader turns parquet-go's panics (a file whose schema cannot be
// converted to T) into errors.
func newGenericReader[T any](pf *parquet.File) (r *parquet.GenericReader[T], err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("parquet-go panic: %v", p)
		}
	}()
	return parquet.NewGenericReader[T](pf), nil
}

// readRows turns parquet-go's panics (corrupt pages) into errors.
func readRows[T any](r *parquet.GenericReader[T], buf []T) (n int, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("parquet-go panic: %v", p)
		}
	}()
	return r.Read(buf)
}

// ParquetMetadata is the footer's key/value metadata of the Parquet file at path.
func ParquetMetadata(path string) (map[string]string, error) {
	out := map[string]string{}
	err := readFooter(path, func(pf *parquet.File) {
		for _, kv := range pf.Metadata().KeyValueMetadata {
			out[kv.Key] = kv.Value
		}
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// HasSchemaOf reports whether the Parquet file at path has the schema a
// FileWriter[T] writes today (columns, their order, types and repetition),
// so that its rows need no rewrite to follow it.
func HasSchemaOf[T any](path string) (same bool, err error) {
	err = readFooter(path, func(pf *parquet.File) { same = parquet.EqualNodes(pf.Schema(), parquet.SchemaOf(new(T))) })
	return same, err
}
