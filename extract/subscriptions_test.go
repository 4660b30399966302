package extract_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/extract"
	"github.com/callrecords-etl/callrecords-etl/graphsim"
)

// subSecret is the clientState of the test subscriptions; it must never
// appear in an error or a log line.
const subSecret = "s3cret-client-state"

// subReply is one scripted response of subFake.
type subReply struct {
	status int
	body   string
	header map[string]string
	// drop closes the connection after reading the request, without answering.
	drop bool
}

// subSeen is one request subFake received.
type subSeen struct {
	method, path, contentType, auth string
	body                            []byte
}

// subFake answers requests with its replies in order (the last one repeats)
// and records what it received.
type subFake struct {
	mu      sync.Mutex
	replies []subReply
	seen    []subSeen
}

func (f *subFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.seen = append(f.seen, subSeen{r.Method, r.URL.EscapedPath(), r.Header.Get("Content-Type"), r.Header.Get("Authorization"), body})
	rep := f.replies[min(len(f.seen), len(f.replies))-1]
	f.mu.Unlock()
	if rep.drop {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	if rep.body != "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(rep.status)
	io.WriteString(w, rep.body)
}

func (f *subFake) requests() []subSeen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]subSeen(nil), f.seen...)
}

// MustStartSubFake serves replies on loopback and returns a client for it.
func MustStartSubFake(tb testing.TB, cfg extract.Config, replies ...subReply) (*subFake, *extract.Client, *sleepRecorder) {
	tb.Helper()
	f := &subFake{replies: replies}
	srv := httptest.NewServer(f)
	tb.Cleanup(srv.Close)
	cfg.BaseURL = srv.URL
	c, rec := MustNewClient(tb, cfg)
	return f, c, rec
}

func graphErr(code string) string {
	return `{"error":{"code":"` + code + `","message":"scripted ` + code + `","innerError":{"request-id":"req-1"}}}`
}

func subJSON(id string, expires time.Time) string {
	return fmt.Sprintf(`{"@odata.context":"x","id":%q,"resource":"/communications/callRecords","applicationId":"app","changeType":"created,updated",`+
		`"clientState":%q,"notificationUrl":"https://hook.example/n","expirationDateTime":%q,"creatorId":"c","latestSupportedTlsVersion":"v1_2"}`,
		id, subSecret, expires.UTC().Format("2006-01-02T15:04:05.0000000Z"))
}

// newSub is a valid subscription expiring an hour from now.
func newSub() extract.Subscription {
	return extract.Subscription{
		Resource:           "/communications/callRecords",
		ChangeType:         "created,updated",
		NotificationURL:    "https://hook.example/n",
		ExpirationDateTime: time.Now().Add(time.Hour).Truncate(time.Second),
		ClientState:        subSecret,
	}
}

// checkNoSecret fails if the error text holds the clientState.
func checkNoSecret(tb testing.TB, what string, err error) {
	tb.Helper()
	if err != nil && strings.Contains(err.Error(), subSecret) {
		tb.Errorf("%s error %q holds the clientState", what, err)
	}
}

func TestListSubscriptions_Pages(t *testing.T) {
	exp := time.Date(2024, 4, 2, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	var paths []string
	graph := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		paths = append(paths, r.URL.RequestURI())
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Query().Get("$skiptoken") {
		case "":
			fmt.Fprintf(w, `{"value":[%s,%s],"@odata.nextLink":"http://%s/v1.0/subscriptions?$skiptoken=2"}`, subJSON("a", exp), subJSON("b", exp), r.Host)
		case "2": // an empty page that still continues
			io.WriteString(w, `{"value":[],"@odata.nextLink":"/v1.0/subscriptions?$skiptoken=3"}`)
		case "3":
			fmt.Fprintf(w, `{"value":[%s]}`, subJSON("c", exp))
		}
	}))
	defer graph.Close()
	c, _ := MustNewClient(t, extract.Config{BaseURL: graph.URL})
	subs, err := c.ListSubscriptions(context.Background())
	if err != nil {
		t.Fatalf("ListSubscriptions = %v", err)
	}
	var got []string
	for _, s := range subs {
		got = append(got, s.ID)
		if s.Resource != "/communications/callRecords" || s.ChangeType != "created,updated" ||
			s.NotificationURL != "https://hook.example/n" || !s.ExpirationDateTime.Equal(exp) || s.ClientState != subSecret {
			t.Errorf("listed subscription = %+v, want the fields served", s)
		}
	}
	if strings.Join(got, ",") != "a,b,c" {
		t.Errorf("ListSubscriptions ids = %v, want [a b c]", got)
	}
	if want := "/v1.0/subscriptions,/v1.0/subscriptions?$skiptoken=2,/v1.0/subscriptions?$skiptoken=3"; strings.Join(paths, ",") != want {
		t.Errorf("requested %v, want %s", paths, want)
	}
	if n := c.Stats().Requests["subscriptions"]; n != 3 {
		t.Errorf("Stats.Requests[subscriptions] = %d, want 3", n)
	}
}

func TestListSubscriptions_Errors(t *testing.T) {
	tests := []struct {
		name    string
		replies []subReply
		check   func(error) bool
	}{
		{"403 is a GraphError", []subReply{{status: 403, body: graphErr("Forbidden")}},
			func(err error) bool {
				var ge *extract.GraphError
				return errors.As(err, &ge) && ge.Status == 403 && ge.Code == "Forbidden" && strings.Contains(ge.URL, "/v1.0/subscriptions")
			}},
		{"item without id", []subReply{{status: 200, body: `{"value":[{"resource":"/x"}]}`}},
			func(err error) bool { return err != nil && strings.Contains(err.Error(), "no id") }},
		{"next link to another host", []subReply{{status: 200, body: `{"value":[],"@odata.nextLink":"https://evil.example/v1.0/subscriptions"}`}},
			func(err error) bool {
				return err != nil && strings.Contains(err.Error(), "leaves the configured graph host")
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c, _ := MustStartSubFake(t, extract.Config{}, tt.replies...)
			subs, err := c.ListSubscriptions(context.Background())
			if !tt.check(err) {
				t.Errorf("ListSubscriptions = %v, %v, want the %s error", subs, err, tt.name)
			}
		})
	}
}

func TestCreateSubscription_Request(t *testing.T) {
	f, c, _ := MustStartSubFake(t, extract.Config{}, subReply{status: 201, body: subJSON("new-1", time.Date(2024, 4, 2, 10, 0, 0, 0, time.UTC))})
	in := newSub()
	in.ID = "ignored"
	in.LifecycleNotificationURL = "https://hook.example/lc"
	in.ExpirationDateTime = in.ExpirationDateTime.In(time.FixedZone("X", 3600))
	got, err := c.CreateSubscription(context.Background(), in)
	if err != nil {
		t.Fatalf("CreateSubscription = %v", err)
	}
	if got.ID != "new-1" || got.Resource != in.Resource || !got.ExpirationDateTime.Equal(time.Date(2024, 4, 2, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("CreateSubscription = %+v, want the subscription served with id new-1", got)
	}
	reqs := f.requests()
	if len(reqs) != 1 {
		t.Fatalf("requests = %d, want 1", len(reqs))
	}
	r := reqs[0]
	if r.method != "POST" || r.path != "/v1.0/subscriptions" || r.contentType != "application/json" || r.auth != "Bearer tok" {
		t.Errorf("request = %s %s (Content-Type %q, Authorization %q), want POST /v1.0/subscriptions, application/json, Bearer tok",
			r.method, r.path, r.contentType, r.auth)
	}
	var body map[string]any
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("request body %s: %v", r.body, err)
	}
	want := map[string]any{
		"resource":                 in.Resource,
		"changeType":               in.ChangeType,
		"notificationUrl":          in.NotificationURL,
		"lifecycleNotificationUrl": in.LifecycleNotificationURL,
		"expirationDateTime":       in.ExpirationDateTime.UTC().Format(time.RFC3339),
		"clientState":              subSecret,
	}
	if len(body) != len(want) {
		t.Errorf("request body = %s, want exactly the keys %v (no id)", r.body, want)
	}
	for k, v := range want {
		if body[k] != v {
			t.Errorf("request body[%q] = %v, want %v", k, body[k], v)
		}
	}
	if n := c.Stats().Requests["subscriptions"]; n != 1 {
		t.Errorf("Stats.Requests[subscriptions] = %d, want 1", n)
	}
}

func TestCreateSubscription_Invalid(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*extract.Subscription)
	}{
		{"no resource", func(s *extract.Subscription) { s.Resource = "" }},
		{"no change type", func(s *extract.Subscription) { s.ChangeType = "" }},
		{"no notification url", func(s *extract.Subscription) { s.NotificationURL = "" }},
		{"no expiration", func(s *extract.Subscription) { s.ExpirationDateTime = time.Time{} }},
		{"expiration beyond the max", func(s *extract.Subscription) {
			s.ExpirationDateTime = time.Now().Add(extract.MaxSubscriptionLifetime + time.Hour)
		}},
		{"client state over 128 characters", func(s *extract.Subscription) { s.ClientState = strings.Repeat("é", 129) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, c, _ := MustStartSubFake(t, extract.Config{}, subReply{status: 201, body: subJSON("x", time.Now())})
			s := newSub()
			tt.modify(&s)
			got, err := c.CreateSubscription(context.Background(), s)
			if err == nil {
				t.Errorf("CreateSubscription(%v) = %v, nil, want an error", s, got)
			}
			checkNoSecret(t, "CreateSubscription", err)
			if n := len(f.requests()); n != 0 {
				t.Errorf("CreateSubscription(%v) sent %d requests, want none", s, n)
			}
		})
	}
	t.Run("128 characters and almost the max lifetime are fine", func(t *testing.T) {
		_, c, _ := MustStartSubFake(t, extract.Config{}, subReply{status: 201, body: subJSON("x", time.Now())})
		s := newSub()
		s.ClientState = strings.Repeat("é", 128)
		s.ExpirationDateTime = time.Now().Add(extract.MaxSubscriptionLifetime - time.Hour)
		if _, err := c.CreateSubscription(context.Background(), s); err != nil {
			t.Errorf("CreateSubscription(%v) = %v, want nil", s, err)
		}
	})
}

// TestCreateSubscription_Retry checks which failures a create is repeated
// after: only those where Graph cannot have acted on the POST.
func TestCreateSubscription_Retry(t *testing.T) {
	ok := subReply{status: 201, body: subJSON("new-1", time.Now())}
	tests := []struct {
		name         string
		replies      []subReply
		wantRequests int
		wantOK       bool
		wantStatus   int  // of the *GraphError, when one is expected
		wantUnknown  bool // errors.Is(err, ErrOutcomeUnknown)
	}{
		{"429 is retried", []subReply{{status: 429, header: map[string]string{"Retry-After": "1"}, body: graphErr("TooManyRequests")}, ok}, 2, true, 0, false},
		{"401 refreshes the token once", []subReply{{status: 401, body: graphErr("InvalidAuthenticationToken")}, ok}, 2, true, 0, false},
		{"400 is final", []subReply{{status: 400, body: graphErr("ValidationError")}, ok}, 1, false, 400, false},
		{"403 is final", []subReply{{status: 403, body: graphErr("ExtensionError")}, ok}, 1, false, 403, false},
		{"500 is not retried", []subReply{{status: 500, body: graphErr("InternalServerError")}, ok}, 1, false, 500, true},
		{"502 is not retried", []subReply{{status: 502}, ok}, 1, false, 502, true},
		{"503 is not retried", []subReply{{status: 503, header: map[string]string{"Retry-After": "1"}, body: graphErr("serviceNotAvailable")}, ok}, 1, false, 503, true},
		{"504 is not retried", []subReply{{status: 504, body: graphErr("GatewayTimeout")}, ok}, 1, false, 504, true},
		{"connection lost after the request is not retried", []subReply{{drop: true}, ok}, 1, false, 0, true},
		{"2xx without an id", []subReply{{status: 201, body: `{}`}}, 1, false, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, c, rec := MustStartSubFake(t, extract.Config{}, tt.replies...)
			got, err := c.CreateSubscription(context.Background(), newSub())
			if n := len(f.requests()); n != tt.wantRequests {
				t.Errorf("requests = %d, want %d", n, tt.wantRequests)
			}
			if tt.wantOK {
				if err != nil || got.ID != "new-1" {
					t.Errorf("CreateSubscription = %v, %v, want id new-1, nil", got, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CreateSubscription = %v, nil, want an error", got)
			}
			checkNoSecret(t, "CreateSubscription", err)
			if u := errors.Is(err, extract.ErrOutcomeUnknown); u != tt.wantUnknown {
				t.Errorf("CreateSubscription error %q: errors.Is(ErrOutcomeUnknown) = %v, want %v", err, u, tt.wantUnknown)
			}
			var ge *extract.GraphError
			if tt.wantStatus != 0 && (!errors.As(err, &ge) || ge.Status != tt.wantStatus || !strings.HasSuffix(ge.URL, "/v1.0/subscriptions")) {
				t.Errorf("CreateSubscription error %q, want a *GraphError %d naming /v1.0/subscriptions", err, tt.wantStatus)
			}
			if d := rec.get(); len(d) != 0 {
				t.Errorf("retry delays = %v, want none", d)
			}
		})
	}
}

func TestCreateSubscription_TimeoutIsNotRetried(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	hits := 0
	graph := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		<-release // never answers before the client gives up
	}))
	defer graph.Close()
	c, rec := MustNewClient(t, extract.Config{BaseURL: graph.URL, HTTPClient: &http.Client{Timeout: 100 * time.Millisecond}})
	_, err := c.CreateSubscription(context.Background(), newSub())
	close(release)
	if !errors.Is(err, extract.ErrOutcomeUnknown) {
		t.Errorf("CreateSubscription on a timeout = %v, want an error matching ErrOutcomeUnknown", err)
	}
	checkNoSecret(t, "CreateSubscription", err)
	mu.Lock()
	defer mu.Unlock()
	if hits != 1 || len(rec.get()) != 0 {
		t.Errorf("requests = %d, retry delays %v, want 1 request and no retry", hits, rec.get())
	}
}

func TestCreateSubscription_CancelledAfterSendingIsUnknown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	release := make(chan struct{})
	graph := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cancel()
		<-release
	}))
	defer graph.Close()
	c, _ := MustNewClient(t, extract.Config{BaseURL: graph.URL})
	_, err := c.CreateSubscription(ctx, newSub())
	close(release)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, extract.ErrOutcomeUnknown) {
		t.Errorf("CreateSubscription cancelled mid-request = %v, want context.Canceled and ErrOutcomeUnknown", err)
	}
}

func TestCreateSubscription_RefusedConnectionIsRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: every dial is refused
	c, rec := MustNewClient(t, extract.Config{BaseURL: "http://" + addr, MaxRetries: 2})
	_, err = c.CreateSubscription(context.Background(), newSub())
	if err == nil || errors.Is(err, extract.ErrOutcomeUnknown) {
		t.Errorf("CreateSubscription to a closed port = %v, want a connection error not matching ErrOutcomeUnknown", err)
	}
	if d := rec.get(); len(d) != 2 {
		t.Errorf("retry delays = %v, want 2 (MaxRetries)", d)
	}
}

func TestRenewSubscription(t *testing.T) {
	expires := time.Now().Add(2 * time.Hour).Truncate(time.Second).UTC()
	served := time.Date(2024, 4, 2, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name         string
		replies      []subReply
		wantRequests int
		want         extract.Subscription // ID and ExpirationDateTime compared
		wantErr      error                // matched with errors.Is; nil wants success
	}{
		{"200 with the subscription", []subReply{{status: 200, body: subJSON("sub/1", served)}}, 1, extract.Subscription{ID: "sub/1", ExpirationDateTime: served}, nil},
		{"204 without a body", []subReply{{status: 204}}, 1, extract.Subscription{ID: "sub/1", ExpirationDateTime: expires}, nil},
		{"503 then 200 is retried", []subReply{{status: 503, body: graphErr("serviceNotAvailable")}, {status: 200, body: subJSON("sub/1", served)}}, 2, extract.Subscription{ID: "sub/1", ExpirationDateTime: served}, nil},
		{"connection lost then 200 is retried", []subReply{{drop: true}, {status: 200, body: subJSON("sub/1", served)}}, 2, extract.Subscription{ID: "sub/1", ExpirationDateTime: served}, nil},
		{"404 is ErrNotFound", []subReply{{status: 404, body: graphErr("ResourceNotFound")}}, 1, extract.Subscription{}, extract.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, c, _ := MustStartSubFake(t, extract.Config{}, tt.replies...)
			got, err := c.RenewSubscription(context.Background(), "sub/1", expires)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("RenewSubscription = %v, %v, want an error matching %v", got, err, tt.wantErr)
				}
			} else if err != nil || got.ID != tt.want.ID || !got.ExpirationDateTime.Equal(tt.want.ExpirationDateTime) {
				t.Errorf("RenewSubscription = %v, %v, want id %s expiring %s", got, err, tt.want.ID, tt.want.ExpirationDateTime)
			}
			reqs := f.requests()
			if len(reqs) != tt.wantRequests {
				t.Fatalf("requests = %d, want %d", len(reqs), tt.wantRequests)
			}
			r := reqs[0]
			if r.method != "PATCH" || r.path != "/v1.0/subscriptions/sub%2F1" || r.contentType != "application/json" {
				t.Errorf("request = %s %s (%s), want PATCH /v1.0/subscriptions/sub%%2F1 application/json", r.method, r.path, r.contentType)
			}
			var body map[string]any
			if err := json.Unmarshal(r.body, &body); err != nil || len(body) != 1 || body["expirationDateTime"] != expires.Format(time.RFC3339) {
				t.Errorf("request body = %s, want only expirationDateTime %s", r.body, expires.Format(time.RFC3339))
			}
		})
	}
	t.Run("beyond the max is refused locally", func(t *testing.T) {
		f, c, _ := MustStartSubFake(t, extract.Config{}, subReply{status: 200, body: subJSON("sub/1", served)})
		if _, err := c.RenewSubscription(context.Background(), "sub/1", time.Now().Add(extract.MaxSubscriptionLifetime+time.Hour)); err == nil {
			t.Errorf("RenewSubscription beyond the max = nil error, want an error")
		}
		if n := len(f.requests()); n != 0 {
			t.Errorf("requests = %d, want none", n)
		}
	})
}

func TestDeleteAndReauthorizeSubscription(t *testing.T) {
	type call struct {
		name     string
		fn       func(*extract.Client) error
		method   string
		path     string
		notFound bool // whether a 404 is reported as ErrNotFound (else as success)
	}
	calls := []call{
		{"DeleteSubscription", func(c *extract.Client) error { return c.DeleteSubscription(context.Background(), "s-1") },
			"DELETE", "/v1.0/subscriptions/s-1", false},
		{"ReauthorizeSubscription", func(c *extract.Client) error { return c.ReauthorizeSubscription(context.Background(), "s-1") },
			"POST", "/v1.0/subscriptions/s-1/reauthorize", true},
	}
	tests := []struct {
		name         string
		replies      []subReply
		wantRequests int
		wantStatus   int // 0 wants success; -1 wants ErrNotFound or success per call
	}{
		{"204", []subReply{{status: 204}}, 1, 0},
		{"503 then 204 is retried", []subReply{{status: 503, body: graphErr("serviceNotAvailable")}, {status: 204}}, 2, 0},
		{"connection lost then 204 is retried", []subReply{{drop: true}, {status: 204}}, 2, 0},
		{"404", []subReply{{status: 404, body: graphErr("ResourceNotFound")}}, 1, -1},
		{"403 is final", []subReply{{status: 403, body: graphErr("Forbidden")}, {status: 204}}, 1, 403},
	}
	for _, cl := range calls {
		for _, tt := range tests {
			t.Run(cl.name+"/"+tt.name, func(t *testing.T) {
				f, c, _ := MustStartSubFake(t, extract.Config{}, tt.replies...)
				err := cl.fn(c)
				var ge *extract.GraphError
				switch {
				case tt.wantStatus == -1 && cl.notFound:
					if !errors.Is(err, extract.ErrNotFound) {
						t.Errorf("%s on 404 = %v, want ErrNotFound", cl.name, err)
					}
				case tt.wantStatus <= 0:
					if err != nil {
						t.Errorf("%s = %v, want nil", cl.name, err)
					}
				default:
					if !errors.As(err, &ge) || ge.Status != tt.wantStatus || !strings.HasSuffix(ge.URL, cl.path) {
						t.Errorf("%s = %v, want a *GraphError %d naming %s", cl.name, err, tt.wantStatus, cl.path)
					}
				}
				reqs := f.requests()
				if len(reqs) != tt.wantRequests {
					t.Fatalf("requests = %d, want %d", len(reqs), tt.wantRequests)
				}
				if r := reqs[0]; r.method != cl.method || r.path != cl.path || len(r.body) != 0 {
					t.Errorf("request = %s %s with %d body bytes, want %s %s without a body", r.method, r.path, len(r.body), cl.method, cl.path)
				}
			})
		}
	}
}

func TestSubscription_HidesClientState(t *testing.T) {
	s := newSub()
	s.ID = "s-1"
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("renew", "sub", s)
	for what, out := range map[string]string{
		"fmt %v":  fmt.Sprintf("%v", s),
		"fmt %+v": fmt.Sprintf("%+v", s),
		"slog":    logged.String(),
	} {
		if strings.Contains(out, subSecret) {
			t.Errorf("%s of a Subscription = %q, holds the clientState", what, out)
		}
		if !strings.Contains(out, "s-1") || !strings.Contains(out, s.NotificationURL) {
			t.Errorf("%s of a Subscription = %q, want the id and notification url", what, out)
		}
	}
}

// TestListSubscriptions_Retries guards the shared retry path: GETs keep
// retrying connection loss and 5xx.
func TestListSubscriptions_Retries(t *testing.T) {
	f, c, _ := MustStartSubFake(t, extract.Config{},
		subReply{drop: true}, subReply{status: 500, body: graphErr("InternalServerError")},
		subReply{status: 200, body: `{"value":[]}`})
	subs, err := c.ListSubscriptions(context.Background())
	if err != nil || len(subs) != 0 {
		t.Errorf("ListSubscriptions = %v, %v, want none, nil", subs, err)
	}
	if n := len(f.requests()); n != 3 {
		t.Errorf("requests = %d, want 3", n)
	}
	if st := c.Stats(); st.Retries != 2 || st.ServerErrors != 1 || st.Requests["subscriptions"] != 3 {
		t.Errorf("Stats = %+v, want 2 retries, 1 server error, 3 subscriptions requests", st)
	}
}

// hook is a notification endpoint of the test: it answers Graph's
// validation handshake with answer and records the tokens it was sent.
type hook struct {
	mu     sync.Mutex
	tokens []string
	answer func(w http.ResponseWriter, token string)
}

// echoToken is the correct answer: 200, text/plain, the decoded token.
func echoToken(w http.ResponseWriter, token string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, token)
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("validationToken")
	if r.Method != http.MethodPost || token == "" {
		w.WriteHeader(http.StatusAccepted) // a notification: accept it
		return
	}
	h.mu.Lock()
	h.tokens = append(h.tokens, token)
	h.mu.Unlock()
	h.answer(w, token)
}

func (h *hook) validations() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.tokens)
}

// MustStartHook serves a notification endpoint on loopback and returns it and its URL.
func MustStartHook(tb testing.TB, answer func(w http.ResponseWriter, token string)) (*hook, string) {
	tb.Helper()
	h := &hook{answer: answer}
	srv := httptest.NewServer(h)
	tb.Cleanup(srv.Close)
	return h, srv.URL + "/notify"
}

// simSub is a valid subscription for the simulator, whose clock is simNow.
func simSub(notifyURL string) extract.Subscription {
	return extract.Subscription{
		Resource:           "/communications/callRecords",
		ChangeType:         "created,updated",
		NotificationURL:    notifyURL,
		ExpirationDateTime: simNow.Add(time.Hour),
		ClientState:        subSecret,
	}
}

// checkSimSub compares a client-side subscription with the simulator's.
func checkSimSub(tb testing.TB, what string, got extract.Subscription, want graphsim.Subscription) {
	tb.Helper()
	if got.ID != want.ID || got.Resource != want.Resource || got.ChangeType != want.ChangeType ||
		got.NotificationURL != want.NotificationURL || got.LifecycleNotificationURL != want.LifecycleNotificationURL ||
		got.ClientState != want.ClientState || !got.ExpirationDateTime.Equal(want.Expiration) {
		tb.Errorf("%s = %+v, want the simulator's %+v (clientState equal: %v)", what, got, want, got.ClientState == want.ClientState)
	}
}

func TestSubscriptions_SimLifecycle(t *testing.T) {
	sim, srv := MustStartSim(t, graphsim.Config{})
	c, _ := MustNewClient(t, extract.Config{BaseURL: srv.URL})
	ctx := context.Background()
	h, notifyURL := MustStartHook(t, echoToken)
	in := simSub(notifyURL)
	in.LifecycleNotificationURL = strings.Replace(notifyURL, "/notify", "/lifecycle", 1)

	created, err := c.CreateSubscription(ctx, in)
	if err != nil {
		t.Fatalf("CreateSubscription = %v", err)
	}
	live := sim.Subscriptions()
	if len(live) != 1 {
		t.Fatalf("sim.Subscriptions() = %d after create, want 1", len(live))
	}
	checkSimSub(t, "CreateSubscription", created, live[0])
	if !created.ExpirationDateTime.Equal(in.ExpirationDateTime) {
		t.Errorf("created expiration = %s, want %s", created.ExpirationDateTime, in.ExpirationDateTime)
	}
	if n := h.validations(); n != 2 {
		t.Errorf("validation handshakes = %d, want 2 (notification and lifecycle urls)", n)
	}

	listed, err := c.ListSubscriptions(ctx)
	if err != nil || len(listed) != 1 {
		t.Fatalf("ListSubscriptions = %v, %v, want the one created", listed, err)
	}
	checkSimSub(t, "ListSubscriptions[0]", listed[0], live[0])

	renewTo := simNow.Add(extract.MaxSubscriptionLifetime)
	renewed, err := c.RenewSubscription(ctx, created.ID, renewTo)
	if err != nil {
		t.Fatalf("RenewSubscription(%s, now+max) = %v", created.ID, err)
	}
	live = sim.Subscriptions()
	if len(live) != 1 || !live[0].Expiration.Equal(renewTo) {
		t.Fatalf("sim.Subscriptions() after renew = %+v, want one expiring %s", live, renewTo)
	}
	checkSimSub(t, "RenewSubscription", renewed, live[0])

	_, err = c.RenewSubscription(ctx, created.ID, simNow.Add(extract.MaxSubscriptionLifetime+time.Minute))
	var ge *extract.GraphError
	if !errors.As(err, &ge) || ge.Status != http.StatusBadRequest {
		t.Errorf("RenewSubscription beyond the max = %v, want a *GraphError 400", err)
	}
	if live := sim.Subscriptions(); len(live) != 1 || !live[0].Expiration.Equal(renewTo) {
		t.Errorf("a refused renewal changed the subscription: %+v", live)
	}

	if err := c.ReauthorizeSubscription(ctx, created.ID); err != nil {
		t.Errorf("ReauthorizeSubscription(%s) = %v, want nil", created.ID, err)
	}
	if err := c.ReauthorizeSubscription(ctx, "00000000-0000-0000-0000-000000000000"); !errors.Is(err, extract.ErrNotFound) {
		t.Errorf("ReauthorizeSubscription(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := c.RenewSubscription(ctx, "00000000-0000-0000-0000-000000000000", renewTo); !errors.Is(err, extract.ErrNotFound) {
		t.Errorf("RenewSubscription(unknown) = %v, want ErrNotFound", err)
	}

	if err := c.DeleteSubscription(ctx, created.ID); err != nil {
		t.Fatalf("DeleteSubscription(%s) = %v", created.ID, err)
	}
	if live := sim.Subscriptions(); len(live) != 0 {
		t.Errorf("sim.Subscriptions() after delete = %+v, want none", live)
	}
	if err := c.DeleteSubscription(ctx, created.ID); err != nil {
		t.Errorf("DeleteSubscription of a deleted subscription = %v, want nil (404 is not an error)", err)
	}
	if listed, err := c.ListSubscriptions(ctx); err != nil || len(listed) != 0 {
		t.Errorf("ListSubscriptions after delete = %v, %v, want none", listed, err)
	}
	if got, served := c.Stats().Requests["subscriptions"], sim.Stats().Requests["subscriptions"]; got != int64(served) || got != 10 {
		t.Errorf("Stats.Requests[subscriptions] = %d, simulator served %d, want both 10", got, served)
	}
}

func TestCreateSubscription_SimRefuses(t *testing.T) {
	tests := []struct {
		name           string
		answer         func(w http.ResponseWriter, token string)
		expires        time.Time
		wantValidation bool // whether the hook is reached
	}{
		{"validation answered 500", func(w http.ResponseWriter, _ string) { w.WriteHeader(500) }, simNow.Add(time.Hour), true},
		{"validation answered as json", func(w http.ResponseWriter, token string) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, token)
		}, simNow.Add(time.Hour), true},
		{"validation echoes the token still encoded", func(w http.ResponseWriter, token string) {
			echoToken(w, url.QueryEscape(token))
		}, simNow.Add(time.Hour), true},
		{"expiration beyond the max", echoToken, simNow.Add(extract.MaxSubscriptionLifetime + time.Minute), false},
		{"expiration in the past", echoToken, simNow.Add(-time.Minute), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sim, srv := MustStartSim(t, graphsim.Config{})
			c, rec := MustNewClient(t, extract.Config{BaseURL: srv.URL})
			h, notifyURL := MustStartHook(t, tt.answer)
			s := simSub(notifyURL)
			s.ExpirationDateTime = tt.expires
			got, err := c.CreateSubscription(context.Background(), s)
			var ge *extract.GraphError
			if !errors.As(err, &ge) || ge.Status != http.StatusBadRequest || !strings.HasSuffix(ge.URL, "/v1.0/subscriptions") {
				t.Fatalf("CreateSubscription = %v, %v, want a *GraphError 400 naming /v1.0/subscriptions", got, err)
			}
			checkNoSecret(t, "CreateSubscription", err)
			if errors.Is(err, extract.ErrOutcomeUnknown) {
				t.Errorf("CreateSubscription error %q matches ErrOutcomeUnknown, want a definite refusal", err)
			}
			if live := sim.Subscriptions(); len(live) != 0 {
				t.Errorf("sim.Subscriptions() = %+v, want none after a refused create", live)
			}
			if v := h.validations() > 0; v != tt.wantValidation {
				t.Errorf("validation endpoint reached = %v, want %v", v, tt.wantValidation)
			}
			if st := sim.Stats(); st.Requests["subscriptions"] != 1 || len(rec.get()) != 0 {
				t.Errorf("simulator served %d subscription requests, client slept %v, want 1 and no retry", st.Requests["subscriptions"], rec.get())
			}
		})
	}
}

// TestSubscriptions_SimFaults runs the calls against a simulator that fails
// a share of requests with 503, 504 or a dropped connection before acting on
// them: the idempotent calls retry through, and a create either succeeds or
// reports ErrOutcomeUnknown, never leaving more subscriptions than it reported.
func TestSubscriptions_SimFaults(t *testing.T) {
	sim, srv := MustStartSim(t, graphsim.Config{FaultRate: 0.3})
	c, _ := MustNewClient(t, extract.Config{BaseURL: srv.URL})
	ctx := context.Background()
	_, notifyURL := MustStartHook(t, echoToken)
	var ids []string
	unknown := 0
	for i := 0; i < 12; i++ {
		got, err := c.CreateSubscription(ctx, simSub(notifyURL))
		switch {
		case err == nil:
			ids = append(ids, got.ID)
		case errors.Is(err, extract.ErrOutcomeUnknown):
			unknown++
		default:
			t.Fatalf("CreateSubscription %d = %v, want success or ErrOutcomeUnknown", i, err)
		}
	}
	if unknown == 0 || len(ids) == 0 {
		t.Fatalf("%d creates succeeded and %d were unknown, want some of each at a 30%% fault rate", len(ids), unknown)
	}
	// The faults strike before the simulator acts, so nothing was created
	// behind the client's back.
	if live := sim.Subscriptions(); len(live) != len(ids) {
		t.Fatalf("sim holds %d subscriptions, client created %d", len(live), len(ids))
	}
	listed, err := c.ListSubscriptions(ctx)
	if err != nil || len(listed) != len(ids) {
		t.Fatalf("ListSubscriptions = %d, %v, want %d", len(listed), err, len(ids))
	}
	for _, id := range ids {
		if _, err := c.RenewSubscription(ctx, id, simNow.Add(2*time.Hour)); err != nil {
			t.Errorf("RenewSubscription(%s) = %v", id, err)
		}
		if err := c.ReauthorizeSubscription(ctx, id); err != nil {
			t.Errorf("ReauthorizeSubscription(%s) = %v", id, err)
		}
		if err := c.DeleteSubscription(ctx, id); err != nil {
			t.Errorf("DeleteSubscription(%s) = %v", id, err)
		}
	}
	if live := sim.Subscriptions(); len(live) != 0 {
		t.Errorf("sim holds %d subscriptions after deleting all, want none", len(live))
	}
	if st := sim.Stats(); st.Faults == 0 {
		t.Errorf("simulator injected no faults")
	}
}
