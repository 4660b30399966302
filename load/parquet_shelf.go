package load

import (
	"fmt"
	"reflect"
	"sync"

	"github.com/parquet-go/parquet-go"
)

// writerShelf keeps finished parquet-go writers of one row type and
// configuration for the next file. Building a writer compiles its row writer
// for the type (reflection over every field, a schema lookup per column) and
// allocates every column's buffers: for a run's ~250 files (one per table and
// day), with the garbage collections that garbage caused, about 9% of its CPU
// (BENCHMARKS.md, fourteenth round). A writer
// goes back on the shelf only after a clean Close and a verified file, and
// Reset starts the next file with it; the footer's metadata values are set
// again for each file.
//
// A writer keeps the buffers its largest file grew, so only writers of small
// files are kept (shelfMaxData): for a large file the writer's construction
// is a small part of its cost, and its buffers (tens of MiB for a
// 1,500-record day) would stay held between partitions. Writers of large
// values (BlobColumns) or that spill their pages to files (pages in a
// directory removed with the file) are not kept either.
//
// At most two writers wait per configuration: a table's writers in use at
// once are those of the partition being written and of the one being
// finished.
type writerShelf[T any] struct {
	idle chan *parquet.GenericWriter[T]
}

const shelfSize = 2

// shelfMaxData is the largest file, in bytes of data uncompressed, whose
// writer is kept. A tenant of ~70 call records a day writes files under it
// but for its busiest days' media_streams (up to 1.2 MB); kept writers of up
// to 2 MiB cost a run 4 MiB more peak memory for 1% less CPU.
const shelfMaxData = 1 << 20

type shelfKey struct {
	row    reflect.Type
	config string
}

// shelves holds one *writerShelf[T] per row type and configuration. The
// configurations a process uses are few (a table's options differ only in
// the metadata's values, which are not part of the key).
var shelves sync.Map

// shelfFor returns the shelf of writers of T built with opts, nil if such
// writers are not kept. Writers built from options that differ in anything
// but the temporary directory and the metadata's values are never shared.
func shelfFor[T any](opts ParquetOptions) *writerShelf[T] {
	if opts.SpillPages || len(opts.BlobColumns) > 0 {
		return nil
	}
	opts.TempDir = ""
	keys := make(map[string]string, len(opts.Metadata))
	for k := range opts.Metadata {
		keys[k] = ""
	}
	opts.Metadata = keys
	key := shelfKey{row: reflect.TypeFor[T](), config: fmt.Sprintf("%+v", opts)}
	if s, ok := shelves.Load(key); ok {
		return s.(*writerShelf[T])
	}
	s, _ := shelves.LoadOrStore(key, &writerShelf[T]{idle: make(chan *parquet.GenericWriter[T], shelfSize)})
	return s.(*writerShelf[T])
}

// take returns a writer from the shelf, or nil.
func (s *writerShelf[T]) take() *parquet.GenericWriter[T] {
	if s == nil {
		return nil
	}
	select {
	case w := <-s.idle:
		return w
	default:
		return nil
	}
}

// put shelves a writer that closed its file cleanly, unless the shelf is full.
func (s *writerShelf[T]) put(w *parquet.GenericWriter[T]) {
	if s == nil {
		return
	}
	select {
	case s.idle <- w:
	default:
	}
}
