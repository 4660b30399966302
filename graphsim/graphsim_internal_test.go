package graphsim

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

var isoDurationTests = []struct {
	d    time.Duration
	long bool
	want string
}{
	{16 * time.Millisecond, false, "PT0.016S"},
	{time.Second, false, "PT1S"},
	{0, false, "PT0S"},
	{62500 * time.Millisecond, false, "PT1M2.5S"},
	{time.Hour + 100*time.Nanosecond, false, "PT1H0.0000001S"},
	{26 * time.Hour, false, "P1DT2H"},
	{2 * time.Millisecond, true, "P0DT0H0M0.002S"},
	{90 * time.Second, true, "P0DT0H1M30S"},
	{-3 * time.Millisecond, false, "-PT0.003S"},
}

func TestAppendISODuration(t *testing.T) {
	for _, tt := range isoDurationTests {
		if got := string(appendISODuration(nil, tt.d, tt.long)); got != tt.want {
			t.Errorf("appendISODuration(%v, %v) = %q, want %q", tt.d, tt.long, got, tt.want)
		}
	}
}

func TestAppendTS(t *testing.T) {
	ts := time.Date(2020, 2, 25, 19, 0, 24, 582757000, time.UTC)
	tests := []struct {
		st   tsStyle
		want string
	}{
		{tsSeven, "2020-02-25T19:00:24.5827570Z"},
		{tsTrimmed, "2020-02-25T19:00:24.582757Z"},
		{tsSeconds, "2020-02-25T19:00:24Z"},
	}
	for _, tt := range tests {
		if got := string(appendTS(nil, ts, tt.st)); got != tt.want {
			t.Errorf("appendTS(%v, %d) = %q, want %q", ts, tt.st, got, tt.want)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	tests := []string{"", "plain", `"Ace" Walker`, `back\slash`, "line\nbreak\ttab\x01", "Ødegård 🎧", "李娜", "bad \xff byte"}
	for _, s := range tests {
		b := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Errorf("appendJSONString(%q) = %s, not valid JSON: %v", s, b, err)
			continue
		}
		if want := strings.ToValidUTF8(s, "\ufffd"); got != want {
			t.Errorf("appendJSONString(%q) round-trips to %q, want %q", s, got, want)
		}
	}
}

func TestRecordIDRoundTrip(t *testing.T) {
	s := New(Config{Seed: 99, RecordsPerDay: 1000})
	other := New(Config{Seed: 100, RecordsPerDay: 1000})
	for _, c := range []struct {
		day int64
		idx int
	}{{20500, 0}, {20500, 999}, {20530, 417}, {0, 5}} {
		id := s.recordID(c.day, c.idx)
		if _, err := parseGUIDStrict(id); err != nil {
			t.Fatalf("recordID(%d, %d) = %q: %v", c.day, c.idx, id, err)
		}
		d, i, ok := s.decodeID(id)
		if !ok || d != c.day || i != c.idx {
			t.Errorf("decodeID(recordID(%d, %d)) = %d, %d, %v", c.day, c.idx, d, i, ok)
		}
		if d, i, ok := s.decodeID(strings.ToUpper(id)); !ok || d != c.day || i != c.idx {
			t.Errorf("decodeID(upper(%s)) = %d, %d, %v", id, d, i, ok)
		}
		if _, _, ok := other.decodeID(id); ok {
			t.Errorf("seed 100 accepts seed 99's id %s", id)
		}
	}
	for _, bad := range []string{"", "x", "e523d2ed-2966-4b6b-925b-754a88034cc5", "e523d2ed29664b6b925b754a88034cc5"} {
		if _, _, ok := s.decodeID(bad); ok {
			t.Errorf("decodeID(%q) = ok, want unknown", bad)
		}
	}
}

// parseGUIDStrict checks the 8-4-4-4-12 shape and the version/variant bits.
func parseGUIDStrict(s string) ([16]byte, error) {
	b, ok := parseGUID(s)
	if !ok || b[6]>>4 != 4 || b[8]>>6 != 2 {
		return b, &json.SyntaxError{}
	}
	return b, nil
}

func TestParseFilter(t *testing.T) {
	t0 := time.Date(2023, 9, 25, 9, 25, 0, 0, time.UTC)
	tests := []struct {
		in      string
		lo, hi  time.Time
		wantErr bool
	}{
		{"", farPast, farFuture, false},
		{"startDateTime ge 2023-09-25T09:25:00Z", t0, farFuture, false},
		{"startDateTime gt 2023-09-25T09:25:00Z", t0.Add(time.Nanosecond), farFuture, false},
		{"startDateTime le 2023-09-25T09:25:00Z", farPast, t0.Add(time.Nanosecond), false},
		{"startDateTime lt 2023-09-25T09:25:00.1234567Z", farPast, t0.Add(123456700), false},
		{"startDateTime ge 2023-09-25T09:25:00Z and startDateTime lt 2023-09-25T09:30:00Z", t0, t0.Add(5 * time.Minute), false},
		{"(startDateTime ge 2023-09-25T09:25:00Z) AND (startDateTime lt 2023-09-25T11:30:00+02:00)", t0, t0.Add(5 * time.Minute), false},
		{"StartDateTime GE 2023-09-25T09:25:00Z", t0, farFuture, false},
		{"endDateTime ge 2023-09-25T09:25:00Z", time.Time{}, time.Time{}, true},
		{"startDateTime ge '2023-09-25T09:25:00Z'", time.Time{}, time.Time{}, true},
		{"startDateTime ne 2023-09-25T09:25:00Z", time.Time{}, time.Time{}, true},
		{"startDateTime ge 2023-09-25", time.Time{}, time.Time{}, true},
		{"startDateTime ge 2023-09-25T09:25:00Z or startDateTime lt 2023-09-25T09:30:00Z", time.Time{}, time.Time{}, true},
		{"startDateTime ge 2023-09-25T09:25:00Z and", time.Time{}, time.Time{}, true},
	}
	for _, tt := range tests {
		lo, hi, err := parseFilter(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseFilter(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err == nil && (!lo.Equal(tt.lo) || !hi.Equal(tt.hi)) {
			t.Errorf("parseFilter(%q) = [%v, %v), want [%v, %v)", tt.in, lo, hi, tt.lo, tt.hi)
		}
	}
}

func TestParsePrefer(t *testing.T) {
	h := http.Header{}
	h.Add("Prefer", `odata.maxpagesize=10, include-unknown-enum-members`)
	h.Add("Prefer", "omit-values=nulls")
	p := parsePrefer(h)
	if p != (prefs{maxPage: 10, unknownEnums: true, omitNulls: true}) {
		t.Errorf("parsePrefer(%v) = %+v", h, p)
	}
	if got := p.pageSize(60); got != 10 {
		t.Errorf("pageSize(60) = %d, want 10", got)
	}
	if got := (prefs{maxPage: 500}).pageSize(60); got != 60 {
		t.Errorf("pageSize(60) with maxpagesize=500 = %d, want 60", got)
	}
}

func TestStartOfIsOrdered(t *testing.T) {
	s := New(Config{Seed: 5, RecordsPerDay: 5000})
	prev, _ := s.startOf(20500, 0)
	for i := 1; i < 5000; i++ {
		st, _ := s.startOf(20500, i)
		if st.Before(prev) {
			t.Fatalf("startOf(20500, %d) = %v before index %d's %v", i, st, i-1, prev)
		}
		if dayOf(st) != 20500 {
			t.Fatalf("startOf(20500, %d) = %v, outside the day", i, st)
		}
		prev = st
	}
}

func BenchmarkListPage(b *testing.B) {
	now := time.Date(2026, 3, 15, 10, 20, 30, 0, time.UTC)
	s := New(Config{Seed: 1, RecordsPerDay: 33334, Now: func() time.Time { return now }})
	from := now.Add(-10 * 24 * time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		w := &jw{}
		s.scan(now, from, now, nil, func(_ pos, m *meta) bool {
			w.open("")
			s.writeRecordProps(w, m, now, false)
			w.close()
			n++
			return n < listPage
		})
	}
}

func BenchmarkGetPeerToPeer(b *testing.B) {
	now := time.Date(2026, 3, 15, 10, 20, 30, 0, time.UTC)
	s := New(Config{Seed: 1, RecordsPerDay: 33334, Now: func() time.Time { return now }})
	var ms []*meta
	s.scan(now, now.Add(-5*24*time.Hour), now, nil, func(_ pos, m *meta) bool {
		if m.kind == kindP2P {
			ms = append(ms, m)
		}
		return len(ms) < 100
	})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		w := &jw{}
		s.writeRecord(w, ms[i%len(ms)], now, getOpts{sessions: true, segments: true})
		i++
	}
}
