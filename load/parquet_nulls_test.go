package load

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/callrecords-etl/callrecords-etl/schemas"
)

type optRow struct {
	S string `parquet:"s,optional"`
}

type optRowRead struct {
	S *string `parquet:"s,optional"`
}

// TestMisWritten_IsWhatParquetGoDoes: misWritten names, for every pattern of
// NULLs and values of 1 to 12 rows and for random ones of up to 64, the
// first row parquet-go itself writes wrong when handed the pattern in one
// call (or none). If parquet-go is fixed, this
// fails: the chunking can then go.
func TestMisWritten_IsWhatParquetGoDoes(t *testing.T) {
	var patterns []uint64
	var lens []int
	for n := 1; n <= 12; n++ {
		for p := range uint64(1) << n {
			patterns, lens = append(patterns, p), append(lens, n)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		n := 13 + rng.IntN(52)
		var p uint64
		density := rng.Float64()
		for i := range n {
			if rng.Float64() < density {
				p |= 1 << i
			}
		}
		patterns, lens = append(patterns, p), append(lens, n)
	}

	var buf bytes.Buffer
	w := parquet.NewGenericWriter[optRow](&buf)
	for k, p := range patterns {
		rows := make([]optRow, lens[k])
		for i := range rows {
			if p>>i&1 == 1 {
				rows[i].S = "x"
			}
		}
		if _, err := w.Write(rows); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := parquet.Read[optRowRead](bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	wrong := 0
	for k, p := range patterns {
		rows := got[:lens[k]]
		got = got[lens[k]:]
		first := -1
		for i, r := range rows {
			if (r.S != nil) != (p>>i&1 == 1) {
				first = i
				break
			}
		}
		if first >= 0 {
			wrong++
		}
		if want := misWritten(p, lens[k]); first != want {
			t.Errorf("pattern %0*b (row 0 rightmost): parquet-go writes row %d wrong first, misWritten says %d", lens[k], p, first, want)
		}
	}
	if wrong == 0 {
		t.Error("parquet-go wrote every pattern right: its wrong test is gone upstream")
	}
}

// TestChunkerOf_EveryTable: every table's row type is cut by misWritten
// (not in pairs), and the fields it checks are the optional strings, maps
// and byte slices, found through embedded structs.
func TestChunkerOf_EveryTable(t *testing.T) {
	for _, tb := range append(schemas.Tables, schemas.RawTables...) {
		c := chunkerOf(reflect.TypeOf(tb.Row))
		if !c.ok {
			t.Errorf("%s: row type %T not modelled: written in pairs", tb.Name, tb.Row)
		}
	}
	c := chunkerOf(reflect.TypeFor[schemas.SessionRow]())
	kinds := map[reflect.Kind]int{}
	for _, f := range c.fields {
		kinds[f.kind]++
	}
	// session_id, failure reason and stage, and the caller's and callee's
	// optional strings (feedback tokens: a map each).
	if kinds[reflect.String] < 3+2*20 || kinds[reflect.Map] != 2 {
		t.Errorf("SessionRow: fields checked by kind %v; want ≥ 43 strings and 2 maps", kinds)
	}
	if c := chunkerOf(reflect.TypeFor[struct {
		B bool `parquet:"b,optional"`
	}]()); c.ok {
		t.Error("an optional bool (not modelled) is not refused")
	}
}
