package extract_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/callrecords-etl/callrecords-etl/extract"
)

// MustNewClient returns a client for baseURL with the static token "tok" and
// a sleep that records the delays instead of waiting.
func MustNewClient(tb testing.TB, cfg extract.Config) (*extract.Client, *sleepRecorder) {
	tb.Helper()
	if cfg.Credential == nil {
		cfg.Credential = extract.StaticToken("tok")
	}
	c, err := extract.New(cfg)
	if err != nil {
		tb.Fatalf("New(%+v) = %v", cfg, err)
	}
	rec := &sleepRecorder{}
	extract.SetSleep(c, rec.sleep)
	return c, rec
}

// sleepRecorder records the delays the client asks for and returns at once.
type sleepRecorder struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (r *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	r.delays = append(r.delays, d)
	r.mu.Unlock()
	return ctx.Err()
}

func (r *sleepRecorder) get() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.delays...)
}

func TestNew_BaseURL(t *testing.T) {
	tests := []struct {
		url    string
		wantOK bool
	}{
		{"https://graph.microsoft.com", true},
		{"https://graph.microsoft.com/", true},
		{"https://microsoftgraph.chinacloudapi.cn", true},
		{"http://127.0.0.1:8080", true},
		{"http://127.8.9.10:8080", true},
		{"http://localhost:1234", true},
		{"http://[::1]:1234", true},
		{"http://graph.microsoft.com", false},
		{"http://10.0.0.1:8080", false},
		{"http://example.com.127.0.0.1.nip.io", false},
		{"ftp://graph.microsoft.com", false},
		{"graph.microsoft.com", false},
		{"https://user:pw@graph.microsoft.com", false},
		{"https://graph.microsoft.com?x=1", false},
		{"", false},
	}
	for _, tt := range tests {
		_, err := extract.New(extract.Config{BaseURL: tt.url, Credential: extract.StaticToken("t")})
		if gotOK := err == nil; gotOK != tt.wantOK {
			t.Errorf("New(BaseURL %q) error = %v, want ok = %v", tt.url, err, tt.wantOK)
		}
	}
	if _, err := extract.New(extract.Config{BaseURL: "https://graph.microsoft.com"}); err == nil {
		t.Errorf("New without a credential = nil error, want an error")
	}
	if _, err := extract.New(extract.Config{BaseURL: "https://graph.microsoft.com", Credential: extract.StaticToken("t"), MaxRPS: -1}); err == nil {
		t.Errorf("New with MaxRPS -1 = nil error, want an error")
	}
}

// listPage writes one page of listed records.
func listPage(w http.ResponseWriter, next string, ids ...string) {
	var vs []map[string]any
	for _, id := range ids {
		vs = append(vs, map[string]any{"id": id, "version": 1, "startDateTime": "2024-01-01T00:00:00Z",
			"endDateTime": "2024-01-01T00:10:00Z", "lastModifiedDateTime": "2024-01-01T00:20:00Z"})
	}
	p := map[string]any{"value": vs}
	if next != "" {
		p["@odata.nextLink"] = next
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(p)
}

var (
	from = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	to   = from.Add(24 * time.Hour)
)

func TestNextLink_ForeignHostRefused(t *testing.T) {
	var foreignHits, foreignAuth atomic.Int64
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		foreignHits.Add(1)
		if r.Header.Get("Authorization") != "" {
			foreignAuth.Add(1)
		}
		listPage(w, "", "stolen")
	}))
	defer foreign.Close()

	var graph *httptest.Server
	var nextLink string
	graph = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/participants_v2"):
			listPage(w, "")
		case strings.Contains(r.URL.Path, "/callRecords/"):
			fmt.Fprintf(w, `{"id":"r1","sessions":[],"sessions@odata.nextLink":%q}`, nextLink)
		default:
			listPage(w, nextLink, "a")
		}
	}))
	defer graph.Close()

	links := []struct{ name, link string }{
		{"other host", foreign.URL + "/v1.0/communications/callRecords?$skiptoken=x"},
		{"other scheme", strings.Replace(graph.URL, "http://", "https://", 1) + "/v1.0/communications/callRecords?$skiptoken=x"},
		{"userinfo", strings.Replace(graph.URL, "http://", "http://evil@", 1) + "/v1.0/x"},
		{"protocol relative", "//" + strings.TrimPrefix(foreign.URL, "http://") + "/v1.0/x"},
	}
	for _, l := range links {
		t.Run(l.name, func(t *testing.T) {
			nextLink = l.link
			c, _ := MustNewClient(t, extract.Config{BaseURL: graph.URL})
			var got []string
			err := c.ListCallRecords(context.Background(), from, to, func(r extract.ListedRecord) error {
				got = append(got, r.ID)
				return nil
			})
			if err == nil || !strings.Contains(err.Error(), l.link) {
				t.Errorf("ListCallRecords with nextLink %s: error = %v, want one naming the link", l.link, err)
			}
			if len(got) != 1 || got[0] != "a" {
				t.Errorf("ListCallRecords records before the bad link = %v, want [a]", got)
			}
			_, err = c.GetCallRecord(context.Background(), "r1")
			if err == nil || !strings.Contains(err.Error(), l.link) {
				t.Errorf("GetCallRecord with sessions@odata.nextLink %s: error = %v, want one naming the link", l.link, err)
			}
		})
	}
	if n := foreignHits.Load(); n != 0 {
		t.Errorf("foreign host got %d requests (%d with Authorization), want 0", n, foreignAuth.Load())
	}
}

func TestNextLink_RelativeAndEmptyPages(t *testing.T) {
	// An empty page with a nextLink continues; a relative link resolves
	// against the Graph host.
	graph := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("$skiptoken") {
		case "":
			listPage(w, "/v1.0/communications/callRecords?$skiptoken=1")
		case "1":
			listPage(w, "?$skiptoken=2", "a", "b")
		case "2":
			listPage(w, "")
		}
	}))
	defer graph.Close()
	c, _ := MustNewClient(t, extract.Config{BaseURL: graph.URL})
	var got []string
	err := c.ListCallRecords(context.Background(), from, to, func(r extract.ListedRecord) error {
		got = append(got, r.ID)
		return nil
	})
	if err != nil || strings.Join(got, ",") != "a,b" {
		t.Fatalf("ListCallRecords = %v, %v, want [a b], nil", got, err)
	}
	if n := c.Stats().Requests["list"]; n != 3 {
		t.Errorf("list requests = %d, want 3", n)
	}
}

func TestNextLink_LoopIsAnError(t *testing.T) {
	var hits atomic.Int64
	graph := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		listPage(w, "http://"+r.Host+"/v1.0/communications/callRecords?$skiptoken=same")
	}))
	defer graph.Close()
	c, _ := MustNewClient(t, extract.Config{BaseURL: graph.URL})
	err := c.ListCallRecords(context.Background(), from, to, func(extract.ListedRecord) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "repeats") {
		t.Fatalf("ListCallRecords on a self-referencing nextLink = %v, want a repeat error", err)
	}
	if n := hits.Load(); n != 2 {
		t.Errorf("requests = %d, want 2", n)
	}
}

func TestRetry_BoundedOnPersistent503(t *testing.T) {
	for _, maxRetries := range []int{-1, 3, 0} {
		var hits atomic.Int64
		graph := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"error":{"code":"serviceNotAvailable","message":"busy"}}`)
		}))
		c, rec := MustNewClient(t, extract.Config{BaseURL: graph.URL, MaxRetries: maxRetries})
		_, err := c.GetCallRecord(context.Background(), "r1")
		graph.Close()

		wantAttempts := map[int]int64{-1: 1, 3: 4, 0: 9}[maxRetries]
		if got := hits.Load(); got != wantAttempts {
			t.Errorf("MaxRetries %d: attempts = %d, want %d", maxRetries, got, wantAttempts)
		}
		var ge *extract.GraphError
		if !errors.As(err, &ge) || ge.Status != http.StatusServiceUnavailable || ge.Code != "serviceNotAvailable" {
			t.Errorf("MaxRetries %d: error = %v, want a *GraphError 503 serviceNotAvailable", maxRetries, err)
		}
		st := c.Stats()
		if st.Retries != wantAttempts-1 || st.ServerErrors != wantAttempts || st.Requests["get"] != wantAttempts {
			t.Errorf("MaxRetries %d: stats = %+v, want %d retries, %d server errors and get requests", maxRetries, st, wantAttempts-1, wantAttempts)
		}
		// Full jitter: every delay within [0, cap].
		for _, d := range rec.get() {
			if d < 0 || d > 30*time.Second {
				t.Errorf("MaxRetries %d: backoff delay %v outside [0, 30s]", maxRetries, d)
			}
		}
	}
}

func TestRetry_HonoursRetryAfter(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		retryAfter func() string
		min, max   time.Duration
	}{
		{"429 fractional seconds", 429, func() string { return "2.128" }, 2128 * time.Millisecond, 2128*time.Millisecond + time.Second},
		{"429 http date", 429, func() string { return time.Now().Add(5 * time.Second).UTC().Format(http.TimeFormat) }, 3 * time.Second, 6 * time.Second},
		{"503 seconds", 503, func() string { return "4" }, 4 * time.Second, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hits atomic.Int64
			graph := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if hits.Add(1) == 1 {
					w.Header().Set("Retry-After", tt.retryAfter())
					w.WriteHeader(tt.status)
					io.WriteString(w, `{"error":{"code":"TooManyRequests","message":"Please retry again later.","innerError":{"code":"429","request-id":"r-1"}}}`)
					return
				}
				listPage(w, "", "a")
			}))
			defer graph.Close()
			c, rec := MustNewClient(t, extract.Config{BaseURL: graph.URL})
			n := 0
			err := c.ListCallRecords(context.Background(), from, to, func(extract.ListedRecord) error { n++; return nil })
			if err != nil || n != 1 {
				t.Fatalf("ListCallRecords = %d records, %v, want 1, nil", n, err)
			}
			delays := rec.get()
			if len(delays) != 1 || delays[0] < tt.min || delays[0] > tt.max {
				t.Fatalf("retry delays = %v, want one in [%v, %v]", delays, tt.min, tt.max)
			}
			st := c.Stats()
			if st.Retries != 1 || st.Requests["list"] != 2 {
				t.Errorf("stats = %+v, want 1 retry and 2 list requests", st)
			}
			if tt.status == 429 && st.Throttled != 1 {
				t.Errorf("stats.Throttled = %d, want 1", st.Throttled)
			}
		})
	}
}

func TestRetry_ThrottledExhausted(t *testing.T) {
	graph := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"error":{"code":"TooManyRequests","message":"Please retry again later."}}`)
	}))
	defer graph.Close()
	c, _ := MustNewClient(t, extract.Config{BaseURL: graph.URL, MaxRetries: 2})
	_, err := c.GetCallRecord(context.Background(), "r1")
	if !errors.Is(err, extract.ErrThrottled) {
		t.Fatalf("GetCallRecord against a server that always throttles = %v, want ErrThrottled", err)
	}
	if st := c.Stats(); st.Throttled != 3 {
		t.Errorf("stats.Throttled = %d, want 3", st.Throttled)
	}
}

func TestRetry_ConnectionErrors(t *testing.T) {
	// The first two attempts have their connection dropped mid-response.
	var hits atomic.Int64
	graph := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) <= 2 {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Errorf("hijack: %v", err)
				return
			}
			io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{\"value\":[")
			conn.Close()
			return
		}
		listPage(w, "", "a")
	}))
	defer graph.Close()
	c, rec := MustNewClient(t, extract.Config{BaseURL: graph.URL})
	n := 0
	err := c.ListCallRecords(context.Background(), from, to, func(extract.ListedRecord) error { n++; return nil })
	if err != nil || n != 1 {
		t.Fatalf("ListCallRecords = %d records, %v, want 1, nil", n, err)
	}
	if got := len(rec.get()); got != 2 {
		t.Errorf("retries = %d, want 2", got)
	}
}

func TestPermanentErrors_NotRetried(t *testing.T) {
	tests := []struct {
		name                  string
		status                int
		body                  string
		wantCode, wantReqID   string
		wantNotFound, wantMsg bool
	}{
		{"400 innerError", 400, `{"error":{"code":"BadRequest","message":"Expression expected at position 13","innerError":{"date":"2023-08-03T14:17:10","request-id":"b4923bb3","client-request-id":"c2ce"}}}`, "BadRequest", "b4923bb3", false, true},
		{"403 innererror", 403, `{"error":{"code":"Authorization_RequestDenied","message":"Insufficient privileges","innererror":{"request-id":"x-1"}}}`, "Authorization_RequestDenied", "x-1", false, true},
		{"404", 404, `{"error":{"code":"NotFound","message":"Could not find the requested call record."}}`, "NotFound", "", true, true},
		{"406 plain text", 406, `window too large`, "", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hits atomic.Int64
			graph := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer graph.Close()
			c, _ := MustNewClient(t, extract.Config{BaseURL: graph.URL})
			_, err := c.GetCallRecord(context.Background(), "rec-1")
			// A 400 is asked once more with sessions alone expanded, in
			// case it refused the two expansions rather than the record;
			// neither request is retried.
			want := int64(1)
			if tt.status == http.StatusBadRequest {
				want = 2
			}
			if got := hits.Load(); got != want {
				t.Errorf("attempts = %d, want %d", got, want)
			}
			var ge *extract.GraphError
			if !errors.As(err, &ge) {
				t.Fatalf("GetCallRecord error = %v, want a *GraphError", err)
			}
			if ge.Status != tt.status || ge.Code != tt.wantCode || ge.RequestID != tt.wantReqID {
				t.Errorf("GraphError = %+v, want status %d code %q request id %q", ge, tt.status, tt.wantCode, tt.wantReqID)
			}
			wantURL := graph.URL + "/v1.0/communications/callRecords/rec-1"
			if !strings.Contains(err.Error(), wantURL) || !strings.Contains(err.Error(), tt.wantCode) {
				t.Errorf("error %q does not name the URL %s and code %q", err, wantURL, tt.wantCode)
			}
			if errors.Is(err, extract.ErrNotFound) != tt.wantNotFound {
				t.Errorf("errors.Is(%v, ErrNotFound) = %v, want %v", err, !tt.wantNotFound, tt.wantNotFound)
			}
			if errors.Is(err, extract.ErrThrottled) {
				t.Errorf("errors.Is(%v, ErrThrottled) = true, want false", err)
			}
		})
	}
}

// countingCredential hands out tokens from a list, repeating the last one.
type countingCredential struct {
	mu     sync.Mutex
	tokens []string
	calls  int
	scopes []string
}

func (c *countingCredential) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.scopes = o.Scopes
	tok := c.tokens[min(c.calls, len(c.tokens)-1)]
	c.calls++
	return azcore.AccessToken{Token: tok, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func TestUnauthorized_RefreshOnceThenPermanent(t *testing.T) {
	tests := []struct {
		name      string
		tokens    []string
		wantErr   bool
		wantCalls int
		wantHits  int64
	}{
		{"refreshed token accepted", []string{"stale", "good"}, false, 2, 2},
		{"wrong token", []string{"wrong"}, true, 2, 2},
		{"empty token", []string{""}, true, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hits atomic.Int64
			graph := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				if r.Header.Get("Authorization") != "Bearer good" {
					w.WriteHeader(http.StatusUnauthorized)
					io.WriteString(w, `{"error":{"code":"InvalidAuthenticationToken","message":"Access token validation failure."}}`)
					return
				}
				listPage(w, "", "a")
			}))
			defer graph.Close()
			cred := &countingCredential{tokens: tt.tokens}
			c, _ := MustNewClient(t, extract.Config{BaseURL: graph.URL, Credential: cred})
			err := c.ListCallRecords(context.Background(), from, to, func(extract.ListedRecord) error { return nil })
			if (err != nil) != tt.wantErr {
				t.Fatalf("ListCallRecords = %v, want error %v", err, tt.wantErr)
			}
			var ge *extract.GraphError
			if tt.wantErr && tt.wantHits > 0 && (!errors.As(err, &ge) || ge.Status != http.StatusUnauthorized) {
				t.Errorf("ListCallRecords = %v, want a *GraphError 401", err)
			}
			if cred.calls != tt.wantCalls || hits.Load() != tt.wantHits {
				t.Errorf("GetToken calls = %d, requests = %d, want %d, %d", cred.calls, hits.Load(), tt.wantCalls, tt.wantHits)
			}
			if want := graph.URL + "/.default"; len(cred.scopes) != 1 || cred.scopes[0] != want {
				if tt.wantCalls > 0 {
					t.Errorf("token scopes = %v, want [%s]", cred.scopes, want)
				}
			}
		})
	}
}

func TestToken_CachedAcrossRequests(t *testing.T) {
	graph := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		listPage(w, "")
	}))
	defer graph.Close()
	cred := &countingCredential{tokens: []string{"good"}}
	c, _ := MustNewClient(t, extract.Config{BaseURL: graph.URL, Credential: cred})
	for range 5 {
		if err := c.ListCallRecords(context.Background(), from, to, func(extract.ListedRecord) error { return nil }); err != nil {
			t.Fatalf("ListCallRecords = %v", err)
		}
	}
	if cred.calls != 1 {
		t.Errorf("GetToken calls for 5 requests = %d, want 1", cred.calls)
	}
}

func TestRequest_HeadersAndLogging(t *testing.T) {
	var gotAuth, gotPrefer, gotFilter string
	graph := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth, gotPrefer = r.Header.Get("Authorization"), r.Header.Get("Prefer")
		gotFilter = r.URL.Query().Get("$filter")
		listPage(w, "")
	}))
	defer graph.Close()
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	const secret = "s3cr3t-t0ken"
	c, _ := MustNewClient(t, extract.Config{BaseURL: graph.URL, Credential: extract.StaticToken(secret),
		Logger: logger, IncludeUnknownEnumMembers: true})
	f := time.Date(2023, 9, 25, 9, 25, 0, 0, time.UTC)
	if err := c.ListCallRecords(context.Background(), f, f.Add(5*time.Minute), func(extract.ListedRecord) error { return nil }); err != nil {
		t.Fatalf("ListCallRecords = %v", err)
	}
	if gotAuth != "Bearer "+secret || gotPrefer != "include-unknown-enum-members" {
		t.Errorf("headers Authorization %q, Prefer %q, want %q, %q", gotAuth, gotPrefer, "Bearer "+secret, "include-unknown-enum-members")
	}
	if want := "startDateTime ge 2023-09-25T09:25:00Z and startDateTime lt 2023-09-25T09:30:00Z"; gotFilter != want {
		t.Errorf("$filter = %q, want %q", gotFilter, want)
	}
	out := logs.String()
	if !strings.Contains(out, "graph request") || !strings.Contains(out, "/v1.0/communications/callRecords") || !strings.Contains(out, "status=200") {
		t.Errorf("debug log = %q, want a request record with path and status", out)
	}
	if strings.Contains(out, secret) || strings.Contains(out, "Bearer") {
		t.Errorf("debug log leaks the token: %q", out)
	}
}

func TestRetry_SleepRespectsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	graph := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "600")
		w.WriteHeader(http.StatusTooManyRequests)
		cancel()
	}))
	defer graph.Close()
	// The real sleep: cancelling must cut the 10-minute wait short.
	c, err := extract.New(extract.Config{BaseURL: graph.URL, Credential: extract.StaticToken("tok")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetCallRecord(ctx, "r1")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("GetCallRecord with a cancelled retry sleep = %v, want context.Canceled", err)
	}
}

func TestRedirect_ForeignHostRefused(t *testing.T) {
	var foreignHits atomic.Int64
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		foreignHits.Add(1)
		listPage(w, "")
	}))
	defer foreign.Close()
	var graphHits atomic.Int64
	graph := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		graphHits.Add(1)
		http.Redirect(w, r, foreign.URL+r.URL.RequestURI(), http.StatusFound)
	}))
	defer graph.Close()
	c, _ := MustNewClient(t, extract.Config{BaseURL: graph.URL, HTTPClient: &http.Client{}})
	err := c.ListCallRecords(context.Background(), from, to, func(extract.ListedRecord) error { return nil })
	if err == nil || !strings.Contains(err.Error(), foreign.URL) {
		t.Fatalf("ListCallRecords redirected to another host = %v, want an error naming it", err)
	}
	if foreignHits.Load() != 0 || graphHits.Load() != 1 {
		t.Errorf("foreign host got %d requests, graph %d, want 0 and 1 (not retried)", foreignHits.Load(), graphHits.Load())
	}
}
