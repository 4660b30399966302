package jobs_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/notify"
)

const clientState = "s3cr3t-state-Ω"

func notificationBody(state, tenantID string, ids ...string) string {
	var items []string
	for _, id := range ids {
		items = append(items, fmt.Sprintf(`{"subscriptionId":"sub-1","clientState":%q,"changeType":"created","resource":"communications/callRecords/%s","subscriptionExpirationDateTime":"2026-11-22T00:00:00Z","resourceData":{"@odata.type":"#Microsoft.Graph.callRecord","@odata.id":"communications/callRecords/%s","id":%q},"tenantId":%q}`, state, id, id, id, tenantID))
	}
	return `{"value":[` + strings.Join(items, ",") + `]}`
}

func inboxIDs(t *testing.T, dest string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dest, "_etl", "inbox", tenant, "*.json"))
	var ids []string
	for _, f := range files {
		ids = append(ids, strings.TrimSuffix(filepath.Base(f), ".json"))
	}
	return ids
}

func post(t *testing.T, h http.Handler, target, body string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, target, strings.NewReader(body)))
	return rec
}

// TestDrainInbox: a run fetches the notified records, writes them, and empties
// the inbox; an id Graph does not know stays for later runs, then is given up.
func TestDrainInbox(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	truth := f.sim.Truth(f.clock.Now().Add(-jobs.Retention), f.clock.Now())
	h := notify.NewReceiver(notify.Config{TenantID: tenant, ClientState: clientState, Store: mustLocal(t, f.dest), Logger: testLogger()})
	notified := []string{truth.IDs[0], truth.IDs[len(truth.IDs)/2], truth.IDs[len(truth.IDs)-1]}
	if rec := post(t, h, "/n", notificationBody(clientState, tenant, append(notified, "00000000-dead-beef-0000-000000000000")...)); rec.Code != 202 {
		t.Fatalf("receiver: %d", rec.Code)
	}
	drain := func(c *jobs.Config) { c.Datasets = []string{jobs.DatasetNotifications} }
	sum := f.MustRun(t, drain)
	rows := callRecords(t, f.dest)
	got := map[string]bool{}
	for _, r := range rows {
		got[r.CallRecordID] = true
	}
	if len(rows) != len(notified) {
		t.Errorf("lake holds %d records, want the %d notified", len(rows), len(notified))
	}
	for _, id := range notified {
		if !got[id] {
			t.Errorf("notified record %s not in the lake", id)
		}
	}
	if left := inboxIDs(t, f.dest); len(left) != 1 || left[0] != "00000000-dead-beef-0000-000000000000" {
		t.Errorf("inbox after drain = %v, want only the unknown id", left)
	}
	if d := sum.Datasets["callrecords"]; d == nil || d.NotFound != 1 || d.New != len(notified) {
		t.Errorf("drain summary: %+v, want %d new and the unknown id not found", d, len(notified))
	}
	if sum.Graph.Requests["list"] != 0 {
		t.Errorf("a drain-only run listed call records (%d requests)", sum.Graph.Requests["list"])
	}
	for i := 1; i < jobs.MaxInboxAttempts; i++ {
		f.MustRun(t, drain)
	}
	if left := inboxIDs(t, f.dest); len(left) != 0 {
		t.Errorf("inbox after %d attempts = %v, want the unknown id given up", jobs.MaxInboxAttempts, left)
	}
	if n := len(callRecords(t, f.dest)); n != len(notified) {
		t.Errorf("later drains changed the lake: %d records", n)
	}

	// Drains with something to do leave a run summary; a drain of an empty
	// inbox (every few minutes, all day) leaves none.
	summaries := func() int {
		files, _ := filepath.Glob(filepath.Join(f.dest, "_etl", "runs", tenant, "*.json"))
		return len(files)
	}
	before := summaries()
	if before < jobs.MaxInboxAttempts {
		t.Errorf("%d run summaries after %d drains with work", before, jobs.MaxInboxAttempts)
	}
	empty := f.MustRun(t, drain)
	if n := summaries(); n != before {
		t.Errorf("a drain of an empty inbox wrote a run summary (%d, was %d)", n, before)
	}
	var printed strings.Builder
	empty.Print(&printed)
	if want := "tenant " + tenant + ": the change-notification inbox is empty, nothing to drain\n"; printed.String() != want {
		t.Errorf("a drain of an empty inbox printed %q, want %q", printed.String(), want)
	}
	f.MustRun(t, nil) // a scheduled run always leaves one
	if n := summaries(); n != before+1 {
		t.Errorf("a scheduled run left %d new run summaries, want 1", n-before)
	}
}

// TestReceiver_LostAcknowledgement: the receiver recorded an id but its 202 never
// reached Graph (killed in between): Graph delivers again, and the inbox still
// holds the id once; a drain stores the record once.
func TestReceiver_LostAcknowledgement(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	id := f.sim.Truth(f.clock.Now().Add(-jobs.Retention), f.clock.Now()).IDs[0]
	body := notificationBody(clientState, tenant, id)
	first := notify.NewReceiver(notify.Config{TenantID: tenant, ClientState: clientState, Store: mustLocal(t, f.dest), Logger: testLogger()})
	post(t, first, "/n", body) // the answer is lost with the process
	restarted := notify.NewReceiver(notify.Config{TenantID: tenant, ClientState: clientState, Store: mustLocal(t, f.dest), Logger: testLogger()})
	if rec := post(t, restarted, "/n", body); rec.Code != 202 {
		t.Fatalf("redelivery: %d", rec.Code)
	}
	if got := inboxIDs(t, f.dest); len(got) != 1 || got[0] != id {
		t.Fatalf("inbox = %v, want [%s]", got, id)
	}
	f.MustRun(t, func(c *jobs.Config) { c.Datasets = []string{jobs.DatasetNotifications} })
	if rows := callRecords(t, f.dest); len(rows) != 1 || rows[0].CallRecordID != id {
		t.Errorf("lake = %d rows, want record %s once", len(rows), id)
	}
}

// TestDrainInbox_BadRecords: a notified record Graph answers with a body
// that is no call record, or with a record without a start, is quarantined
// alone and counted as such; the others are stored and every entry leaves
// the inbox (the scheduled window lists a quarantined record again).
func TestDrainInbox_BadRecords(t *testing.T) {
	t.Parallel()
	var broken, noStart string
	wrap := hostile(func(r *http.Request, body []byte) []byte {
		switch {
		case isDetail(r, broken):
			return []byte(`{"id":"` + broken + `","version":1,"sessions":[{"id":`)
		case isDetail(r, noStart):
			return []byte(`{"id":"` + noStart + `","version":1}`)
		}
		return body
	})
	f := newFixtureWith(t, noBigMeetings, wrap)
	ids := f.sim.Truth(f.clock.Now().Add(-jobs.Retention), f.clock.Now()).IDs
	broken, noStart = ids[1], ids[2] // before the fixture serves a request
	h := notify.NewReceiver(notify.Config{TenantID: tenant, ClientState: clientState, Store: mustLocal(t, f.dest), Logger: testLogger()})
	if rec := post(t, h, "/n", notificationBody(clientState, tenant, ids[0], broken, noStart)); rec.Code != 202 {
		t.Fatalf("receiver: %d", rec.Code)
	}
	sum, err := f.run(t, func(c *jobs.Config) { c.Datasets = []string{jobs.DatasetNotifications} })
	if !errors.Is(err, jobs.ErrQuarantined) || len(sum.Quarantined) != 2 {
		t.Fatalf("drain = %v, quarantined %v; want the two bad records quarantined", err, sum.Quarantined)
	}
	checkQuarantined(t, f.dest, "callrecords", broken)
	checkQuarantined(t, f.dest, "callrecords", noStart)
	if rows := callRecords(t, f.dest); len(rows) != 1 || rows[0].CallRecordID != ids[0] {
		t.Errorf("lake = %d rows, want record %s alone", len(rows), ids[0])
	}
	if left := inboxIDs(t, f.dest); len(left) != 0 {
		t.Errorf("inbox after the drain = %v, want empty", left)
	}
}
