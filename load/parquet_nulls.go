package load

import (
	"math/bits"
	"reflect"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// parquet-go (up to v0.32.1, writeRowsFuncOfOptional; upstream issue #154)
// writes an optional field that is not a pointer, a list or a time — a
// string, a map, a []byte — by finding runs of NULLs (zero values) and of
// values in a bitmap of the rows of one call, at most 64 (a word: it hands
// its column writers 64 rows at a time). One test of that search is wrong:
// when a run of values starts at offset y of the word and is exactly y long,
// and only NULLs follow it in the word, it writes those NULLs as values (""
// instead of NULL). "-x-" is written as NULL, "x", "".
//
// Such rows could be written two at a time (a pattern needs three), at the
// cost of a call per pair for every column. Instead, a chunker holds the
// offsets of T's fields that take that path, and safeRows cuts the rows
// into the longest runs, up to 64, that parquet-go writes right: it finds,
// in each field's bitmap, the first row the search would get wrong
// (misWritten; its test compares it with parquet-go itself) and ends the
// chunk before it.

// nullField is a field written through parquet-go's bitmap search.
type nullField struct {
	offset uintptr
	kind   reflect.Kind // String, Map or Slice ([]byte): NULL when zero / nil
}

// chunker cuts rows of one row type into chunks parquet-go writes right.
type chunker struct {
	size   uintptr // of a row
	fields []nullField
	ok     bool // false: a field of a kind not modelled; write pairs
}

var chunkers sync.Map // reflect.Type → *chunker

func chunkerOf(t reflect.Type) *chunker {
	if c, ok := chunkers.Load(t); ok {
		return c.(*chunker)
	}
	c := &chunker{size: t.Size(), ok: true}
	if t.Kind() == reflect.Struct {
		c.ok = c.collect(t, 0)
	} else {
		c.ok = false
	}
	chunkers.Store(t, c)
	return c
}

var timeType = reflect.TypeFor[time.Time]()

// collect adds the fields of struct t (at offset) that parquet-go writes
// through its bitmap search: optional, and not a pointer, an interface, a
// list, a time. Nested and embedded structs are written with the same rows,
// so their fields count too; pointers and lists are written row by row.
// It reports false for an optional field of a kind not modelled here.
func (c *chunker) collect(t reflect.Type, offset uintptr) bool {
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("parquet")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" && tag != "-," { // "-," names a column "-"
			continue
		}
		optional, list := false, false
		for _, o := range strings.Split(opts, ",") {
			switch o {
			case "optional":
				optional = true
			case "list":
				list = true
			}
		}
		switch {
		case f.Type == timeType:
		case f.Type.Kind() == reflect.Struct:
			if !c.collect(f.Type, offset+f.Offset) {
				return false
			}
		case !optional:
		case f.Type.Kind() == reflect.Pointer, f.Type.Kind() == reflect.Interface:
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() != reflect.Uint8:
		case f.Type.Kind() == reflect.Slice && list:
		case f.Type.Kind() == reflect.String, f.Type.Kind() == reflect.Map, f.Type.Kind() == reflect.Slice:
			c.fields = append(c.fields, nullField{offset: offset + f.Offset, kind: f.Type.Kind()})
		default:
			return false // bool, numbers, arrays: not used by the schemas
		}
	}
	return true
}

// maxChunk is the most rows parquet-go hands its column writers at once.
const maxChunk = 64

// safeRows returns how many of the n rows at base (at most maxChunk; 2 if
// the type is not modelled) one call to parquet-go writes with every NULL
// intact. words is scratch space for the fields' bitmaps.
func (c *chunker) safeRows(base unsafe.Pointer, n int, words *[]uint64) int {
	if !c.ok {
		return min(n, 2)
	}
	n = min(n, maxChunk)
	*words = c.bitmaps(base, n, (*words)[:0])
	for {
		cut := n
		for _, w := range *words {
			if k := misWritten(w&(1<<n-1), n); k >= 0 {
				cut = min(cut, k)
			}
		}
		if cut == n {
			return n
		}
		// Fewer rows change what follows a run (rows past n are not
		// there): look again.
		n = cut
	}
}

// bitmaps appends to words each field's values (1) and NULLs (0) in the
// first n ≤ 64 rows, reading the rows in order.
func (c *chunker) bitmaps(base unsafe.Pointer, n int, words []uint64) []uint64 {
	words = append(words, make([]uint64, len(c.fields))...)
	for i := range n {
		row := unsafe.Add(base, uintptr(i)*c.size)
		for k, f := range c.fields {
			p := unsafe.Add(row, f.offset)
			var value bool
			switch f.kind {
			case reflect.String:
				value = len(*(*string)(p)) != 0
			case reflect.Map:
				value = *(*unsafe.Pointer)(p) != nil
			case reflect.Slice:
				value = unsafe.SliceData(*(*[]byte)(p)) != nil
			}
			if value {
				words[k] |= 1 << uint(i)
			}
		}
	}
	return words
}

// misWritten returns the first of n ≤ 64 rows, whose values are word's set
// bits, that parquet-go v0.32.1 writes wrong in one call, or -1. Its search
// gets a run of values wrong only when nothing but NULLs follow it in the
// word (it tests "the rest of the word is values" against (1<<y)-1, y the
// run's start): so only the last run [lo, hi], only when hi = 2lo-1, and
// only if a NULL follows it before n, which it then writes as a value.
func misWritten(word uint64, n int) int {
	if word == 0 {
		return -1
	}
	hi := 63 - bits.LeadingZeros64(word)
	lo := 0 // just above the last NULL below hi
	if nulls := ^word & (1<<hi - 1); nulls != 0 {
		lo = 64 - bits.LeadingZeros64(nulls)
	}
	if hi == 2*lo-1 && 2*lo < n { // lo ≥ 1: hi ≥ 0
		return 2 * lo
	}
	return -1
}
