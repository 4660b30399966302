package graphsim

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// jw is a small streaming JSON writer that keeps keys in the order they are
// written (Graph's order, not Go's sorted map order) and applies the request's
// rendering preferences (omit-values=nulls, include-unknown-enum-members).
//
// Rendering preferences only change what is written, never which random
// numbers a generator draws, so the data stays identical across preferences.
type jw struct {
	b            []byte
	comma        []bool
	omitNulls    bool
	unknownEnums bool
}

func (w *jw) sep() {
	n := len(w.comma) - 1
	if n < 0 {
		return
	}
	if w.comma[n] {
		w.b = append(w.b, ',')
	} else {
		w.comma[n] = true
	}
}

// key writes the separator and the key; an empty key means an array element.
func (w *jw) key(k string) {
	w.sep()
	if k != "" {
		// Keys are the API's own property names: plain ASCII, no escaping.
		w.b = append(w.b, '"')
		w.b = append(w.b, k...)
		w.b = append(w.b, '"', ':')
	}
}

func (w *jw) open(k string) {
	w.key(k)
	w.b = append(w.b, '{')
	w.comma = append(w.comma, false)
}

func (w *jw) close() {
	w.comma = w.comma[:len(w.comma)-1]
	w.b = append(w.b, '}')
}

func (w *jw) openArr(k string) {
	w.key(k)
	w.b = append(w.b, '[')
	w.comma = append(w.comma, false)
}

func (w *jw) closeArr() {
	w.comma = w.comma[:len(w.comma)-1]
	w.b = append(w.b, ']')
}

func (w *jw) null(k string) {
	if w.omitNulls && k != "" {
		return
	}
	w.key(k)
	w.b = append(w.b, "null"...)
}

func (w *jw) str(k, v string) {
	w.key(k)
	w.b = appendJSONString(w.b, v)
}

// optStr writes v, or null when ok is false.
func (w *jw) optStr(k, v string, ok bool) {
	if !ok {
		w.null(k)
		return
	}
	w.str(k, v)
}

// strOrNull writes v, or null when v is empty.
func (w *jw) strOrNull(k, v string) { w.optStr(k, v, v != "") }

func (w *jw) int(k string, v int64) {
	w.key(k)
	w.b = strconv.AppendInt(w.b, v, 10)
}

func (w *jw) optInt(k string, v int64, ok bool) {
	if !ok {
		w.null(k)
		return
	}
	w.int(k, v)
}

func (w *jw) bool(k string, v bool) {
	w.key(k)
	w.b = strconv.AppendBool(w.b, v)
}

// enum writes an enum member. Evolvable members (those after
// unknownFutureValue) become unknownFutureValue unless the client sent
// Prefer: include-unknown-enum-members.
func (w *jw) enum(k, v string) {
	if !w.unknownEnums && evolvable[v] {
		v = "unknownFutureValue"
	}
	w.str(k, v)
}

// f32 writes an Edm.Single value the way the service does (shortest form).
func (w *jw) f32(k string, v float64) {
	w.key(k)
	w.b = strconv.AppendFloat(w.b, float64(float32(v)), 'g', -1, 32)
}

// raw writes an already encoded JSON value.
func (w *jw) raw(k string, v []byte) {
	w.key(k)
	w.b = append(w.b, v...)
}

// ts writes an Edm.DateTimeOffset in the record's timestamp style.
func (w *jw) ts(k string, t time.Time, st tsStyle) {
	w.key(k)
	w.b = append(w.b, '"')
	w.b = appendTS(w.b, t, st)
	w.b = append(w.b, '"')
}

// dur writes an Edm.Duration as an ISO 8601 string.
func (w *jw) dur(k string, d time.Duration, long bool) {
	w.key(k)
	w.b = append(w.b, '"')
	w.b = appendISODuration(w.b, d, long)
	w.b = append(w.b, '"')
}

// tsStyle is how a record's timestamps are written.
type tsStyle uint8

const (
	tsSeven   tsStyle = iota // 2020-02-25T18:52:21.2169889Z (7 digits, always)
	tsSeconds                // 2023-09-25T09:28:38Z (values are whole seconds)
	tsTrimmed                // 2020-02-25T19:00:24.582757Z (trailing zeros trimmed)
)

func appendTS(b []byte, t time.Time, st tsStyle) []byte {
	t = t.UTC()
	switch st {
	case tsSeconds:
		return t.AppendFormat(b, "2006-01-02T15:04:05Z")
	case tsTrimmed:
		return t.AppendFormat(b, "2006-01-02T15:04:05.9999999Z")
	default:
		return t.AppendFormat(b, "2006-01-02T15:04:05.0000000Z")
	}
}

// appendISODuration writes d as PT[nH][nM]n.nS, or in the long form
// P0DT0H0M0.002S that the service occasionally emits.
func appendISODuration(b []byte, d time.Duration, long bool) []byte {
	neg := d < 0
	if neg {
		b = append(b, '-')
		d = -d
	}
	ticks := int64(d / 100) // 100 ns resolution, like .NET TimeSpan
	totalSec := ticks / 1e7
	frac := ticks % 1e7
	days := totalSec / 86400
	h := totalSec % 86400 / 3600
	m := totalSec % 3600 / 60
	sec := totalSec % 60
	b = append(b, 'P')
	if long {
		b = strconv.AppendInt(b, days, 10)
		b = append(b, "DT"...)
		b = strconv.AppendInt(b, h, 10)
		b = append(b, 'H')
		b = strconv.AppendInt(b, m, 10)
		b = append(b, 'M')
		b = appendSecFrac(b, sec, frac)
		return append(b, 'S')
	}
	if days > 0 {
		b = strconv.AppendInt(b, days, 10)
		b = append(b, 'D')
	}
	b = append(b, 'T')
	if h > 0 {
		b = strconv.AppendInt(b, h, 10)
		b = append(b, 'H')
	}
	if m > 0 {
		b = strconv.AppendInt(b, m, 10)
		b = append(b, 'M')
	}
	if sec > 0 || frac > 0 || (h == 0 && m == 0 && days == 0) {
		b = appendSecFrac(b, sec, frac)
		b = append(b, 'S')
	}
	return b
}

func appendSecFrac(b []byte, sec, frac int64) []byte {
	b = strconv.AppendInt(b, sec, 10)
	if frac == 0 {
		return b
	}
	var digits [7]byte
	for i := 6; i >= 0; i-- {
		digits[i] = byte('0' + frac%10)
		frac /= 10
	}
	n := 7
	for n > 0 && digits[n-1] == '0' {
		n--
	}
	b = append(b, '.')
	return append(b, digits[:n]...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString quotes s as a JSON string, passing valid UTF-8 through
// unescaped (as Graph does) and escaping quotes, backslashes and controls.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"':
				b = append(b, '\\', '"')
			case '\\':
				b = append(b, '\\', '\\')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
