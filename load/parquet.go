package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// Defaults for ParquetOptions fields left at zero.
const (
	DefaultMaxRowsPerRowGroup = 500_000
	DefaultMaxRowGroupBytes   = 128 << 20
	DefaultTargetFileBytes    = 256 << 20
)

// writeChunk is the number of rows handed to parquet-go at a time, so that
// the row-group and file size checks run often enough for large batches.
const writeChunk = 1024

// ParquetOptions configures a [FileSetWriter]. Zero fields take defaults.
type ParquetOptions struct {
	// MaxRowsPerRowGroup caps the rows of a row group (default 500 000).
	MaxRowsPerRowGroup int64
	// MaxRowGroupBytes cuts a row group once the writer's estimate of the
	// current row group (encoded pages plus values not yet encoded) grows
	// past it (default 128 MiB). It is checked after every Write and every
	// 1024 rows, so a row group can exceed it by that many rows.
	MaxRowGroupBytes int64
	// TargetFileBytes starts a new file once the writer's size estimate of
	// the current file grows past it (default 256 MiB). Files end up at
	// about this size or a little below.
	TargetFileBytes int64
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
}

func (o ParquetOptions) withDefaults() ParquetOptions {
	if o.MaxRowsPerRowGroup <= 0 {
		o.MaxRowsPerRowGroup = DefaultMaxRowsPerRowGroup
	}
	if o.MaxRowGroupBytes <= 0 {
		o.MaxRowGroupBytes = DefaultMaxRowGroupBytes
	}
	if o.TargetFileBytes <= 0 {
		o.TargetFileBytes = DefaultTargetFileBytes
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

// FileSetWriter writes rows of T into one or more temporary Parquet files,
// starting a new file when the current one grows past TargetFileBytes.
//
// Files are zstd-compressed, with statistics and a page index; columns are
// dictionary-encoded where the struct tags of T say so ("dict"). With
// SpillPages the encoded pages of the row group being built wait in TempDir,
// so memory is bounded by the values not yet encoded (one page per column)
// rather than by the row-group size. Each finished file is reopened and its footer's row
// count checked before it is returned.
//
// A FileSetWriter is not safe for concurrent use. After an error, every
// method returns that error; call Abort (or Close, which aborts) to remove
// the temporary files.
type FileSetWriter[T any] struct {
	opts    ParquetOptions
	pageDir string // temporary directory for page buffers, created lazily

	f    *os.File
	cw   *countingWriter
	w    *parquet.GenericWriter[T]
	rows int64 // rows written to the current file

	files  []LocalFile
	err    error
	closed bool
}

// NewFileSetWriter returns a writer; it creates no file until rows arrive.
func NewFileSetWriter[T any](opts ParquetOptions) *FileSetWriter[T] {
	return &FileSetWriter[T]{opts: opts.withDefaults()}
}

var errWriterClosed = errors.New("parquet writer is closed")

// Write appends rows. Pass batches (thousands of rows), not single rows.
func (w *FileSetWriter[T]) Write(rows []T) (err error) {
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
		}
		if w.w.Size() >= w.opts.TargetFileBytes {
			if err := w.finish(); err != nil {
				return err
			}
		}
	}
	return nil
}

// write hands rows to parquet-go, turning its panics (invalid values or
// struct tags) into errors.
func (w *FileSetWriter[T]) write(rows []T) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("parquet-go panic: %v", r)
		}
	}()
	n, err := w.w.Write(rows)
	w.rows += int64(n)
	if err == nil && n != len(rows) {
		err = fmt.Errorf("wrote %d of %d rows", n, len(rows))
	}
	return err
}

// zstdCodec is shared by every writer: a codec keeps a pool of encoders, and
// a new codec per file made a new encoder (and its tables) for every file.
var zstdCodec = &zstd.Codec{}

// createdBy sets the footer's created_by verbatim.
type createdBy string

func (c createdBy) ConfigureWriter(cfg *parquet.WriterConfig) { cfg.CreatedBy = string(c) }

func (w *FileSetWriter[T]) open() (err error) {
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
	options := []parquet.WriterOption{
		parquet.Compression(zstdCodec),
		parquet.MaxRowsPerRowGroup(w.opts.MaxRowsPerRowGroup),
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
	defer func() {
		if r := recover(); r != nil {
			f.Close()
			os.Remove(f.Name())
			err = fmt.Errorf("create parquet writer: parquet-go panic: %v", r)
		}
	}()
	cw := &countingWriter{w: f}
	w.w = parquet.NewGenericWriter[T](cw, options...)
	w.f, w.cw, w.rows = f, cw, 0
	return nil
}

// finish closes the current file, verifies it and records it.
func (w *FileSetWriter[T]) finish() error {
	name := w.f.Name()
	err := w.w.Close()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	rows := w.rows
	w.w, w.f, w.cw, w.rows = nil, nil, nil, 0
	if err != nil {
		os.Remove(name)
		return fmt.Errorf("close parquet %s: %w", name, err)
	}
	lf, err := verifyParquet(name, rows)
	if err != nil {
		os.Remove(name)
		return err
	}
	w.files = append(w.files, lf)
	return nil
}

// verifyParquet reopens a finished file and checks its footer's row count.
func verifyParquet(name string, want int64) (LocalFile, error) {
	f, err := os.Open(name)
	if err != nil {
		return LocalFile{}, fmt.Errorf("verify parquet %s: %w", name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return LocalFile{}, fmt.Errorf("verify parquet %s: %w", name, err)
	}
	pf, err := parquet.OpenFile(f, fi.Size(), parquet.SkipPageIndex(true), parquet.SkipBloomFilters(true))
	if err != nil {
		return LocalFile{}, fmt.Errorf("verify parquet %s: %w", name, err)
	}
	if got := pf.NumRows(); got != want {
		return LocalFile{}, fmt.Errorf("verify parquet %s: footer has %d rows, wrote %d", name, got, want)
	}
	return LocalFile{Path: name, Rows: want, Bytes: fi.Size()}, nil
}

// Close finishes the current file and returns every file written, in order.
// It returns no file at all if no row was written. On error, all temporary
// files are removed.
func (w *FileSetWriter[T]) Close() ([]LocalFile, error) {
	if w.closed && w.err == nil {
		return nil, errWriterClosed
	}
	if w.err != nil {
		w.Abort()
		return nil, w.err
	}
	if w.w != nil {
		if err := w.finish(); err != nil {
			w.err = err
			w.Abort()
			return nil, err
		}
	}
	w.closed = true
	w.removePageDir()
	files := w.files
	w.files = nil
	return files, nil
}

// Abort stops writing and removes every temporary file, finished or not.
// It is safe to call more than once, and after Close (the files returned by
// a successful Close are then left alone).
func (w *FileSetWriter[T]) Abort() {
	if w.w != nil {
		w.w.Reset(io.Discard) // releases the page buffers
		w.f.Close()
		os.Remove(w.f.Name())
		w.w, w.f, w.cw, w.rows = nil, nil, nil, 0
	}
	for _, lf := range w.files {
		os.Remove(lf.Path)
	}
	w.files = nil
	w.removePageDir()
	w.closed = true
	if w.err == nil {
		w.err = errWriterClosed
	}
}

func (w *FileSetWriter[T]) removePageDir() {
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
	buf := make([]T, batch)
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

// Download copies key from s into a new temporary file in tempDir (""
// means os.TempDir()) and returns its path; the caller removes it. On error
// no file is left behind. The error matches ErrNotExist if the key is absent.
func Download(ctx context.Context, s Sink, key, tempDir string) (path string, err error) {
	if ls, ok := s.(*LocalStore); ok {
		// Stored files are never changed in place (a new version is a new
		// file renamed over the key), so a hard link is a copy, without
		// the copying; across file systems it fails and the bytes are copied.
		if path, err := ls.link(key, tempDir); err == nil {
			return path, nil
		}
	}
	rc, err := s.Open(ctx, key)
	if err != nil {
		return "", fmt.Errorf("download: %w", err)
	}
	defer rc.Close()
	f, err := os.CreateTemp(tempDir, "download-*.parquet")
	if err != nil {
		return "", fmt.Errorf("download %s: %w", key, err)
	}
	_, err = io.Copy(f, ctxReader{ctx: ctx, r: rc})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("download %s: %w", key, err)
	}
	return f.Name(), nil
}
