package graphsim_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/graphsim"
)

// testNow is the simulated "now" of most tests.
var testNow = time.Date(2026, 3, 15, 10, 20, 30, 0, time.UTC)

const listPath = "/v1.0/communications/callRecords"

// clock is a settable simulated clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// MustServe starts cfg's simulator on a loopback httptest server.
func MustServe(tb testing.TB, cfg graphsim.Config) (*graphsim.Simulator, *httptest.Server) {
	tb.Helper()
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return testNow }
	}
	sim := graphsim.New(cfg)
	srv := httptest.NewServer(sim)
	tb.Cleanup(srv.Close)
	return sim, srv
}

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

// MustGet sends GET url with a bearer token and the given header pairs.
func MustGet(tb testing.TB, hc *http.Client, u string, hdr ...string) response {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		tb.Fatalf("new request %s: %v", u, err)
	}
	req.Header.Set("Authorization", "Bearer test-token")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := hc.Do(req)
	if err != nil {
		tb.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("read %s: %v", u, err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

// MustDecode decodes a JSON object, failing the test if it is not one.
func MustDecode(tb testing.TB, b []byte) map[string]any {
	tb.Helper()
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		tb.Fatalf("decode %.200s: %v", b, err)
	}
	return v
}

// MustOK fails unless r is a 200 with a JSON body.
func MustOK(tb testing.TB, r response, what string) map[string]any {
	tb.Helper()
	if r.status != http.StatusOK {
		tb.Fatalf("%s: status = %d, want 200; body %.300s", what, r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		tb.Fatalf("%s: Content-Type = %q, want application/json…", what, ct)
	}
	return MustDecode(tb, r.body)
}

// graphError checks a Graph error body and returns its code.
func graphError(tb testing.TB, r response) string {
	tb.Helper()
	var e struct {
		Error struct {
			Code       string         `json:"code"`
			Message    string         `json:"message"`
			InnerError map[string]any `json:"innerError"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.body, &e); err != nil {
		tb.Fatalf("error body %.300s: %v", r.body, err)
	}
	if e.Error.Message == "" || e.Error.InnerError["request-id"] == nil || e.Error.InnerError["date"] == nil {
		tb.Errorf("error body %s lacks message/innerError.request-id/date", r.body)
	}
	return e.Error.Code
}

type listPage struct {
	Value    []map[string]any `json:"value"`
	NextLink string           `json:"@odata.nextLink"`
	Context  string           `json:"@odata.context"`
}

type listResult struct {
	ids        []string
	items      []map[string]any
	pages      int
	emptyPages int
	bodies     [][]byte
}

// listAll follows @odata.nextLink from the first page of a list.
func listAll(tb testing.TB, srv *httptest.Server, query string, hdr ...string) listResult {
	tb.Helper()
	var res listResult
	u := srv.URL + listPath
	if query != "" {
		u += "?" + query
	}
	for u != "" {
		r := MustGet(tb, srv.Client(), u, hdr...)
		if r.status != http.StatusOK {
			tb.Fatalf("list page %d %s: status %d: %s", res.pages, u, r.status, r.body)
		}
		var p listPage
		if err := json.Unmarshal(r.body, &p); err != nil {
			tb.Fatalf("list page %d: %v", res.pages, err)
		}
		res.pages++
		res.bodies = append(res.bodies, r.body)
		if len(p.Value) == 0 && p.NextLink != "" {
			res.emptyPages++
		}
		for _, it := range p.Value {
			res.ids = append(res.ids, it["id"].(string))
			res.items = append(res.items, it)
		}
		if p.NextLink != "" && !strings.HasPrefix(p.NextLink, srv.URL+listPath+"?") {
			tb.Fatalf("nextLink %q does not point at %s", p.NextLink, srv.URL+listPath)
		}
		if res.pages > 10000 {
			tb.Fatalf("list did not end after %d pages", res.pages)
		}
		u = p.NextLink
	}
	return res
}

func filterQuery(f string) string { return "$filter=" + url.QueryEscape(f) }

func TestList_PagesMatchTruth(t *testing.T) {
	sim, srv := MustServe(t, graphsim.Config{Seed: 1})
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		query    string
		prefer   string
		from, to time.Time
		maxPage  int
	}{
		{"no filter", "", "", time.Time{}, testNow.Add(time.Hour), 60},
		{"one day", filterQuery("startDateTime ge 2026-03-01T00:00:00Z and startDateTime lt 2026-03-02T00:00:00Z"), "", day, day.Add(24 * time.Hour), 60},
		{"small pages", filterQuery("startDateTime ge 2026-02-20T00:00:00Z"), "odata.maxpagesize=7", time.Date(2026, 2, 20, 0, 0, 0, 0, time.UTC), testNow.Add(time.Hour), 7},
		{"before retention", filterQuery("startDateTime lt 2026-02-14T00:00:00Z"), "", time.Time{}, time.Date(2026, 2, 14, 0, 0, 0, 0, time.UTC), 60},
		{"today", filterQuery("startDateTime ge 2026-03-15T00:00:00.0000000Z"), "", time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC), testNow.Add(time.Hour), 60},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hdr []string
			if tt.prefer != "" {
				hdr = []string{"Prefer", tt.prefer}
			}
			got := listAll(t, srv, tt.query, hdr...)
			want := sim.Truth(tt.from, tt.to)
			if len(got.ids) != want.Records {
				t.Errorf("list(%s) returned %d records, want Truth.Records = %d", tt.name, len(got.ids), want.Records)
			}
			sorted := slices.Clone(got.ids)
			slices.Sort(sorted)
			if n := len(slices.Compact(slices.Clone(sorted))); n != len(sorted) {
				t.Errorf("list(%s) returned %d duplicate ids", tt.name, len(sorted)-n)
			}
			if !slices.Equal(sorted, want.IDs) {
				t.Errorf("list(%s) ids differ from Truth.IDs (%d vs %d)", tt.name, len(sorted), len(want.IDs))
			}
			for i, b := range got.bodies {
				var p listPage
				_ = json.Unmarshal(b, &p)
				if len(p.Value) > tt.maxPage {
					t.Errorf("page %d has %d items, want <= %d", i, len(p.Value), tt.maxPage)
				}
				if p.Context != "https://graph.microsoft.com/v1.0/$metadata#communications/callRecords" {
					t.Errorf("page %d @odata.context = %q", i, p.Context)
				}
			}
			var prev time.Time
			for _, it := range got.items {
				for _, k := range []string{"id", "version", "type", "modalities", "lastModifiedDateTime", "startDateTime", "endDateTime", "organizer", "organizer_v2", "organizer_v2@odata.context"} {
					if _, ok := it[k]; !ok {
						t.Fatalf("list item %v lacks %q", it["id"], k)
					}
				}
				for _, k := range []string{"sessions", "participants_v2"} {
					if _, ok := it[k]; ok {
						t.Fatalf("list item %v carries %q; list must not expand it", it["id"], k)
					}
				}
				st := mustTime(t, it["startDateTime"])
				if st.Before(prev) {
					t.Errorf("list is not in startDateTime order: %v after %v", st, prev)
				}
				prev = st
				if st.Before(testNow.Add(-30*24*time.Hour)) || !st.Before(testNow) {
					t.Errorf("record %v starts %v, outside retention", it["id"], st)
				}
			}
		})
	}
}

func TestList_EmptyPagesCarryNextLink(t *testing.T) {
	sim, srv := MustServe(t, graphsim.Config{Seed: 1})
	got := listAll(t, srv, "", "Prefer", "odata.maxpagesize=5")
	if got.emptyPages == 0 {
		t.Errorf("listing %d pages saw no empty page with a nextLink; the simulator should emit some", got.pages)
	}
	if want := sim.Truth(time.Time{}, testNow); len(got.ids) != want.Records {
		t.Errorf("records over %d pages = %d, want %d", got.pages, len(got.ids), want.Records)
	}
}

func mustTime(tb testing.TB, v any) time.Time {
	tb.Helper()
	s, ok := v.(string)
	if !ok {
		tb.Fatalf("timestamp %v is not a string", v)
	}
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		tb.Fatalf("parse timestamp %q: %v", s, err)
	}
	return ts
}

func TestList_FilterBoundaries(t *testing.T) {
	sim, srv := MustServe(t, graphsim.Config{Seed: 3})
	all := listAll(t, srv, filterQuery("startDateTime ge 2026-03-10T00:00:00Z and startDateTime lt 2026-03-11T00:00:00Z"))
	if len(all.items) < 10 {
		t.Fatalf("need records on 2026-03-10, got %d", len(all.items))
	}
	// Boundary records: one with fractional seconds and one without if present.
	picks := []map[string]any{all.items[len(all.items)/2]}
	for _, it := range all.items {
		if s := it["startDateTime"].(string); !strings.Contains(s, ".") {
			picks = append(picks, it)
			break
		}
	}
	for _, rec := range picks {
		lit := rec["startDateTime"].(string)
		id := rec["id"].(string)
		st := mustTime(t, lit)
		lo, hi := st.Add(-3*time.Hour), st.Add(3*time.Hour)
		loLit, hiLit := lo.Format(time.RFC3339), hi.Format(time.RFC3339)
		tests := []struct {
			filter   string
			from, to time.Time
			contains bool
		}{
			{"startDateTime ge " + lit + " and startDateTime lt " + hiLit, st, hi, true},
			{"startDateTime gt " + lit + " and startDateTime lt " + hiLit, st.Add(time.Nanosecond), hi, false},
			{"startDateTime ge " + loLit + " and startDateTime le " + lit, lo, st.Add(time.Nanosecond), true},
			{"startDateTime ge " + loLit + " and startDateTime lt " + lit, lo, st, false},
			{"startDateTime ge " + lit + " and startDateTime le " + lit, st, st.Add(time.Nanosecond), true},
		}
		for _, tt := range tests {
			for _, enc := range []struct {
				name string
				q    string
			}{
				{"query-escaped", filterQuery(tt.filter)},
				{"plus-for-space", "$filter=" + strings.ReplaceAll(tt.filter, " ", "+")},
				{"percent-20", "%24filter=" + strings.ReplaceAll(url.PathEscape(tt.filter), ":", "%3A")},
			} {
				got := listAll(t, srv, enc.q)
				if slices.Contains(got.ids, id) != tt.contains {
					t.Errorf("filter %q (%s): contains %s = %v, want %v", tt.filter, enc.name, id, !tt.contains, tt.contains)
				}
				if want := sim.Truth(tt.from, tt.to).Records; len(got.ids) != want {
					t.Errorf("filter %q (%s) returned %d records, want %d", tt.filter, enc.name, len(got.ids), want)
				}
			}
		}
	}
}

func TestList_BadRequests(t *testing.T) {
	_, srv := MustServe(t, graphsim.Config{Seed: 1})
	tests := []struct{ name, query string }{
		{"other property", filterQuery("lastModifiedDateTime ge 2026-03-01T00:00:00Z")},
		{"participant filter", filterQuery("participants_v2/any(p:p/id eq '821809f5-0000-0000-0000-3b5136c0e777')")},
		{"quoted literal", filterQuery("startDateTime ge '2026-03-01T00:00:00Z'")},
		{"eq operator", filterQuery("startDateTime eq 2026-03-01T00:00:00Z")},
		{"or", filterQuery("startDateTime ge 2026-03-01T00:00:00Z or startDateTime lt 2026-02-01T00:00:00Z")},
		{"bad literal", filterQuery("startDateTime ge yesterday")},
		{"dangling", filterQuery("startDateTime ge")},
		{"expand on list", "$expand=sessions"},
		{"bad skiptoken", "$skiptoken=%%%"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := MustGet(t, srv.Client(), srv.URL+listPath+"?"+tt.query)
			if r.status != http.StatusBadRequest {
				t.Fatalf("GET ?%s status = %d, want 400; body %.300s", tt.query, r.status, r.body)
			}
			if code := graphError(t, r); code != "BadRequest" {
				t.Errorf("error code = %q, want BadRequest", code)
			}
		})
	}
}

// bigMeeting finds a record with more than 60 sessions and 130 participants.
func bigMeeting(tb testing.TB, sim *graphsim.Simulator) string {
	tb.Helper()
	tr := sim.Truth(testNow.Add(-72*time.Hour), testNow)
	for _, id := range tr.IDs {
		one := recordShape(tb, sim, id)
		if one.sessions > 60 && one.participants > 130 {
			return id
		}
	}
	tb.Fatalf("no record with >60 sessions and >130 participants in the last 3 days")
	return ""
}

type shape struct{ sessions, participants int }

func recordShape(tb testing.TB, sim *graphsim.Simulator, id string) shape {
	tb.Helper()
	raw, ok := sim.Record(id)
	if !ok {
		tb.Fatalf("Record(%s) not found", id)
	}
	var v struct {
		Sessions     []json.RawMessage `json:"sessions"`
		Participants []json.RawMessage `json:"participants_v2"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		tb.Fatalf("Record(%s): %v", id, err)
	}
	return shape{len(v.Sessions), len(v.Participants)}
}

type recordJSON struct {
	ID                   string            `json:"id"`
	Version              int64             `json:"version"`
	StartDateTime        string            `json:"startDateTime"`
	LastModifiedDateTime string            `json:"lastModifiedDateTime"`
	Sessions             []json.RawMessage `json:"sessions"`
	SessionsNext         string            `json:"sessions@odata.nextLink"`
	Participants         []json.RawMessage `json:"participants_v2"`
	ParticipantsNext     string            `json:"participants_v2@odata.nextLink"`
	ParticipantsContext  string            `json:"participants_v2@odata.context"`
}

type collectionPage struct {
	Value    []json.RawMessage `json:"value"`
	NextLink string            `json:"@odata.nextLink"`
}

// followPages collects value items from u and its nextLinks.
func followPages(tb testing.TB, srv *httptest.Server, u string, max int, hdr ...string) []json.RawMessage {
	tb.Helper()
	var out []json.RawMessage
	for n := 0; u != ""; n++ {
		if !strings.HasPrefix(u, srv.URL+"/v1.0/communications/callRecords/") {
			tb.Fatalf("nextLink %q is not an absolute link to this server", u)
		}
		r := MustGet(tb, srv.Client(), u, hdr...)
		MustOK(tb, r, u)
		var p collectionPage
		if err := json.Unmarshal(r.body, &p); err != nil {
			tb.Fatalf("page %s: %v", u, err)
		}
		if len(p.Value) > max {
			tb.Errorf("page %d of %s has %d items, want <= %d", n, u, len(p.Value), max)
		}
		out = append(out, p.Value...)
		u = p.NextLink
	}
	return out
}

func joinRaw(xs []json.RawMessage) []byte {
	var b []byte
	for _, x := range xs {
		b = append(b, x...)
	}
	return b
}

func equalRaw(a, b []json.RawMessage) bool {
	return slices.EqualFunc(a, b, func(x, y json.RawMessage) bool { return bytes.Equal(x, y) })
}

func TestGet_BigMeetingPagesReconstructRecord(t *testing.T) {
	sim, srv := MustServe(t, graphsim.Config{Seed: 1})
	id := bigMeeting(t, sim)
	raw, _ := sim.Record(id)
	var want recordJSON
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if want.SessionsNext != "" || want.ParticipantsNext != "" {
		t.Errorf("Record(%s) carries nextLinks; it should hold everything", id)
	}

	r := MustGet(t, srv.Client(), srv.URL+listPath+"/"+id+"?$expand=sessions($expand=segments),participants_v2")
	MustOK(t, r, "get "+id)
	var got recordJSON
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Sessions) != 60 || got.SessionsNext == "" {
		t.Fatalf("GET %s inlines %d sessions, nextLink %q; want 60 and a nextLink", id, len(got.Sessions), got.SessionsNext)
	}
	if !strings.Contains(got.SessionsNext, "/callRecords/"+id+"/sessions?") || !strings.Contains(got.SessionsNext, "$expand=segments") {
		t.Errorf("sessions@odata.nextLink = %q, want …/callRecords/%s/sessions?$expand=segments&$skiptoken=…", got.SessionsNext, id)
	}
	if len(got.Participants) != 130 || got.ParticipantsNext == "" {
		t.Fatalf("GET %s inlines %d participants, nextLink %q; want 130 and a nextLink", id, len(got.Participants), got.ParticipantsNext)
	}
	sessions := append(got.Sessions, followPages(t, srv, got.SessionsNext, 60)...)
	parts := append(got.Participants, followPages(t, srv, got.ParticipantsNext, 130)...)
	if !equalRaw(sessions, want.Sessions) {
		t.Errorf("sessions from GET + %d pages (%d) differ from Record (%d)", 1+(len(sessions)-60)/60, len(sessions), len(want.Sessions))
	}
	if !equalRaw(parts, want.Participants) {
		t.Errorf("participants from GET + pages (%d) differ from Record (%d)", len(parts), len(want.Participants))
	}

	// The collections on their own, with a smaller page size.
	base := srv.URL + listPath + "/" + id
	if s := followPages(t, srv, base+"/sessions?$expand=segments", 25, "Prefer", "odata.maxpagesize=25"); !equalRaw(s, want.Sessions) {
		t.Errorf("sessions collection (%d) differs from Record (%d)", len(s), len(want.Sessions))
	}
	if p := followPages(t, srv, base+"/participants_v2", 130); !equalRaw(p, want.Participants) {
		t.Errorf("participants_v2 collection (%d) differs from Record (%d)", len(p), len(want.Participants))
	}
	// Without $expand=segments, sessions come without segments.
	for _, s := range followPages(t, srv, base+"/sessions", 60) {
		if v := MustDecode(t, s); v["segments"] != nil {
			t.Fatalf("session without $expand=segments carries segments")
		}
	}
}

// throughServices reports whether a call went through an auto attendant or
// call queue: a peer-to-peer record with a session per step.
func throughServices(rec map[string]any) bool {
	for _, s := range rec["sessions"].([]any) {
		ua, _ := s.(map[string]any)["callee"].(map[string]any)["userAgent"].(map[string]any)
		if r := ua["role"]; r == "skypeForBusinessAutoAttendant" || r == "skypeForBusinessCallQueues" {
			return true
		}
	}
	return false
}

func TestGet_PeerToPeerShape(t *testing.T) {
	sim, srv := MustServe(t, graphsim.Config{Seed: 5})
	tr := sim.Truth(testNow.Add(-24*time.Hour), testNow)
	checked := 0
	for _, id := range tr.IDs {
		r := MustGet(t, srv.Client(), srv.URL+listPath+"/"+id+"?$expand=sessions($expand=segments)")
		rec := MustOK(t, r, "get "+id)
		if rec["type"] != "peerToPeer" || throughServices(rec) {
			continue
		}
		checked++
		if rec["joinWebUrl"] != nil {
			t.Errorf("P2P %s joinWebUrl = %v, want null", id, rec["joinWebUrl"])
		}
		if _, ok := rec["participants_v2@odata.context"]; !ok {
			t.Errorf("%s lacks participants_v2@odata.context", id)
		}
		if _, ok := rec["participants_v2"]; ok {
			t.Errorf("%s carries participants_v2 without $expand", id)
		}
		sessions := rec["sessions"].([]any)
		s0 := sessions[0].(map[string]any)
		if s0["id"] != id {
			t.Errorf("P2P %s session id = %v, want the record id", id, s0["id"])
		}
		for _, side := range []string{"caller", "callee"} {
			ep := s0[side].(map[string]any)
			if !strings.HasPrefix(ep["@odata.type"].(string), "#microsoft.graph.callRecords.") {
				t.Errorf("%s %s @odata.type = %v", id, side, ep["@odata.type"])
			}
			ua := ep["userAgent"].(map[string]any)
			if ua["@odata.type"] != "#microsoft.graph.callRecords.clientUserAgent" {
				t.Errorf("%s %s userAgent @odata.type = %v", id, side, ua["@odata.type"])
			}
		}
		segs := s0["segments"].([]any)
		if len(segs) < 1 || len(segs) > 2 {
			t.Errorf("P2P %s has %d segments, want 1 or 2", id, len(segs))
		}
	}
	if checked < 10 {
		t.Errorf("only %d peerToPeer records in a day, want most of %d", checked, len(tr.IDs))
	}
}

func TestGet_ExpandVariants(t *testing.T) {
	sim, srv := MustServe(t, graphsim.Config{Seed: 1})
	id := sim.Truth(testNow.Add(-48*time.Hour), testNow).IDs[0]
	tests := []struct {
		expand                 string
		status                 int
		sessions, segs, partic bool
	}{
		{"", 200, false, false, false},
		{"sessions", 200, true, false, false},
		{"sessions($expand=segments)", 200, true, true, false},
		{"participants_v2", 200, false, false, true},
		{"sessions($expand=segments),participants_v2", 200, true, true, true},
		{"organizer_v2,bogus", 400, false, false, false},
	}
	for _, tt := range tests {
		u := srv.URL + listPath + "/" + id
		if tt.expand != "" {
			u += "?$expand=" + url.QueryEscape(tt.expand)
		}
		r := MustGet(t, srv.Client(), u)
		if r.status != tt.status {
			t.Errorf("GET $expand=%s status = %d, want %d", tt.expand, r.status, tt.status)
			continue
		}
		if r.status != 200 {
			continue
		}
		rec := MustDecode(t, r.body)
		_, hasS := rec["sessions"]
		_, hasP := rec["participants_v2"]
		hasSeg := false
		if hasS {
			_, hasSeg = rec["sessions"].([]any)[0].(map[string]any)["segments"]
		}
		if hasS != tt.sessions || hasSeg != tt.segs || hasP != tt.partic {
			t.Errorf("GET $expand=%s: sessions %v segments %v participants %v, want %v %v %v", tt.expand, hasS, hasSeg, hasP, tt.sessions, tt.segs, tt.partic)
		}
	}
}

func TestAuth(t *testing.T) {
	tests := []struct {
		name   string
		token  string // configured
		header string // Authorization sent; "-" for none
		status int
	}{
		{"missing header", "secret", "-", 401},
		{"wrong token", "secret", "Bearer nope", 401},
		{"basic scheme", "secret", "Basic secret", 401},
		{"empty bearer", "", "Bearer ", 401},
		{"right token", "secret", "Bearer secret", 200},
		{"any token when unset", "", "Bearer whatever", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, srv := MustServe(t, graphsim.Config{Seed: 1, Token: tt.token})
			req, _ := http.NewRequest(http.MethodGet, srv.URL+listPath+"?"+filterQuery("startDateTime ge 2026-03-14T00:00:00Z"), nil)
			if tt.header != "-" {
				req.Header.Set("Authorization", tt.header)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tt.status)
			}
			wantUnauth := 0
			if tt.status == 401 {
				wantUnauth = 1
				if code := graphError(t, response{resp.StatusCode, resp.Header, b}); code != "InvalidAuthenticationToken" {
					t.Errorf("code = %q, want InvalidAuthenticationToken", code)
				}
			}
			if got := sim.Stats().Unauthorized; got != wantUnauth {
				t.Errorf("Stats().Unauthorized = %d, want %d", got, wantUnauth)
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	clk := newClock(testNow)
	sim, srv := MustServe(t, graphsim.Config{Seed: 1, Now: clk.Now})
	// The list is in startDateTime order, so its first item is the oldest.
	oldest := listAll(t, srv, filterQuery("startDateTime lt 2026-02-14T12:00:00Z")).ids[0]
	unknown := "e523d2ed-2966-4b6b-925b-754a88034cc5"
	for _, u := range []string{"/" + unknown, "/not-a-guid", "/" + unknown + "/sessions", "/" + unknown + "/participants_v2", "/" + strings.ToUpper(unknown)} {
		r := MustGet(t, srv.Client(), srv.URL+listPath+u)
		if r.status != http.StatusNotFound || graphError(t, r) != "NotFound" {
			t.Errorf("GET %s = %d %s, want 404 NotFound", u, r.status, r.body)
		}
		if !strings.Contains(string(r.body), "Could not find the requested call record.") {
			t.Errorf("GET %s body %s lacks the documented message", u, r.body)
		}
	}
	// The oldest record expires when the clock moves a day on.
	if r := MustGet(t, srv.Client(), srv.URL+listPath+"/"+oldest); r.status != 200 {
		t.Fatalf("GET oldest %s before expiry = %d", oldest, r.status)
	}
	clk.Advance(24 * time.Hour)
	for _, u := range []string{"/" + oldest, "/" + oldest + "/sessions", "/" + oldest + "/participants_v2"} {
		if r := MustGet(t, srv.Client(), srv.URL+listPath+u); r.status != http.StatusNotFound {
			t.Errorf("GET %s after expiry = %d, want 404", u, r.status)
		}
	}
	if _, ok := sim.Record(oldest); ok {
		t.Errorf("Record(%s) ok after expiry", oldest)
	}
	if sim.Bump(oldest) {
		t.Errorf("Bump(%s) = true after expiry", oldest)
	}
}

func TestNotFound_NotYetPublished(t *testing.T) {
	clk := newClock(testNow)
	sim, srv := MustServe(t, graphsim.Config{Seed: 2, Now: clk.Now})
	recent := sim.Truth(testNow.Add(-6*time.Hour), testNow).IDs
	if len(recent) == 0 {
		t.Fatal("no records in the last 6 hours")
	}
	// Rewind: records that ended within the publish delay are not there yet.
	clk.Advance(-6 * time.Hour)
	for _, id := range recent {
		if r := MustGet(t, srv.Client(), srv.URL+listPath+"/"+id); r.status != http.StatusNotFound {
			t.Errorf("GET %s before publication = %d, want 404", id, r.status)
		}
	}
	// Moving forward publishes them, and lists grow without changing the seed.
	before := sim.Truth(testNow.Add(-30*24*time.Hour), testNow.Add(time.Hour)).Records
	clk.Advance(6 * time.Hour)
	after := sim.Truth(testNow.Add(-30*24*time.Hour), testNow.Add(time.Hour)).Records
	if after <= before {
		t.Errorf("records at now = %d, 6 h earlier = %d; want growth as time passes", after, before)
	}
}

func mustRecord(tb testing.TB, sim *graphsim.Simulator, id string) []byte {
	tb.Helper()
	b, ok := sim.Record(id)
	if !ok {
		tb.Fatalf("Record(%s) not found", id)
	}
	return b
}

func TestThrottle(t *testing.T) {
	type step struct {
		path    string
		advance time.Duration
		status  int
	}
	rec := func(sim *graphsim.Simulator) string { return sim.Truth(testNow.Add(-48*time.Hour), testNow).IDs[0] }
	tests := []struct {
		name   string
		limits graphsim.Limits
		steps  func(id string) []step
	}{
		{"per record", graphsim.Limits{Window: time.Minute, PerRecord: 3}, func(id string) []step {
			p := listPath + "/" + id
			return []step{{p, 0, 200}, {p + "/sessions", 0, 200}, {p + "/participants_v2", 0, 200}, {p, 0, 429}, {listPath, 0, 200}, {p, 61 * time.Second, 200}}
		}},
		{"list", graphsim.Limits{Window: time.Minute, List: 2}, func(id string) []step {
			return []step{{listPath, 0, 200}, {listPath, 0, 200}, {listPath, 0, 429}, {listPath + "/" + id, 0, 200}, {listPath, 61 * time.Second, 200}}
		}},
		{"per app per tenant", graphsim.Limits{Window: 20 * time.Second, PerAppPerTenant: 3}, func(id string) []step {
			return []step{{listPath, 0, 200}, {listPath + "/" + id, 0, 200}, {"/v1.0/nothing", 0, 400}, {listPath + "/" + id, 0, 429}, {listPath, 0, 429}, {listPath, 21 * time.Second, 200}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock(testNow)
			sim, srv := MustServe(t, graphsim.Config{Seed: 1, Now: clk.Now, Throttle: true, Limits: tt.limits})
			throttled := 0
			for i, st := range tt.steps(rec(sim)) {
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
				ra := r.header.Get("Retry-After")
				secs, err := strconv.ParseFloat(ra, 64)
				if err != nil || !strings.Contains(ra, ".") {
					t.Fatalf("Retry-After = %q, want a fractional number of seconds", ra)
				}
				if secs <= 0 || secs > tt.limits.Window.Seconds()+1 {
					t.Errorf("Retry-After = %v s, want within (0, %v]", secs, tt.limits.Window.Seconds())
				}
			}
			if got := sim.Stats().Throttled; got != throttled {
				t.Errorf("Stats().Throttled = %d, want %d", got, throttled)
			}
		})
	}
}

func TestThrottle_RetryAfterFromWindow(t *testing.T) {
	clk := newClock(testNow)
	_, srv := MustServe(t, graphsim.Config{Seed: 1, Now: clk.Now, Throttle: true, Limits: graphsim.Limits{Window: time.Minute, List: 2}})
	MustGet(t, srv.Client(), srv.URL+listPath)
	clk.Advance(20500 * time.Millisecond)
	MustGet(t, srv.Client(), srv.URL+listPath)
	r := MustGet(t, srv.Client(), srv.URL+listPath)
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("third list in the window = %d, want 429", r.status)
	}
	// The first request leaves the window 60 s after it was admitted, i.e.
	// 39.5 s (simulated) from now, plus the real time the first request took.
	secs, err := strconv.ParseFloat(r.header.Get("Retry-After"), 64)
	if err != nil || secs < 39.5 || secs > 41 {
		t.Errorf("Retry-After = %q, want about 39.5", r.header.Get("Retry-After"))
	}
	clk.Advance(time.Duration(secs * float64(time.Second)))
	if r := MustGet(t, srv.Client(), srv.URL+listPath); r.status != 200 {
		t.Errorf("list after waiting Retry-After = %d, want 200", r.status)
	}
}

func TestDeterminism(t *testing.T) {
	_, a := MustServe(t, graphsim.Config{Seed: 42, RecordsPerDay: 20})
	simB, b := MustServe(t, graphsim.Config{Seed: 42, RecordsPerDay: 20})
	_, c := MustServe(t, graphsim.Config{Seed: 43, RecordsPerDay: 20})
	q := filterQuery("startDateTime ge 2026-03-01T00:00:00Z")
	la, lb, lc := listAll(t, a, q), listAll(t, b, q), listAll(t, c, q)
	if len(la.bodies) != len(lb.bodies) {
		t.Fatalf("same seed: %d vs %d pages", len(la.bodies), len(lb.bodies))
	}
	for i := range la.bodies {
		// nextLinks carry each server's own host; compare the rest.
		pa := strings.ReplaceAll(string(la.bodies[i]), a.URL, "")
		pb := strings.ReplaceAll(string(lb.bodies[i]), b.URL, "")
		if pa != pb {
			t.Fatalf("same seed: list page %d differs", i)
		}
	}
	if slices.Equal(la.ids, lc.ids) {
		t.Errorf("seeds 42 and 43 produced the same ids")
	}
	ids := la.ids[:5]
	ids = append(ids, bigMeeting(t, simB))
	for _, id := range ids {
		u := listPath + "/" + id + "?$expand=sessions($expand=segments),participants_v2"
		ra, rb := MustGet(t, a.Client(), a.URL+u), MustGet(t, b.Client(), b.URL+u)
		if strings.ReplaceAll(string(ra.body), a.URL, "") != strings.ReplaceAll(string(rb.body), b.URL, "") {
			t.Errorf("same seed: GET %s differs", id)
		}
	}
}

func TestBump(t *testing.T) {
	clk := newClock(testNow)
	sim, srv := MustServe(t, graphsim.Config{Seed: 9, Now: clk.Now})
	// A range well before now, so that only the bump changes it while the
	// clock moves.
	from, to := testNow.Add(-10*24*time.Hour), testNow.Add(-5*24*time.Hour)
	tr := sim.Truth(from, to)
	id := tr.IDs[len(tr.IDs)/2]
	get := func() recordJSON {
		r := MustGet(t, srv.Client(), srv.URL+listPath+"/"+id+"?$expand=sessions")
		MustOK(t, r, "get "+id)
		var rec recordJSON
		if err := json.Unmarshal(r.body, &rec); err != nil {
			t.Fatal(err)
		}
		return rec
	}
	before := get()
	clk.Advance(time.Hour)
	if !sim.Bump(id) {
		t.Fatalf("Bump(%s) = false", id)
	}
	after := get()
	if after.Version != before.Version+1 {
		t.Errorf("version after Bump = %d, want %d", after.Version, before.Version+1)
	}
	if lm := mustTime(t, after.LastModifiedDateTime); !lm.Equal(clk.Now().Truncate(time.Second)) && !lm.Equal(clk.Now()) {
		t.Errorf("lastModifiedDateTime after Bump = %v, want %v", lm, clk.Now())
	}
	if after.StartDateTime != before.StartDateTime {
		t.Errorf("startDateTime changed from %s to %s", before.StartDateTime, after.StartDateTime)
	}
	if len(after.Sessions) <= len(before.Sessions) && len(after.Sessions) < 60 {
		t.Errorf("sessions after Bump = %d, want more than %d", len(after.Sessions), len(before.Sessions))
	}
	tr2 := sim.Truth(from, to)
	if tr2.Sessions <= tr.Sessions || tr2.Records != tr.Records {
		t.Errorf("Truth after Bump: %d records %d sessions, before %d %d", tr2.Records, tr2.Sessions, tr.Records, tr.Sessions)
	}
	st := mustTime(t, after.StartDateTime)
	l := listAll(t, srv, filterQuery("startDateTime ge "+after.StartDateTime+" and startDateTime le "+st.Format(time.RFC3339Nano)))
	if len(l.items) != 1 || int64(l.items[0]["version"].(float64)) != after.Version {
		t.Errorf("list after Bump = %v, want one item with version %d", l.items, after.Version)
	}
	if sim.Bump("e523d2ed-2966-4b6b-925b-754a88034cc5") {
		t.Errorf("Bump(unknown) = true")
	}
}

func TestFaults(t *testing.T) {
	run := func() ([]string, graphsim.Stats) {
		sim, srv := MustServe(t, graphsim.Config{Seed: 7, FaultRate: 0.6, Latency: [2]time.Duration{0, time.Millisecond}})
		hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		var outcomes []string
		for range 60 {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+listPath+"?"+filterQuery("startDateTime ge 2026-03-14T00:00:00Z"), nil)
			req.Header.Set("Authorization", "Bearer t")
			resp, err := hc.Do(req)
			if err != nil {
				outcomes = append(outcomes, "dropped")
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch resp.StatusCode {
			case 200:
			case 503, 504:
				code := graphError(t, response{resp.StatusCode, resp.Header, b})
				if code != "ServiceUnavailable" && code != "GatewayTimeout" {
					t.Errorf("%d code = %q", resp.StatusCode, code)
				}
			default:
				t.Errorf("unexpected status %d: %s", resp.StatusCode, b)
			}
			outcomes = append(outcomes, strconv.Itoa(resp.StatusCode))
		}
		return outcomes, sim.Stats()
	}
	first, stats := run()
	counts := map[string]int{}
	for _, o := range first {
		counts[o]++
	}
	for _, k := range []string{"200", "503", "504", "dropped"} {
		if counts[k] == 0 {
			t.Errorf("60 requests at FaultRate 0.6 gave no %q outcome: %v", k, counts)
		}
	}
	if faults := counts["503"] + counts["504"] + counts["dropped"]; stats.Faults != faults {
		t.Errorf("Stats().Faults = %d, want %d", stats.Faults, faults)
	}
	if stats.Requests["list"] != 60 {
		t.Errorf("Stats().Requests[list] = %d, want 60", stats.Requests["list"])
	}
	second, _ := run()
	if !slices.Equal(first, second) {
		t.Errorf("same seed and request sequence gave different faults:\n%v\n%v", first, second)
	}
}

func TestPreferHeaders(t *testing.T) {
	sim, srv := MustServe(t, graphsim.Config{Seed: 1})
	id := bigMeeting(t, sim)
	u := srv.URL + listPath + "/" + id + "/sessions?$expand=segments"
	with := followPages(t, srv, u, 60, "Prefer", "include-unknown-enum-members")
	without := followPages(t, srv, u, 60)
	joinedWith, joinedWithout := joinRaw(with), joinRaw(without)
	if !bytes.Contains(joinedWith, []byte(`"productFamily":"azureCommunicationServices"`)) {
		t.Fatalf("meeting %s has no azureCommunicationServices client with include-unknown-enum-members", id)
	}
	if bytes.Contains(joinedWithout, []byte("azureCommunicationServices")) {
		t.Errorf("azureCommunicationServices sent without Prefer: include-unknown-enum-members")
	}
	if n, m := bytes.Count(joinedWith, []byte(`"unknownFutureValue"`)), bytes.Count(joinedWithout, []byte(`"unknownFutureValue"`)); m <= n {
		t.Errorf("unknownFutureValue count without Prefer = %d, with = %d; want evolvable members replaced", m, n)
	}
	r := MustGet(t, srv.Client(), srv.URL+listPath+"/"+id+"?$expand=sessions($expand=segments)", "Prefer", "omit-values=nulls")
	MustOK(t, r, "get omit-values=nulls")
	if bytes.Contains(r.body, []byte(":null")) {
		t.Errorf("omit-values=nulls response still has null values")
	}
	if got := r.header.Get("Preference-Applied"); got != "omit-values=nulls" {
		t.Errorf("Preference-Applied = %q, want omit-values=nulls", got)
	}
}

func TestOtherRequests(t *testing.T) {
	sim, srv := MustServe(t, graphsim.Config{Seed: 1})
	id := sim.Truth(testNow.Add(-48*time.Hour), testNow).IDs[0]
	tests := []struct {
		method, path string
		status       int
	}{
		{"GET", "/v1.0/communications/calls", 400},
		{"GET", listPath + "/" + id + "/segments", 400},
		{"GET", listPath + "/getSmsLog(fromDateTime=2026-03-01,toDateTime=2026-03-02)", 400},
		{"GET", "/beta/communications/callRecords", 404},
		{"POST", listPath, 405},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
		req.Header.Set("Authorization", "Bearer t")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.status)
		}
		graphError(t, response{resp.StatusCode, resp.Header, b})
	}
	if got := sim.Stats().Requests["other"]; got != 4 {
		t.Errorf("Stats().Requests[other] = %d, want 4", got)
	}
}

var (
	streamFields = []string{
		"streamId", "streamDirection", "startDateTime", "endDateTime", "audioCodec", "videoCodec",
		"averageAudioDegradation", "averageAudioNetworkJitter", "maxAudioNetworkJitter",
		"averageBandwidthEstimate", "averageFreezeDuration", "rmsFreezeDuration", "averageJitter",
		"maxJitter", "averagePacketLossRate", "maxPacketLossRate", "averageRatioOfConcealedSamples",
		"maxRatioOfConcealedSamples", "averageReceivedFrameRate", "averageRoundTripTime",
		"maxRoundTripTime", "averageVideoFrameLossPercentage", "averageVideoFrameRate",
		"averageVideoPacketLossRate", "isAudioForwardErrorCorrectionUsed", "lowFrameRateRatio",
		"lowVideoProcessingCapabilityRatio", "packetUtilization",
		"postForwardErrorCorrectionPacketLossRate", "wasMediaBypassed",
	}
	networkFields = []string{
		"bandwidthLowEventRatio", "basicServiceSetIdentifier", "connectionType", "delayEventRatio",
		"dnsSuffix", "ipAddress", "linkSpeed", "macAddress", "networkTransportProtocol", "port",
		"receivedQualityEventRatio", "reflexiveIPAddress", "relayIPAddress", "relayPort",
		"sentQualityEventRatio", "subnet", "traceRouteHops", "wifiBand", "wifiBatteryCharge",
		"wifiChannel", "wifiMicrosoftDriver", "wifiMicrosoftDriverVersion", "wifiRadioType",
		"wifiSignalStrength", "wifiVendorDriver", "wifiVendorDriverVersion",
	}
	deviceFields = []string{
		"captureDeviceDriver", "captureDeviceName", "captureNotFunctioningEventRatio",
		"cpuInsufficentEventRatio", "deviceClippingEventRatio", "deviceGlitchEventRatio",
		"howlingEventCount", "initialSignalLevelRootMeanSquare", "lowSpeechLevelEventRatio",
		"lowSpeechToNoiseEventRatio", "micGlitchRate", "receivedNoiseLevel", "receivedSignalLevel",
		"renderDeviceDriver", "renderDeviceName", "renderMuteEventRatio",
		"renderNotFunctioningEventRatio", "renderZeroVolumeEventRatio", "sentNoiseLevel",
		"sentSignalLevel", "speakerGlitchRate",
	}
	durationFields = []string{
		"averageAudioNetworkJitter", "maxAudioNetworkJitter", "averageFreezeDuration",
		"rmsFreezeDuration", "averageJitter", "maxJitter", "averageRoundTripTime", "maxRoundTripTime",
	}
)

// quirks records which documented quirks a sample of records exercises.
type quirks map[string]int

func (q quirks) see(name string, cond bool) {
	if cond {
		q[name]++
	}
}

func keysOf(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

func sortedCopy(xs []string) []string {
	ys := slices.Clone(xs)
	slices.Sort(ys)
	return ys
}

func isSpecial(v any) bool { return v == "NaN" || v == "INF" || v == "-INF" }

func obj(v any) map[string]any { m, _ := v.(map[string]any); return m }

func arr(v any) []any { a, _ := v.([]any); return a }

func TestData_QuirksAndTruthPerRecord(t *testing.T) {
	sim, _ := MustServe(t, graphsim.Config{Seed: 11})
	from, to := testNow.Add(-5*24*time.Hour), testNow.Add(-24*time.Hour)
	tr := sim.Truth(from, to)
	q := quirks{}
	wantStream, wantNet, wantDev := sortedCopy(streamFields), sortedCopy(networkFields), sortedCopy(deviceFields)
	netSeen := map[string]bool{}
	kinds := map[string]int{}
	var totals graphsim.Truth
	for _, id := range tr.IDs {
		rec := MustDecode(t, mustRecord(t, sim, id))
		start, end := mustTime(t, rec["startDateTime"]), mustTime(t, rec["endDateTime"])
		lm := mustTime(t, rec["lastModifiedDateTime"])
		if !lm.After(end) {
			t.Errorf("%s lastModifiedDateTime %v is not after endDateTime %v", id, lm, end)
		}
		one := sim.Truth(start, start.Add(time.Nanosecond))
		if one.Records != 1 || one.IDs[0] != id {
			t.Fatalf("Truth at %s's start = %+v, want just %s", id, one, id)
		}
		sessions, parts := arr(rec["sessions"]), arr(rec["participants_v2"])
		got := graphsim.Truth{Records: 1, Sessions: len(sessions), Participants: len(parts)}
		q.see("version>1", rec["version"].(float64) > 1)
		q.see("modality unknownFutureValue", slices.Contains(arr(rec["modalities"]), any("unknownFutureValue")))
		q.see("timestamp without fraction", !strings.Contains(rec["startDateTime"].(string), "."))
		q.see("timestamp 7 digits", len(strings.SplitN(rec["startDateTime"].(string), ".", 2)) == 2 && len(strings.SplitN(rec["startDateTime"].(string), ".", 2)[1]) == 8)
		q.see("phone organizer", strings.HasPrefix(obj(rec["organizer_v2"])["id"].(string), "+"))
		switch {
		case throughServices(rec):
			kinds["journey"]++
		case rec["type"] == "peerToPeer" && len(sessions) == 1:
			kinds["p2p"]++
			if obj(sessions[0])["id"] != id {
				t.Errorf("P2P %s session id %v differs from the record id", id, obj(sessions[0])["id"])
			}
			if rec["joinWebUrl"] != nil {
				t.Errorf("P2P %s joinWebUrl = %v, want null", id, rec["joinWebUrl"])
			}
		case len(sessions) > 60 && len(parts) > 130:
			kinds["big"]++
		default:
			kinds["group"]++
		}
		ids := map[any]int{}
		var first, last time.Time
		for i, sv := range sessions {
			s := obj(sv)
			ids[s["id"]]++
			ss, se := mustTime(t, s["startDateTime"]), mustTime(t, s["endDateTime"])
			if ss.Before(start) || se.After(end) || se.Before(ss) {
				t.Errorf("%s session %d [%v, %v] is outside the call [%v, %v]", id, i, ss, se, start, end)
			}
			if i == 0 || ss.Before(first) {
				first = ss
			}
			if i == 0 || se.After(last) {
				last = se
			}
			q.see("session failureInfo", s["failureInfo"] != nil)
			q.see("isTest null", s["isTest"] == nil)
			for _, side := range []string{"caller", "callee"} {
				ep := obj(s[side])
				switch ep["@odata.type"] {
				case "#microsoft.graph.callRecords.participantEndpoint":
					ai := obj(ep["associatedIdentity"])
					for _, k := range []string{"id", "displayName", "tenantId", "userPrincipalName"} {
						if _, ok := ai[k]; !ok {
							t.Fatalf("%s associatedIdentity lacks %s", id, k)
						}
					}
					q.see("feedback", ep["feedback"] != nil)
					q.see("feedback tokens", ep["feedback"] != nil && obj(ep["feedback"])["tokens"] != nil)
					q.see("cpuName", ep["cpuName"] != nil)
					q.see("legacy identity", ep["identity"] != nil)
					ua := obj(ep["userAgent"])
					if ua["@odata.type"] == "#microsoft.graph.callRecords.serviceUserAgent" && ua["role"] != nil {
						// An auto attendant or call queue: its resource account.
						q.see("resource account", true)
						continue
					}
					if ua["@odata.type"] != "#microsoft.graph.callRecords.clientUserAgent" {
						t.Fatalf("%s participant userAgent type %v", id, ua["@odata.type"])
					}
					for _, k := range []string{"platform", "productFamily", "headerValue", "applicationVersion", "communicationServiceId", "azureADAppId"} {
						if _, ok := ua[k]; !ok {
							t.Fatalf("%s clientUserAgent lacks %s", id, k)
						}
					}
					q.see("acs client", ua["communicationServiceId"] != nil)
				case "#microsoft.graph.callRecords.serviceEndpoint":
					ua := obj(ep["userAgent"])
					q.see("service endpoint", ua["@odata.type"] == "#microsoft.graph.callRecords.serviceUserAgent" && ua["role"] != nil)
				default:
					t.Fatalf("%s %s @odata.type = %v", id, side, ep["@odata.type"])
				}
			}
			segs := arr(s["segments"])
			got.Segments += len(segs)
			q.see("several segments", len(segs) > 1)
			for _, sgv := range segs {
				sg := obj(sgv)
				q.see("media null", sg["media"] == nil)
				for _, mv := range arr(sg["media"]) {
					m := obj(mv)
					got.Media++
					for _, k := range []string{"callerNetwork", "calleeNetwork"} {
						n := obj(m[k])
						for _, f := range keysOf(n) {
							if !slices.Contains(wantNet, f) {
								t.Fatalf("%s networkInfo has unknown field %q", id, f)
							}
							netSeen[f] = true
						}
						_, hasBand := n["wifiBand"]
						q.see("not-null enum absent", !hasBand)
						hops := arr(n["traceRouteHops"])
						q.see("traceRouteHops", len(hops) > 0 && obj(hops[0])["hopCount"] != nil && obj(hops[0])["roundTripTime"] != nil)
						for _, f := range keysOf(n) {
							q.see("special float", isSpecial(n[f]))
						}
					}
					for _, k := range []string{"callerDevice", "calleeDevice"} {
						d := obj(m[k])
						if ks := keysOf(d); !slices.Equal(ks, wantDev) {
							t.Fatalf("%s deviceInfo fields = %v, want %v", id, ks, wantDev)
						}
					}
					for _, sv := range arr(m["streams"]) {
						st := obj(sv)
						got.Streams++
						if ks := keysOf(st); !slices.Equal(ks, wantStream) {
							t.Fatalf("%s mediaStream fields = %v, want %v", id, ks, wantStream)
						}
						for _, f := range wantStream {
							q.see("special float", isSpecial(st[f]))
							q.see("null metric", st[f] == nil)
						}
						for _, f := range durationFields {
							d, ok := st[f].(string)
							if !ok {
								continue
							}
							if !strings.HasPrefix(d, "P") || !strings.HasSuffix(d, "S") {
								t.Fatalf("%s %s = %q is not an ISO 8601 duration", id, f, d)
							}
							q.see("duration P0DT", strings.HasPrefix(d, "P0DT"))
							q.see("duration minutes", strings.HasPrefix(d, "PT") && strings.Contains(d, "M"))
						}
					}
				}
			}
		}
		if !first.Equal(start) || !last.Equal(end) {
			t.Errorf("%s sessions span [%v, %v], want the call's [%v, %v]", id, first, last, start, end)
		}
		for _, n := range ids {
			q.see("duplicate session id", n > 1)
		}
		for _, pv := range parts {
			p := obj(pv)
			ident := obj(p["identity"])
			n := 0
			for k, v := range ident {
				if v != nil && !strings.HasPrefix(k, "@") && k != "endpointType" {
					n++
				}
			}
			got.ParticipantIdentities += n
			q.see("several identities", n > 1)
			q.see("phone with asserted identity", ident["phone"] != nil && ident["assertedIdentity"] != nil && ident["encrypted"] != nil)
			q.see("guest encrypted", ident["guest"] != nil && ident["encrypted"] != nil)
			q.see("acs resource", obj(ident["azureCommunicationServicesUser"])["azureCommunicationServicesResourceId"] != nil)
			q.see("hidden application", obj(ident["application"])["hidden"] == true && obj(ident["application"])["applicationType"] != nil)
			for _, k := range []string{"acsUser", "spoolUser", "phone", "guest", "user"} {
				if _, ok := ident[k]; !ok {
					t.Fatalf("%s participant identity lacks %q", id, k)
				}
			}
			q.see("phone participant", ident["phone"] != nil && strings.HasPrefix(p["id"].(string), "+"))
			q.see("guest participant", ident["guest"] != nil)
			if u := obj(ident["user"]); u != nil {
				if u["@odata.type"] != "#microsoft.graph.userIdentity" {
					t.Fatalf("%s participant user @odata.type = %v", id, u["@odata.type"])
				}
				name := u["displayName"].(string)
				q.see("non-ASCII name", strings.IndexFunc(name, func(r rune) bool { return r > 127 }) >= 0)
			}
		}
		one.IDs = nil
		if !reflect.DeepEqual(got, one) {
			t.Errorf("Record(%s) holds %+v, Truth says %+v", id, got, one)
		}
		totals.Records++
		totals.Sessions += got.Sessions
		totals.Segments += got.Segments
		totals.Media += got.Media
		totals.Streams += got.Streams
		totals.Participants += got.Participants
		totals.ParticipantIdentities += got.ParticipantIdentities
	}
	if tr.Records != totals.Records || tr.Sessions != totals.Sessions || tr.Segments != totals.Segments ||
		tr.Media != totals.Media || tr.Streams != totals.Streams || tr.Participants != totals.Participants ||
		tr.ParticipantIdentities != totals.ParticipantIdentities {
		t.Errorf("Truth over the range = %+v, sum of Records = %+v", tr, totals)
	}
	if len(netSeen) != len(networkFields) {
		t.Errorf("networkInfo fields seen: %d of %d", len(netSeen), len(networkFields))
	}
	for _, name := range []string{
		"version>1", "modality unknownFutureValue", "timestamp without fraction", "timestamp 7 digits",
		"phone organizer", "session failureInfo", "isTest null", "feedback", "feedback tokens", "cpuName",
		"legacy identity", "acs client", "service endpoint", "resource account", "several segments", "media null",
		"not-null enum absent", "traceRouteHops", "special float", "null metric", "duration P0DT",
		"duration minutes", "duplicate session id", "phone participant", "guest participant", "non-ASCII name",
		"several identities", "phone with asserted identity", "guest encrypted", "acs resource", "hidden application",
	} {
		if q[name] == 0 {
			t.Errorf("no record in %d exercised %q", tr.Records, name)
		}
	}
	if j := float64(kinds["journey"]) / float64(tr.Records); j < 0.02 || j > 0.15 {
		t.Errorf("share of calls through attendants and queues = %.3f (%v), want a few percent", j, kinds)
	}
	if p2p := float64(kinds["p2p"]) / float64(tr.Records-kinds["journey"]); p2p < 0.6 || p2p > 0.9 {
		t.Errorf("peerToPeer share = %.2f (%v), want about 0.75", p2p, kinds)
	}
	if kinds["big"] < 2 {
		t.Errorf("big meetings in 4 days = %d, want at least 2", kinds["big"])
	}
}

func TestData_BigMeetingEveryTwoDays(t *testing.T) {
	sim, srv := MustServe(t, graphsim.Config{Seed: 4, RecordsPerDay: 30})
	items := listAll(t, srv, "").items
	bigByDay := map[string]int{}
	for _, it := range items {
		st := mustTime(t, it["startDateTime"])
		one := sim.Truth(st, st.Add(time.Nanosecond))
		if one.Sessions > 60 && one.Participants > 130 {
			bigByDay[st.Format(time.DateOnly)]++
		}
	}
	first := testNow.Add(-30 * 24 * time.Hour).Truncate(24 * time.Hour).Add(24 * time.Hour)
	for d := first; d.Add(48 * time.Hour).Before(testNow.Add(-12 * time.Hour)); d = d.Add(24 * time.Hour) {
		if bigByDay[d.Format(time.DateOnly)]+bigByDay[d.Add(24*time.Hour).Format(time.DateOnly)] == 0 {
			t.Errorf("no meeting with >60 sessions and >130 participants on %s or the day after", d.Format(time.DateOnly))
		}
	}
}

func TestVersion_GrowsWithTime(t *testing.T) {
	clk := newClock(testNow)
	sim, srv := MustServe(t, graphsim.Config{Seed: 12, Now: clk.Now})
	q := filterQuery("startDateTime ge 2026-03-13T00:00:00Z and startDateTime lt 2026-03-14T00:00:00Z")
	before := map[string]int64{}
	for _, it := range listAll(t, srv, q).items {
		before[it["id"].(string)] = int64(it["version"].(float64))
	}
	clk.Advance(6 * 24 * time.Hour)
	grew := 0
	for _, it := range listAll(t, srv, q).items {
		id := it["id"].(string)
		listed := int64(it["version"].(float64))
		v, ok := sim.Version(id)
		if !ok || v != listed {
			t.Errorf("Version(%s) = %d, %v; list says %d", id, v, ok, listed)
		}
		if listed < before[id] {
			t.Errorf("%s version went from %d to %d", id, before[id], listed)
		}
		if listed > before[id] {
			grew++
		}
	}
	if grew == 0 {
		t.Errorf("no record of %d gained a version in 6 days", len(before))
	}
	if _, ok := sim.Version("e523d2ed-2966-4b6b-925b-754a88034cc5"); ok {
		t.Errorf("Version(unknown) ok")
	}
}

func TestConcurrentClients(t *testing.T) {
	sim, srv := MustServe(t, graphsim.Config{Seed: 8, Throttle: true, Latency: [2]time.Duration{0, 200 * time.Microsecond}})
	ids := sim.Truth(testNow.Add(-3*24*time.Hour), testNow).IDs
	const workers, each = 6, 25
	var wg sync.WaitGroup
	var throttled atomic.Int64
	errs := make(chan string, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := ids[(w*each+i)%len(ids)]
				paths := []string{listPath + "?" + filterQuery("startDateTime ge 2026-03-14T00:00:00Z"), listPath + "/" + id + "?$expand=sessions($expand=segments)", listPath + "/" + id + "/sessions", listPath + "/" + id + "/participants_v2"}
				if i%5 == 0 {
					sim.Bump(id)
				}
				req, _ := http.NewRequest(http.MethodGet, srv.URL+paths[i%len(paths)], nil)
				req.Header.Set("Authorization", "Bearer t")
				resp, err := srv.Client().Do(req)
				if err != nil {
					errs <- err.Error()
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case 200:
				case 429: // 42 list requests exceed the documented 40 per 20 s
					throttled.Add(1)
				default:
					errs <- paths[i%len(paths)] + ": " + resp.Status
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	total := 0
	for _, n := range sim.Stats().Requests {
		total += n
	}
	if total != workers*each {
		t.Errorf("Stats().Requests sum = %d, want %d", total, workers*each)
	}
	if got := sim.Stats().Throttled; int64(got) != throttled.Load() {
		t.Errorf("Stats().Throttled = %d, clients saw %d", got, throttled.Load())
	}
}
