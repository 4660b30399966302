package schemas

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

var jsonNull = []byte("null")

// Time is an Edm.DateTimeOffset as Graph sends it: RFC 3339 with up to seven
// fractional digits. JSON null, an empty string and the "no value" sentinel
// 0001-01-01T00:00:00Z all decode to the zero Time, which the Parquet writer stores
// as NULL in optional columns.
type Time struct{ time.Time }

// UnmarshalJSON implements json.Unmarshaler.
func (t *Time) UnmarshalJSON(b []byte) error {
	t.Time = time.Time{}
	if bytes.Equal(b, jsonNull) {
		return nil
	}
	if c, ok := plainBytes(b); ok {
		if v, ok := parseTimeBytes(c); ok {
			t.Time = v
			return nil
		}
	}
	s, ok := plainString(b)
	if !ok {
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("timestamp %s: %w", b, err)
		}
	}
	v, err := ParseTime(s)
	if err != nil {
		return err
	}
	t.Time = v
	return nil
}

// plainString returns the value of JSON string token b when it needs no
// unquoting (no escapes, control characters or non-ASCII bytes), which is
// what json.Unmarshal into a string gives for it; ok is false otherwise.
func plainString(b []byte) (s string, ok bool) {
	c, ok := plainBytes(b)
	return string(c), ok
}

// plainBytes is plainString without the string.
func plainBytes(b []byte) (c []byte, ok bool) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return nil, false
	}
	c = b[1 : len(b)-1]
	for _, x := range c {
		if x == '"' || x == '\\' || x < 0x20 || x >= 0x80 {
			return nil, false
		}
	}
	return c, true
}

// parseTimeBytes is ParseTime for the common case, without allocating; ok is
// false when ParseTime must decide (and explain).
func parseTimeBytes(c []byte) (time.Time, bool) {
	if len(c) == 0 {
		return time.Time{}, true
	}
	v, err := time.Parse(time.RFC3339Nano, string(c))
	if err != nil {
		return time.Time{}, false
	}
	if v.Year() <= 1 {
		return time.Time{}, true
	}
	return v.UTC().Truncate(time.Microsecond), true
}

// ParseTime parses a Graph timestamp into UTC, truncated to the microsecond the
// lake stores (Graph sends up to seven fractional digits). The 0001-01-01 sentinel
// and the empty string give the zero time.
func ParseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		// Graph sometimes omits the zone designator; it is UTC then.
		v2, err2 := time.Parse("2006-01-02T15:04:05.999999999", s)
		if err2 != nil {
			return time.Time{}, fmt.Errorf("timestamp %q: %w", s, err)
		}
		v = v2
	}
	if v.Year() <= 1 {
		return time.Time{}, nil
	}
	return v.UTC().Truncate(time.Microsecond), nil
}

// Float is an Edm.Single/Edm.Double metric. Graph sends numbers, null, or the
// strings "NaN", "INF" and "-INF"; the strings and null decode to NULL (Valid
// false), so aggregates in the lake are never poisoned by NaN or infinity.
type Float struct {
	Value float64
	Valid bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (f *Float) UnmarshalJSON(b []byte) error {
	*f = Float{}
	if bytes.Equal(b, jsonNull) {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		s, ok := plainString(b)
		if !ok {
			if err := json.Unmarshal(b, &s); err != nil {
				return fmt.Errorf("number %s: %w", b, err)
			}
		}
		switch strings.ToUpper(s) {
		case "NAN", "INF", "-INF", "INFINITY", "-INFINITY", "":
			return nil
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("number %q: %w", s, err)
		}
		b = []byte(strconv.FormatFloat(v, 'g', -1, 64))
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("number %s: %w", b, err)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	f.Value, f.Valid = v, true
	return nil
}

// Duration is an Edm.Duration: an ISO 8601 duration string such as "PT0.016S",
// "PT1M2.5S" or "P0DT0H0M0.002S". Go's time.ParseDuration cannot read these.
type Duration struct {
	Micros int64
	Valid  bool
}

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	*d = Duration{}
	if bytes.Equal(b, jsonNull) {
		return nil
	}
	if c, ok := plainBytes(b); ok {
		if len(c) == 0 {
			return nil
		}
		if us, ok := secondsDuration(c); ok {
			d.Micros, d.Valid = us, true
			return nil
		}
	}
	s, ok := plainString(b)
	if !ok {
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("duration %s: %w", b, err)
		}
	}
	if s == "" {
		return nil
	}
	us, err := ParseISODuration(s)
	if err != nil {
		return err
	}
	d.Micros, d.Valid = us, true
	return nil
}

// secondsDuration is ParseISODuration for the form Graph sends almost always,
// "PT<digits>[.<digits>]S", without allocating (same arithmetic); ok is false
// for any other form.
func secondsDuration(c []byte) (int64, bool) {
	if len(c) < 4 || c[0] != 'P' || c[1] != 'T' || c[len(c)-1] != 'S' {
		return 0, false
	}
	num := c[2 : len(c)-1]
	dot := -1
	for i, x := range num {
		switch {
		case x >= '0' && x <= '9':
		case x == '.' && dot < 0:
			dot = i
		default:
			return 0, false
		}
	}
	if dot == 0 || dot == len(num)-1 {
		return 0, false
	}
	n, err := strconv.ParseFloat(string(num), 64)
	if err != nil {
		return 0, false
	}
	var total float64 // as ParseISODuration sums it
	total += n * 1e6
	if total >= maxMicros {
		return 0, false // ParseISODuration says why
	}
	return int64(math.Round(total)), true
}

// maxMicros is the first float64 past int64's range (2^63).
const maxMicros = float64(1 << 63)

// ParseISODuration parses an ISO 8601 duration of the form [-]PnDTnHnMn.nS (weeks
// "nW" too; years and months are refused because their length is not fixed) and
// returns it in microseconds, rounded to the nearest microsecond.
func ParseISODuration(s string) (int64, error) {
	in := s
	neg := false
	if strings.HasPrefix(s, "-") {
		neg, s = true, s[1:]
	}
	if !strings.HasPrefix(s, "P") || len(s) < 2 {
		return 0, fmt.Errorf("duration %q: not an ISO 8601 duration", in)
	}
	s = s[1:]
	var total float64 // microseconds
	inTime := false
	seen := false
	for len(s) > 0 {
		if s[0] == 'T' {
			if inTime {
				return 0, fmt.Errorf("duration %q: repeated T", in)
			}
			inTime, s = true, s[1:]
			continue
		}
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.' || s[i] == ',') {
			i++
		}
		if i == 0 || i == len(s) {
			return 0, fmt.Errorf("duration %q: malformed", in)
		}
		n, err := strconv.ParseFloat(strings.ReplaceAll(s[:i], ",", "."), 64)
		if err != nil {
			return 0, fmt.Errorf("duration %q: %w", in, err)
		}
		unit := s[i]
		s = s[i+1:]
		var mult float64
		switch {
		case !inTime && unit == 'W':
			mult = 7 * 24 * 3600e6
		case !inTime && unit == 'D':
			mult = 24 * 3600e6
		case inTime && unit == 'H':
			mult = 3600e6
		case inTime && unit == 'M':
			mult = 60e6
		case inTime && unit == 'S':
			mult = 1e6
		default:
			return 0, fmt.Errorf("duration %q: unsupported unit %q", in, unit)
		}
		total += n * mult
		seen = true
	}
	if !seen {
		return 0, fmt.Errorf("duration %q: no components", in)
	}
	if total >= maxMicros { // would wrap around in int64
		return 0, fmt.Errorf("duration %q: longer than %d microseconds", in, int64(math.MaxInt64))
	}
	us := int64(math.Round(total))
	if neg {
		us = -us
	}
	return us, nil
}
