package extract_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/extract"
)

// usageFunc is one of the two report readers under test.
type usageFunc struct {
	name        string // Graph function name
	endpoint    string // Stats key
	toInclusive bool   // Graph's documented toDateTime semantics
	list        func(c *extract.Client, ctx context.Context, from, to time.Time, fn func(extract.UsageRow) error) error
}

var usageFuncs = []usageFunc{
	{"getPstnCalls", "pstn", true, (*extract.Client).ListPstnCalls},
	{"getDirectRoutingCalls", "directrouting", false, (*extract.Client).ListDirectRoutingCalls},
}

// MustListUsage lists [from, to) with f and fails on error.
func MustListUsage(tb testing.TB, c *extract.Client, f usageFunc, from, to time.Time) []extract.UsageRow {
	tb.Helper()
	var got []extract.UsageRow
	if err := f.list(c, context.Background(), from, to, func(r extract.UsageRow) error {
		got = append(got, r)
		return nil
	}); err != nil {
		tb.Fatalf("%s(%s, %s) = %v", f.name, from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano), err)
	}
	return got
}

func rowIDs(rs []extract.UsageRow) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// usageRow is a row served by fakeReports.
type usageRow struct {
	id    string
	start time.Time
}

// fakeReports serves getPstnCalls and getDirectRoutingCalls from a fixed
// set of rows, the way the Graph docs describe them: bounds on the start
// time, fromDateTime inclusive, toDateTime inclusive for PSTN and exclusive
// for Direct Routing, 406 beyond 90 days, $skip paging. It records every
// request URI.
type fakeReports struct {
	rows     []usageRow
	pageSize int
	// ignoreRange serves every row whatever the bounds, like a server that
	// strays from its own window.
	ignoreRange bool

	mu   sync.Mutex
	uris []string
}

var usagePathRE = regexp.MustCompile(`/v1\.0/communications/callRecords/(getPstnCalls|getDirectRoutingCalls)\(fromDateTime=([^,]+),toDateTime=([^)]+)\)$`)

func (f *fakeReports) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.uris = append(f.uris, r.RequestURI)
	f.mu.Unlock()
	m := usagePathRE.FindStringSubmatch(r.URL.Path)
	if m == nil {
		http.Error(w, `{"error":{"code":"BadRequest","message":"no such function"}}`, http.StatusBadRequest)
		return
	}
	lo, err1 := time.Parse(time.RFC3339Nano, m[2])
	hi, err2 := time.Parse(time.RFC3339Nano, m[3])
	if err1 != nil || err2 != nil || hi.Before(lo) {
		http.Error(w, `{"error":{"code":"BadRequest","message":"bad dates"}}`, http.StatusBadRequest)
		return
	}
	if hi.Sub(lo) > 90*24*time.Hour {
		http.Error(w, `{"error":{"code":"NotAcceptable","message":"window longer than 90 days"}}`, http.StatusNotAcceptable)
		return
	}
	inclusive := m[1] == "getPstnCalls"
	var sel []usageRow
	for _, row := range f.rows {
		in := !row.start.Before(lo) && (row.start.Before(hi) || inclusive && row.start.Equal(hi))
		if in || f.ignoreRange {
			sel = append(sel, row)
		}
	}
	skip, _ := strconv.Atoi(r.URL.Query().Get("$skip"))
	size := f.pageSize
	if size == 0 {
		size = 1000
	}
	end := min(skip+size, len(sel))
	vs := []map[string]any{}
	for _, row := range sel[min(skip, end):end] {
		vs = append(vs, map[string]any{"id": row.id, "startDateTime": row.start.Format(time.RFC3339Nano), "duration": 60})
	}
	p := map[string]any{"value": vs, "@odata.count": len(vs)}
	if end < len(sel) {
		p["@odata.nextLink"] = "http://" + r.Host + r.URL.Path + "?$skip=" + strconv.Itoa(end)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(p)
}

func (f *fakeReports) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.uris)
}

var usageDay = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)

func TestUsage_RequestURL(t *testing.T) {
	tests := []struct {
		name     string
		from, to time.Time
		want     string // after ".../callRecords/<function>"
	}{
		{"whole seconds", usageDay, usageDay.Add(24 * time.Hour),
			"(fromDateTime=2024-03-01T00:00:00Z,toDateTime=2024-03-02T00:00:00Z)"},
		{"fractions rounded up to 100 ns", usageDay.Add(1500 * time.Millisecond), usageDay.Add(time.Hour + 123456789),
			"(fromDateTime=2024-03-01T00:00:01.5Z,toDateTime=2024-03-01T01:00:00.1234568Z)"},
		{"other zone written in UTC", usageDay.In(time.FixedZone("X", 2*3600)), usageDay.Add(time.Hour),
			"(fromDateTime=2024-03-01T00:00:00Z,toDateTime=2024-03-01T01:00:00Z)"},
	}
	for _, f := range usageFuncs {
		for _, tt := range tests {
			t.Run(f.name+"/"+tt.name, func(t *testing.T) {
				fake := &fakeReports{}
				srv := httptest.NewServer(fake)
				defer srv.Close()
				c, _ := MustNewClient(t, extract.Config{BaseURL: srv.URL})
				MustListUsage(t, c, f, tt.from, tt.to)
				want := "/v1.0/communications/callRecords/" + f.name + tt.want
				if got := fake.requests(); len(got) != 1 || got[0] != want {
					t.Errorf("%s request URIs = %q, want [%q]", f.name, got, want)
				}
			})
		}
	}
}

func TestUsage_WindowIsHalfOpen(t *testing.T) {
	a := usageDay
	b, c := a.Add(24*time.Hour), a.Add(48*time.Hour)
	rows := []usageRow{
		{"at-a", a}, {"in-ab", a.Add(time.Hour)}, {"before-b", b.Add(-100 * time.Nanosecond)},
		{"at-b", b}, {"in-bc", b.Add(time.Hour)}, {"at-c", c}, {"after-c", c.Add(time.Hour)},
	}
	wantAB := []string{"at-a", "in-ab", "before-b"}
	wantBC := []string{"at-b", "in-bc"}
	for _, f := range usageFuncs {
		for _, ignore := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/ignoreRange=%v", f.name, ignore), func(t *testing.T) {
				srv := httptest.NewServer(&fakeReports{rows: rows, ignoreRange: ignore})
				defer srv.Close()
				cl, _ := MustNewClient(t, extract.Config{BaseURL: srv.URL})
				if got := rowIDs(MustListUsage(t, cl, f, a, b)); !slices.Equal(got, wantAB) {
					t.Errorf("%s[a, b) = %v, want %v", f.name, got, wantAB)
				}
				if got := rowIDs(MustListUsage(t, cl, f, b, c)); !slices.Equal(got, wantBC) {
					t.Errorf("%s[b, c) = %v, want %v", f.name, got, wantBC)
				}
			})
		}
	}
}

func TestUsage_SplitsLongWindows(t *testing.T) {
	const day = 24 * time.Hour
	grid := func(t time.Time) time.Time { return t.Add(99 * time.Nanosecond).Truncate(100 * time.Nanosecond) }
	for _, offset := range []time.Duration{0, 123 * time.Nanosecond} { // on and off Graph's 100 ns grid
		from := usageDay.Add(offset)
		to := from.Add(200 * day)
		// Rows on, just before and just after each chunk boundary and both
		// ends (on the grid), plus one a week.
		var rows []usageRow
		for _, edge := range []time.Time{from, from.Add(90 * day), from.Add(180 * day), to} {
			for _, d := range []time.Duration{-100, 0, 100} {
				at := grid(edge).Add(d * time.Nanosecond)
				rows = append(rows, usageRow{"edge-" + at.Format(time.RFC3339Nano), at})
			}
		}
		for i := range 30 {
			rows = append(rows, usageRow{fmt.Sprintf("week-%d", i), from.Add(time.Duration(i) * 7 * day).Truncate(100 * time.Nanosecond)})
		}
		var want []string
		for _, r := range rows {
			if !r.start.Before(from) && r.start.Before(to) {
				want = append(want, r.id)
			}
		}
		slices.Sort(want)
		for _, f := range usageFuncs {
			t.Run(fmt.Sprintf("%s/offset=%v", f.name, offset), func(t *testing.T) {
				fake := &fakeReports{rows: rows, pageSize: 4}
				srv := httptest.NewServer(fake)
				defer srv.Close()
				c, _ := MustNewClient(t, extract.Config{BaseURL: srv.URL})
				got := rowIDs(MustListUsage(t, c, f, from, to))
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Errorf("%s over 200 days = %v, want %v", f.name, got, want)
				}
				// The first pages of the requests tile [from, to) in spans of at most 90 days.
				var spans [][2]time.Time
				for _, uri := range fake.requests() {
					if strings.Contains(uri, "$skip") {
						continue
					}
					m := usagePathRE.FindStringSubmatch(uri)
					lo, _ := time.Parse(time.RFC3339Nano, m[2])
					hi, _ := time.Parse(time.RFC3339Nano, m[3])
					spans = append(spans, [2]time.Time{lo, hi})
				}
				if len(spans) != 3 {
					t.Fatalf("%s over 200 days sent %d windows %v, want 3", f.name, len(spans), spans)
				}
				if !spans[0][0].Equal(grid(from)) || !spans[2][1].Equal(grid(to)) {
					t.Errorf("windows %v do not start at %v and end at %v", spans, grid(from), grid(to))
				}
				for i, s := range spans {
					if d := s[1].Sub(s[0]); d <= 0 || d > 90*day {
						t.Errorf("window %d spans %v, want (0, 90 days]", i, d)
					}
					if i > 0 && !s[0].Equal(spans[i-1][1]) {
						t.Errorf("window %d starts at %v, want the end of window %d, %v", i, s[0], i-1, spans[i-1][1])
					}
				}
				if n := c.Stats().Requests[f.endpoint]; n != int64(len(fake.requests())) {
					t.Errorf("Stats.Requests[%q] = %d, want the %d requests served", f.endpoint, n, len(fake.requests()))
				}
			})
		}
	}
}

func TestUsage_FollowsSkipPages(t *testing.T) {
	var rows []usageRow
	for i := range 2500 {
		rows = append(rows, usageRow{fmt.Sprintf("r%04d", i), usageDay.Add(time.Duration(i) * time.Second)})
	}
	for _, f := range usageFuncs {
		t.Run(f.name, func(t *testing.T) {
			fake := &fakeReports{rows: rows}
			srv := httptest.NewServer(fake)
			defer srv.Close()
			c, _ := MustNewClient(t, extract.Config{BaseURL: srv.URL})
			got := MustListUsage(t, c, f, usageDay, usageDay.Add(24*time.Hour))
			if len(got) != len(rows) {
				t.Fatalf("%s = %d rows, want %d", f.name, len(got), len(rows))
			}
			for i, r := range got {
				if r.ID != rows[i].id || !r.StartDateTime.Equal(rows[i].start) {
					t.Fatalf("%s row %d = %s at %v, want %s at %v", f.name, i, r.ID, r.StartDateTime, rows[i].id, rows[i].start)
				}
			}
			reqs := fake.requests()
			if len(reqs) != 3 || !strings.HasSuffix(reqs[1], "?$skip=1000") || !strings.HasSuffix(reqs[2], "?$skip=2000") {
				t.Errorf("%s requests = %q, want the first page then $skip=1000 and $skip=2000", f.name, reqs)
			}
			if st := c.Stats(); st.Requests[f.endpoint] != 3 || st.Requests["list"] != 0 {
				t.Errorf("Stats.Requests = %v, want %s 3 and list 0", st.Requests, f.endpoint)
			}
		})
	}
}

func TestUsage_MalformedRowsPassedThrough(t *testing.T) {
	// Rows without a usable id or start reach fn as received, for the caller
	// to quarantine; a well-formed row outside the window does not.
	rows := []string{
		`{"id":"ok","startDateTime":"2024-03-01T01:00:00.1234567Z","charge":0.10}`,
		`{"id":"no-start"}`,
		`{"id":"bad-start","startDateTime":"yesterday"}`,
		`{"id":"null-start","startDateTime":null}`,
		`{"id":"sentinel-start","startDateTime":"0001-01-01T00:00:00Z"}`,
		`{"id":42,"startDateTime":"2024-03-01T02:00:00Z"}`,
		`{"startDateTime":"2024-03-01T03:00:00Z"}`,
		`"not an object"`,
		`{"id":"outside","startDateTime":"2024-03-05T00:00:00Z"}`,
	}
	type want struct {
		id    string
		start time.Time
	}
	wants := []want{
		{"ok", time.Date(2024, 3, 1, 1, 0, 0, 123456700, time.UTC)},
		{"no-start", time.Time{}}, {"bad-start", time.Time{}}, {"null-start", time.Time{}}, {"sentinel-start", time.Time{}},
		{"", usageDay.Add(2 * time.Hour)}, {"", usageDay.Add(3 * time.Hour)}, {"", time.Time{}},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"@odata.count":%d,"value":[%s]}`, len(rows), strings.Join(rows, ","))
	}))
	defer srv.Close()
	for _, f := range usageFuncs {
		c, _ := MustNewClient(t, extract.Config{BaseURL: srv.URL})
		got := MustListUsage(t, c, f, usageDay, usageDay.Add(24*time.Hour))
		if len(got) != len(wants) {
			t.Fatalf("%s = %d rows, want %d", f.name, len(got), len(wants))
		}
		for i, w := range wants {
			if got[i].ID != w.id || !got[i].StartDateTime.Equal(w.start) || string(got[i].Raw) != rows[i] {
				t.Errorf("%s row %d = {%q, %v, %s}, want {%q, %v, %s}", f.name, i, got[i].ID, got[i].StartDateTime, got[i].Raw, w.id, w.start, rows[i])
			}
		}
	}
}

func TestUsage_ForeignNextLinkRefused(t *testing.T) {
	var foreignHits atomic.Int64
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		foreignHits.Add(1)
		io.WriteString(w, `{"value":[{"id":"stolen","startDateTime":"2024-03-01T05:00:00Z"}]}`)
	}))
	defer foreign.Close()
	link := foreign.URL + "/v1.0/communications/callRecords/getPstnCalls(fromDateTime=2024-03-01,toDateTime=2024-03-02)?$skip=1"
	graph := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"value":[{"id":"a","startDateTime":"2024-03-01T01:00:00Z"}],"@odata.nextLink":%q}`, link)
	}))
	defer graph.Close()
	for _, f := range usageFuncs {
		c, _ := MustNewClient(t, extract.Config{BaseURL: graph.URL})
		var got []string
		err := f.list(c, context.Background(), usageDay, usageDay.Add(24*time.Hour), func(r extract.UsageRow) error {
			got = append(got, r.ID)
			return nil
		})
		if err == nil || !strings.Contains(err.Error(), link) {
			t.Errorf("%s with a foreign nextLink: error = %v, want one naming the link", f.name, err)
		}
		if !slices.Equal(got, []string{"a"}) {
			t.Errorf("%s rows before the bad link = %v, want [a]", f.name, got)
		}
	}
	if n := foreignHits.Load(); n != 0 {
		t.Errorf("foreign host got %d requests, want 0", n)
	}
}

func TestUsage_RetriesThrottlingAndServerErrors(t *testing.T) {
	// Each function's first page is throttled once, then fails with 503,
	// then succeeds; its second page is throttled once.
	for _, f := range usageFuncs {
		t.Run(f.name, func(t *testing.T) {
			var hits atomic.Int64
			fake := &fakeReports{pageSize: 2, rows: []usageRow{{"a", usageDay}, {"b", usageDay.Add(time.Hour)}, {"c", usageDay.Add(2 * time.Hour)}}}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch hits.Add(1) {
				case 1, 4:
					w.Header().Set("Retry-After", "3")
					w.WriteHeader(http.StatusTooManyRequests)
					io.WriteString(w, `{"error":{"code":"TooManyRequests","message":"Please retry again later."}}`)
				case 2:
					w.WriteHeader(http.StatusServiceUnavailable)
				default:
					fake.ServeHTTP(w, r)
				}
			}))
			defer srv.Close()
			c, rec := MustNewClient(t, extract.Config{BaseURL: srv.URL})
			if got := rowIDs(MustListUsage(t, c, f, usageDay, usageDay.Add(24*time.Hour))); !slices.Equal(got, []string{"a", "b", "c"}) {
				t.Errorf("%s = %v, want [a b c]", f.name, got)
			}
			st := c.Stats()
			if st.Requests[f.endpoint] != 5 || st.Retries != 3 || st.Throttled != 2 || st.ServerErrors != 1 {
				t.Errorf("stats = %+v, want 5 %s requests, 3 retries, 2 throttled, 1 server error", st, f.endpoint)
			}
			delays := rec.get()
			if len(delays) != 3 || delays[0] < 3*time.Second || delays[2] < 3*time.Second {
				t.Errorf("retry delays = %v, want 3 with the 429s honouring Retry-After: 3", delays)
			}
		})
	}
}

func TestUsage_PermanentErrorNotRetried(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"error":{"code":"Forbidden","message":"Missing role CallRecords.Read.All","innerError":{"request-id":"req-9"}}}`)
	}))
	defer srv.Close()
	for _, f := range usageFuncs {
		hits.Store(0)
		c, _ := MustNewClient(t, extract.Config{BaseURL: srv.URL})
		err := f.list(c, context.Background(), usageDay, usageDay.Add(time.Hour), func(extract.UsageRow) error { return nil })
		var ge *extract.GraphError
		if !errors.As(err, &ge) || ge.Status != http.StatusForbidden || ge.RequestID != "req-9" || !strings.Contains(err.Error(), f.name) {
			t.Errorf("%s against a 403 = %v, want a *GraphError 403 naming the function", f.name, err)
		}
		if hits.Load() != 1 {
			t.Errorf("%s attempts = %d, want 1", f.name, hits.Load())
		}
	}
}

func TestUsage_CallbackErrorAndEmptyWindow(t *testing.T) {
	var rows []usageRow
	for i := range 10 {
		rows = append(rows, usageRow{fmt.Sprintf("r%d", i), usageDay.Add(time.Duration(i) * time.Minute)})
	}
	srv := httptest.NewServer(&fakeReports{rows: rows, pageSize: 3})
	defer srv.Close()
	stop := errors.New("stop")
	for _, f := range usageFuncs {
		c, _ := MustNewClient(t, extract.Config{BaseURL: srv.URL})
		n := 0
		err := f.list(c, context.Background(), usageDay, usageDay.Add(time.Hour), func(extract.UsageRow) error {
			if n++; n == 4 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || n != 4 || !strings.Contains(err.Error(), "r3") {
			t.Errorf("%s with fn failing at 4 = %v after %d calls, want stop naming r3 after 4", f.name, err, n)
		}
		if got := c.Stats().Requests[f.endpoint]; got != 2 {
			t.Errorf("%s requests after fn failed on page 2 = %d, want 2", f.name, got)
		}
		if err := f.list(c, context.Background(), usageDay, usageDay, func(extract.UsageRow) error { return nil }); err == nil {
			t.Errorf("%s on an empty window = nil error, want an error", f.name)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := f.list(c, ctx, usageDay, usageDay.Add(time.Hour), func(extract.UsageRow) error { return nil }); !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context = %v, want context.Canceled", f.name, err)
		}
	}
}
