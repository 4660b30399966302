package extract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"2.128", 2128 * time.Millisecond, true},
		{"10", 10 * time.Second, true},
		{"0", 0, true},
		{" 3 ", 3 * time.Second, true},
		{now.Add(7 * time.Second).Format(http.TimeFormat), 7 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{"86400", maxRetryAfter, true},
		{"", 0, false},
		{"-1", 0, false},
		{"NaN", 0, false},
		{"soon", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("parseRetryAfter(%q) = %v, %v, want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestBackoff_FullJitterBounded(t *testing.T) {
	c := &Client{jitter: func(d time.Duration) time.Duration { return d }} // max of the range
	tests := []struct {
		n    int
		want time.Duration
	}{
		{0, 200 * time.Millisecond},
		{1, 400 * time.Millisecond},
		{5, 6400 * time.Millisecond},
		{8, 30 * time.Second},
		{62, 30 * time.Second},
		{1000, 30 * time.Second},
	}
	for _, tt := range tests {
		if got := c.backoff(tt.n); got != tt.want {
			t.Errorf("backoff(%d) upper bound = %v, want %v", tt.n, got, tt.want)
		}
	}
}

func TestGraphTime(t *testing.T) {
	tests := []struct {
		in   time.Time
		want string
	}{
		{time.Date(2023, 9, 25, 9, 25, 0, 0, time.UTC), "2023-09-25T09:25:00Z"},
		{time.Date(2023, 9, 25, 9, 25, 0, 216988900, time.UTC), "2023-09-25T09:25:00.2169889Z"},
		{time.Date(2023, 9, 25, 9, 25, 0, 216988901, time.UTC), "2023-09-25T09:25:00.216989Z"},
		{time.Date(2023, 9, 25, 11, 25, 0, 0, time.FixedZone("CEST", 2*3600)), "2023-09-25T09:25:00Z"},
	}
	for _, tt := range tests {
		if got := graphTime(tt.in); got != tt.want {
			t.Errorf("graphTime(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDecodeEncodeObject_KeepsOrderAndNumbers(t *testing.T) {
	in := `{"z":1,"id":"a","version":9007199254740993,"f":0.1000000000000000055511151231257827,"n":null,"o":{"b":1,"a":[1,2]}}`
	ms, err := splitObject([]byte(in))
	if err != nil {
		t.Fatalf("splitObject: %v", err)
	}
	var keys []string
	for _, m := range ms {
		keys = append(keys, m.key)
	}
	if got, want := keys, []string{"z", "id", "version", "f", "n", "o"}; !slices.Equal(got, want) {
		t.Fatalf("keys = %v, want %v", got, want)
	}
	out, err := encodeObject(ms)
	if err != nil {
		t.Fatalf("encodeObject: %v", err)
	}
	if string(out) != in {
		t.Fatalf("round trip = %s, want %s", out, in)
	}
	for _, bad := range []string{`[]`, `{"a":1}{}`, `{"a":`, `"x"`, `{"a":1,}`, `{"a" 1}`, `{"a":[1,]}`, `{"a":"\q"}`, `{"a":01}`, `{a:1}`, `{"a":1`, `{"a":tru}`, `{"a":"x` + "\n" + `"}`, ``} {
		if _, err := splitObject([]byte(bad)); err == nil {
			t.Errorf("splitObject(%s) = nil error, want an error", bad)
		}
	}
	if !json.Valid(out) {
		t.Fatalf("output is not valid JSON: %s", out)
	}
}

// The members splitObject is asked to split come with the elements a second
// scan (splitArray) would find; the others, and values that are not arrays,
// are split by member.array as before; invalid JSON inside a split array
// fails the split as it fails without.
func TestSplitObject_SplitsNamedArraysInOnePass(t *testing.T) {
	in := `{"value":[ {"id":"a","x":[1,2]} ,"s",3, null ,[]],"other":[1,2],"n":null,"e":[],"o":{"value":[9]}}`
	ms, err := splitObject([]byte(in), "value", "n", "e", "o")
	if err != nil {
		t.Fatalf("splitObject: %v", err)
	}
	for _, m := range ms {
		want, werr := splitArray(m.value)
		got, err := m.array()
		if m.split != (m.key == "value" || m.key == "e") {
			t.Errorf("%s: split = %t", m.key, m.split)
		}
		if fmt.Sprint(err) != fmt.Sprint(werr) || len(got) != len(want) {
			t.Errorf("%s: array() = %q, %v; splitArray says %q, %v", m.key, got, err, want, werr)
			continue
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Errorf("%s: element %d = %s, want %s", m.key, i, got[i], want[i])
			}
		}
	}
	if got, _ := ms[0].array(); len(got) != 5 || string(got[0]) != `{"id":"a","x":[1,2]}` {
		t.Errorf("value's elements = %q", got)
	}
	for _, bad := range []string{`{"value":[1,]}`, `{"value":[1 2]}`, `{"value":[1,{"a":tru}]}`, `{"value":[1`, `{"value":[]]}`} {
		if _, err := splitObject([]byte(bad), "value"); err == nil {
			t.Errorf("splitObject(%s, value) = nil error, want an error", bad)
		}
	}
}
