package load_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/callrecords-etl/callrecords-etl/load"
)

// A file written by a writer taken off the shelf is byte for byte the file a
// new writer writes: nothing of the writer's previous file (row groups,
// dictionaries, statistics, page indexes, metadata values) leaks into it.
func TestFileWriter_ReusedWriterWritesTheSameFile(t *testing.T) {
	// A metadata key of its own keeps the shelf this test's alone.
	opts := func(run string) load.ParquetOptions {
		return load.ParquetOptions{TempDir: t.TempDir(), MaxRowsPerRowGroup: 700, PageBufferSize: 4 << 10,
			CreatedBy: "shelf test", Metadata: map[string]string{"shelf_test.run": run, "shelf_test.other": "x"}}
	}
	files := []struct {
		name       string
		from, rows int
		payload    int
		run        string
	}{
		{"several row groups", 0, 2600, 40, "first"},
		{"one small row group", 9000, 37, 0, "second"},
		{"a single row", 4, 1, 3, "a run id of another length"},
		{"a new dictionary", 3000, 900, 10, "fourth"},
	}
	if load.TakeShelvedWriter[testRow](opts("")) {
		t.Fatal("a writer is on a new shelf")
	}
	for _, f := range files {
		rows := makeRows(f.from, f.rows, f.payload)
		reused := writeAll(t, load.NewFileWriter[testRow](opts(f.run)), rows, 333)
		// The writer just used is on the shelf: take it off, so that the
		// next writer is a new one.
		if !load.TakeShelvedWriter[testRow](opts("")) {
			t.Fatalf("%s: no writer on the shelf after a clean Close", f.name)
		}
		fresh := writeAll(t, load.NewFileWriter[testRow](opts(f.run)), rows, 333)
		a, err := os.ReadFile(reused.Path)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(fresh.Path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s: the reused writer wrote %d bytes, a new one %d; the files differ", f.name, len(a), len(b))
		}
		if !bytes.Contains(b, []byte(f.run)) {
			t.Errorf("%s: the file does not hold its metadata value %q", f.name, f.run)
		}
		got := readAll(t, []load.LocalFile{reused}, 1024)
		if len(got) != len(rows) {
			t.Fatalf("%s: read %d rows, wrote %d", f.name, len(got), len(rows))
		}
		for j := range rows {
			if !equalRows(got[j], rows[j]) {
				t.Fatalf("%s: row %d differs", f.name, j)
			}
		}
	}
}

// Only a writer that closed a small file cleanly is kept: an aborted one, one
// that wrote a large file, one of large values or one that spills its pages
// to files is not.
func TestFileWriter_ShelvesOnlyCleanWriters(t *testing.T) {
	opts := load.ParquetOptions{TempDir: t.TempDir(), Metadata: map[string]string{"shelf_test.clean": "1"}}
	w := load.NewFileWriter[testRow](opts)
	if err := w.Write(makeRows(0, 50, 0)); err != nil {
		t.Fatal(err)
	}
	w.Abort()
	if load.TakeShelvedWriter[testRow](opts) {
		t.Error("an aborted writer was shelved")
	}

	spill := opts
	spill.SpillPages = true
	writeAll(t, load.NewFileWriter[testRow](spill), makeRows(0, 50, 0), 10)
	if load.TakeShelvedWriter[testRow](spill) || load.TakeShelvedWriter[testRow](opts) {
		t.Error("a writer spilling its pages was shelved")
	}
	blobs := opts
	blobs.BlobColumns = []string{"payload"}
	writeAll(t, load.NewFileWriter[testRow](blobs), makeRows(0, 50, 100), 10)
	if load.TakeShelvedWriter[testRow](blobs) || load.TakeShelvedWriter[testRow](opts) {
		t.Error("a writer of large values was shelved")
	}
	large := writeAll(t, load.NewFileWriter[testRow](opts), makeRows(0, 8000, 200), 1000) // 1.6 MB of text
	if load.TakeShelvedWriter[testRow](opts) {
		t.Errorf("the writer of a file of %d bytes was shelved", large.Bytes)
	}
	writeAll(t, load.NewFileWriter[testRow](opts), makeRows(0, 50, 0), 10)
	if !load.TakeShelvedWriter[testRow](opts) {
		t.Error("a writer that closed a small file cleanly was not shelved")
	}
}
