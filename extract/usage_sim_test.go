package extract_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/extract"
	"github.com/callrecords-etl/callrecords-etl/graphsim"
)

// usageSimConfig is a tenant with the documented default volumes of PSTN
// and Direct Routing rows, kept for a year.
func usageSimConfig() graphsim.Config {
	return graphsim.Config{PstnPerDay: 40, DirectRoutingPerDay: 25, UsageRetention: 365 * 24 * time.Hour}
}

// simTruth is the simulator's half-open truth for f.
func (f usageFunc) simTruth(sim *graphsim.Simulator, from, to time.Time) graphsim.UsageTruth {
	if f.endpoint == "pstn" {
		return sim.PstnTruth(from, to)
	}
	return sim.DirectRoutingTruth(from, to)
}

// checkUsage compares listed rows with the simulator's truth: same ids, no
// duplicates, every start inside [from, to), raw rows intact.
func checkUsage(tb testing.TB, what string, got []extract.UsageRow, from, to time.Time, truth graphsim.UsageTruth) {
	tb.Helper()
	ids := rowIDs(got)
	slices.Sort(ids)
	if d := len(slices.Compact(slices.Clone(ids))); d != len(ids) {
		tb.Errorf("%s: %d rows, %d distinct ids: duplicates", what, len(ids), d)
	}
	if !slices.Equal(ids, truth.IDs) {
		tb.Errorf("%s: %d rows, want the %d of the truth (first got %v, first want %v)", what, len(ids), truth.Rows, first(ids), first(truth.IDs))
	}
	var dur int64
	failed := 0
	for _, r := range got {
		if r.StartDateTime.Before(from) || !r.StartDateTime.Before(to) {
			tb.Errorf("%s: row %s starts at %v, outside [%v, %v)", what, r.ID, r.StartDateTime, from, to)
		}
		var raw struct {
			ID             string `json:"id"`
			Duration       int64  `json:"duration"`
			SuccessfulCall *bool  `json:"successfulCall"`
		}
		if err := json.Unmarshal(r.Raw, &raw); err != nil || raw.ID != r.ID {
			tb.Errorf("%s: row %s Raw = %.80s (%v), want the row's JSON", what, r.ID, r.Raw, err)
		}
		dur += raw.Duration
		if raw.SuccessfulCall != nil && !*raw.SuccessfulCall {
			failed++
		}
	}
	if dur != truth.DurationSeconds || failed != truth.Failed {
		tb.Errorf("%s: duration %d s, %d failed, want %d s, %d failed", what, dur, failed, truth.DurationSeconds, truth.Failed)
	}
}

// recordingHandler records the request URIs it passes on to next.
type recordingHandler struct {
	next http.Handler
	mu   sync.Mutex
	uris []string
}

func (h *recordingHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.uris = append(h.uris, r.RequestURI)
	h.mu.Unlock()
	h.next.ServeHTTP(w, r)
}

func (h *recordingHandler) requests() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.uris)
}

func TestUsageSim_MatchesTruthOverPages(t *testing.T) {
	// 60 days is one request window but more than 1,000 rows of each
	// function, so the answer comes in $skip pages.
	sim, srv := MustStartSim(t, usageSimConfig())
	from, to := simNow.Add(-60*24*time.Hour), simNow
	for _, f := range usageFuncs {
		t.Run(f.name, func(t *testing.T) {
			c, _ := MustNewClient(t, extract.Config{BaseURL: srv.URL})
			truth := f.simTruth(sim, from, to)
			if truth.Rows <= 1000 {
				t.Fatalf("the simulated tenant has %d %s rows in 60 days, want > 1000", truth.Rows, f.name)
			}
			checkUsage(t, f.name, MustListUsage(t, c, f, from, to), from, to, truth)
			if got, want := c.Stats().Requests[f.endpoint], int64((truth.Rows+999)/1000); got < want {
				t.Errorf("Stats.Requests[%q] = %d, want at least %d pages", f.endpoint, got, want)
			}
			if got, served := c.Stats().Requests[f.endpoint], sim.Stats().Requests[f.endpoint]; got != int64(served) {
				t.Errorf("Stats.Requests[%q] = %d, simulator served %d", f.endpoint, got, served)
			}
		})
	}
}

func TestUsageSim_AdjacentWindows(t *testing.T) {
	// Ten days cut every three hours: every row, including those that start
	// exactly at midnight or on the hour, comes from exactly one window.
	sim, srv := MustStartSim(t, usageSimConfig())
	start := simNow.Add(-12 * 24 * time.Hour).Truncate(24 * time.Hour)
	var cuts []time.Time
	for at := start; !at.After(start.Add(10 * 24 * time.Hour)); at = at.Add(3 * time.Hour) {
		cuts = append(cuts, at)
	}
	for _, f := range usageFuncs {
		t.Run(f.name, func(t *testing.T) {
			onEdge := 0
			for _, at := range cuts[1 : len(cuts)-1] {
				onEdge += f.simTruth(sim, at, at.Add(time.Nanosecond)).Rows
			}
			if onEdge == 0 {
				t.Fatalf("no %s row starts exactly on an inner cut: the test proves nothing", f.name)
			}
			c, _ := MustNewClient(t, extract.Config{BaseURL: srv.URL})
			var all []extract.UsageRow
			for i := 1; i < len(cuts); i++ {
				a, b := cuts[i-1], cuts[i]
				got := MustListUsage(t, c, f, a, b)
				checkUsage(t, f.name+" ["+a.Format(time.RFC3339)+", "+b.Format(time.RFC3339)+")", got, a, b, f.simTruth(sim, a, b))
				all = append(all, got...)
			}
			from, to := cuts[0], cuts[len(cuts)-1]
			checkUsage(t, f.name+" all windows", all, from, to, f.simTruth(sim, from, to))
			t.Logf("%s: %d rows, %d on inner cuts", f.name, len(all), onEdge)
		})
	}
}

// usageWindows returns the (fromDateTime, toDateTime) literals of the first
// page of each request in uris for function name.
func usageWindows(tb testing.TB, uris []string, name string) [][2]time.Time {
	tb.Helper()
	var out [][2]time.Time
	for _, uri := range uris {
		if strings.Contains(uri, "$skip") {
			continue
		}
		m := usagePathRE.FindStringSubmatch(uri)
		if m == nil || m[1] != name {
			tb.Fatalf("request %s is not a %s request", uri, name)
		}
		lo, err1 := time.Parse(time.RFC3339Nano, m[2])
		hi, err2 := time.Parse(time.RFC3339Nano, m[3])
		if err1 != nil || err2 != nil {
			tb.Fatalf("request %s: unreadable dates", uri)
		}
		out = append(out, [2]time.Time{lo, hi})
	}
	return out
}

func TestUsageSim_SplitsLongWindow(t *testing.T) {
	// 120 days go out as a 90-day and a 30-day request. The chunk boundary
	// is put on a midnight at which a row starts.
	const day = 24 * time.Hour
	sim := graphsim.New(graphsim.Config{Seed: 1, Now: func() time.Time { return simNow }, Token: "tok",
		PstnPerDay: 40, DirectRoutingPerDay: 25, UsageRetention: 365 * day})
	for _, f := range usageFuncs {
		t.Run(f.name, func(t *testing.T) {
			var boundary time.Time
			for d := simNow.Add(-30 * day).Truncate(day); d.After(simNow.Add(-200 * day)); d = d.Add(-day) {
				if f.simTruth(sim, d, d.Add(time.Nanosecond)).Rows > 0 {
					boundary = d
					break
				}
			}
			if boundary.IsZero() {
				t.Fatalf("no %s row starts at a midnight", f.name)
			}
			from := boundary.Add(-90 * day)
			to := from.Add(120 * day)
			rec := &recordingHandler{next: sim}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			c, _ := MustNewClient(t, extract.Config{BaseURL: srv.URL})
			got := MustListUsage(t, c, f, from, to)
			checkUsage(t, f.name+" over 120 days", got, from, to, f.simTruth(sim, from, to))
			windows := usageWindows(t, rec.requests(), f.name)
			want := [][2]time.Time{{from, boundary}, {boundary, to}}
			if !slices.EqualFunc(windows, want, func(a, b [2]time.Time) bool { return a[0].Equal(b[0]) && a[1].Equal(b[1]) }) {
				t.Errorf("%s over 120 days requested windows %v, want %v", f.name, windows, want)
			}
			if n := c.Stats().Requests[f.endpoint]; n != int64(len(rec.requests())) {
				t.Errorf("Stats.Requests[%q] = %d, want the %d requests sent", f.endpoint, n, len(rec.requests()))
			}
		})
	}
}

func TestUsageSim_Throttled(t *testing.T) {
	cfg := usageSimConfig()
	cfg.Throttle = true
	// Two requests of a function a second: a client slowed by a busy machine
	// still sends more, so it is throttled (at ten a second it might not be).
	cfg.Limits = graphsim.Limits{UsageWindow: time.Second, UsagePerAppPerTenant: 3, UsagePerCollection: 2}
	sim, srv := MustStartSim(t, cfg)
	// Real sleeps: the client has to honour Retry-After for the run to finish.
	c, err := extract.New(extract.Config{BaseURL: srv.URL, Credential: extract.StaticToken("tok"), MaxRetries: 50})
	if err != nil {
		t.Fatal(err)
	}
	from, to := simNow.Add(-6*24*time.Hour), simNow
	var wg sync.WaitGroup
	for _, f := range usageFuncs {
		wg.Go(func() {
			for d := from; d.Before(to); d = d.Add(24 * time.Hour) {
				var got []extract.UsageRow
				if err := f.list(c, context.Background(), d, d.Add(24*time.Hour), func(r extract.UsageRow) error {
					got = append(got, r)
					return nil
				}); err != nil {
					t.Errorf("%s on %s = %v", f.name, d.Format(time.DateOnly), err)
					return
				}
				checkUsage(t, f.name+" "+d.Format(time.DateOnly), got, d, d.Add(24*time.Hour), f.simTruth(sim, d, d.Add(24*time.Hour)))
			}
		})
	}
	wg.Wait()
	st, ss := c.Stats(), sim.Stats()
	if st.Throttled == 0 || int(st.Throttled) != ss.Throttled {
		t.Errorf("client counted %d throttled, simulator %d, want equal and > 0", st.Throttled, ss.Throttled)
	}
	if st.Retries < st.Throttled {
		t.Errorf("retries %d < throttled %d", st.Retries, st.Throttled)
	}
}

func TestUsageSim_Faults(t *testing.T) {
	cfg := usageSimConfig()
	cfg.FaultRate = 0.3
	sim, srv := MustStartSim(t, cfg)
	c, _ := MustNewClient(t, extract.Config{BaseURL: srv.URL, MaxRetries: 20})
	from, to := simNow.Add(-20*24*time.Hour), simNow
	for _, f := range usageFuncs {
		var all []extract.UsageRow
		for d := from; d.Before(to); d = d.Add(24 * time.Hour) {
			all = append(all, MustListUsage(t, c, f, d, d.Add(24*time.Hour))...)
		}
		checkUsage(t, f.name+" under faults", all, from, to, f.simTruth(sim, from, to))
	}
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
