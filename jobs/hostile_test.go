package jobs_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/graphsim"
	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/load/lake"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// hostile rewrites the simulator's answers: edit gets each response (the
// request and the body the simulator wrote) and returns the body to send.
func hostile(edit func(r *http.Request, body []byte) []byte) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			for k, vs := range rec.Header() {
				w.Header()[k] = vs
			}
			body := edit(r, rec.Body.Bytes())
			code := rec.Code
			if !bytes.Equal(body, rec.Body.Bytes()) {
				code = http.StatusOK // what Graph answered, with a body of its own
			}
			w.Header().Del("Content-Length")
			w.WriteHeader(code)
			w.Write(body)
		})
	}
}

// editPage decodes a collection page, lets fn change its items, encodes it.
func editPage(body []byte, fn func(item map[string]any)) []byte {
	var page map[string]any
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if d.Decode(&page) != nil {
		return body
	}
	items, _ := page["value"].([]any)
	for _, it := range items {
		if m, ok := it.(map[string]any); ok {
			fn(m)
		}
	}
	out, _ := json.Marshal(page)
	return out
}

func isList(r *http.Request) bool {
	return strings.HasSuffix(r.URL.Path, "/communications/callRecords")
}

func isDetail(r *http.Request, id string) bool {
	return r.URL.EscapedPath() == "/v1.0/communications/callRecords/"+url.PathEscape(id)
}

// TestRun_HostileGraph: one bad record never holds the others back. A detail
// body of malformed JSON, HTML served with 200, "sessions" that is not an
// array, a listed "version" that is no number, records whose ids are a path
// ("../x"), a dot name or 300 characters, and PSTN rows with such ids and a
// start that is no date: each is quarantined under a name derived from a
// hash of its id (the id inside), every other record and row is committed, the
// checkpoints move, and the run ends with ErrQuarantined (exit code 4).
func TestRun_HostileGraph(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var badDetail map[string]string // id -> body served for its detail GET
	var renamed map[string]string   // simulator id -> the hostile id it is listed under
	var badVersion string
	var badRows map[string]string // PSTN row id -> its hostile id
	wrap := hostile(func(r *http.Request, body []byte) []byte {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case isList(r):
			return editPage(body, func(it map[string]any) {
				id, _ := it["id"].(string)
				if id == badVersion {
					it["version"] = "abc"
				}
				if h, ok := renamed[id]; ok {
					it["id"] = h
				}
			})
		case strings.Contains(r.URL.Path, "getPstnCalls"):
			return editPage(body, func(it map[string]any) {
				id, _ := it["id"].(string)
				if h, ok := badRows[id]; ok {
					it["id"], it["startDateTime"] = h, "yesterday" // a bad charge alone is stored as NULL
				}
			})
		}
		for id, b := range badDetail {
			if isDetail(r, id) {
				return []byte(b)
			}
		}
		return body
	})
	f := newFixtureWith(t, func(c *graphsim.Config) { c.PstnPerDay, c.DirectRoutingPerDay = 12, 4 }, wrap)
	f.seedCheckpoint(t, f.dest, f.clock.Now().Add(-24*time.Hour))
	// Records of the last 40 hours: the next run's lookback (48 h) lists
	// them again.
	ids := f.sim.Truth(f.clock.Now().Add(-40*time.Hour), f.clock.Now()).IDs
	if len(ids) < 8 {
		t.Fatalf("%d records in the last 40 hours, want 8", len(ids))
	}
	hostileIDs := []string{"../x", "..hidden", strings.Repeat("z", 300)}
	mu.Lock()
	badDetail = map[string]string{
		ids[0]: `{"id":"` + ids[0] + `","version":1,"sessions":[{"id":`,
		ids[1]: `<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>`,
		ids[2]: `{"id":"` + ids[2] + `","version":1,"sessions":"not-an-array"}`,
	}
	badVersion = ids[3]
	renamed = map[string]string{}
	for i, h := range hostileIDs {
		renamed[ids[4+i]] = h
		badDetail[h] = `{"id":` // the hostile ids' records are unreadable too
	}
	pstnIDs := f.sim.PstnTruth(f.clock.Now().Add(-jobs.DefaultConfig().UsageHistory), f.clock.Now()).IDs
	badRows = map[string]string{pstnIDs[0]: "../x", pstnIDs[1]: strings.Repeat("p", 300)}
	mu.Unlock()

	sum, err := f.run(t, func(c *jobs.Config) {
		c.Datasets = []string{schemas.DatasetCallRecords, schemas.DatasetPstn, schemas.DatasetDirectRouting}
	})
	if !errors.Is(err, jobs.ErrQuarantined) || errors.Is(err, jobs.ErrRetentionGap) {
		t.Fatalf("Run = %v, want ErrQuarantined alone (exit code 4)", err)
	}
	quarantined := map[string]string{ // id -> dataset
		ids[0]: "callrecords", ids[1]: "callrecords", ids[2]: "callrecords", ids[3]: "callrecords",
		"../x": "callrecords", "..hidden": "callrecords", strings.Repeat("z", 300): "callrecords",
	}
	for id, ds := range quarantined {
		checkQuarantined(t, f.dest, ds, id)
	}
	checkQuarantined(t, f.dest, "pstn", "../x")
	checkQuarantined(t, f.dest, "pstn", strings.Repeat("p", 300))
	if got := len(sum.Quarantined); got != len(quarantined)+2 {
		t.Errorf("summary lists %d quarantined, want %d: %v", got, len(quarantined)+2, sum.Quarantined)
	}

	// Every other record and row is in the lake.
	stored := map[string]bool{}
	for _, r := range callRecords(t, f.dest) {
		stored[r.CallRecordID] = true
	}
	for _, id := range ids[7:] {
		if !stored[id] {
			t.Errorf("record %s not in the lake", id)
		}
	}
	for _, id := range ids[:7] {
		if stored[id] {
			t.Errorf("bad record %s in the lake", id)
		}
	}
	rows := readTable[schemas.PstnCallRow](t, f.dest, schemas.TablePstnCalls)
	if len(rows) != len(pstnIDs)-2 {
		t.Errorf("pstn_calls holds %d rows, want every row but the 2 bad ones (%d)", len(rows), len(pstnIDs)-2)
	}
	// The checkpoints moved.
	st, err := jobs.ReadStatus(t.Context(), f.config(), tenant, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if !s.Watermark.Equal(f.clock.Now()) {
			t.Errorf("%s checkpoint at %s, want moved to %s", s.Dataset, s.Watermark, f.clock.Now())
		}
	}
	if len(st) != 3 {
		t.Errorf("%d checkpoints, want 3", len(st))
	}

	// Graph serves them properly again: the next run, whose lookback still
	// covers them, fetches the records it quarantined.
	mu.Lock()
	badDetail, badVersion, renamed = map[string]string{}, "", nil
	mu.Unlock()
	f.clock.Add(time.Hour)
	if _, err := f.run(t, nil); err != nil {
		t.Fatalf("second run = %v", err)
	}
	stored = map[string]bool{}
	for _, r := range callRecords(t, f.dest) {
		stored[r.CallRecordID] = true
	}
	for _, id := range ids[:7] {
		if !stored[id] {
			t.Errorf("record %s, quarantined by the first run, not fetched by the next", id)
		}
	}
}

// checkQuarantined: id's payload is kept under the name lake.QuarantineKey
// gives it, and the object names the id.
func checkQuarantined(t *testing.T, dest, dataset, id string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dest, filepath.FromSlash(lake.QuarantineKey(tenant, dataset, id))))
	if err != nil {
		t.Errorf("%s %.40q not quarantined: %v", dataset, id, err)
		return
	}
	var doc struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(data, &doc) != nil || doc.ID != id {
		t.Errorf("quarantine of %.40q names %.40q", id, doc.ID)
	}
}

// TestRun_UnreadableListingFailsItsDayAlone: a day whose listing Graph keeps
// answering with an unreadable page fails alone (after the page was fetched
// again): the later days are committed, the checkpoint stays before the failed
// day, and the run fails (exit code 1) naming the page.
func TestRun_UnreadableListingFailsItsDayAlone(t *testing.T) {
	t.Parallel()
	var badDay string
	wrap := hostile(func(r *http.Request, body []byte) []byte {
		if isList(r) && badDay != "" && strings.Contains(r.URL.Query().Get("$filter"), "ge "+badDay) {
			return []byte(`<html>maintenance</html>`)
		}
		return body
	})
	f := newFixtureWith(t, noBigMeetings, wrap) // a first run: the retained month
	ten := f.clock.Now().Add(-10 * 24 * time.Hour)
	failed := time.Date(ten.Year(), ten.Month(), ten.Day(), 0, 0, 0, 0, time.UTC)
	badDay = failed.Format("2006-01-02")
	_, err := f.run(t, nil)
	if err == nil || errors.Is(err, jobs.ErrQuarantined) || !strings.Contains(err.Error(), "/communications/callRecords") {
		t.Fatalf("Run = %v, want a failure naming the page", err)
	}
	for _, r := range callRecords(t, f.dest) {
		if schemas.PartitionDate(r.StartDateTime) == badDay {
			t.Errorf("record %s of the failed day %s in the lake", r.CallRecordID, badDay)
		}
	}
	later := f.sim.Truth(failed.Add(24*time.Hour), f.clock.Now())
	stored := map[string]bool{}
	for _, r := range callRecords(t, f.dest) {
		stored[r.CallRecordID] = true
	}
	for _, id := range later.IDs {
		if !stored[id] {
			t.Errorf("record %s of a later day not committed", id)
		}
	}
	st, _ := jobs.ReadStatus(t.Context(), f.config(), tenant, f.clock.Now())
	if len(st) != 1 || !st[0].Watermark.Equal(failed) {
		t.Errorf("checkpoint = %+v, want it at the failed day's start %s", st, failed)
	}
}

// TestRun_FailingFetchFailsItsDayAlone: one record whose GET Graph keeps
// failing (503 after every retry) fails its day alone, while the next day,
// fetched meanwhile, and every later day are committed; the checkpoint stays
// at the failed day.
func TestRun_FailingFetchFailsItsDayAlone(t *testing.T) {
	t.Parallel()
	var failing atomic.Value // the record id whose GET fails
	failing.Store("")
	var failures atomic.Int64
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if id := failing.Load().(string); id != "" && isDetail(r, id) {
				failures.Add(1)
				w.Header().Set("Retry-After", "0")
				http.Error(w, `{"error":{"code":"ServiceUnavailable","message":"try later"}}`, http.StatusServiceUnavailable)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	f := newFixtureWith(t, noBigMeetings, wrap) // a first run: the retained month
	ten := f.clock.Now().Add(-10 * 24 * time.Hour)
	failed := time.Date(ten.Year(), ten.Month(), ten.Day(), 0, 0, 0, 0, time.UTC)
	ids := f.sim.Truth(failed, failed.Add(24*time.Hour)).IDs
	if len(ids) == 0 {
		t.Fatalf("no record on %s to fail", failed.Format(time.DateOnly))
	}
	failing.Store(ids[0])
	_, err := f.run(t, nil)
	if err == nil || !strings.Contains(err.Error(), failed.Format(time.DateOnly)) || !strings.Contains(err.Error(), ids[0]) {
		t.Fatalf("Run = %v, want a failure naming the day and the record", err)
	}
	if failures.Load() < 2 {
		t.Errorf("the failing GET was sent %d times, want it retried", failures.Load())
	}
	stored := map[string]bool{}
	for _, r := range callRecords(t, f.dest) {
		stored[r.CallRecordID] = true
		if r.StartDateTime.Format(time.DateOnly) == failed.Format(time.DateOnly) {
			t.Errorf("record %s of the failed day in the lake", r.CallRecordID)
		}
	}
	for _, id := range f.sim.Truth(failed.Add(24*time.Hour), f.clock.Now()).IDs {
		if !stored[id] {
			t.Errorf("record %s of a later day not committed", id)
		}
	}
	st, _ := jobs.ReadStatus(t.Context(), f.config(), tenant, f.clock.Now())
	if len(st) != 1 || !st[0].Watermark.Equal(failed) {
		t.Errorf("checkpoint = %+v, want it at the failed day's start %s", st, failed)
	}
}

// TestRun_EndlessPagingStops: a Graph whose call-record listing answers every
// page empty with a new nextLink is given up within a few dozen requests and
// seconds, naming the endpoint, while the other datasets still commit.
func TestRun_EndlessPagingStops(t *testing.T) {
	t.Parallel()
	var lists atomic.Int32
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !isList(r) {
				next.ServeHTTP(w, r)
				return
			}
			n := lists.Add(1)
			w.Header().Set("Content-Type", "application/json")
			q := r.URL.Query()
			q.Set("$skiptoken", strings.Repeat("a", int(n%7)+1)+string(rune('a'+n%26)))
			u := *r.URL
			u.RawQuery = q.Encode()
			json.NewEncoder(w).Encode(map[string]any{"value": []any{}, "@odata.nextLink": "http://" + r.Host + u.RequestURI()})
		})
	}
	f := newFixtureWith(t, func(c *graphsim.Config) { c.PstnPerDay, c.DirectRoutingPerDay = 6, 3 }, wrap)
	start := time.Now()
	_, err := f.run(t, func(c *jobs.Config) {
		c.Datasets = []string{schemas.DatasetCallRecords, schemas.DatasetPstn, schemas.DatasetDirectRouting}
		c.MaxRPS = 75 // the default pacing: the budget, not the pace, must stop it
	})
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "paging does not end") || !strings.Contains(err.Error(), "list") {
		t.Fatalf("Run = %v, want an error saying the list endpoint's paging does not end", err)
	}
	if n := lists.Load(); n >= 200 {
		t.Errorf("%d list requests, want fewer than 200", n)
	}
	if took > 30*time.Second {
		t.Errorf("the run took %s, want under 30 s", took)
	}
	if readTable[schemas.PstnCallRow](t, f.dest, schemas.TablePstnCalls) == nil || readTable[schemas.DirectRoutingCallRow](t, f.dest, schemas.TableDirectRoutingCalls) == nil {
		t.Error("the usage datasets did not commit")
	}
	st, _ := jobs.ReadStatus(t.Context(), f.config(), tenant, f.clock.Now())
	var moved []string
	for _, s := range st {
		if s.Watermark.Equal(f.clock.Now()) {
			moved = append(moved, s.Dataset)
		}
	}
	slices.Sort(moved)
	if !slices.Equal(moved, []string{"directrouting", "pstn"}) {
		t.Errorf("checkpoints moved: %v, want the usage datasets'", moved)
	}
	t.Logf("%d list requests in %s", lists.Load(), took.Round(time.Millisecond))
}
