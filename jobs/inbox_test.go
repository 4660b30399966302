package jobs_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/load"
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

// failingStore fails every Put, like a store that is down.
type failingStore struct{ load.Store }

func (failingStore) Put(context.Context, string, io.Reader) error { return errors.New("store down") }

func TestReceiver(t *testing.T) {
	dest := t.TempDir()
	store := mustLocal(t, dest)
	var mu sync.Mutex
	var reauthorized []string
	h := jobs.NewReceiver(jobs.ReceiverConfig{TenantID: tenant, ClientState: clientState, Store: store, Logger: testLogger(),
		Reauthorize: func(_ context.Context, id string) error {
			mu.Lock()
			defer mu.Unlock()
			reauthorized = append(reauthorized, id)
			return nil
		}})

	t.Run("validation handshake", func(t *testing.T) {
		token := "Validation: token with spaces & symbols +/="
		rec := post(t, h, "/notifications?validationToken="+url.QueryEscape(token), "")
		if rec.Code != 200 || rec.Body.String() != token || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
			t.Errorf("handshake = %d %q %q, want 200 text/plain with the decoded token", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
		}
		if got := rec.Header().Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("handshake X-Content-Type-Options = %q, want nosniff (the token is echoed verbatim)", got)
		}
	})
	t.Run("records then acknowledges; duplicates collapse", func(t *testing.T) {
		rec := post(t, h, "/notifications", notificationBody(clientState, tenant, "aaaa-1", "bbbb-2", "aaaa-1"))
		if rec.Code != http.StatusAccepted {
			t.Fatalf("status %d, want 202", rec.Code)
		}
		if got := inboxIDs(t, dest); strings.Join(got, ",") != "aaaa-1,bbbb-2" {
			t.Errorf("inbox = %v, want aaaa-1 and bbbb-2 once each", got)
		}
	})
	t.Run("tenant id in another case is the same tenant", func(t *testing.T) {
		if rec := post(t, h, "/notifications", notificationBody(clientState, strings.ToUpper(tenant), "eeee-5")); rec.Code != http.StatusAccepted {
			t.Errorf("status %d for the tenant id in upper case, want 202", rec.Code)
		}
	})
	t.Run("wrong clientState or tenant rejected, nothing recorded", func(t *testing.T) {
		for _, body := range []string{notificationBody("guess", tenant, "cccc-3"), notificationBody(clientState, "other-tenant", "cccc-3")} {
			if rec := post(t, h, "/notifications", body); rec.Code != http.StatusForbidden {
				t.Errorf("status %d, want 403", rec.Code)
			}
		}
		for _, id := range inboxIDs(t, dest) {
			if id == "cccc-3" {
				t.Error("a rejected notification was recorded")
			}
		}
	})
	t.Run("malformed, oversized, wrong method, hostile id", func(t *testing.T) {
		cases := []struct {
			method, body string
			want         int
		}{
			{http.MethodPost, `{"value": [`, 400},
			{http.MethodPost, `{"value": []}`, 400},
			{http.MethodPost, `{"value":[{"clientState":"` + strings.Repeat("x", 2<<20) + `"}]}`, 413},
			{http.MethodGet, ``, 405},
			{http.MethodPost, notificationBody(clientState, tenant, "../../state/x"), 403},
		}
		for _, c := range cases {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(c.method, "/notifications", strings.NewReader(c.body)))
			if rec.Code != c.want {
				t.Errorf("%s %.40q: status %d, want %d", c.method, c.body, rec.Code, c.want)
			}
		}
		if _, err := os.Stat(filepath.Join(dest, "_etl", "state", "x.json")); err == nil {
			t.Error("a hostile id wrote outside the inbox")
		}
	})
	t.Run("not acknowledged when not recorded", func(t *testing.T) {
		bad := jobs.NewReceiver(jobs.ReceiverConfig{TenantID: tenant, ClientState: clientState, Store: failingStore{store}, Logger: testLogger()})
		if rec := post(t, bad, "/notifications", notificationBody(clientState, tenant, "dddd-4")); rec.Code/100 == 2 {
			t.Errorf("status %d with a failing store, want a 5xx so Graph delivers again", rec.Code)
		}
	})
	t.Run("lifecycle reauthorizationRequired", func(t *testing.T) {
		body := fmt.Sprintf(`{"value":[{"subscriptionId":"sub-9","subscriptionExpirationDateTime":"2026-11-22T00:00:00Z","tenantId":%q,"clientState":%q,"lifecycleEvent":"reauthorizationRequired"}]}`, tenant, clientState)
		if rec := post(t, h, "/lifecycle", body); rec.Code != http.StatusAccepted {
			t.Fatalf("status %d, want 202", rec.Code)
		}
		h.(interface{ Wait() }).Wait()
		mu.Lock()
		defer mu.Unlock()
		if len(reauthorized) != 1 || reauthorized[0] != "sub-9" {
			t.Errorf("reauthorized %v, want [sub-9]", reauthorized)
		}
	})
}

// TestDrainInbox: a run fetches the notified records, writes them, and empties
// the inbox; an id Graph does not know stays for later runs, then is given up.
func TestDrainInbox(t *testing.T) {
	f := newFixture(t, nil)
	truth := f.sim.Truth(f.clock.Now().Add(-jobs.Retention), f.clock.Now())
	h := jobs.NewReceiver(jobs.ReceiverConfig{TenantID: tenant, ClientState: clientState, Store: mustLocal(t, f.dest), Logger: testLogger()})
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
	f.MustRun(t, drain)
	if n := summaries(); n != before {
		t.Errorf("a drain of an empty inbox wrote a run summary (%d, was %d)", n, before)
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
	f := newFixture(t, nil)
	id := f.sim.Truth(f.clock.Now().Add(-jobs.Retention), f.clock.Now()).IDs[0]
	body := notificationBody(clientState, tenant, id)
	first := jobs.NewReceiver(jobs.ReceiverConfig{TenantID: tenant, ClientState: clientState, Store: mustLocal(t, f.dest), Logger: testLogger()})
	post(t, first, "/n", body) // the answer is lost with the process
	restarted := jobs.NewReceiver(jobs.ReceiverConfig{TenantID: tenant, ClientState: clientState, Store: mustLocal(t, f.dest), Logger: testLogger()})
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

// syncBuffer is a log destination safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestReceiver_SlowBody: a body that does not arrive before the server's
// read timeout is answered 408 and logged as such (Graph delivers again), not
// as a malformed notification.
func TestReceiver_SlowBody(t *testing.T) {
	var logs syncBuffer
	h := jobs.NewReceiver(jobs.ReceiverConfig{TenantID: tenant, ClientState: clientState, Store: mustLocal(t, t.TempDir()),
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ReadTimeout = 300 * time.Millisecond
	srv.Start()
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /notifications HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"value\":[")
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	status, _ := bufio.NewReader(conn).ReadString('\n')
	if !strings.Contains(status, "408") {
		t.Errorf("status line %q, want 408", status)
	}
	if got := logs.String(); !strings.Contains(got, "not received in time") || strings.Contains(got, "malformed") {
		t.Errorf("log = %q, want the timeout named, not a malformed notification", got)
	}
}
