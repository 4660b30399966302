package graphsim_test

import (
	"bytes"
	"encoding/json"
	"io"
	"maps"
	"math/big"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/graphsim"
)

// usageFn describes one of the two usage-report functions under test.
type usageFn struct {
	name        string // getPstnCalls / getDirectRoutingCalls
	rowType     string
	inclusiveTo bool
	kind        string // Stats.Requests key
}

var (
	pstnFn = usageFn{"getPstnCalls", "pstnCallLogRow", true, "pstn"}
	drFn   = usageFn{"getDirectRoutingCalls", "directRoutingLogRow", false, "directrouting"}
)

// truth returns the rows a request for (from, to) must return, applying
// the function's own bound semantics to the half-open Truth.
func (f usageFn) truth(sim *graphsim.Simulator, from, to time.Time) graphsim.UsageTruth {
	if f.inclusiveTo {
		return sim.PstnTruth(from, to.Add(time.Nanosecond))
	}
	return sim.DirectRoutingTruth(from, to)
}

// path is the function URL path with the given literals, as sent.
func (f usageFn) path(ns bool, from, to string) string {
	name := f.name
	if ns {
		name = "microsoft.graph.callRecords." + name
	}
	return listPath + "/" + name + "(fromDateTime=" + from + ",toDateTime=" + to + ")"
}

// usageRows is every row of a paged usage-function answer.
type usageRows struct {
	rows  []map[string]any // decoded with json.Number
	raw   []json.RawMessage
	ids   []string
	pages int
}

// fetchUsage follows @odata.nextLink from srv.URL+path, checking the page
// envelope of every page: @odata.context, @odata.count equal to the page's
// rows, full pages of pageSize rows until the last, and a nextLink that is
// the request URL with $skip set to the rows served so far.
func fetchUsage(tb testing.TB, srv *httptest.Server, f usageFn, path string, pageSize int, hdr ...string) usageRows {
	tb.Helper()
	var res usageRows
	base, query, _ := strings.Cut(path, "?")
	u := srv.URL + path
	for u != "" {
		r := MustGet(tb, srv.Client(), u, hdr...)
		MustOK(tb, r, f.name+" page "+strconv.Itoa(res.pages))
		var p struct {
			Context  string            `json:"@odata.context"`
			Count    *int              `json:"@odata.count"`
			Value    []json.RawMessage `json:"value"`
			NextLink string            `json:"@odata.nextLink"`
		}
		if err := json.Unmarshal(r.body, &p); err != nil {
			tb.Fatalf("%s page %d: %v", f.name, res.pages, err)
		}
		res.pages++
		if want := "https://graph.microsoft.com/v1.0/$metadata#Collection(microsoft.graph.callRecords." + f.rowType + ")"; p.Context != want {
			tb.Errorf("@odata.context = %q, want %q", p.Context, want)
		}
		if p.Count == nil || *p.Count != len(p.Value) {
			tb.Errorf("page %d: @odata.count = %v, want %d (rows in this page)", res.pages, p.Count, len(p.Value))
		}
		for _, raw := range p.Value {
			d := json.NewDecoder(bytes.NewReader(raw))
			d.UseNumber()
			var row map[string]any
			if err := d.Decode(&row); err != nil {
				tb.Fatalf("row %s: %v", raw, err)
			}
			res.rows = append(res.rows, row)
			res.raw = append(res.raw, raw)
			res.ids = append(res.ids, row["id"].(string))
		}
		if p.NextLink != "" {
			if len(p.Value) != pageSize {
				tb.Errorf("page %d has %d rows and a nextLink, want %d", res.pages, len(p.Value), pageSize)
			}
			want := srv.URL + base + "?"
			if query != "" {
				want += query + "&"
			}
			if want += "$skip=" + strconv.Itoa(len(res.rows)); p.NextLink != want {
				tb.Fatalf("nextLink = %q, want %q", p.NextLink, want)
			}
		}
		if res.pages > 1000 {
			tb.Fatalf("%s did not end after %d pages", f.name, res.pages)
		}
		u = p.NextLink
	}
	return res
}

func mustParseTS(tb testing.TB, v any) time.Time {
	tb.Helper()
	s, _ := v.(string)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		tb.Fatalf("timestamp %v: %v", v, err)
	}
	return t
}

func TestUsage_PagingMatchesTruth(t *testing.T) {
	from := time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)
	to := time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC)
	literals := []struct {
		name     string
		from, to string // as sent
		lo, hi   time.Time
	}{
		{"date only", "2026-03-05", "2026-03-08", from, to},
		{"timestamp", "2026-03-05T06:30:00Z", "2026-03-08T00:00:00.0000000Z", from.Add(6*time.Hour + 30*time.Minute), to},
		{"encoded fractional", "2026-03-05T06%3A30%3A00.1234567Z", "2026-03-08T12%3A00%3A00Z", from.Add(6*time.Hour + 30*time.Minute + 123456700), to.Add(12 * time.Hour)},
	}
	sim, srv := MustServe(t, graphsim.Config{Seed: 3, PstnPerDay: 500, DirectRoutingPerDay: 400})
	for _, f := range []usageFn{pstnFn, drFn} {
		for _, ns := range []bool{false, true} {
			for i, lit := range literals {
				name := f.name + "/" + lit.name
				if ns {
					name += "/namespaced"
				}
				t.Run(name, func(t *testing.T) {
					pageSize, hdr := 1000, []string(nil)
					if i == 1 {
						pageSize, hdr = 300, []string{"Prefer", "odata.maxpagesize=300"}
					}
					got := fetchUsage(t, srv, f, f.path(ns, lit.from, lit.to), pageSize, hdr...)
					want := f.truth(sim, lit.lo, lit.hi)
					if want.Rows < 1000 {
						t.Fatalf("truth has %d rows; the window should need several pages", want.Rows)
					}
					if got.pages < 2 {
						t.Errorf("%d rows came in %d page(s), want several", len(got.ids), got.pages)
					}
					if ids := sortedCopy(got.ids); !slices.Equal(ids, want.IDs) {
						t.Errorf("ids from pages: %d, truth: %d (or they differ)", len(ids), want.Rows)
					}
					if len(slices.Compact(sortedCopy(got.ids))) != len(got.ids) {
						t.Errorf("duplicate ids across pages")
					}
					var prevT time.Time
					prevID := ""
					for j, row := range got.rows {
						st := mustParseTS(t, row["startDateTime"])
						if st.Before(lit.lo) || st.After(lit.hi) || (!f.inclusiveTo && st.Equal(lit.hi)) {
							t.Errorf("row %s starts %v, outside the requested window", row["id"], st)
						}
						if j > 0 && (st.Before(prevT) || st.Equal(prevT) && row["id"].(string) < prevID) {
							t.Errorf("row %d (%v, %s) not in (startDateTime, id) order after (%v, %s)", j, st, row["id"], prevT, prevID)
						}
						prevT, prevID = st, row["id"].(string)
					}
				})
			}
		}
	}
}

// edgeRow is a row that starts exactly on an hour.
type edgeRow struct {
	id    string
	start time.Time
}

// edgeRows finds rows starting exactly at a UTC midnight and exactly on a
// later hour of the day, reading a 20-day window through the API.
func edgeRows(tb testing.TB, srv *httptest.Server, f usageFn) (midnight, hour edgeRow) {
	tb.Helper()
	got := fetchUsage(tb, srv, f, f.path(false, "2026-02-20", "2026-03-12"), 1000)
	for _, row := range got.rows {
		st := mustParseTS(tb, row["startDateTime"])
		switch {
		case st.Truncate(24*time.Hour).Equal(st) && midnight.id == "":
			midnight = edgeRow{row["id"].(string), st}
		case st.Truncate(time.Hour).Equal(st) && hour.id == "":
			hour = edgeRow{row["id"].(string), st}
		}
	}
	if midnight.id == "" || hour.id == "" {
		tb.Fatalf("%s: no row at exactly midnight (%q) or on the hour (%q) in 20 days", f.name, midnight.id, hour.id)
	}
	return midnight, hour
}

// literal formats t as a date-only literal at midnight, else as RFC 3339.
func literal(t time.Time) string {
	if t.Truncate(24 * time.Hour).Equal(t) {
		return t.Format(time.DateOnly)
	}
	return t.Format(time.RFC3339)
}

func TestUsage_WindowBounds(t *testing.T) {
	sim, srv := MustServe(t, graphsim.Config{Seed: 5})
	for _, f := range []usageFn{pstnFn, drFn} {
		midnight, hour := edgeRows(t, srv, f)
		for _, e := range []edgeRow{midnight, hour} {
			t.Run(f.name+"/"+e.start.Format(time.RFC3339), func(t *testing.T) {
				T := e.start
				get := func(lo, hi time.Time) []string {
					return fetchUsage(t, srv, f, f.path(false, literal(lo), literal(hi)), 1000).ids
				}
				before, after := get(T.Add(-time.Hour), T), get(T, T.Add(time.Hour))
				if !slices.Contains(after, e.id) {
					t.Errorf("row %s at %v missing when fromDateTime = its start (fromDateTime is inclusive)", e.id, T)
				}
				if got := slices.Contains(before, e.id); got != f.inclusiveTo {
					t.Errorf("row %s at %v returned = %v when toDateTime = its start, want %v", e.id, T, got, f.inclusiveTo)
				}
				// Consecutive windows sharing an edge: DR partitions the
				// rows exactly, PSTN returns the rows at the edge twice.
				all := f.truth(sim, T.Add(-time.Hour), T.Add(time.Hour)).IDs
				atEdge := sim.PstnTruth(T, T.Add(time.Nanosecond)).IDs
				if !f.inclusiveTo {
					atEdge = sim.DirectRoutingTruth(T, T.Add(time.Nanosecond)).IDs
				}
				union := sortedCopy(append(slices.Clone(before), after...))
				var twice []string
				for i := 1; i < len(union); i++ {
					if union[i] == union[i-1] {
						twice = append(twice, union[i])
					}
				}
				if f.inclusiveTo {
					if !slices.Equal(twice, sortedCopy(atEdge)) || !slices.Contains(twice, e.id) {
						t.Errorf("rows in both [T-1h,T] and [T,T+1h] = %v, want the rows starting at T %v", twice, atEdge)
					}
				} else if len(twice) != 0 || !slices.Equal(union, all) {
					t.Errorf("[T-1h,T) and [T,T+1h) overlap in %v or miss rows: %d+%d rows, want %d", twice, len(before), len(after), len(all))
				}
				if !f.inclusiveTo {
					if empty := get(T, T); len(empty) != 0 {
						t.Errorf("getDirectRoutingCalls(T, T) = %d rows, want 0 (toDateTime exclusive)", len(empty))
					}
				} else if same := get(T, T); !slices.Equal(sortedCopy(same), sortedCopy(atEdge)) {
					t.Errorf("getPstnCalls(T, T) = %v, want the rows at T %v", same, atEdge)
				}
			})
		}
	}
}

func TestUsage_Errors(t *testing.T) {
	tests := []struct {
		name   string
		path   string // after listPath
		status int
		code   string
		msg    string // substring of the message, if any
	}{
		{"pstn 91 days", "/getPstnCalls(fromDateTime=2025-12-01,toDateTime=2026-03-02)", 406, "", ""},
		{"dr 91 days", "/microsoft.graph.callRecords.getDirectRoutingCalls(fromDateTime=2025-12-01T00:00:00Z,toDateTime=2026-03-02T00:00:00Z)", 406, "", ""},
		{"pstn 90 days", "/getPstnCalls(fromDateTime=2025-12-05,toDateTime=2026-03-05)", 200, "", ""},
		{"dr 90 days", "/getDirectRoutingCalls(fromDateTime=2025-12-05,toDateTime=2026-03-05)", 200, "", ""},
		{"empty params", "/getPstnCalls(fromDateTime=,toDateTime=)", 400, "BadRequest", "Expression expected at position 13 in 'fromDateTime=,toDateTime='."},
		{"empty params namespaced dr", "/microsoft.graph.callRecords.getDirectRoutingCalls(fromDateTime=,toDateTime=)", 400, "BadRequest", "Expression expected at position 13"},
		{"bad month", "/getPstnCalls(fromDateTime=2026-13-01,toDateTime=2026-03-02)", 400, "BadRequest", ""},
		{"not a date", "/getDirectRoutingCalls(fromDateTime=yesterday,toDateTime=2026-03-02)", 400, "BadRequest", ""},
		{"quoted", "/getPstnCalls(fromDateTime='2026-03-01',toDateTime='2026-03-02')", 400, "BadRequest", ""},
		{"from after to", "/getPstnCalls(fromDateTime=2026-03-02,toDateTime=2026-03-01)", 400, "BadRequest", ""},
		{"missing to", "/getDirectRoutingCalls(fromDateTime=2026-03-01)", 400, "BadRequest", ""},
		{"doc nextLink names", "/getPstnCalls(from=2026-03-01,to=2026-03-02)", 400, "BadRequest", ""},
		{"negative skip", "/getPstnCalls(fromDateTime=2026-03-01,toDateTime=2026-03-02)?$skip=-1", 400, "BadRequest", ""},
		{"segment after function", "/getPstnCalls(fromDateTime=2026-03-01,toDateTime=2026-03-02)/value", 400, "BadRequest", ""},
		{"skip past the end", "/getPstnCalls(fromDateTime=2026-03-01,toDateTime=2026-03-02)?$skip=5000", 200, "", ""},
	}
	_, srv := MustServe(t, graphsim.Config{Seed: 1})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := MustGet(t, srv.Client(), srv.URL+listPath+tt.path)
			if r.status != tt.status {
				t.Fatalf("GET %s = %d, want %d: %.300s", tt.path, r.status, tt.status, r.body)
			}
			if tt.status == 200 {
				return
			}
			if code := graphError(t, r); tt.code != "" && code != tt.code {
				t.Errorf("code = %q, want %q", code, tt.code)
			}
			if !strings.Contains(string(r.body), tt.msg) {
				t.Errorf("body %s lacks %q", r.body, tt.msg)
			}
		})
	}
}

func TestUsage_AuthAndStats(t *testing.T) {
	sim, srv := MustServe(t, graphsim.Config{Seed: 1, Token: "secret"})
	paths := []string{
		pstnFn.path(false, "2026-03-01", "2026-03-02"), pstnFn.path(true, "2026-03-01", "2026-03-02"),
		drFn.path(false, "2026-03-01", "2026-03-02"), drFn.path(true, "2026-03-01", "2026-03-02"),
	}
	for _, p := range paths {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+p, nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("GET %s without a token = %d, want 401", p, resp.StatusCode)
		}
		if code := graphError(t, response{resp.StatusCode, resp.Header, b}); code != "InvalidAuthenticationToken" {
			t.Errorf("code = %q, want InvalidAuthenticationToken", code)
		}
		if r := MustGet(t, srv.Client(), srv.URL+p, "Authorization", "Bearer secret"); r.status != 200 {
			t.Errorf("GET %s with the token = %d, want 200", p, r.status)
		}
	}
	st := sim.Stats()
	if st.Unauthorized != 4 || st.Requests["pstn"] != 4 || st.Requests["directrouting"] != 4 || st.Requests["other"] != 0 {
		t.Errorf("Stats() = %+v, want 4 unauthorized, 4 pstn, 4 directrouting, 0 other", st)
	}
}

func TestUsage_Throttle(t *testing.T) {
	clk := newClock(testNow)
	limits := graphsim.Limits{UsageWindow: time.Minute, UsagePerCollection: 2, UsagePerAppPerTenant: 3, List: 1}
	sim, srv := MustServe(t, graphsim.Config{Seed: 1, Now: clk.Now, Throttle: true, Limits: limits})
	pstn := pstnFn.path(false, "2026-03-01", "2026-03-02")
	dr := drFn.path(true, "2026-03-01", "2026-03-02")
	steps := []struct {
		path    string
		advance time.Duration
		status  int
	}{
		{pstn, 0, 200}, {pstn, 0, 200},
		{pstn, 0, 429}, // per collection
		{dr, 0, 200},
		{dr, 0, 429},       // per app per tenant
		{listPath, 0, 200}, // call records have their own limits
		{pstn, 61 * time.Second, 200}, {dr, 0, 200},
	}
	throttled := 0
	for i, st := range steps {
		clk.Advance(st.advance)
		r := MustGet(t, srv.Client(), srv.URL+st.path)
		if r.status != st.status {
			t.Fatalf("step %d GET %s = %d, want %d (%s)", i, st.path, r.status, st.status, r.body)
		}
		if r.status != http.StatusTooManyRequests {
			continue
		}
		throttled++
		if code := graphError(t, r); code != "TooManyRequests" {
			t.Errorf("429 code = %q, want TooManyRequests", code)
		}
		secs, err := strconv.ParseFloat(r.header.Get("Retry-After"), 64)
		if err != nil || secs <= 0 || secs > limits.UsageWindow.Seconds()+1 {
			t.Errorf("Retry-After = %q, want seconds in (0, %v]", r.header.Get("Retry-After"), limits.UsageWindow.Seconds())
		}
	}
	if got := sim.Stats().Throttled; got != throttled {
		t.Errorf("Stats().Throttled = %d, want %d", got, throttled)
	}
}

// fracDigits is the number of digits after the decimal point of n.
func fracDigits(n json.Number) int {
	_, frac, ok := strings.Cut(string(n), ".")
	if !ok {
		return 0
	}
	return len(frac)
}

func TestUsage_TotalsMatchTruth(t *testing.T) {
	sim, srv := MustServe(t, graphsim.Config{Seed: 11})
	from, to := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

	pstn := fetchUsage(t, srv, pstnFn, pstnFn.path(false, "2026-02-01", "2026-02-28T23:59:59.9999999Z"), 250, "Prefer", "odata.maxpagesize=250")
	want := sim.PstnTruth(from, to)
	charge, conn := map[string]*big.Rat{}, map[string]*big.Rat{}
	var dur int64
	digits := map[int]int{}
	nonZero := 0
	for _, row := range pstn.rows {
		cur := row["currency"].(string)
		for _, acc := range []struct {
			key string
			sum map[string]*big.Rat
		}{{"charge", charge}, {"connectionCharge", conn}} {
			n, ok := row[acc.key].(json.Number)
			if !ok {
				t.Fatalf("row %s %s = %v, want a JSON number", row["id"], acc.key, row[acc.key])
			}
			v, ok := new(big.Rat).SetString(string(n))
			if !ok {
				t.Fatalf("row %s %s = %s, not a decimal", row["id"], acc.key, n)
			}
			if d := fracDigits(n); d > 6 {
				t.Errorf("row %s %s = %s has %d fractional digits, want at most 6", row["id"], acc.key, n, d)
			}
			if acc.key == "charge" {
				digits[fracDigits(n)]++
				if v.Sign() != 0 {
					nonZero++
				}
			}
			if acc.sum[cur] == nil {
				acc.sum[cur] = new(big.Rat)
			}
			acc.sum[cur].Add(acc.sum[cur], v)
		}
		d, err := row["duration"].(json.Number).Int64()
		if err != nil {
			t.Fatalf("row %s duration %v: %v", row["id"], row["duration"], err)
		}
		dur += d
	}
	if len(pstn.ids) != want.Rows || dur != want.DurationSeconds {
		t.Errorf("pages: %d rows, %d s; truth: %d rows, %d s", len(pstn.ids), dur, want.Rows, want.DurationSeconds)
	}
	for _, c := range []struct {
		name string
		got  map[string]*big.Rat
		want map[string]string
	}{{"charge", charge, want.ChargeByCurrency}, {"connectionCharge", conn, want.ConnectionChargeByCurrency}} {
		got := map[string]string{}
		for cur, v := range c.got {
			got[cur] = v.FloatString(6)
		}
		if !maps.Equal(got, c.want) {
			t.Errorf("%s by currency from pages = %v, truth %v", c.name, got, c.want)
		}
	}
	if len(charge) < 3 {
		t.Errorf("charges in %d currencies, want several", len(charge))
	}
	if nonZero == 0 || nonZero == len(pstn.rows) || digits[4] == 0 || digits[6] == 0 {
		t.Errorf("charges: %d of %d non-zero, fractional digits %v; want zeros, non-zeros, 4 and 6 digits", nonZero, len(pstn.rows), digits)
	}

	dr := fetchUsage(t, srv, drFn, drFn.path(false, "2026-02-01", "2026-03-01"), 1000)
	wantDR := sim.DirectRoutingTruth(from, to)
	failed, drDur := 0, int64(0)
	for _, row := range dr.rows {
		if row["successfulCall"] == false {
			failed++
		}
		d, _ := row["duration"].(json.Number).Int64()
		drDur += d
	}
	if len(dr.ids) != wantDR.Rows || failed != wantDR.Failed || drDur != wantDR.DurationSeconds {
		t.Errorf("DR pages: %d rows, %d failed, %d s; truth %d, %d, %d", len(dr.ids), failed, drDur, wantDR.Rows, wantDR.Failed, wantDR.DurationSeconds)
	}
	if len(wantDR.ChargeByCurrency) != 0 || wantDR.Failed == 0 {
		t.Errorf("DirectRoutingTruth: charges %v, failed %d; want no charges and some failures", wantDR.ChargeByCurrency, wantDR.Failed)
	}
}

// keysInOrder lists the top-level keys of a JSON object in wire order.
func keysInOrder(tb testing.TB, raw json.RawMessage) []string {
	tb.Helper()
	d := json.NewDecoder(bytes.NewReader(raw))
	var keys []string
	if _, err := d.Token(); err != nil {
		tb.Fatal(err)
	}
	for d.More() {
		k, err := d.Token()
		if err != nil {
			tb.Fatal(err)
		}
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := d.Decode(&skip); err != nil {
			tb.Fatal(err)
		}
	}
	return keys
}

var (
	pstnKeys = []string{"id", "callId", "userId", "userPrincipalName", "userDisplayName", "startDateTime",
		"endDateTime", "duration", "charge", "callType", "currency", "calleeNumber", "usageCountryCode",
		"tenantCountryCode", "connectionCharge", "callerNumber", "destinationContext", "destinationName",
		"conferenceId", "licenseCapability", "inventoryType", "operator", "callDurationSource"}
	drKeys = []string{"id", "correlationId", "userId", "userPrincipalName", "userDisplayName", "startDateTime",
		"inviteDateTime", "failureDateTime", "endDateTime", "duration", "callType", "successfulCall",
		"callerNumber", "calleeNumber", "mediaPathLocation", "signalingLocation", "finalSipCode",
		"callEndSubReason", "finalSipCodePhrase", "trunkFullyQualifiedDomainName", "mediaBypassEnabled"}
	pstnCallTypes = []string{"user_in", "user_out", "user_out_conf", "user_out_transfer", "user_out_forwarding", "conf_in", "conf_out", "ucap_in", "ucap_out"}
	licenses      = []string{"MCOPSTNU", "MCOPSTN1", "MCOPSTN2", "MCOPSTN5", "MCOPSTN6", "MCOPSTNPP", "MCOMEETADD", "MCOMEETACPEA"}
	callIDRe      = regexp.MustCompile(`^\d{10}_\d{9}@\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$`)
	sevenDigitsRe = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$`)
	guidRe        = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

const drSentinel = "0001-01-01T00:00:00Z"

func TestUsage_RowShapes(t *testing.T) {
	_, srv := MustServe(t, graphsim.Config{Seed: 2})
	q := quirks{}
	pstn := fetchUsage(t, srv, pstnFn, pstnFn.path(false, "2026-01-15", "2026-03-12"), 1000)
	callIDs := map[string]int{}
	for i, row := range pstn.rows {
		id := row["id"].(string)
		if keys := keysInOrder(t, pstn.raw[i]); !slices.Equal(keys, pstnKeys) {
			t.Fatalf("pstn row keys = %v, want the 23 v1.0 properties %v", keys, pstnKeys)
		}
		ct := row["callType"].(string)
		if !slices.Contains(pstnCallTypes, ct) {
			t.Errorf("row %s callType %q", id, ct)
		}
		q.see("callType "+ct, true)
		if strings.HasPrefix(ct, "ucap") {
			if uid := row["userId"]; uid != nil && uid != "" {
				t.Errorf("row %s: %s with userId %v, want null or empty", id, ct, uid)
			}
			q.see("ucap userId null", row["userId"] == nil)
			q.see("ucap userId empty", row["userId"] == "")
		} else if uid, _ := row["userId"].(string); !guidRe.MatchString(uid) {
			t.Errorf("row %s: %s with userId %v, want a GUID", id, ct, row["userId"])
		}
		if !guidRe.MatchString(id) {
			t.Errorf("row id %q is not a GUID", id)
		}
		cid := row["callId"].(string)
		if !callIDRe.MatchString(cid) {
			t.Errorf("row %s callId %q", id, cid)
		}
		callIDs[cid]++
		for _, k := range []string{"startDateTime", "endDateTime"} {
			if s, _ := row[k].(string); !sevenDigitsRe.MatchString(s) {
				t.Errorf("row %s %s = %v, want 7 fractional digits", id, k, row[k])
			}
		}
		st, en := mustParseTS(t, row["startDateTime"]), mustParseTS(t, row["endDateTime"])
		d, err := row["duration"].(json.Number).Int64()
		if err != nil || en.Sub(st) != time.Duration(d)*time.Second {
			t.Errorf("row %s: duration %v, end - start = %v", id, row["duration"], en.Sub(st))
		}
		q.see("starts at midnight", st.Truncate(24*time.Hour).Equal(st))
		switch row["destinationContext"] {
		case nil, "Domestic", "International":
			q.see(fmtAny("destinationContext", row["destinationContext"]), true)
		default:
			t.Errorf("row %s destinationContext %v", id, row["destinationContext"])
		}
		if lc := row["licenseCapability"].(string); !slices.Contains(licenses, lc) {
			t.Errorf("row %s licenseCapability %q", id, lc)
		}
		if inv := row["inventoryType"]; inv != "Subscriber" && inv != "Service" {
			t.Errorf("row %s inventoryType %v", id, inv)
		}
		if src := row["callDurationSource"]; src != "microsoft" && src != "operator" {
			t.Errorf("row %s callDurationSource %v", id, src)
		}
		q.see("operator Microsoft", row["operator"] == "Microsoft")
		q.see("Operator Connect carrier", row["operator"] != "Microsoft")
		name, _ := row["userDisplayName"].(string)
		q.see("non-ASCII display name", strings.ContainsFunc(name, func(r rune) bool { return r > 127 }))
		q.see("conferenceId set", row["conferenceId"] != nil)
		for _, k := range []string{"callerNumber", "calleeNumber"} {
			if n, _ := row[k].(string); !strings.HasPrefix(n, "+") {
				t.Errorf("row %s %s = %v, want E.164", id, k, row[k])
			}
		}
	}
	for _, n := range callIDs {
		q.see("repeated callId", n > 1)
	}

	dr := fetchUsage(t, srv, drFn, drFn.path(false, "2026-01-15", "2026-03-12"), 1000)
	trunks := map[string]bool{}
	for i, row := range dr.rows {
		id := row["id"].(string)
		if keys := keysInOrder(t, dr.raw[i]); !slices.Equal(keys, drKeys) {
			t.Fatalf("DR row keys = %v, want the 21 v1.0 properties %v", keys, drKeys)
		}
		st := mustParseTS(t, row["startDateTime"])
		d, _ := row["duration"].(json.Number).Int64()
		switch row["successfulCall"] {
		case true:
			if row["failureDateTime"] != drSentinel {
				t.Errorf("successful row %s failureDateTime = %v, want the sentinel", id, row["failureDateTime"])
			}
			if en := mustParseTS(t, row["endDateTime"]); en.Sub(st) != time.Duration(d)*time.Second {
				t.Errorf("row %s: duration %d, end - start = %v", id, d, en.Sub(st))
			}
			q.see("finalSipCode 0", row["finalSipCode"] == json.Number("0"))
		case false:
			if f, _ := row["failureDateTime"].(string); f == drSentinel || f == "" {
				t.Errorf("failed row %s failureDateTime = %v", id, row["failureDateTime"])
			}
			if row["endDateTime"] != nil && row["endDateTime"] != drSentinel {
				t.Errorf("failed row %s endDateTime = %v, want null or the sentinel", id, row["endDateTime"])
			}
			if d != 0 {
				t.Errorf("failed row %s duration = %d, want 0", id, d)
			}
			q.see("failed endDateTime null", row["endDateTime"] == nil)
			q.see("failed endDateTime sentinel", row["endDateTime"] == drSentinel)
			q.see(fmtAny("failure", row["finalSipCodePhrase"]), true)
		default:
			t.Errorf("row %s successfulCall = %v", id, row["successfulCall"])
		}
		for _, k := range []string{"callerNumber", "calleeNumber"} {
			n, _ := row[k].(string)
			q.see("masked number", strings.HasSuffix(n, "***"))
		}
		s, _ := row["startDateTime"].(string)
		q.see("7-digit timestamp", sevenDigitsRe.MatchString(s))
		q.see("millisecond timestamp", regexp.MustCompile(`\.\d{3}Z$`).MatchString(s))
		q.see("starts at midnight", st.Truncate(24*time.Hour).Equal(st))
		q.see("bot row", row["userId"] == nil)
		q.see("media bypass", row["mediaBypassEnabled"] == true)
		trunks[row["trunkFullyQualifiedDomainName"].(string)] = true
	}
	if len(trunks) < 3 || len(trunks) > 4 {
		t.Errorf("%d trunk FQDNs, want 3 or 4", len(trunks))
	}
	for _, want := range []string{
		"callType ucap_in", "callType user_out_forwarding", "ucap userId null", "ucap userId empty",
		"destinationContext <nil>", "destinationContext International", "operator Microsoft", "Operator Connect carrier",
		"non-ASCII display name", "conferenceId set", "repeated callId", "starts at midnight",
		"finalSipCode 0", "failed endDateTime null", "failed endDateTime sentinel", "failure Busy Here",
		"masked number", "7-digit timestamp", "millisecond timestamp", "bot row", "media bypass",
	} {
		if q[want] == 0 {
			t.Errorf("no row shows %q", want)
		}
	}
}

func fmtAny(prefix string, v any) string {
	if v == nil {
		return prefix + " <nil>"
	}
	s, _ := v.(string)
	return prefix + " " + s
}

func TestUsage_LateRowsAndRetention(t *testing.T) {
	for _, f := range []usageFn{pstnFn, drFn} {
		t.Run(f.name, func(t *testing.T) {
			clk := newClock(testNow)
			sim, srv := MustServe(t, graphsim.Config{Seed: 4, UsageRetention: 100 * 24 * time.Hour, Now: clk.Now})
			now := clk.Now()
			if n := len(fetchUsage(t, srv, f, f.path(false, literal(now.Add(-24*time.Hour)), literal(now)), 1000).ids); n != 0 {
				t.Errorf("rows of calls in the last 24 h = %d, want 0 (published 24-48 h late)", n)
			}
			lo, hi := now.Add(-60*time.Hour), now.Add(-20*time.Hour)
			early := fetchUsage(t, srv, f, f.path(false, literal(lo), literal(hi)), 1000).ids
			if want := f.truth(sim, lo, hi); !slices.Equal(sortedCopy(early), want.IDs) {
				t.Errorf("rows before the clock moves: %d, truth %d", len(early), want.Rows)
			}
			clk.Advance(50 * time.Hour)
			late := fetchUsage(t, srv, f, f.path(false, literal(lo), literal(hi)), 1000).ids
			if want := f.truth(sim, lo, hi); !slices.Equal(sortedCopy(late), want.IDs) {
				t.Errorf("rows after the clock moves: %d, truth %d", len(late), want.Rows)
			}
			if len(late) <= len(early) {
				t.Errorf("rows grew from %d to %d as the clock moved 50 h, want late arrivals", len(early), len(late))
			}
			for _, id := range early {
				if !slices.Contains(late, id) {
					t.Errorf("row %s disappeared as the clock moved", id)
				}
			}
			// Retention: a window straddling the limit returns only rows
			// that started within it.
			now = clk.Now()
			limit := now.Add(-100 * 24 * time.Hour)
			old := fetchUsage(t, srv, f, f.path(false, literal(now.Add(-120*24*time.Hour)), literal(now.Add(-95*24*time.Hour))), 1000)
			if len(old.rows) == 0 {
				t.Fatalf("no rows in the 5 retained days of the window")
			}
			for _, row := range old.rows {
				if st := mustParseTS(t, row["startDateTime"]); st.Before(limit) {
					t.Errorf("row %s started %v, before the retention limit %v", row["id"], st, limit)
				}
			}
		})
	}
}

func TestUsage_FilterIgnoredAndDeterministic(t *testing.T) {
	_, a := MustServe(t, graphsim.Config{Seed: 6})
	_, b := MustServe(t, graphsim.Config{Seed: 6})
	_, c := MustServe(t, graphsim.Config{Seed: 7})
	for _, f := range []usageFn{pstnFn, drFn} {
		p := f.path(true, "2026-02-25", "2026-03-10")
		plain := fetchUsage(t, a, f, p, 1000)
		filtered := fetchUsage(t, a, f, p+"?$filter=startswith(userDisplayName,'zz')", 1000)
		if !slices.Equal(plain.ids, filtered.ids) {
			t.Errorf("%s: $filter changed the rows (%d vs %d), want it ignored", f.name, len(plain.ids), len(filtered.ids))
		}
		same := fetchUsage(t, b, f, p, 1000)
		if !slices.Equal(joinRaw(plain.raw), joinRaw(same.raw)) {
			t.Errorf("%s: same seed gave different rows", f.name)
		}
		if other := fetchUsage(t, c, f, p, 1000); slices.Equal(plain.ids, other.ids) {
			t.Errorf("%s: seeds 6 and 7 gave the same ids", f.name)
		}
	}
}

func TestUsage_FaultsAndLatencyApply(t *testing.T) {
	sim, srv := MustServe(t, graphsim.Config{Seed: 7, FaultRate: 0.5, Latency: [2]time.Duration{0, time.Millisecond}})
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	ok, failed := 0, 0
	for i := range 30 {
		f := []usageFn{pstnFn, drFn}[i%2]
		req, _ := http.NewRequest(http.MethodGet, srv.URL+f.path(false, "2026-03-01", "2026-03-02"), nil)
		req.Header.Set("Authorization", "Bearer t")
		resp, err := hc.Do(req)
		if err != nil {
			failed++
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case 200:
			ok++
		case 503, 504:
			failed++
		default:
			t.Errorf("status %d", resp.StatusCode)
		}
	}
	if ok == 0 || failed == 0 || sim.Stats().Faults != failed {
		t.Errorf("30 requests at FaultRate 0.5: %d ok, %d failed, Stats().Faults %d", ok, failed, sim.Stats().Faults)
	}
}
