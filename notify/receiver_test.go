package notify

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

	"github.com/callrecords-etl/callrecords-etl/load"
)

const (
	tenant      = "5b8f1d2e-3c4a-4b6d-8e9f-0a1b2c3d4e5f"
	clientState = "s3cr3t-state-Ω"
)

func testLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func mustLocal(t *testing.T, dir string) load.Store {
	t.Helper()
	s, err := load.NewLocalStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

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
	h := NewReceiver(Config{TenantID: tenant, ClientState: clientState, Store: store, Logger: testLogger(),
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
		bad := NewReceiver(Config{TenantID: tenant, ClientState: clientState, Store: failingStore{store}, Logger: testLogger()})
		if rec := post(t, bad, "/notifications", notificationBody(clientState, tenant, "dddd-4")); rec.Code/100 == 2 {
			t.Errorf("status %d with a failing store, want a 5xx so Graph delivers again", rec.Code)
		}
	})
	t.Run("lifecycle reauthorizationRequired", func(t *testing.T) {
		body := fmt.Sprintf(`{"value":[{"subscriptionId":"sub-9","subscriptionExpirationDateTime":"2026-11-22T00:00:00Z","tenantId":%q,"clientState":%q,"lifecycleEvent":"reauthorizationRequired"}]}`, tenant, clientState)
		if rec := post(t, h, "/lifecycle", body); rec.Code != http.StatusAccepted {
			t.Fatalf("status %d, want 202", rec.Code)
		}
		h.Wait()
		mu.Lock()
		defer mu.Unlock()
		if len(reauthorized) != 1 || reauthorized[0] != "sub-9" {
			t.Errorf("reauthorized %v, want [sub-9]", reauthorized)
		}
	})
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
	h := NewReceiver(Config{TenantID: tenant, ClientState: clientState, Store: mustLocal(t, t.TempDir()),
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

// TestServe serves on a port, records a notification, and returns once its
// context is cancelled; a port that cannot be listened on is an error.
func TestServe(t *testing.T) {
	dest := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	h := NewReceiver(Config{TenantID: tenant, ClientState: clientState, Store: mustLocal(t, dest), Logger: testLogger()})
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, h, ServeOptions{Addr: addr}) }()
	var resp *http.Response
	for range 100 { // until it listens
		resp, err = http.Post("http://"+addr+"/notifications", "application/json", strings.NewReader(notificationBody(clientState, tenant, "ffff-6")))
		if err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || strings.Join(inboxIDs(t, dest), ",") != "ffff-6" {
		t.Errorf("POST = %d, inbox %v; want 202 and the id recorded", resp.StatusCode, inboxIDs(t, dest))
	}
	cancel()
	if err := <-served; err != nil {
		t.Errorf("Serve after cancel = %v, want nil", err)
	}

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if err := Serve(context.Background(), h, ServeOptions{Addr: busy.Addr().String()}); err == nil || !strings.Contains(err.Error(), busy.Addr().String()) {
		t.Errorf("Serve on a port in use = %v, want an error naming it", err)
	}
}

// unlistableStore fails every listing, like a store that is down or refuses
// the receiver's identity.
type unlistableStore struct{ load.Store }

func (unlistableStore) List(context.Context, string, func(load.Object) error) error {
	return errors.New("store down")
}

// TestReceiver_HealthAndMetrics: GET /healthz is 200 while the store answers
// and 503 when it does not; GET /metrics counts notifications received,
// recorded, refused and store errors in Prometheus' text format; other GETs
// are still 405.
func TestReceiver_HealthAndMetrics(t *testing.T) {
	dest := t.TempDir()
	h := NewReceiver(Config{TenantID: tenant, ClientState: clientState, Store: mustLocal(t, dest), Logger: testLogger()})
	get := func(h http.Handler, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec
	}
	if rec := get(h, "/healthz"); rec.Code != http.StatusOK {
		t.Errorf("GET /healthz = %d, want 200", rec.Code)
	}
	if rec := get(h, "/notifications"); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET /notifications = %d, want 405", rec.Code)
	}
	post(t, h, "/notifications", notificationBody(clientState, tenant, "rec-1", "rec-2"))
	post(t, h, "/notifications", notificationBody("wrong", tenant, "rec-3"))
	post(t, h, "/notifications", "{not json")
	down := NewReceiver(Config{TenantID: tenant, ClientState: clientState, Store: failingStore{mustLocal(t, t.TempDir())}, Logger: testLogger()})
	post(t, down, "/notifications", notificationBody(clientState, tenant, "rec-4"))
	for _, tc := range []struct {
		h    *Receiver
		want map[string]string
	}{
		{h, map[string]string{"received": "3", "recorded": "2", "refused": "2", "store_errors": "0"}},
		{down, map[string]string{"received": "1", "recorded": "0", "refused": "0", "store_errors": "1"}},
	} {
		rec := get(tc.h, "/metrics")
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain; version=0.0.4") {
			t.Fatalf("GET /metrics = %d %q", rec.Code, rec.Header().Get("Content-Type"))
		}
		for name, v := range tc.want {
			line := "callrecords_etl_notifications_" + name + "_total " + v + "\n"
			if !strings.Contains(rec.Body.String(), line) || !strings.Contains(rec.Body.String(), "# TYPE callrecords_etl_notifications_"+name+"_total counter") {
				t.Errorf("/metrics lacks %q:\n%s", line, rec.Body.String())
			}
		}
	}
	sick := NewReceiver(Config{TenantID: tenant, ClientState: clientState, Store: unlistableStore{mustLocal(t, t.TempDir())}, Logger: testLogger()})
	if rec := get(sick, "/healthz"); rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), clientState) {
		t.Errorf("GET /healthz with the store down = %d %q, want 503", rec.Code, rec.Body.String())
	}
}
