// Package jsonscan validates and skips JSON text in one pass, without
// decoding it: how the extractor checks and splits what Graph sends, and how
// the decoder scans strings. It accepts exactly what encoding/json.Valid
// accepts (its tests compare the two), eight bytes at a time where it can.
package jsonscan

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"unicode/utf8"
)

// MaxDepth is how deeply arrays and objects may nest, as in encoding/json.
const MaxDepth = 10000

// Error is invalid JSON, at the byte offset where it shows.
type Error struct {
	Offset int
	Msg    string
}

func (e *Error) Error() string { return fmt.Sprintf("invalid JSON at byte %d: %s", e.Offset, e.Msg) }

// Valid reports whether b is one JSON value, with whitespace around it
// only.
func Valid(b []byte) bool {
	end, err := Skip(b, SkipSpace(b, 0), 0)
	return err == nil && SkipSpace(b, end) == len(b)
}

// Skip checks the JSON value that starts at b[i], found inside depth
// arrays and objects, and returns the index just past it.
func Skip(b []byte, i, depth int) (int, error) {
	s := scanner{b: b}
	end := s.value(i, depth)
	if s.err != nil {
		return 0, s.err
	}
	return end, nil
}

// Elements checks the JSON array that starts at b[i] (its '['), found inside
// depth arrays and objects, exactly as Skip does, and appends each element's
// bytes to elems: one pass where Skip and then a split would scan the array
// twice. It returns the index just past the array.
func Elements[E ~[]byte](b []byte, i, depth int, elems []E) ([]E, int, error) {
	s := scanner{b: b}
	if i >= len(b) || b[i] != '[' {
		return nil, 0, &Error{Offset: i, Msg: "want an array"}
	}
	if depth++; depth > MaxDepth {
		return nil, 0, &Error{Offset: i, Msg: "exceeded max depth"}
	}
	i = SkipSpace(b, i+1)
	if i < len(b) && b[i] == ']' {
		return elems, i + 1, nil
	}
	for {
		end := s.value(i, depth)
		if s.err != nil {
			return nil, 0, s.err
		}
		elems = append(elems, E(b[i:end]))
		switch i = SkipSpace(b, end); {
		case i < len(b) && b[i] == ',':
			i = SkipSpace(b, i+1)
		case i < len(b) && b[i] == ']':
			return elems, i + 1, nil
		default:
			return nil, 0, &Error{Offset: i, Msg: "want , or ] after an array element"}
		}
	}
}

// SkipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func SkipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// PlainUntil returns the index of the first byte from i on that a string
// scan must look at: a quote, a backslash, a control or a non-ASCII byte
// (len(b) if none). It tests eight bytes at a time: keys and values are
// mostly long runs of plain ASCII.
func PlainUntil(b []byte, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		q := x ^ (ones * '"')
		s := x ^ (ones * '\\')
		// A byte's high bit is set for a zero byte of q or s, a byte below
		// 0x20, or a non-ASCII byte; a borrow only marks bytes above the
		// first such byte, so the lowest mark is exact.
		m := ((q-ones)&^q | (s-ones)&^s | (x-ones*0x20)&^x | x) & highs
		if m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			return i
		}
	}
	return i
}

// SkipString checks the string token that starts at b[i] (its opening
// quote) and returns the index just past its closing quote.
func SkipString(b []byte, i int) (int, error) {
	s := scanner{b: b}
	end := s.str(i)
	if s.err != nil {
		return 0, s.err
	}
	return end, nil
}

// scanner holds the first error met; once it is set, the index it returns
// is meaningless and every caller unwinds.
type scanner struct {
	b   []byte
	err error
}

func (s *scanner) fail(i int, msg string) int {
	if s.err == nil {
		s.err = &Error{Offset: i, Msg: msg}
	}
	return len(s.b)
}

func (s *scanner) value(i, depth int) int {
	if i >= len(s.b) {
		return s.fail(i, "unexpected end of input")
	}
	switch c := s.b[i]; {
	case c == '{':
		return s.object(i, depth+1)
	case c == '[':
		return s.array(i, depth+1)
	case c == '"':
		return s.str(i)
	case c == '-' || c >= '0' && c <= '9':
		return s.number(i)
	case c == 't':
		return s.literal(i, "true")
	case c == 'f':
		return s.literal(i, "false")
	case c == 'n':
		return s.literal(i, "null")
	default:
		return s.fail(i, fmt.Sprintf("unexpected %q looking for a value", c))
	}
}

func (s *scanner) object(i, depth int) int {
	if depth > MaxDepth {
		return s.fail(i, "exceeded max depth")
	}
	i = SkipSpace(s.b, i+1)
	if i < len(s.b) && s.b[i] == '}' {
		return i + 1
	}
	for s.err == nil {
		if i >= len(s.b) || s.b[i] != '"' {
			return s.fail(i, "want a string key")
		}
		i = SkipSpace(s.b, s.str(i))
		if i >= len(s.b) || s.b[i] != ':' {
			return s.fail(i, "want : after an object key")
		}
		i = SkipSpace(s.b, s.value(SkipSpace(s.b, i+1), depth))
		switch {
		case s.err != nil:
		case i < len(s.b) && s.b[i] == ',':
			i = SkipSpace(s.b, i+1)
		case i < len(s.b) && s.b[i] == '}':
			return i + 1
		default:
			return s.fail(i, "want , or } after an object value")
		}
	}
	return len(s.b)
}

func (s *scanner) array(i, depth int) int {
	if depth > MaxDepth {
		return s.fail(i, "exceeded max depth")
	}
	i = SkipSpace(s.b, i+1)
	if i < len(s.b) && s.b[i] == ']' {
		return i + 1
	}
	for s.err == nil {
		i = SkipSpace(s.b, s.value(i, depth))
		switch {
		case s.err != nil:
		case i < len(s.b) && s.b[i] == ',':
			i = SkipSpace(s.b, i+1)
		case i < len(s.b) && s.b[i] == ']':
			return i + 1
		default:
			return s.fail(i, "want , or ] after an array element")
		}
	}
	return len(s.b)
}

func (s *scanner) str(i int) int {
	for i++; i < len(s.b); {
		i = PlainUntil(s.b, i)
		if i == len(s.b) {
			break
		}
		switch c := s.b[i]; {
		case c == '"':
			return i + 1
		case c < 0x20:
			return s.fail(i, "control character in a string")
		case c == '\\':
			if i+1 >= len(s.b) {
				return s.fail(i, "unexpected end of input in a string")
			}
			switch s.b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for k := i + 2; k < i+6; k++ {
					if k >= len(s.b) || !isHex(s.b[k]) {
						return s.fail(k, "invalid \\u escape")
					}
				}
				i += 6
			default:
				return s.fail(i+1, "invalid escape")
			}
		default: // not ASCII: encoding/json checks no UTF-8 here either
			i++
		}
	}
	return s.fail(len(s.b), "unexpected end of input in a string")
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func (s *scanner) number(i int) int {
	digits := func() int {
		n := 0
		for i < len(s.b) && s.b[i] >= '0' && s.b[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if s.b[i] == '-' {
		i++
	}
	switch {
	case i < len(s.b) && s.b[i] == '0':
		i++
	case i < len(s.b) && s.b[i] >= '1' && s.b[i] <= '9':
		digits()
	default:
		return s.fail(i, "want a digit in a number")
	}
	if i < len(s.b) && s.b[i] == '.' {
		i++
		if digits() == 0 {
			return s.fail(i, "want a digit after the decimal point")
		}
	}
	if i < len(s.b) && (s.b[i] == 'e' || s.b[i] == 'E') {
		i++
		if i < len(s.b) && (s.b[i] == '+' || s.b[i] == '-') {
			i++
		}
		if digits() == 0 {
			return s.fail(i, "want a digit in the exponent")
		}
	}
	return i
}

func (s *scanner) literal(i int, lit string) int {
	if len(s.b)-i >= len(lit) && string(s.b[i:i+len(lit)]) == lit {
		return i + len(lit)
	}
	return s.fail(i, "invalid literal, want "+lit)
}
