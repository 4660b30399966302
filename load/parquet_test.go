package load_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/loadtest"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// testRow has the column shapes the lake uses: microsecond timestamps,
// optional values, a 3-level LIST and dictionary-encoded strings.
type testRow struct {
	ID      string    `parquet:"id"`
	Kind    string    `parquet:"kind,dict"`
	Start   time.Time `parquet:"start_time,timestamp(microsecond)"`
	End     time.Time `parquet:"end_time,optional,timestamp(microsecond)"`
	Count   int64     `parquet:"count"`
	Jitter  *float64  `parquet:"jitter_ms,optional"`
	Tags    []string  `parquet:"tags,list" parquet-element:",dict"`
	Payload string    `parquet:"payload"`
}

var kinds = []string{"groupCall", "peerToPeer", "unknown"}

// makeRows returns n deterministic rows starting at row number from;
// payload bytes of random text make them hard to compress.
func makeRows(from, n, payload int) []testRow {
	rnd := rand.New(rand.NewPCG(uint64(from), 7))
	base := time.Date(2024, 3, 4, 5, 6, 7, 0, time.UTC)
	rows := make([]testRow, n)
	for i := range rows {
		k := from + i
		r := testRow{
			ID:    fmt.Sprintf("call-%08d", k),
			Kind:  kinds[k%len(kinds)],
			Start: base.Add(time.Duration(k) * 1500 * time.Microsecond),
			Count: int64(k) * 3,
		}
		if k%4 != 0 {
			r.End = r.Start.Add(time.Duration(k%90) * time.Second)
		}
		if k%3 != 0 {
			j := float64(k) / 8
			r.Jitter = &j
		}
		for t := range k % 4 {
			r.Tags = append(r.Tags, kinds[(k+t)%len(kinds)])
		}
		if payload > 0 {
			b := make([]byte, payload)
			for i := range b {
				b[i] = byte('a' + rnd.IntN(26))
			}
			r.Payload = string(b)
		}
		rows[i] = r
	}
	return rows
}

func equalRows(a, b testRow) bool {
	return a.ID == b.ID && a.Kind == b.Kind && a.Start.Equal(b.Start) && a.End.Equal(b.End) &&
		a.Count == b.Count && (a.Jitter == nil) == (b.Jitter == nil) &&
		(a.Jitter == nil || *a.Jitter == *b.Jitter) && slices.Equal(a.Tags, b.Tags) && a.Payload == b.Payload
}

// writeAll writes rows in batches and closes the writer.
func writeAll(t *testing.T, w *load.FileWriter[testRow], rows []testRow, batch int) load.LocalFile {
	t.Helper()
	for len(rows) > 0 {
		n := min(batch, len(rows))
		if err := w.Write(rows[:n]); err != nil {
			t.Fatalf("Write = %v", err)
		}
		rows = rows[n:]
	}
	f, err := w.Close()
	if err != nil {
		t.Fatalf("Close = %v", err)
	}
	return f
}

// readAll reads every row of the files, in order.
func readAll(t *testing.T, files []load.LocalFile, batch int) []testRow {
	t.Helper()
	var got []testRow
	for _, f := range files {
		n := 0
		err := load.ReadParquet(f.Path, batch, func(rows []testRow) error {
			if len(rows) > batch {
				return fmt.Errorf("batch of %d rows, want at most %d", len(rows), batch)
			}
			n += len(rows)
			got = append(got, rows...)
			return nil
		})
		if err != nil {
			t.Fatalf("ReadParquet(%s) = %v", f.Path, err)
		}
		if int64(n) != f.Rows {
			t.Errorf("ReadParquet(%s) read %d rows, LocalFile.Rows = %d", f.Path, n, f.Rows)
		}
	}
	return got
}

func openParquet(t *testing.T, path string) *parquet.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(f, fi.Size())
	if err != nil {
		t.Fatalf("parquet.OpenFile(%s) = %v", path, err)
	}
	return pf
}

// dirEntries lists the names in dir.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestFileWriterRoundTrip(t *testing.T) {
	tmp := t.TempDir()
	w := load.NewFileWriter[testRow](load.ParquetOptions{
		TempDir:   tmp,
		CreatedBy: "callrecords-etl version test (build abc)",
		Metadata:  map[string]string{"etl.schema_version": "3", "etl.run_id": "run-1"},
	})
	want := makeRows(0, 10_000, 0)
	files := []load.LocalFile{writeAll(t, w, want, 1000)}
	if files[0].Rows != int64(len(want)) {
		t.Fatalf("Close = %+v, want a file of %d rows", files[0], len(want))
	}
	if fi, err := os.Stat(files[0].Path); err != nil || fi.Size() != files[0].Bytes {
		t.Errorf("LocalFile.Bytes = %d, file on disk: %v, %v", files[0].Bytes, fi, err)
	}
	if names := dirEntries(t, tmp); !slices.Equal(names, []string{filepath.Base(files[0].Path)}) {
		t.Errorf("TempDir after Close holds %q, want only the returned file", names)
	}

	got := readAll(t, files, 777)
	if len(got) != len(want) {
		t.Fatalf("read %d rows, want %d", len(got), len(want))
	}
	for i := range want {
		if !equalRows(got[i], want[i]) {
			t.Fatalf("row %d = %+v, want %+v", i, got[i], want[i])
		}
	}

	pf := openParquet(t, files[0].Path)
	md := pf.Metadata()
	if md.CreatedBy != "callrecords-etl version test (build abc)" {
		t.Errorf("created_by = %q", md.CreatedBy)
	}
	for k, v := range map[string]string{"etl.schema_version": "3", "etl.run_id": "run-1"} {
		if got, ok := pf.Lookup(k); !ok || got != v {
			t.Errorf("metadata %s = %q, %v; want %q", k, got, ok, v)
		}
	}
	schema := pf.Schema().String()
	for _, want := range []string{
		"required int64 start_time (TIMESTAMP(isAdjustedToUTC=true,unit=MICROS))",
		"optional int64 end_time (TIMESTAMP(isAdjustedToUTC=true,unit=MICROS))",
		"optional double jitter_ms",
		"required group tags (LIST)",
	} {
		if !strings.Contains(schema, want) {
			t.Errorf("schema lacks %q:\n%s", want, schema)
		}
	}
	for _, rg := range md.RowGroups {
		for _, cc := range rg.Columns {
			col := strings.Join(cc.MetaData.PathInSchema, ".")
			if cc.MetaData.Codec != format.Zstd {
				t.Errorf("column %s codec = %v, want ZSTD", col, cc.MetaData.Codec)
			}
			if cc.ColumnIndexOffset == 0 || cc.OffsetIndexOffset == 0 {
				t.Errorf("column %s has no page index", col)
			}
			dict := slices.Contains(cc.MetaData.Encoding, format.RLEDictionary)
			if wantDict := col == "kind" || col == "tags.list.element"; dict != wantDict {
				t.Errorf("column %s dictionary-encoded = %v, want %v (encodings %v)", col, dict, wantDict, cc.MetaData.Encoding)
			}
		}
	}
	// Page statistics: the start_time column index bounds the real values.
	col, ok := pf.Schema().Lookup("start_time")
	if !ok {
		t.Fatal("no start_time column")
	}
	ci, err := pf.RowGroups()[0].ColumnChunks()[col.ColumnIndex].ColumnIndex()
	if err != nil {
		t.Fatalf("ColumnIndex(start_time) = %v", err)
	}
	first := ci.MinValue(0).Int64()
	if wantMin := want[0].Start.UnixMicro(); first != wantMin {
		t.Errorf("start_time page 0 min = %d, want %d", first, wantMin)
	}
}

// TestFileWriterOneFile: however many rows, one file (one object per
// table, day and tenant in the lake), in bounded row groups.
func TestFileWriterOneFile(t *testing.T) {
	tmp := t.TempDir()
	w := load.NewFileWriter[testRow](load.ParquetOptions{TempDir: tmp, MaxRowGroupBytes: 256 << 10})
	want := makeRows(0, 6000, 200) // ≈ 1.2 MB of random text
	f := writeAll(t, w, want, 500)
	if f.Rows != int64(len(want)) {
		t.Fatalf("Close = %+v, want one file of %d rows", f, len(want))
	}
	if groups := openParquet(t, f.Path).Metadata().RowGroups; len(groups) < 3 {
		t.Errorf("%d row groups, want several of at most 256 KiB", len(groups))
	}
	if names := dirEntries(t, tmp); !slices.Equal(names, []string{filepath.Base(f.Path)}) {
		t.Errorf("TempDir after Close holds %q, want only the file", names)
	}
	got := readAll(t, []load.LocalFile{f}, 1024)
	for i := range want {
		if i >= len(got) || !equalRows(got[i], want[i]) {
			t.Fatalf("row %d differs or is missing", i)
		}
	}
}

func TestFileWriterRowGroups(t *testing.T) {
	tests := []struct {
		name     string
		opts     load.ParquetOptions
		rows     int
		payload  int
		minGroup int // at least this many row groups
		maxRows  int64
	}{
		{"by rows", load.ParquetOptions{MaxRowsPerRowGroup: 1000}, 5500, 0, 6, 1000},
		{"by bytes", load.ParquetOptions{MaxRowGroupBytes: 64 << 10}, 4000, 200, 5, 4000},
	}
	for _, tt := range tests {
		tt.opts.TempDir = t.TempDir()
		w := load.NewFileWriter[testRow](tt.opts)
		f := writeAll(t, w, makeRows(0, tt.rows, tt.payload), 700)
		groups := openParquet(t, f.Path).Metadata().RowGroups
		if len(groups) < tt.minGroup {
			t.Errorf("%s: %d row groups, want at least %d", tt.name, len(groups), tt.minGroup)
		}
		var total int64
		for i, rg := range groups {
			total += rg.NumRows
			if rg.NumRows > tt.maxRows {
				t.Errorf("%s: row group %d has %d rows, want at most %d", tt.name, i, rg.NumRows, tt.maxRows)
			}
		}
		if total != int64(tt.rows) {
			t.Errorf("%s: row groups hold %d rows, want %d", tt.name, total, tt.rows)
		}
	}
}

func TestFileWriterNoRows(t *testing.T) {
	tmp := t.TempDir()
	w := load.NewFileWriter[testRow](load.ParquetOptions{TempDir: tmp})
	if err := w.Write(nil); err != nil {
		t.Fatalf("Write(nil) = %v", err)
	}
	f, err := w.Close()
	if err != nil || f.Path != "" {
		t.Errorf("Close without rows = %+v, %v; want no file, nil", f, err)
	}
	if names := dirEntries(t, tmp); len(names) != 0 {
		t.Errorf("TempDir after Close without rows holds %q, want nothing", names)
	}
	if _, err := w.Close(); err == nil {
		t.Errorf("second Close = nil, want an error")
	}
	if err := w.Write(makeRows(0, 1, 0)); err == nil {
		t.Errorf("Write after Close = nil, want an error")
	}
}

func TestFileWriterAbort(t *testing.T) {
	tmp := t.TempDir()
	w := load.NewFileWriter[testRow](load.ParquetOptions{TempDir: tmp, MaxRowGroupBytes: 64 << 10, SpillPages: true})
	for i := range 10 {
		if err := w.Write(makeRows(i*300, 300, 200)); err != nil {
			t.Fatalf("Write = %v", err)
		}
	}
	if names := dirEntries(t, tmp); len(names) < 2 {
		t.Fatalf("TempDir while writing holds %q, want the file in progress and page buffers", names)
	}
	w.Abort()
	if names := dirEntries(t, tmp); len(names) != 0 {
		t.Errorf("TempDir after Abort holds %q, want nothing", names)
	}
	if f, err := w.Close(); err == nil || f.Path != "" {
		t.Errorf("Close after Abort = %+v, %v; want an error", f, err)
	}
}

type badTagRow struct {
	X int64 `parquet:"x,no-such-option"`
}

func TestFileWriterBadStructTag(t *testing.T) {
	tmp := t.TempDir()
	w := load.NewFileWriter[badTagRow](load.ParquetOptions{TempDir: tmp})
	if err := w.Write([]badTagRow{{1}}); err == nil {
		t.Fatalf("Write with an invalid struct tag = nil, want an error")
	}
	if _, err := w.Close(); err == nil {
		t.Errorf("Close after a failed Write = nil, want the error")
	}
	if names := dirEntries(t, tmp); len(names) != 0 {
		t.Errorf("TempDir after failed Write and Close holds %q, want nothing", names)
	}
}

func TestReadParquetErrors(t *testing.T) {
	tmp := t.TempDir()
	f := writeAll(t, load.NewFileWriter[testRow](load.ParquetOptions{TempDir: tmp}), makeRows(0, 3000, 0), 3000)
	stop := errors.New("stop")
	calls := 0
	err := load.ReadParquet(f.Path, 1000, func([]testRow) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("ReadParquet with failing fn = %v after %d calls, want %v after 1", err, calls, stop)
	}
	notParquet := filepath.Join(tmp, "x.parquet")
	os.WriteFile(notParquet, []byte("not parquet at all"), 0o644)
	for _, path := range []string{notParquet, filepath.Join(tmp, "missing.parquet")} {
		if err := load.ReadParquet(path, 10, func([]testRow) error { return nil }); err == nil {
			t.Errorf("ReadParquet(%s) = nil, want an error", path)
		}
	}
}

func TestDownload(t *testing.T) {
	ctx := context.Background()
	s := loadtest.Memory()
	tmp := t.TempDir()
	f := writeAll(t, load.NewFileWriter[testRow](load.ParquetOptions{TempDir: tmp}), makeRows(0, 2000, 10), 500)
	data, err := os.ReadFile(f.Path)
	if err != nil {
		t.Fatal(err)
	}
	loadtest.MustPut(t, s, "t/dt=2024-03-04/part-0.parquet", data)

	dl := t.TempDir()
	path, etag, err := load.Download(ctx, s, "t/dt=2024-03-04/part-0.parquet", dl)
	if err != nil {
		t.Fatalf("Download = %v", err)
	}
	if head, err := s.Head(ctx, "t/dt=2024-03-04/part-0.parquet"); err != nil || etag != head {
		t.Errorf("Download etag = %q, want Head's %q (%v)", etag, head, err)
	}
	if filepath.Dir(path) != dl {
		t.Errorf("Download path %s is not in %s", path, dl)
	}
	if got := readAll(t, []load.LocalFile{{Path: path, Rows: 2000}}, 512); len(got) != 2000 {
		t.Errorf("downloaded file has %d rows, want 2000", len(got))
	}
	os.Remove(path)
	if _, _, err := load.Download(ctx, s, "t/missing.parquet", dl); !errors.Is(err, load.ErrNotExist) {
		t.Errorf("Download(missing) = %v, want ErrNotExist", err)
	}
	if names := dirEntries(t, dl); len(names) != 0 {
		t.Errorf("download dir holds %q after a failed Download, want nothing", names)
	}
}

// TestDownload_LocalLinks: from a local store Download links the stored file
// (same file, no copy), and the copy outlives the stored file's deletion.
func TestDownload_LocalLinks(t *testing.T) {
	ctx := context.Background()
	root, dl := t.TempDir(), t.TempDir()
	s := MustLocalStore(t, root)
	data := []byte("PAR1 stand-in bytes")
	loadtest.MustPut(t, s, "t/dt=2024-03-04/a.parquet", data)
	path, etag, err := load.Download(ctx, s, "t/dt=2024-03-04/a.parquet", dl)
	if err != nil {
		t.Fatalf("Download = %v", err)
	}
	if head, err := s.Head(ctx, "t/dt=2024-03-04/a.parquet"); err != nil || etag != head {
		t.Errorf("Download etag = %q, want Head's %q (%v)", etag, head, err)
	}
	src, _ := os.Stat(filepath.Join(root, "t", "dt=2024-03-04", "a.parquet"))
	dst, _ := os.Stat(path)
	if !os.SameFile(src, dst) {
		t.Errorf("Download from a local store copied the file; want a link")
	}
	if err := s.Delete(ctx, "t/dt=2024-03-04/a.parquet"); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(path); err != nil || string(got) != string(data) {
		t.Errorf("downloaded file after the stored one was deleted = %q, %v", got, err)
	}
	if _, _, err := load.Download(ctx, s, "t/missing.parquet", dl); !errors.Is(err, load.ErrNotExist) {
		t.Errorf("Download(missing) = %v, want ErrNotExist", err)
	}
}

// nullRow is written with optional value fields; nullable reads it back with
// pointers, which tell NULL from a zero value.
type nullRow struct {
	S string    `parquet:"s,optional"`
	T time.Time `parquet:"t,optional,timestamp(microsecond)"`
}

type nullable struct {
	S *string    `parquet:"s,optional"`
	T *time.Time `parquet:"t,optional,timestamp(microsecond)"`
}

// TestFileWriterNullsWhateverTheBatch: an optional field's zero value ("", a
// zero time) is NULL in the file whatever rows it is written with. parquet-go's
// batch path wrote the third row of {"", "x", ""} as "" (and a zero time as
// 0001-01-01): NULL or not depended on how rows were batched.
func TestFileWriterNullsWhateverTheBatch(t *testing.T) {
	ts := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	for _, pattern := range []string{"-x-", "-x--", "-xx-", "x-x-", "--x-", "-x-x-x-", "xx--x-xxx---x"} {
		rows := make([]nullRow, len(pattern))
		for i, c := range pattern {
			if c == 'x' {
				rows[i] = nullRow{S: "x", T: ts}
			}
		}
		w := load.NewFileWriter[nullRow](load.ParquetOptions{TempDir: t.TempDir()})
		if err := w.Write(rows); err != nil {
			t.Fatal(err)
		}
		f, err := w.Close()
		if err != nil {
			t.Fatal(err)
		}
		got, err := parquet.ReadFile[nullable](f.Path)
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range pattern {
			if wantNull := c == '-'; (got[i].S == nil) != wantNull || (got[i].T == nil) != wantNull {
				t.Errorf("pattern %s, row %d: string NULL %v, time NULL %v; want NULL %v", pattern, i, got[i].S == nil, got[i].T == nil, wantNull)
			}
		}
	}
}

// nullKinds has one optional field of each kind parquet-go writes through
// its bitmap search (a string, a map, a byte slice), and a time.
type nullKinds struct {
	S string          `parquet:"s,optional"`
	M map[string]bool `parquet:"m,optional"`
	B []byte          `parquet:"b,optional"`
	T time.Time       `parquet:"t,optional,timestamp(microsecond)"`
}

// TestFileWriterNulls_LongRandomRuns: NULLs stay NULL and values values in
// thousands of rows of random runs written in one Write (and in uneven
// ones), with row groups cut by row count at offsets that are not multiples
// of 64 and by Flush: the chunks handed to parquet-go keep their alignment.
func TestFileWriterNulls_LongRandomRuns(t *testing.T) {
	ts := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(7, 8))
	rows := make([]nullKinds, 20_000)
	want := make([][4]bool, len(rows)) // value (not NULL) per field
	for i := 0; i < len(rows); {
		// Runs of 1 to 200 rows, sparse ones the most (a value, then
		// NULLs to the end of parquet-go's word of 64 rows: what its
		// search gets wrong).
		n := min(1+rng.IntN(200), len(rows)-i)
		density := []float64{0, 0.01, 0.03, 0.1, 0.5, 0.9, 1}[rng.IntN(7)]
		for k := i; k < i+n; k++ {
			for f := range 4 {
				want[k][f] = rng.Float64() < density
			}
			if want[k][0] {
				rows[k].S = "s"
			}
			if want[k][1] {
				rows[k].M = map[string]bool{"m": true}
			}
			if want[k][2] {
				rows[k].B = []byte("b")
			}
			if want[k][3] {
				rows[k].T = ts
			}
		}
		i += n
	}
	for _, tc := range []struct {
		name  string
		opts  load.ParquetOptions
		split []int // Write calls of these sizes, a Flush after each
	}{
		{"one write", load.ParquetOptions{}, nil},
		{"row groups of 37 rows", load.ParquetOptions{MaxRowsPerRowGroup: 37}, nil},
		{"uneven writes and flushes", load.ParquetOptions{MaxRowsPerRowGroup: 997}, []int{1, 3, 63, 65, 130, 5000, 7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.TempDir = t.TempDir()
			w := load.NewFileWriter[nullKinds](tc.opts)
			rest := rows
			for _, n := range tc.split {
				if err := w.Write(rest[:n]); err != nil {
					t.Fatal(err)
				}
				if err := w.Flush(); err != nil {
					t.Fatal(err)
				}
				rest = rest[n:]
			}
			if err := w.Write(rest); err != nil {
				t.Fatal(err)
			}
			f, err := w.Close()
			if err != nil {
				t.Fatal(err)
			}
			defer os.Remove(f.Path)
			got := readNullness(t, f.Path, "s", "m", "b", "t")
			if len(got) != len(rows) {
				t.Fatalf("%d rows read, want %d", len(got), len(rows))
			}
			bad := 0
			for i := range got {
				if got[i] != want[i] {
					if bad++; bad <= 5 {
						t.Errorf("row %d: value (not NULL) per column %v, want %v", i, got[i], want[i])
					}
				}
			}
			if bad > 0 {
				t.Errorf("%d of %d rows with a NULL written as a value or the reverse", bad, len(rows))
			}
		})
	}
}

type blobRow struct {
	ID   int64  `parquet:"id"`
	JSON []byte `parquet:"json,optional,json"`
}

// TestFileWriter_BlobPagesHoldTwoValues: rows of a table with blob columns
// reach parquet-go two at a time, however many are written at once: it cuts
// a page only between calls, and a call of many large values held them all
// in its column buffer (a second copy of up to 16 raw records of 8 MiB in
// carry-over). Other tables' rows go in longer chunks.
func TestFileWriter_BlobPagesHoldTwoValues(t *testing.T) {
	rows := make([]blobRow, 20)
	for i := range rows {
		rows[i] = blobRow{ID: int64(i), JSON: []byte(`"` + strings.Repeat(string(rune('a'+i)), 100_000) + `"`)}
	}
	pages := func(opts load.ParquetOptions) int {
		opts.TempDir = t.TempDir()
		w := load.NewFileWriter[blobRow](opts)
		if err := w.Write(rows); err != nil {
			t.Fatal(err)
		}
		f, err := w.Close()
		if err != nil {
			t.Fatal(err)
		}
		fh, err := os.Open(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		pf, err := parquet.OpenFile(fh, f.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, rg := range pf.RowGroups() {
			idx, err := rg.ColumnChunks()[1].OffsetIndex()
			if err != nil {
				t.Fatal(err)
			}
			n += idx.NumPages()
		}
		return n
	}
	if got := pages(load.ParquetOptions{BlobColumns: []string{"json"}, PageBufferSize: 64 << 10}); got < len(rows)/2 {
		t.Errorf("blob column: %d pages for %d values of 100 KB, want ≥ %d", got, len(rows), len(rows)/2)
	}
	if got := pages(load.ParquetOptions{PageBufferSize: 64 << 10}); got >= len(rows)/2 {
		t.Errorf("without blob columns: %d pages for %d values, want fewer than %d (one chunk)", got, len(rows), len(rows)/2)
	}
}

// readNullness reads, per row of the file at path, whether each of the
// named top-level fields holds a value (not NULL), from the definition level
// of its first leaf column (a map's keys).
func readNullness(t *testing.T, path string, fields ...string) [][4]bool {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		t.Fatal(err)
	}
	pf, err := parquet.OpenFile(fh, st.Size())
	if err != nil {
		t.Fatal(err)
	}
	field := map[int]int{} // leaf column → field
	seen := map[int]bool{}
	for c, col := range pf.Schema().Columns() {
		if f := slices.Index(fields, col[0]); f >= 0 && !seen[f] {
			field[c], seen[f] = f, true
		}
	}
	if len(field) != len(fields) {
		t.Fatalf("columns %v: found %d of fields %v", pf.Schema().Columns(), len(field), fields)
	}
	var out [][4]bool
	buf := make([]parquet.Row, 256)
	for _, rg := range pf.RowGroups() {
		rr := rg.Rows()
		for {
			k, err := rr.ReadRows(buf)
			for _, row := range buf[:k] {
				var r [4]bool
				for _, v := range row {
					if f, ok := field[v.Column()]; ok && v.DefinitionLevel() > 0 {
						r[f] = true
					}
				}
				out = append(out, r)
			}
			if err != nil {
				break
			}
		}
		rr.Close()
	}
	return out
}

// TestReadParquet_KeepsNulls: rows read back (what carry-over rewrites) keep
// their NULLs: every pointer of a zero row of each table stays nil.
// parquet-go v0.32.0's reader gave NULL columns of the wider tables non-nil
// zero values, so each rewrite of a day turned its NULL metrics into 0.
func TestReadParquet_KeepsNulls(t *testing.T) {
	checkNulls[schemas.CallRecordRow](t)
	checkNulls[schemas.SessionRow](t)
	checkNulls[schemas.SegmentRow](t)
	checkNulls[schemas.MediaRow](t)
	checkNulls[schemas.MediaStreamRow](t)
	checkNulls[schemas.ParticipantRow](t)
	checkNulls[schemas.PstnCallRow](t)
	checkNulls[schemas.DirectRoutingCallRow](t)
}

func checkNulls[T any](t *testing.T) {
	t.Helper()
	w := load.NewFileWriter[T](load.ParquetOptions{TempDir: t.TempDir()})
	if err := w.Write(make([]T, 3)); err != nil {
		t.Fatal(err)
	}
	f, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	var got []T
	if err := load.ReadParquet(f.Path, 2, func(rows []T) error { got = append(got, rows...); return nil }); err != nil {
		t.Fatal(err)
	}
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		for i := range v.NumField() {
			f, name := v.Field(i), path+"."+v.Type().Field(i).Name
			switch {
			case v.Type().Field(i).Anonymous:
				walk(f, name)
			case f.Kind() == reflect.Pointer && !f.IsNil():
				t.Errorf("%s: NULL read back as %v", name, f.Elem())
			}
		}
	}
	for _, r := range got {
		walk(reflect.ValueOf(r), reflect.TypeFor[T]().Name())
	}
}

// TestFileWriterFlush: Flush ends the row group (so a burst of rows leaves
// memory for the file); the rows are all there, in order.
func TestFileWriterFlush(t *testing.T) {
	w := load.NewFileWriter[testRow](load.ParquetOptions{TempDir: t.TempDir()})
	want := makeRows(0, 300, 10)
	for i := 0; i < 300; i += 100 {
		if err := w.Write(want[i : i+100]); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	f, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(openParquet(t, f.Path).Metadata().RowGroups); n != 3 {
		t.Errorf("%d row groups after 3 flushes, want 3", n)
	}
	got := readAll(t, []load.LocalFile{f}, 64)
	for i := range want {
		if i >= len(got) || !equalRows(got[i], want[i]) {
			t.Fatalf("row %d differs or is missing", i)
		}
	}
}

// TestRowDigest: rows a file stores alike have one digest (times below the
// microsecond are not stored); any stored difference, a NULL against an
// empty value included, changes it.
func TestRowDigest(t *testing.T) {
	type row struct {
		ID    string    `parquet:"id"`
		Start time.Time `parquet:"start,timestamp(microsecond)"`
		Name  *string   `parquet:"name,optional"`
		N     int64     `parquet:"n"`
	}
	empty, other := "", "x"
	base := row{ID: "a", Start: time.Date(2026, 11, 1, 10, 0, 0, 123456000, time.UTC), N: 7}
	same := base
	same.Start = same.Start.Add(789 * time.Nanosecond)
	if load.RowDigest(&base) != load.RowDigest(&same) {
		t.Error("a time differing below the microsecond changed the digest")
	}
	for name, change := range map[string]func(*row){
		"id":                  func(r *row) { r.ID = "b" },
		"a microsecond later": func(r *row) { r.Start = r.Start.Add(time.Microsecond) },
		"NULL to empty":       func(r *row) { r.Name = &empty },
		"NULL to a value":     func(r *row) { r.Name = &other },
		"a number":            func(r *row) { r.N = 8 },
	} {
		changed := base
		change(&changed)
		if load.RowDigest(&changed) == load.RowDigest(&base) {
			t.Errorf("%s: same digest", name)
		}
	}
}

// TestHasSchemaOf: a file is in T's schema when a FileWriter[T] wrote it,
// not when a column was added, dropped or retyped since.
func TestHasSchemaOf(t *testing.T) {
	type extra struct {
		testRow
		Dropped string `parquet:"dropped"`
	}
	type fewer struct {
		ID string `parquet:"id"`
	}
	type retyped struct { // testRow with kind an integer
		ID      string    `parquet:"id"`
		Kind    int64     `parquet:"kind"`
		Start   time.Time `parquet:"start_time,timestamp(microsecond)"`
		End     time.Time `parquet:"end_time,optional,timestamp(microsecond)"`
		Count   int64     `parquet:"count"`
		Jitter  *float64  `parquet:"jitter_ms,optional"`
		Tags    []string  `parquet:"tags,list" parquet-element:",dict"`
		Payload string    `parquet:"payload"`
	}
	dir := t.TempDir()
	same := writeAll(t, load.NewFileWriter[testRow](load.ParquetOptions{TempDir: dir}), makeRows(0, 3, 10), 3)
	if ok, err := load.HasSchemaOf[testRow](same.Path); err != nil || !ok {
		t.Errorf("a file of testRow: HasSchemaOf = %v, %v; want true", ok, err)
	}
	for name, path := range map[string]string{
		"a column more":    writeOne(t, dir, extra{}),
		"columns fewer":    writeOne(t, dir, fewer{ID: "a"}),
		"a column retyped": writeOne(t, dir, retyped{}),
	} {
		if ok, err := load.HasSchemaOf[testRow](path); err != nil || ok {
			t.Errorf("%s: HasSchemaOf = %v, %v; want false", name, ok, err)
		}
	}
	if _, err := load.HasSchemaOf[testRow](filepath.Join(dir, "missing.parquet")); err == nil {
		t.Error("a missing file: no error")
	}
}

// writeOne writes a file of one row and returns its path.
func writeOne[T any](t *testing.T, dir string, row T) string {
	t.Helper()
	w := load.NewFileWriter[T](load.ParquetOptions{TempDir: dir})
	if err := w.Write([]T{row}); err != nil {
		t.Fatal(err)
	}
	f, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	return f.Path
}
