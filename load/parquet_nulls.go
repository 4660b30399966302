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
// cost of a call per pair for every column. Instead, chunks holds the
// offsets of T's fields that take that path, and safeRows cuts the rows
// into the longest runs, up to 64, that parquet-go writes right: it
// replays parquet-go's search over each field's bitmap and ends a chunk
// before the first row it would write wrong.

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
		if name == "-" && opts == "" {
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
// intact.
func (c *chunker) safeRows(base unsafe.Pointer, n int) int {
	if !c.ok {
		return min(n, 2)
	}
	n = min(n, maxChunk)
	for {
		cut := n
		for _, f := range c.fields {
			if w := misWritten(c.bitmap(base, n, f), n); w >= 0 {
				cut = min(cut, w)
			}
		}
		if cut == n {
			return n
		}
		// Fewer rows change the search (bits past n are NULLs): look again.
		n = cut
	}
}

// bitmap is field f's values (1) and NULLs (0) in the first n ≤ 64 rows.
func (c *chunker) bitmap(base unsafe.Pointer, n int, f nullField) uint64 {
	var w uint64
	for i := range n {
		p := unsafe.Add(base, uintptr(i)*c.size+f.offset)
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
			w |= 1 << uint(i)
		}
	}
	return w
}

// misWritten replays parquet-go v0.32.1's search (writeRowsFuncOfOptional)
// over a word of n rows and returns the first row it writes as a value when
// it is NULL or the reverse, or -1. The search is copied step by step, its
// wrong test included (marked), so that the replay is what it does.
func misWritten(word uint64, n int) int {
	w := []uint64{word}
	value := func(k int) bool { return word>>uint(k)&1 == 1 }
	for i := 0; i < n; {
		x, y := i/64, i%64
		// A run of NULLs from i.
		found := false
		if y != 0 {
			if b := w[x] >> uint(y); b == 0 {
				x, y = x+1, 0
			} else {
				y += bits.TrailingZeros64(b)
				found = true
			}
		}
		if !found {
			for x < len(w) && w[x] == 0 {
				x++
			}
			if x < len(w) {
				y = bits.TrailingZeros64(w[x]) % 64
			}
		}
		j := min(x*64+y, n)
		for k := i; k < j; k++ {
			if value(k) {
				return k
			}
		}
		i = max(i, j)
		// A run of values from i.
		found = false
		if y != 0 {
			if b := w[x] >> uint(y); b == (1<<uint64(y))-1 { // the wrong test
				x, y = x+1, 0
			} else {
				y += bits.TrailingZeros64(^b)
				found = true
			}
		}
		if !found {
			for x < len(w) && w[x] == ^uint64(0) {
				x++
			}
			if x < len(w) {
				y = bits.TrailingZeros64(^w[x]) % 64
			}
		}
		j = min(x*64+y, n)
		for k := i; k < j; k++ {
			if !value(k) {
				return k
			}
		}
		i = max(i, j)
	}
	return -1
}
