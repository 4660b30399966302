package extract_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/extract"
	"github.com/callrecords-etl/callrecords-etl/graphsim"
	"golang.org/x/sync/errgroup"
)

// simNow is the simulated tenant's clock: the retained window is the 30 days before it.
var simNow = time.Date(2024, 3, 31, 12, 0, 0, 0, time.UTC)

// MustStartSim serves a simulated tenant over HTTP on loopback.
func MustStartSim(tb testing.TB, cfg graphsim.Config) (*graphsim.Simulator, *httptest.Server) {
	tb.Helper()
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return simNow }
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	if cfg.RecordsPerDay == 0 {
		cfg.RecordsPerDay = 20
	}
	if cfg.Token == "" {
		cfg.Token = "tok"
	}
	sim := graphsim.New(cfg)
	srv := httptest.NewServer(sim)
	tb.Cleanup(srv.Close)
	return sim, srv
}

// MustList lists [from, to) and fails on error.
func MustList(tb testing.TB, c *extract.Client, from, to time.Time) []extract.ListedRecord {
	tb.Helper()
	var got []extract.ListedRecord
	if err := c.ListCallRecords(context.Background(), from, to, func(r extract.ListedRecord) error {
		got = append(got, r)
		return nil
	}); err != nil {
		tb.Fatalf("ListCallRecords(%v, %v) = %v", from, to, err)
	}
	return got
}

func ids(rs []extract.ListedRecord) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// checkIDs compares listed ids with the simulator's truth: same set, no duplicates.
func checkIDs(tb testing.TB, what string, got []string, truth graphsim.Truth) {
	tb.Helper()
	sorted := slices.Clone(got)
	slices.Sort(sorted)
	if d := len(slices.Compact(slices.Clone(sorted))); d != len(sorted) {
		tb.Errorf("%s: %d ids, %d distinct: duplicates", what, len(sorted), d)
	}
	if !slices.Equal(sorted, truth.IDs) {
		tb.Errorf("%s: %d ids, want the %d of the truth (first got %v, first want %v)", what, len(got), truth.Records, first(sorted), first(truth.IDs))
	}
}

func first(s []string) []string { return s[:min(3, len(s))] }

// decodeAny decodes JSON keeping numbers exact.
func decodeAny(tb testing.TB, raw []byte) any {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		tb.Fatalf("decode %.80s…: %v", raw, err)
	}
	return v
}

// recordShape is what the comparisons count.
type recordShape struct {
	ID           string            `json:"id"`
	Sessions     []json.RawMessage `json:"sessions"`
	Participants []json.RawMessage `json:"participants_v2"`
}

// checkRecord compares GetCallRecord's output with the simulator's whole record.
func checkRecord(tb testing.TB, sim *graphsim.Simulator, id string, got json.RawMessage) {
	tb.Helper()
	want, ok := sim.Record(id)
	if !ok {
		tb.Fatalf("sim.Record(%s) not found", id)
	}
	if bytes.Contains(got, []byte("@odata.nextLink")) {
		tb.Errorf("GetCallRecord(%s) still holds an @odata.nextLink", id)
	}
	g, w := decodeAny(tb, got), decodeAny(tb, want)
	// @odata.context names the expansion of the request that was served;
	// Record describes one with participants_v2 expanded, so it differs by design.
	for _, v := range []any{g, w} {
		if m, ok := v.(map[string]any); ok {
			delete(m, "@odata.context")
		}
	}
	if !reflect.DeepEqual(g, w) {
		gm, _ := g.(map[string]any)
		wm, _ := w.(map[string]any)
		for k := range wm {
			if !reflect.DeepEqual(gm[k], wm[k]) {
				tb.Errorf("GetCallRecord(%s)[%q] differs from sim.Record", id, k)
			}
		}
		for k := range gm {
			if _, ok := wm[k]; !ok {
				tb.Errorf("GetCallRecord(%s) has extra key %q", id, k)
			}
		}
	}
}

func TestList_MatchesTruth(t *testing.T) {
	sim, srv := MustStartSim(t, graphsim.Config{})
	c, _ := MustNewClient(t, extract.Config{BaseURL: srv.URL})
	from, to := simNow.Add(-30*24*time.Hour), simNow
	got := MustList(t, c, from, to)
	truth := sim.Truth(from, to)
	if truth.Records < 500 {
		t.Fatalf("truth has %d records, want a tenant of several hundred", truth.Records)
	}
	checkIDs(t, "list of 30 days", ids(got), truth)
	for _, r := range got {
		if r.StartDateTime.Before(from) || !r.StartDateTime.Before(to) || r.Version < 1 ||
			r.EndDateTime.Before(r.StartDateTime) || r.LastModifiedDateTime.IsZero() {
			t.Errorf("listed record %+v: fields outside the window or unset", r)
			break
		}
	}
	// Many pages of at most 60, and the simulator's empty pages were crossed.
	if n, min := c.Stats().Requests["list"], int64(truth.Records/60+1); n <= min {
		t.Errorf("list requests = %d, want more than %d (pages of 60 plus empty pages)", n, min)
	}
	if st := sim.Stats(); int64(st.Requests["list"]) != c.Stats().Requests["list"] {
		t.Errorf("sim saw %d list requests, client counted %d", st.Requests["list"], c.Stats().Requests["list"])
	}
}

func TestList_WindowEdges(t *testing.T) {
	sim, srv := MustStartSim(t, graphsim.Config{})
	c, _ := MustNewClient(t, extract.Config{BaseURL: srv.URL})
	day := simNow.Add(-10 * 24 * time.Hour).Truncate(24 * time.Hour)
	listed := MustList(t, c, day, day.Add(24*time.Hour))
	if len(listed) < 3 {
		t.Fatalf("listed %d records on %s, want a few", len(listed), day)
	}
	edge := listed[len(listed)/2] // a record whose exact (7-digit) start is the edge
	start := edge.StartDateTime

	tests := []struct {
		name     string
		from, to time.Time
		wantIn   bool
	}{
		{"at from is included", start, start.Add(time.Hour), true},
		{"at to is excluded", start.Add(-time.Hour), start, false},
		{"100ns before to is included", start.Add(-time.Hour), start.Add(100 * time.Nanosecond), true},
		{"100ns after from is excluded", start.Add(100 * time.Nanosecond), start.Add(time.Hour), false},
		{"sub-100ns past from is excluded", start.Add(time.Nanosecond), start.Add(time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ids(MustList(t, c, tt.from, tt.to))
			if in := slices.Contains(got, edge.ID); in != tt.wantIn {
				t.Errorf("ListCallRecords(%s, %s) contains %s (start %s) = %v, want %v",
					tt.from.Format(time.RFC3339Nano), tt.to.Format(time.RFC3339Nano), edge.ID, start.Format(time.RFC3339Nano), in, tt.wantIn)
			}
			checkIDs(t, tt.name, got, sim.Truth(tt.from, tt.to))
		})
	}
	if err := c.ListCallRecords(context.Background(), day, day, func(extract.ListedRecord) error { return nil }); err == nil {
		t.Errorf("ListCallRecords on an empty window = nil error, want an error")
	}
}

func TestList_CallbackErrorStops(t *testing.T) {
	_, srv := MustStartSim(t, graphsim.Config{})
	c, _ := MustNewClient(t, extract.Config{BaseURL: srv.URL})
	stop := errors.New("stop")
	n := 0
	err := c.ListCallRecords(context.Background(), simNow.Add(-30*24*time.Hour), simNow, func(extract.ListedRecord) error {
		if n++; n == 5 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 5 {
		t.Fatalf("ListCallRecords with fn failing at 5 = %v after %d calls, want stop after 5", err, n)
	}
}

// findBigMeeting returns a record with more than 60 sessions and 130 participants.
func findBigMeeting(tb testing.TB, sim *graphsim.Simulator) string {
	tb.Helper()
	for _, id := range sim.Truth(simNow.Add(-30*24*time.Hour), simNow).IDs {
		raw, _ := sim.Record(id)
		var r recordShape
		if err := json.Unmarshal(raw, &r); err != nil {
			tb.Fatal(err)
		}
		if len(r.Sessions) > 60 && len(r.Participants) > 130 {
			return id
		}
	}
	tb.Fatalf("the simulated tenant has no meeting with > 60 sessions and > 130 participants")
	return ""
}

func TestGetCallRecord_BigMeeting(t *testing.T) {
	sim, srv := MustStartSim(t, graphsim.Config{})
	id := findBigMeeting(t, sim)
	c, _ := MustNewClient(t, extract.Config{BaseURL: srv.URL})
	got, err := c.GetCallRecord(context.Background(), id)
	if err != nil {
		t.Fatalf("GetCallRecord(%s) = %v", id, err)
	}
	var shape recordShape
	if err := json.Unmarshal(got, &shape); err != nil {
		t.Fatalf("GetCallRecord(%s) returned invalid JSON: %v", id, err)
	}
	t.Logf("record %s: %d sessions, %d participants, %d bytes", id, len(shape.Sessions), len(shape.Participants), len(got))
	checkRecord(t, sim, id, got)
	st := c.Stats()
	// The GET brings the first page of each; their nextLinks the rest.
	if wantS, wantP := int64((len(shape.Sessions)-1)/60), int64((len(shape.Participants)-1)/130); st.Requests["get"] != 1 ||
		st.Requests["sessions"] != wantS || st.Requests["participants"] != wantP {
		t.Errorf("requests = %v, want get 1, sessions %d, participants %d", st.Requests, wantS, wantP)
	}
}

// TestGetCallRecords_SingleExpand: Graph may refuse a GET that expands both
// sessions and participants_v2 (its documentation speaks of "a single
// relationship"). Every record is then fetched whole all the same, with
// participants_v2 from its own endpoint, and after the first refusals the
// client stops asking for both.
func TestGetCallRecords_SingleExpand(t *testing.T) {
	sim, srv := MustStartSim(t, graphsim.Config{SingleExpand: true})
	ids := []string{findBigMeeting(t, sim)}
	c, _ := MustNewClient(t, extract.Config{BaseURL: srv.URL})
	if err := c.ListCallRecords(context.Background(), simNow.Add(-24*time.Hour), simNow, func(r extract.ListedRecord) error {
		ids = append(ids, r.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	const concurrency = 4
	got := map[string]json.RawMessage{}
	var mu sync.Mutex
	if err := c.GetCallRecords(context.Background(), ids, concurrency, extract.Fetched{Record: func(id string, raw json.RawMessage) error {
		mu.Lock()
		defer mu.Unlock()
		got[id] = raw
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ids) {
		t.Fatalf("%d records fetched, want %d", len(got), len(ids))
	}
	for _, id := range ids {
		checkRecord(t, sim, id, got[id])
	}
	st := c.Stats()
	// Each worker's first GET may be refused before the client learns.
	if n := st.Requests["get"]; n < int64(len(ids))+1 || n > int64(len(ids))+concurrency {
		t.Errorf("%d GETs for %d records, want one each plus 1 to %d refused", n, len(ids), concurrency)
	}
	if n := st.Requests["participants"]; n < int64(len(ids)) {
		t.Errorf("%d participants_v2 requests for %d records, want at least one each", n, len(ids))
	}
}

// topLevel returns an object's keys in order and their raw values.
func topLevel(tb testing.TB, raw []byte) ([]string, map[string]json.RawMessage) {
	tb.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		tb.Fatal(err)
	}
	var keys []string
	vals := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			tb.Fatal(err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			tb.Fatal(err)
		}
		keys = append(keys, tok.(string))
		vals[tok.(string)] = v
	}
	return keys, vals
}

func TestGetCallRecord_KeepsOrderAndValues(t *testing.T) {
	// Outside sessions and participants_v2, the record's members come back
	// in the order received and byte for byte (numbers never re-encoded).
	sim, srv := MustStartSim(t, graphsim.Config{})
	c, _ := MustNewClient(t, extract.Config{BaseURL: srv.URL})
	id := findBigMeeting(t, sim) // paged sessions, so the response carries a nextLink
	got, err := c.GetCallRecord(context.Background(), id)
	if err != nil {
		t.Fatalf("GetCallRecord(%s) = %v", id, err)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1.0/communications/callRecords/"+id+"?$expand=sessions($expand=segments),participants_v2", nil)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var direct bytes.Buffer
	direct.ReadFrom(resp.Body)

	gotKeys, gotVals := topLevel(t, got)
	directKeys, directVals := topLevel(t, direct.Bytes())
	if !slices.Contains(directKeys, "sessions@odata.nextLink") || !slices.Contains(directKeys, "participants_v2@odata.nextLink") {
		t.Fatalf("direct response keys %v: want a record with paged sessions and participants", directKeys)
	}
	var wantKeys []string
	for _, k := range directKeys {
		if !strings.HasSuffix(k, "@odata.nextLink") {
			wantKeys = append(wantKeys, k)
		}
	}
	if !slices.Contains(wantKeys, "participants_v2") {
		wantKeys = append(wantKeys, "participants_v2")
	}
	if !slices.Equal(gotKeys, wantKeys) {
		t.Errorf("GetCallRecord keys = %v, want %v", gotKeys, wantKeys)
	}
	for _, k := range gotKeys {
		if k == "sessions" || k == "participants_v2" {
			continue
		}
		if !bytes.Equal(gotVals[k], directVals[k]) {
			t.Errorf("GetCallRecord[%q] = %.100s, want %.100s as received", k, gotVals[k], directVals[k])
		}
	}
}

func TestGetCallRecord_NotFound(t *testing.T) {
	_, srv := MustStartSim(t, graphsim.Config{})
	c, _ := MustNewClient(t, extract.Config{BaseURL: srv.URL})
	for _, id := range []string{"00000000-0000-0000-0000-000000000000", "not-a-record"} {
		_, err := c.GetCallRecord(context.Background(), id)
		if !errors.Is(err, extract.ErrNotFound) {
			t.Errorf("GetCallRecord(%s) = %v, want ErrNotFound", id, err)
		}
		var ge *extract.GraphError
		if !errors.As(err, &ge) || !strings.Contains(err.Error(), ge.URL) || !strings.Contains(ge.URL, srv.URL) {
			t.Errorf("GetCallRecord(%s) error %v does not name the URL", id, err)
		}
	}
	if st := c.Stats(); st.Retries != 0 {
		t.Errorf("404 was retried %d times, want 0", st.Retries)
	}
}

func TestPermanent4xx_FromSimulator(t *testing.T) {
	// The simulator rejects an unsupported query option with 400: not
	// retried, and the error names the URL, Graph's code and request id.
	sim := graphsim.New(graphsim.Config{Seed: 1, Now: func() time.Time { return simNow }, Token: "tok"})
	var hits atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		r.URL.RawQuery += "&$top=5"
		sim.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	c, _ := MustNewClient(t, extract.Config{BaseURL: proxy.URL})
	err := c.ListCallRecords(context.Background(), simNow.Add(-time.Hour), simNow, func(extract.ListedRecord) error { return nil })
	var ge *extract.GraphError
	if !errors.As(err, &ge) || ge.Status != http.StatusBadRequest || ge.Code == "" || ge.RequestID == "" {
		t.Fatalf("ListCallRecords with a bad query = %v, want a *GraphError 400 with code and request id", err)
	}
	if !strings.Contains(err.Error(), proxy.URL+"/v1.0/communications/callRecords?") || !strings.Contains(err.Error(), ge.Code) {
		t.Errorf("error %q does not name the URL and the code", err)
	}
	if hits.Load() != 1 {
		t.Errorf("attempts = %d, want 1", hits.Load())
	}
}

func TestUnauthorized_FromSimulator(t *testing.T) {
	sim, srv := MustStartSim(t, graphsim.Config{Token: "right"})
	c, _ := MustNewClient(t, extract.Config{BaseURL: srv.URL, Credential: extract.StaticToken("wrong")})
	_, err := c.GetCallRecord(context.Background(), "x")
	var ge *extract.GraphError
	if !errors.As(err, &ge) || ge.Status != http.StatusUnauthorized || ge.Code != "InvalidAuthenticationToken" {
		t.Fatalf("GetCallRecord with a wrong token = %v, want a *GraphError 401 InvalidAuthenticationToken", err)
	}
	if n := sim.Stats().Unauthorized; n != 2 {
		t.Errorf("401 answers = %d, want 2 (one refresh, then permanent)", n)
	}
	c, _ = MustNewClient(t, extract.Config{BaseURL: srv.URL, Credential: extract.StaticToken("")})
	if _, err := c.GetCallRecord(context.Background(), "x"); err == nil {
		t.Errorf("GetCallRecord with an empty token = nil error, want an error")
	}
	if n := sim.Stats().Unauthorized; n != 2 {
		t.Errorf("an empty token reached the server (%d 401 answers)", n)
	}
}

// fetchAll lists [from, to) and fetches every listed record, checking each
// against the simulator.
func fetchAll(t *testing.T, sim *graphsim.Simulator, c *extract.Client, from, to time.Time, concurrency int) {
	t.Helper()
	listed := ids(MustList(t, c, from, to))
	truth := sim.Truth(from, to)
	checkIDs(t, "list", listed, truth)
	var mu sync.Mutex
	sessions, participants := 0, 0
	seen := map[string]bool{}
	err := c.GetCallRecords(context.Background(), listed, concurrency, extract.Fetched{Record: func(id string, raw json.RawMessage) error {
		var r recordShape
		if err := json.Unmarshal(raw, &r); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		sessions += len(r.Sessions)
		participants += len(r.Participants)
		seen[id] = true
		checkRecord(t, sim, id, raw)
		return nil
	}, NotFound: func(id string) { t.Errorf("record %s reported not found", id) }})
	if err != nil {
		t.Fatalf("GetCallRecords = %v", err)
	}
	if len(seen) != truth.Records || sessions != truth.Sessions || participants != truth.Participants {
		t.Errorf("fetched %d records, %d sessions, %d participants, want %d, %d, %d",
			len(seen), sessions, participants, truth.Records, truth.Sessions, truth.Participants)
	}
}

func TestRetries_Throttled(t *testing.T) {
	// Five requests in two seconds: a client slowed by a busy machine (the race
	// detector, other packages' tests) still sends more, so it is throttled
	// (at 48 a second it was not, on a loaded machine).
	sim, srv := MustStartSim(t, graphsim.Config{Throttle: true,
		Limits: graphsim.Limits{Window: 2 * time.Second, PerAppPerTenant: 5, List: 2, PerRecord: 2}})
	// Real sleeps: the client has to honour Retry-After for the run to finish.
	c, err := extract.New(extract.Config{BaseURL: srv.URL, Credential: extract.StaticToken("tok"), MaxRetries: 50})
	if err != nil {
		t.Fatal(err)
	}
	fetchAll(t, sim, c, simNow.Add(-12*time.Hour), simNow, 4)
	st, ss := c.Stats(), sim.Stats()
	if st.Throttled == 0 || int(st.Throttled) != ss.Throttled {
		t.Errorf("client counted %d throttled, simulator %d, want equal and > 0", st.Throttled, ss.Throttled)
	}
	if st.Retries < st.Throttled {
		t.Errorf("retries %d < throttled %d", st.Retries, st.Throttled)
	}
}

func TestRetries_Faults(t *testing.T) {
	sim, srv := MustStartSim(t, graphsim.Config{FaultRate: 0.2})
	c, _ := MustNewClient(t, extract.Config{BaseURL: srv.URL, MaxRetries: 20})
	from, to := simNow.Add(-3*24*time.Hour), simNow
	fetchAll(t, sim, c, from, to, 3)
	st, ss := c.Stats(), sim.Stats()
	// net/http itself replays a GET whose reused connection was dropped
	// before any response, so the client may count fewer retries than faults.
	if ss.Faults == 0 || st.Retries == 0 || st.Retries > int64(ss.Faults) {
		t.Errorf("client retried %d times, simulator injected %d faults, want 0 < retries <= faults", st.Retries, ss.Faults)
	}
	if st.ServerErrors == 0 {
		t.Errorf("client counted no 503/504 among %d faults", ss.Faults)
	}
}

// serveCountingInflight serves h and counts the most requests it had in
// flight at once.
func serveCountingInflight(h http.Handler) (*httptest.Server, *atomic.Int64) {
	var inflight, most atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		h.ServeHTTP(w, r)
	}))
	return srv, &most
}

func TestGetCallRecords_ConcurrencyAndSerialisedCallback(t *testing.T) {
	sim := graphsim.New(graphsim.Config{Seed: 2, Now: func() time.Time { return simNow }, RecordsPerDay: 20, Token: "tok",
		Latency: [2]time.Duration{time.Millisecond, 4 * time.Millisecond}})
	srv, maxInflight := serveCountingInflight(sim)
	defer srv.Close()
	c, _ := MustNewClient(t, extract.Config{BaseURL: srv.URL})
	from, to := simNow.Add(-2*24*time.Hour), simNow
	list := ids(MustList(t, c, from, to))
	missing := []string{"00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-00000000000b"}
	all := append(slices.Clone(list), missing...)

	const limit = 3
	var inFn atomic.Int64
	var got, notFound []string
	err := c.GetCallRecords(context.Background(), all, limit, extract.Fetched{Record: func(id string, raw json.RawMessage) error {
		if n := inFn.Add(1); n != 1 {
			t.Errorf("fn running %d times at once, want 1", n)
		}
		defer inFn.Add(-1)
		time.Sleep(time.Millisecond) // widen the window in which an overlap would show
		got = append(got, id)
		return nil
	}, NotFound: func(id string) {
		if n := inFn.Add(1); n != 1 {
			t.Errorf("notFound running alongside fn (%d at once)", n)
		}
		defer inFn.Add(-1)
		notFound = append(notFound, id)
	}})
	if err != nil {
		t.Fatalf("GetCallRecords = %v", err)
	}
	slices.Sort(got)
	slices.Sort(notFound)
	if want := sim.Truth(from, to).IDs; !slices.Equal(got, want) {
		t.Errorf("fn got %d records, want %d", len(got), len(want))
	}
	if !slices.Equal(notFound, missing) {
		t.Errorf("notFound got %v, want %v", notFound, missing)
	}
	if m := maxInflight.Load(); m > limit {
		t.Errorf("max concurrent requests = %d, want <= %d", m, limit)
	}
}

// Two batches sharing a FetchLimit: the second starts once the first has
// dispatched its last fetch, and the two never exceed the limit together.
func TestGetCallRecordsWithin_SharedLimit(t *testing.T) {
	sim := graphsim.New(graphsim.Config{Seed: 2, Now: func() time.Time { return simNow }, RecordsPerDay: 20, Token: "tok",
		Latency: [2]time.Duration{5 * time.Millisecond, 20 * time.Millisecond}})
	srv, maxInflight := serveCountingInflight(sim)
	defer srv.Close()
	c, _ := MustNewClient(t, extract.Config{BaseURL: srv.URL})
	list := ids(MustList(t, c, simNow.Add(-2*24*time.Hour), simNow))
	first, second := list[:len(list)/2], list[len(list)/2:]

	const limit = 3
	shared := extract.NewFetchLimit(limit)
	var mu sync.Mutex
	got := map[string]int{}
	record := func(id string, _ json.RawMessage) error {
		mu.Lock()
		defer mu.Unlock()
		got[id]++
		return nil
	}
	dispatched := make(chan struct{})
	var calls atomic.Int64
	var g errgroup.Group
	g.Go(func() error {
		return c.GetCallRecordsWithin(context.Background(), first, shared, extract.Fetched{Record: record, Dispatched: func() {
			calls.Add(1)
			close(dispatched)
		}})
	})
	<-dispatched
	g.Go(func() error {
		return c.GetCallRecordsWithin(context.Background(), second, shared, extract.Fetched{Record: record})
	})
	if err := g.Wait(); err != nil {
		t.Fatalf("GetCallRecordsWithin = %v", err)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("Dispatched called %d times, want once", n)
	}
	for _, id := range list {
		if got[id] != 1 {
			t.Errorf("record %s handed over %d times, want once", id, got[id])
		}
	}
	if m := maxInflight.Load(); m > limit {
		t.Errorf("max concurrent requests of the two batches = %d, want <= %d", m, limit)
	}
}

// With more requests in flight than net/http keeps idle connections by
// default (two per host), each response used to close its connection and the
// next request dialled again: over TLS a handshake per record.
func TestGetCallRecords_ReusesConnections(t *testing.T) {
	sim := graphsim.New(graphsim.Config{Seed: 3, Now: func() time.Time { return simNow }, RecordsPerDay: 200, Token: "tok",
		Latency: [2]time.Duration{time.Millisecond, 3 * time.Millisecond}})
	srv := httptest.NewUnstartedServer(sim)
	var dials atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dials.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c, _ := MustNewClient(t, extract.Config{BaseURL: srv.URL})
	from, to := simNow.Add(-3*24*time.Hour), simNow
	list := ids(MustList(t, c, from, to))
	const concurrency = 16
	err := c.GetCallRecords(context.Background(), list, concurrency, extract.Fetched{Record: func(string, json.RawMessage) error { return nil }})
	if err != nil {
		t.Fatalf("GetCallRecords = %v", err)
	}
	requests := int64(0)
	for _, n := range c.Stats().Requests {
		requests += n
	}
	// One connection per request in flight (the listing's is reused), plus
	// slack: net/http hands a connection back to its idle pool only after
	// the caller has read the body, so a request sent in that window dials
	// (on a loaded CI machine 20 for 16 was seen). net/http's default of two
	// idle connections per host dialled 115 to 168 times for these 608
	// requests; with too few requests the two would not be told apart.
	if requests < 20*concurrency {
		t.Fatalf("only %d requests: too few to tell reuse from the old fault", requests)
	}
	if n, most := dials.Load(), int64(2*concurrency); n > most {
		t.Errorf("%d connections dialled for %d requests of at most %d at a time, want <= %d", n, requests, concurrency, most)
	}
}

func TestGetCallRecords_FirstErrorCancels(t *testing.T) {
	sim, srv := MustStartSim(t, graphsim.Config{})
	c, _ := MustNewClient(t, extract.Config{BaseURL: srv.URL})
	list := sim.Truth(simNow.Add(-5*24*time.Hour), simNow).IDs
	boom := errors.New("boom")
	calls := 0
	err := c.GetCallRecords(context.Background(), list, 2, extract.Fetched{Record: func(string, json.RawMessage) error {
		calls++
		if calls == 3 {
			return boom
		}
		return nil
	}})
	if !errors.Is(err, boom) || calls != 3 {
		t.Fatalf("GetCallRecords with fn failing on call 3 = %v after %d calls, want boom after 3", err, calls)
	}
	if n := c.Stats().Requests["get"]; n >= int64(len(list)) {
		t.Errorf("get requests = %d of %d ids: the failure did not stop the batch", n, len(list))
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.GetCallRecords(ctx, list, 2, extract.Fetched{Record: func(string, json.RawMessage) error { return nil }}); !errors.Is(err, context.Canceled) {
		t.Errorf("GetCallRecords with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestIncludeUnknownEnumMembers_FromSimulator(t *testing.T) {
	sim, srv := MustStartSim(t, graphsim.Config{})
	with, _ := MustNewClient(t, extract.Config{BaseURL: srv.URL, IncludeUnknownEnumMembers: true})
	without, _ := MustNewClient(t, extract.Config{BaseURL: srv.URL})
	// Over a few records, the Prefer header turns some unknownFutureValue
	// into azureCommunicationServices, and nothing else changes.
	var a, b, acsWith, acsWithout int
	for _, id := range sim.Truth(simNow.Add(-3*24*time.Hour), simNow).IDs {
		rw, err := with.GetCallRecord(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		ro, err := without.GetCallRecord(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		a += bytes.Count(rw, []byte(`"unknownFutureValue"`))
		b += bytes.Count(ro, []byte(`"unknownFutureValue"`))
		acsWith += bytes.Count(rw, []byte(`"azureCommunicationServices"`))
		acsWithout += bytes.Count(ro, []byte(`"azureCommunicationServices"`))
	}
	if acsWith == 0 || acsWithout != 0 || b-a != acsWith {
		t.Errorf("azureCommunicationServices with Prefer %d, without %d; unknownFutureValue with %d, without %d: want some with, none without, and the difference equal",
			acsWith, acsWithout, a, b)
	}
	t.Logf("unknownFutureValue: with Prefer %d, without %d", a, b)
}
