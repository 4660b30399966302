package jobs

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// readAll reads every record of input as importInput hands them out: a
// record's text, "too long: line 2", or the error that ended the input.
func readAll(t *testing.T, input io.Reader, limit int) []string {
	t.Helper()
	in, err := newImportInput(input, limit)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for {
		raw, pos, err := in.next()
		var tooLong *tooLongError
		switch {
		case errors.As(err, &tooLong):
			out = append(out, fmt.Sprintf("too long: %s %d", tooLong.unit, pos))
			continue
		case err != nil:
			return append(out, "error: "+err.Error())
		case raw == nil:
			return out
		}
		out = append(out, string(raw))
	}
}

// TestImportInput_Records: each record of each form is handed out alone, a
// bad one (not JSON, too long) without holding back the ones after it; what
// lies between records ends the input with its position.
func TestImportInput_Records(t *testing.T) {
	for _, tc := range []struct {
		name, input string
		limit       int
		want        []string
	}{
		{"array", ` [ {"a": 1, "b" : [true, null]} , "s\"t]" ,12.5e3, {"x":"y \\\" }{"}, [ ] ]  `, 100,
			[]string{`{"a":1,"b":[true,null]}`, `"s\"t]"`, `12.5e3`, `{"x":"y \\\" }{"}`, `[]`}},
		{"empty array", "[\n]\n", 100, nil},
		{"not JSON, then JSON", `[{"a": 1 2, "b": tru e}, {"b":2}]`, 100, []string{`{"a":1 2,"b":tru e}`, `{"b":2}`}},
		{"too long, then short", `[{"a":"0123456789abcdef"}, {"b":2}, "0123456789abcdefg"]`, 16,
			[]string{"too long: record 1", `{"b":2}`, "too long: record 3"}},
		{"pretty", "{\n  \"a\": 1\n}\n{\n  \"b\": [\n    2\n  ]\n}\n42", 100, []string{`{"a":1}`, `{"b":[2]}`, `42`}},
		{"pretty, too long", "{\n  \"a\": \"0123456789abcdef\"\n}\n{\n  \"b\": 2\n}\n", 16, []string{"too long: record 1", `{"b":2}`}},
		{"lines", "{\"a\":1}\r\n{\"a\":\"0123456789abcdef\"}\n\n  {\"b\":2}  \n{\"c\":3}", 16,
			[]string{`{"a":1}`, "too long: line 2", `{"b":2}`, `{"c":3}`}},
		{"a line of the limit", "{\"a\":\"01234567\"}\r\n", 16, []string{`{"a":"01234567"}`}},
		{"no comma", `[{"a":1} {"b":2}]`, 100, []string{`{"a":1}`, `error: read import: byte 9 of the input: '{' after record 1, where a comma or the array's end belongs`}},
		{"a comma too many", `[{"a":1},]`, 100, []string{`{"a":1}`, `error: read import: byte 9 of the input: ']' where record 2 belongs`}},
		{"not closed", `[{"a":1},`, 100, []string{`{"a":1}`, `error: read import record 2: the array is not closed (byte 9 of the input): unexpected EOF`}},
		{"cut inside a record", `[{"a":1}, {"b": "x`, 100, []string{`{"a":1}`, `error: read import record 2: the input ends inside it (it starts at byte 10): unexpected EOF`}},
		{"after the array", `[{"a":1}] {"b":2}`, 100, []string{`{"a":1}`, `error: read import: something follows the array at byte 10 of the input`}},
		{"pretty, cut", "{\n \"a\": 1\n}\n{\n \"b\": [", 100, []string{`{"a":1}`, `error: read import record 2: the input ends inside it (it starts at byte 12): unexpected EOF`}},
	} {
		for _, oneByte := range []bool{false, true} { // one byte a read: every boundary falls inside a record
			var src io.Reader = strings.NewReader(tc.input)
			if oneByte {
				src = iotest.OneByteReader(src)
			}
			if got := readAll(t, src, tc.limit); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("%s (one byte a read: %v):\n got %q\nwant %q", tc.name, oneByte, got, tc.want)
			}
		}
	}
}

// TestImportInput_Compacts: any JSON value, in an array or pretty-printed,
// comes out as json.Compact writes it.
func TestImportInput_Compacts(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var value func(depth int) any
	value = func(depth int) any {
		switch k := rng.IntN(8); {
		case depth > 3 || k < 2:
			return []any{nil, true, false, rng.Float64() * 1e6, -rng.IntN(1000)}[rng.IntN(5)]
		case k < 4:
			const alphabet = "ab \"\\/{}[],:\n\t\u00e9\u2028\U0001F600"
			r := []rune(alphabet)
			var b strings.Builder
			for range rng.IntN(12) {
				b.WriteRune(r[rng.IntN(len(r))])
			}
			return b.String()
		case k < 6:
			var a []any
			for range rng.IntN(4) {
				a = append(a, value(depth+1))
			}
			return a
		default:
			m := map[string]any{}
			for i := range rng.IntN(4) {
				m[fmt.Sprintf("k%d \"}", i)] = value(depth + 1)
			}
			return m
		}
	}
	var values []any
	for range 300 {
		values = append(values, value(0))
	}
	var want []string
	for _, v := range values {
		b, _ := json.Marshal(v)
		want = append(want, string(b))
	}
	array, _ := json.MarshalIndent(values, "", "  ")
	var pretty bytes.Buffer
	pretty.WriteString("{\n}\n") // the pretty form shows by a first line of "{"
	for _, v := range values {
		b, _ := json.MarshalIndent(v, "", "\t")
		pretty.Write(b)
		pretty.WriteString("\n")
	}
	if got := readAll(t, iotest.OneByteReader(bytes.NewReader(array)), 1<<20); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("array: %d values, want %d, or they differ", len(got), len(want))
	}
	if got := readAll(t, iotest.HalfReader(bytes.NewReader(pretty.Bytes())), 1<<20); strings.Join(got, "\n") != "{}\n"+strings.Join(want, "\n") {
		t.Errorf("pretty: %d values, want %d, or they differ", len(got), len(want)+1)
	}
}

// TestImportInput_TooLongIsNotHeld reads a record of 16 MiB in each form with
// a limit of 64 KiB: it is read past, and what the reading allocates does
// not grow with it.
func TestImportInput_TooLongIsNotHeld(t *testing.T) {
	const size = 16 << 20
	big := func() io.Reader { return io.LimitReader(repeatByte('x'), size) }
	for name, input := range map[string]func() io.Reader{
		"array": func() io.Reader {
			return io.MultiReader(strings.NewReader(`[{"a":"`), big(), strings.NewReader(`"}, {"b":2}]`))
		},
		"pretty": func() io.Reader {
			return io.MultiReader(strings.NewReader("{\n}\n{\n\"a\": \""), big(), strings.NewReader("\"\n}\n{\"b\":2}"))
		},
		"lines": func() io.Reader {
			return io.MultiReader(strings.NewReader(`{"a":"`), big(), strings.NewReader("\"}\n{\"b\":2}\n"))
		},
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		got := readAll(t, input(), 64<<10)
		runtime.ReadMemStats(&after)
		if n := len(got); n == 0 || got[n-1] != `{"b":2}` || !strings.HasPrefix(got[n-2], "too long: ") {
			for i, r := range got {
				if len(r) > 100 {
					got[i] = fmt.Sprintf("%.40s… (%d bytes)", r, len(r))
				}
			}
			t.Errorf("%s: %q, want the long record too long, then the next one", name, got)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
			t.Errorf("%s: reading past a record of %d MiB allocated %d MiB", name, size>>20, alloc>>20)
		}
	}
}

type repeatByte byte

func (b repeatByte) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

// TestImportInput_TooLongIsKept reads a record of 16 MiB in each form with a
// limit of 64 KiB: its bytes, as the form hands records out (a line without
// its ending, a value without insignificant space), go to a file as they
// are read, without what the reading allocates growing with them; without a
// directory, only their digest is kept.
func TestImportInput_TooLongIsKept(t *testing.T) {
	const size = 16 << 20
	big := func() io.Reader { return io.LimitReader(repeatByte('x'), size) }
	want := sha256.New()
	io.Copy(want, io.MultiReader(strings.NewReader(`{"a":"`), big(), strings.NewReader(`"}`)))
	for name, input := range map[string]func() io.Reader{
		"array": func() io.Reader {
			return io.MultiReader(strings.NewReader(`[{"a":"`), big(), strings.NewReader(`"}, {"b":2}]`))
		},
		"pretty": func() io.Reader {
			return io.MultiReader(strings.NewReader("{\n\"a\": \""), big(), strings.NewReader("\"\n}\n{\"b\":2}"))
		},
		"lines": func() io.Reader {
			return io.MultiReader(strings.NewReader(`{"a":"`), big(), strings.NewReader("\"}\r\n{\"b\":2}\n"))
		},
		"a last line": func() io.Reader {
			return io.MultiReader(strings.NewReader("{\"b\":2}\n{\"a\":\""), big(), strings.NewReader(`"}`))
		},
	} {
		for _, dir := range []string{t.TempDir(), ""} {
			in, err := newImportInput(input(), 64<<10)
			if err != nil {
				t.Fatal(err)
			}
			in.longDir = dir
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			var kept *longRecord
			var next []string
			for {
				raw, _, err := in.next()
				var tooLong *tooLongError
				if errors.As(err, &tooLong) {
					kept = tooLong.kept
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if raw == nil {
					break
				}
				next = append(next, string(raw))
			}
			runtime.ReadMemStats(&after)
			if kept == nil || !slices.Equal(next, []string{`{"b":2}`}) {
				t.Fatalf("%s: kept %v, read %q; want the long record kept and the other read", name, kept, next)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 4<<20 {
				t.Errorf("%s: keeping a record of %d MiB allocated %d MiB", name, size>>20, alloc>>20)
			}
			if !bytes.Equal(kept.Sum(), want.Sum(nil)) || kept.size != size+8 {
				t.Errorf("%s: kept %d bytes, SHA-256 %x; want %d, %x", name, kept.size, kept.Sum(), size+8, want.Sum(nil))
			}
			switch {
			case dir == "" && kept.file != nil:
				t.Errorf("%s: without a directory, a file was written", name)
			case dir != "":
				got := sha256.New()
				if n, err := io.Copy(got, kept.file); err != nil || n != size+8 || !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
					t.Errorf("%s: the file holds %d bytes (%v), SHA-256 %x; want the record's", name, n, err, got.Sum(nil))
				}
				kept.remove()
				if left, _ := os.ReadDir(dir); len(left) > 0 {
					t.Errorf("%s: %d files left after remove", name, len(left))
				}
			}
		}
	}
}

// TestImportInput_TooLongLineKeptExactly: the bytes kept of a line past the
// limit are the line without its ending, \n or \r\n, wherever the 1 MiB read
// buffer cuts it: a \r at a buffer's end that a \n follows is the ending's,
// any other \r (whitespace between tokens, or the input's last byte) is the
// line's; spaces around the record are the line's too.
func TestImportInput_TooLongLineKeptExactly(t *testing.T) {
	const buffer = 1 << 20
	record := func(size int, cr int) []byte { // a JSON line of size bytes, a \r at cr if cr ≥ 0
		b := bytes.Repeat([]byte(" "), size)
		copy(b, `{"a":`)
		copy(b[size-len(`"x"}`):], `"x"}`)
		if cr >= 0 {
			b[cr] = '\r'
		}
		return b
	}
	padded := append(append([]byte(" \t"), record(2*buffer-5, -1)...), " \t"...)
	cases := []struct {
		name  string
		line  []byte
		end   string
		limit int
	}{
		{"\\r\\n cut after the \\r", record(2*buffer-1, -1), "\r\n", 64 << 10},
		{"\\r\\n cut before the \\r", record(2*buffer, -1), "\r\n", 64 << 10},
		{"\\r\\n in one buffer", record(2*buffer-2, -1), "\r\n", 64 << 10},
		{"\\n after a full buffer", record(2*buffer, -1), "\n", 64 << 10},
		{"a \\r of the line at a buffer's end", record(2*buffer+9, buffer-1), "\r\n", 64 << 10},
		{"a \\r at the input's end", append(record(2*buffer-1, -1), '\r'), "", 64 << 10},
		{"spaces around the record", padded, "\r\n", 64 << 10},
		{"a \\r\\n line over the limit, read past", record(2*buffer-1, -1), "\r\n", 2*buffer - 2},
		{"a \\n line of the limit and a byte, held", record(buffer+1, -1), "\n", buffer},
		{"a \\r of the line held, then read past", record(buffer+8, buffer-1), "\r\n", buffer},
	}
	for _, c := range cases {
		input := append(append(slices.Clone(c.line), c.end...), "{\"b\":2}\n"...)
		if c.end == "" {
			input = c.line
		}
		in, err := newImportInput(bytes.NewReader(input), c.limit)
		if err != nil {
			t.Fatal(err)
		}
		in.longDir = t.TempDir()
		var kept []byte
		var next []string
		for {
			raw, _, err := in.next()
			var tooLong *tooLongError
			if errors.As(err, &tooLong) {
				if tooLong.kept.file == nil {
					t.Fatalf("%s: nothing kept", c.name)
				}
				if kept, err = io.ReadAll(tooLong.kept.file); err != nil {
					t.Fatal(err)
				}
				if want := sha256.Sum256(c.line); !bytes.Equal(tooLong.kept.Sum(), want[:]) || tooLong.kept.size != int64(len(c.line)) {
					t.Errorf("%s: the record's size %d, SHA-256 %x; want %d, %x", c.name, tooLong.kept.size, tooLong.kept.Sum(), len(c.line), want)
				}
				tooLong.kept.remove()
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if raw == nil {
				break
			}
			next = append(next, string(raw))
		}
		wantNext := []string{`{"b":2}`}
		if c.end == "" {
			wantNext = nil
		}
		if !slices.Equal(next, wantNext) {
			t.Errorf("%s: read %q after the long line, want %q", c.name, next, wantNext)
		}
		if !bytes.Equal(kept, c.line) {
			t.Errorf("%s: kept %d bytes (%q…%q), want the line's %d (%q…%q)", c.name, len(kept), head(kept), tail(kept), len(c.line), head(c.line), tail(c.line))
		}
	}
}

func head(b []byte) []byte { return b[:min(len(b), 8)] }
func tail(b []byte) []byte { return b[max(0, len(b)-8):] }
