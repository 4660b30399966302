package jsonscan_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/graphsim"
	"github.com/callrecords-etl/callrecords-etl/jsonscan"
)

// cases are edge cases of the grammar, each valid or not as encoding/json
// says.
var cases = []string{
	``, ` `, `{}`, `[]`, `""`, `0`, `-0`, `-`, `01`, `1.`, `1.5`, `.5`, `1e5`, `1E+5`, `1e-5`, `1e`, `1e+`,
	`-1.5e10`, `--1`, `+1`, `1x`, `true`, `tru`, `truex`, `false`, `null`, `nul`, `NULL`, `nulll`,
	`"a`, `"\"`, `"\\"`, `"\/"`, `"\b\f\n\r\t"`, `"\u00e9"`, `"\u00G9"`, `"\u12"`, `"\x"`, "\"\x01\"",
	"\"\x7f\"", "\"\xff\xfe\"", "\"é\"", `{"a":1}`, `{"a":1,}`, `{"a" 1}`, `{"a":}`, `{a:1}`, `{"a":1 "b":2}`,
	`{"a":1}}`, `{"a":1}{}`, `[1,]`, `[,1]`, `[1 2]`, `[1,2]`, `[[[]]]`, `[[[]]`, `[]]`, ` {"a" : [ 1 , "x" , null ] } `,
	"{\"a\":\n1}", "\t[1]\r\n", `{"":""}`, `{"a":{"b":{"c":[true,false,null]}}}`, `[1e400]`, `"` + strings.Repeat("x", 100) + `"`,
	`"` + strings.Repeat("x", 13) + `\"` + strings.Repeat("y", 9) + `"`,
}

func TestValid_SameAsEncodingJSON(t *testing.T) {
	for _, c := range cases {
		if got, want := jsonscan.Valid([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("Valid(%q) = %t, encoding/json says %t", c, got, want)
		}
	}
}

// TestValid_Depth: nesting is limited where encoding/json limits it.
func TestValid_Depth(t *testing.T) {
	for _, n := range []int{jsonscan.MaxDepth, jsonscan.MaxDepth + 1} {
		for _, open := range []string{"[", `{"a":`} {
			close := map[string]string{"[": "]", `{"a":`: "}"}[open]
			doc := []byte(strings.Repeat(open, n) + "1" + strings.Repeat(close, n))
			if got, want := jsonscan.Valid(doc), json.Valid(doc); got != want {
				t.Errorf("%d levels of %s: Valid = %t, encoding/json says %t", n, open, got, want)
			}
		}
	}
	// A value found inside others counts their depth.
	doc := []byte(strings.Repeat("[", 10) + "1" + strings.Repeat("]", 10))
	if _, err := jsonscan.Skip(doc, 0, jsonscan.MaxDepth-10); err != nil {
		t.Errorf("10 levels at depth %d: %v", jsonscan.MaxDepth-10, err)
	}
	if _, err := jsonscan.Skip(doc, 0, jsonscan.MaxDepth-9); err == nil {
		t.Errorf("10 levels at depth %d: no error", jsonscan.MaxDepth-9)
	}
}

// TestSkip_EndsWhereTheValueEnds: Skip returns the index past the value, and
// the error names the offset where the input goes wrong.
func TestSkip_EndsWhereTheValueEnds(t *testing.T) {
	for _, tc := range []struct {
		in   string
		i    int
		want int
	}{
		{`{"a":[1,{"b":"}"}]} rest`, 0, 19},
		{`x "q\"uote" y`, 2, 11},
		{`[-1.5e3, true]`, 1, 7},
		{`[null]`, 1, 5},
	} {
		if got, err := jsonscan.Skip([]byte(tc.in), tc.i, 0); err != nil || got != tc.want {
			t.Errorf("Skip(%q, %d) = %d, %v; want %d", tc.in, tc.i, got, err, tc.want)
		}
	}
	_, err := jsonscan.Skip([]byte(`{"a":[1,2 3]}`), 0, 0)
	if e, ok := err.(*jsonscan.Error); !ok || e.Offset != 10 {
		t.Errorf("Skip of a missing comma: %v, want an error at byte 10", err)
	}
}

// TestValid_Mutations compares Valid with encoding/json on thousands of
// random edits of the simulator's call records: bytes that matter to the
// grammar inserted, deleted or replaced.
func TestValid_Mutations(t *testing.T) {
	docs := simulatorPieces(t)
	rng := rand.New(rand.NewPCG(7, 8))
	special := []byte(`{}[],:"\-+.eE0123456789tfnul ` + "\x00\x1f\x7f\x80\xff\n")
	valid := 0
	for n := range 20000 {
		doc := bytes.Clone(docs[rng.IntN(len(docs))])
		for range 1 + rng.IntN(3) {
			at := rng.IntN(len(doc))
			c := special[rng.IntN(len(special))]
			switch rng.IntN(3) {
			case 0:
				doc = append(doc[:at], append([]byte{c}, doc[at:]...)...)
			case 1:
				doc = append(doc[:at], doc[at+1:]...)
			default:
				doc[at] = c
			}
		}
		got, want := jsonscan.Valid(doc), json.Valid(doc)
		if got != want {
			t.Fatalf("mutation %d: Valid = %t, encoding/json says %t:\n%s", n, got, want, doc)
		}
		if want {
			valid++
		}
	}
	if valid == 0 || valid == 20000 {
		t.Fatalf("%d of the mutations valid: the check compares nothing", valid)
	}
}

// simulatorPieces returns pieces of the simulator's call records: their
// members and sessions of up to a few kilobytes (mutating a whole record at
// a time costs minutes for the same coverage).
func simulatorPieces(t *testing.T) [][]byte {
	t.Helper()
	now := time.Date(2026, 11, 20, 15, 30, 0, 0, time.UTC)
	sim := graphsim.New(graphsim.Config{Seed: 5, Now: func() time.Time { return now }, RecordsPerDay: 1})
	var docs [][]byte
	for _, id := range sim.Truth(now.Add(-5*24*time.Hour), now).IDs {
		raw, _ := sim.Record(id)
		var v map[string]json.RawMessage
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatal(err)
		}
		for _, part := range v {
			if len(part) > 20 && len(part) < 4096 {
				docs = append(docs, part)
			}
		}
		var sessions []json.RawMessage
		json.Unmarshal(v["sessions"], &sessions)
		for _, s := range sessions {
			if len(s) < 16384 {
				docs = append(docs, s)
			}
		}
	}
	if len(docs) < 10 {
		t.Fatalf("%d pieces of simulator records", len(docs))
	}
	return docs
}

// TestElements_SameAsSkip: Elements accepts and rejects what Skip does, with
// the same error at the same offset and the same end, and its elements are
// those encoding/json finds; on the grammar's edge cases inside arrays and
// on random edits of arrays of simulator pieces.
func TestElements_SameAsSkip(t *testing.T) {
	var docs [][]byte
	for _, c := range cases {
		docs = append(docs, []byte("["+c+"]"), []byte("[ "+c+" ,\n"+c+" ]"), []byte(c))
	}
	pieces := simulatorPieces(t)
	rng := rand.New(rand.NewPCG(9, 10))
	special := []byte(`{}[],:"\-+.eE0123456789tfnul ` + "\x00\x1f\n")
	for range 5000 {
		doc := []byte("[")
		for k := range rng.IntN(4) {
			if k > 0 {
				doc = append(doc, ", "[:1+rng.IntN(2)]...)
			}
			doc = append(doc, pieces[rng.IntN(len(pieces))]...)
		}
		doc = append(doc, ']')
		for range rng.IntN(3) {
			at := 1 + rng.IntN(len(doc)-1)
			doc = append(doc[:at], append([]byte{special[rng.IntN(len(special))]}, doc[at:]...)...)
		}
		docs = append(docs, doc)
	}
	valid := 0
	for _, doc := range docs {
		elems, end, err := jsonscan.Elements(doc, 0, 0, []json.RawMessage(nil))
		if len(doc) == 0 || doc[0] != '[' {
			if err == nil {
				t.Errorf("Elements(%q) of a non-array: no error", doc)
			}
			continue
		}
		wantEnd, wantErr := jsonscan.Skip(doc, 0, 0)
		if fmt.Sprint(err) != fmt.Sprint(wantErr) || end != wantEnd {
			t.Fatalf("Elements(%q) = %d, %v; Skip says %d, %v", doc, end, err, wantEnd, wantErr)
		}
		if err != nil {
			continue
		}
		valid++
		var want []json.RawMessage
		if err := json.Unmarshal(doc[:end], &want); err != nil {
			t.Fatalf("encoding/json rejects %q: %v", doc[:end], err)
		}
		if len(elems) != len(want) {
			t.Fatalf("Elements(%q) = %d elements, encoding/json finds %d", doc, len(elems), len(want))
		}
		for i := range want {
			if !bytes.Equal(elems[i], want[i]) {
				t.Fatalf("Elements(%q): element %d is %q, encoding/json says %q", doc, i, elems[i], want[i])
			}
		}
	}
	if valid < 100 || valid == len(docs) {
		t.Fatalf("%d of %d arrays valid: the mutations compare too little", valid, len(docs))
	}
	// The depth of what holds the array counts, as in Skip.
	deep := []byte(strings.Repeat("[", 5) + "1" + strings.Repeat("]", 5))
	for _, depth := range []int{jsonscan.MaxDepth - 5, jsonscan.MaxDepth - 4} {
		_, end, err := jsonscan.Elements(deep, 0, depth, [][]byte(nil))
		wantEnd, wantErr := jsonscan.Skip(deep, 0, depth)
		if fmt.Sprint(err) != fmt.Sprint(wantErr) || end != wantEnd {
			t.Errorf("5 levels at depth %d: Elements = %d, %v; Skip says %d, %v", depth, end, err, wantEnd, wantErr)
		}
	}
}

// TestPlainUntil compares the eight-bytes-at-a-time scan with a byte loop on
// random strings dense in the bytes it must stop at.
func TestPlainUntil(t *testing.T) {
	naive := func(b []byte, i int) int {
		for ; i < len(b); i++ {
			if c := b[i]; c == '"' || c == '\\' || c < 0x20 || c >= 0x80 {
				return i
			}
		}
		return i
	}
	rng := rand.New(rand.NewPCG(3, 4))
	special := []byte{'"', '\\', 0, 0x1f, 0x20, 0x7f, 0x80, 0xff, '!', '#', '[', ']', 0x21, 0x5b, 0x5d}
	for n := range 20000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			if rng.IntN(6) == 0 {
				b[i] = special[rng.IntN(len(special))]
			} else {
				b[i] = byte(0x20 + rng.IntN(0x5f))
			}
		}
		from := 0
		if len(b) > 0 {
			from = rng.IntN(len(b) + 1)
		}
		if got, want := jsonscan.PlainUntil(b, from), naive(b, from); got != want {
			t.Fatalf("case %d: PlainUntil(%q, %d) = %d, want %d", n, b, from, got, want)
		}
	}
}

func FuzzValid(f *testing.F) {
	for _, c := range cases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		if got, want := jsonscan.Valid(doc), json.Valid(doc); got != want {
			t.Fatalf("Valid(%q) = %t, encoding/json says %t", doc, got, want)
		}
	})
}

// BenchmarkValid: the scan against encoding/json's on the simulator's
// records.
func BenchmarkValid(b *testing.B) {
	now := time.Date(2026, 11, 20, 15, 30, 0, 0, time.UTC)
	sim := graphsim.New(graphsim.Config{Seed: 5, Now: func() time.Time { return now }, RecordsPerDay: 10})
	var docs [][]byte
	var size int64
	for _, id := range sim.Truth(now.Add(-10*24*time.Hour), now).IDs {
		raw, _ := sim.Record(id)
		var c bytes.Buffer
		json.Compact(&c, raw)
		docs = append(docs, c.Bytes())
		size += int64(c.Len())
	}
	for name, valid := range map[string]func([]byte) bool{"jsonscan": jsonscan.Valid, "encoding_json": json.Valid} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				for _, d := range docs {
					if !valid(d) {
						b.Fatal("invalid")
					}
				}
			}
		})
	}
}
