// Package extract is the Microsoft Graph client for Teams call records: it
// authenticates with azidentity (or a static token), lists and fetches call
// records with all their session and participant pages, reads the PSTN and
// Direct Routing usage reports, paces its requests, and retries throttling
// and transient failures.
//
// The client only ever sends its token to the configured Graph host, over
// https (or plain http to a loopback host); an @odata.nextLink that points
// elsewhere is an error.
package extract

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"golang.org/x/time/rate"
)

// Retry and safety limits.
const (
	defaultMaxRetries = 8
	backoffBase       = 200 * time.Millisecond
	backoffCap        = 30 * time.Second
	// maxRetryAfter bounds a server's Retry-After, so a bogus value cannot park a run for hours.
	maxRetryAfter = 10 * time.Minute
	// maxResponseBytes bounds one response body held in memory.
	maxResponseBytes = 256 << 20
	// tokenRefreshMargin is how long before expiry a cached token is renewed.
	tokenRefreshMargin = 5 * time.Minute
	// maxIdleConnsPerHost is how many idle connections to Graph are kept
	// for the next request: more than any sensible --concurrency, since the
	// datasets and days of a run fetch side by side.
	maxIdleConnsPerHost = 64
)

// Endpoint names used as keys of Stats.Requests.
const (
	endpointList         = "list"
	endpointGet          = "get"
	endpointSessions     = "sessions"
	endpointParticipants = "participants"
	endpointPstn         = "pstn"
	endpointDR           = "directrouting"
	endpointSubs         = "subscriptions"
)

var endpoints = [...]string{endpointList, endpointGet, endpointSessions, endpointParticipants, endpointPstn, endpointDR, endpointSubs}

// Config configures a Client.
type Config struct {
	// BaseURL is the Graph root without the version, e.g. https://graph.microsoft.com.
	// It must be https; plain http is accepted only for loopback hosts
	// (127.0.0.0/8, ::1, localhost).
	BaseURL string
	// Credential supplies bearer tokens for the scope "<BaseURL>/.default". Required.
	Credential azcore.TokenCredential
	// HTTPClient sends the requests; nil means a client with a 2-minute
	// timeout. The client is copied and its CheckRedirect replaced by one
	// that refuses redirects away from the Graph host.
	HTTPClient *http.Client
	// MaxRPS paces all requests of the client (token bucket, burst of 100 ms
	// worth of requests); 0 turns pacing off.
	MaxRPS float64
	// MaxRetries bounds the retries of one request (429, 5xx, connection
	// errors); 0 means 8 and a negative value disables retries.
	MaxRetries int
	// Logger receives one debug record per request; nil discards.
	Logger *slog.Logger
	// IncludeUnknownEnumMembers sends Prefer: include-unknown-enum-members, so
	// evolvable enum members (e.g. productFamily azureCommunicationServices)
	// come back by name instead of as unknownFutureValue.
	IncludeUnknownEnumMembers bool
	// Now is the clock subscription expirations are checked against
	// (default time.Now).
	Now func() time.Time
}

// Client is a Microsoft Graph client for call records. It is safe for
// concurrent use.
type Client struct {
	base       *url.URL // scheme, host and optional path prefix; no trailing slash
	baseStr    string
	scopes     []string
	cred       azcore.TokenCredential
	hc         *http.Client
	pacer      *rate.Limiter  // nil: no pacing
	listWindow *slidingWindow // list requests, when paced
	// recordWindow returns a new window for the requests of one call
	// record, when paced (nil otherwise).
	recordWindow func() *slidingWindow
	maxRetries   int
	log          *slog.Logger
	prefer       string
	now          func() time.Time

	// Hooks, replaced by tests.
	sleep  func(ctx context.Context, d time.Duration) error
	jitter func(d time.Duration) time.Duration // uniform in [0, d)

	tokMu    sync.Mutex
	tok      azcore.AccessToken
	tokCount int // tokens acquired so far

	// singleExpand is set once Graph has refused a GET that expands both
	// sessions and participants_v2 and accepted one that expands sessions
	// alone: the rest of the run asks for participants_v2 separately.
	singleExpand atomic.Bool

	requests     [len(endpoints)]atomic.Int64
	retries      atomic.Int64
	throttled    atomic.Int64
	serverErrors atomic.Int64
}

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	base, err := parseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if cfg.Credential == nil {
		return nil, errors.New("new graph client: a credential is required")
	}
	if cfg.MaxRPS < 0 || math.IsNaN(cfg.MaxRPS) || math.IsInf(cfg.MaxRPS, 0) {
		return nil, fmt.Errorf("new graph client: invalid max rps %v", cfg.MaxRPS)
	}
	c := &Client{
		base:       base,
		baseStr:    base.String(),
		cred:       cfg.Credential,
		maxRetries: cfg.MaxRetries,
		log:        cfg.Logger,
		now:        cfg.Now,
		sleep:      sleepCtx,
		jitter: func(d time.Duration) time.Duration {
			if d <= 0 {
				return 0
			}
			return rand.N(d)
		},
	}
	c.scopes = []string{c.baseStr + "/.default"}
	if c.now == nil {
		c.now = time.Now
	}
	// A copy of the caller's client whose redirects cannot leave the Graph
	// origin, so the Authorization header never follows one elsewhere.
	hc := http.Client{Timeout: 2 * time.Minute, Transport: defaultTransport()}
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	}
	hc.CheckRedirect = c.checkRedirect
	c.hc = &hc
	switch {
	case c.maxRetries == 0:
		c.maxRetries = defaultMaxRetries
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxRPS > 0 {
		c.pacer = newPacer(cfg.MaxRPS)
		c.listWindow = newGraphWindow()
		c.recordWindow = newGraphWindow
	}
	if cfg.IncludeUnknownEnumMembers {
		c.prefer = "include-unknown-enum-members"
	}
	return c, nil
}

// parseBaseURL checks the scheme rule (https, or http to loopback) and
// returns the URL without a trailing slash.
func parseBaseURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("new graph client: base url is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("new graph client: parse base url: %w", err)
	}
	if u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("new graph client: base url %q has no host", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("new graph client: base url %q must not carry user info, a query or a fragment", raw)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("new graph client: base url %q: plain http is only allowed to a loopback host; use https", raw)
		}
	default:
		return nil, fmt.Errorf("new graph client: base url %q: scheme must be https", raw)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Stats counts the client's traffic since New.
type Stats struct {
	// Requests counts HTTP requests sent (retries included) by endpoint:
	// "list", "get", "sessions", "participants", "pstn", "directrouting",
	// "subscriptions".
	Requests map[string]int64
	// Retries counts requests repeated after a 429, 5xx, connection error or 401.
	Retries int64
	// Throttled counts 429 responses.
	Throttled int64
	// ServerErrors counts retryable 5xx responses.
	ServerErrors int64
}

// Stats returns a snapshot of the counters; it is safe for concurrent use.
func (c *Client) Stats() Stats {
	s := Stats{
		Requests:     make(map[string]int64, len(endpoints)),
		Retries:      c.retries.Load(),
		Throttled:    c.throttled.Load(),
		ServerErrors: c.serverErrors.Load(),
	}
	for i, name := range endpoints {
		s.Requests[name] = c.requests[i].Load()
	}
	return s
}

func (c *Client) countRequest(endpoint string) {
	for i, name := range endpoints {
		if name == endpoint {
			c.requests[i].Add(1)
			return
		}
	}
}

// token returns a cached bearer token, fetching a new one when it is missing
// or close to expiry. The lock makes concurrent callers share one fetch.
func (c *Client) token(ctx context.Context) (string, error) {
	c.tokMu.Lock()
	defer c.tokMu.Unlock()
	if c.tok.Token != "" && time.Now().Before(refreshAt(c.tok)) {
		return c.tok.Token, nil
	}
	tok, err := c.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: c.scopes})
	if err != nil {
		return "", c.explainTokenError(ctx, err)
	}
	if tok.Token == "" {
		return "", fmt.Errorf("get token for %s: credential returned an empty token", c.scopes[0])
	}
	c.tok = tok
	c.tokCount++
	c.logToken(ctx, tok)
	return tok.Token, nil
}

func refreshAt(t azcore.AccessToken) time.Time {
	if !t.RefreshOn.IsZero() {
		return t.RefreshOn
	}
	return t.ExpiresOn.Add(-tokenRefreshMargin)
}

// dropToken forgets the cached token if it is still the one that was rejected.
func (c *Client) dropToken(rejected string) {
	c.tokMu.Lock()
	defer c.tokMu.Unlock()
	if c.tok.Token == rejected {
		c.tok = azcore.AccessToken{}
	}
}

// checkRedirect allows at most 10 redirects, all within the Graph origin.
func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if !sameOrigin(req.URL, c.base) {
		return permanent{fmt.Errorf("redirect to %s leaves the configured graph host %s", req.URL.Redacted(), c.baseStr)}
	}
	return nil
}

// checkLink resolves a next link against the page it came from and refuses
// any target outside the configured Graph scheme and host, so the token is
// never sent elsewhere. It returns the URL to request.
func (c *Client) checkLink(from, link string) (string, error) {
	cur, err := url.Parse(from)
	if err != nil {
		return "", fmt.Errorf("parse url %s: %w", from, err)
	}
	lu, err := url.Parse(link)
	if err != nil {
		return "", fmt.Errorf("parse next link %q: %v: %w", link, err, errForeignLink)
	}
	u := cur.ResolveReference(lu)
	if !sameOrigin(u, c.base) || u.User != nil {
		return "", fmt.Errorf("next link %q leaves the configured graph host %s: refusing to send credentials there: %w", link, c.baseStr, errForeignLink)
	}
	if lu.IsAbs() {
		return link, nil // verbatim: the link is opaque
	}
	return u.String(), nil
}

// errForeignLink is matched by a nextLink that cannot be followed: not a
// URL, or off the Graph host.
var errForeignLink = errors.New("next link refused")

// readBody reads at most limit bytes of a response body into a buffer sized
// from Content-Length when the server sent one: a large record is held
// once, not in the doubling buffers of io.ReadAll.
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	if n := resp.ContentLength; n > 0 && n < limit {
		// The transport ends the body at Content-Length (a shorter one is
		// io.ErrUnexpectedEOF).
		buf := make([]byte, n)
		if _, err := io.ReadFull(resp.Body, buf); err != nil {
			return nil, err
		}
		return buf, nil
	}
	return io.ReadAll(io.LimitReader(resp.Body, limit))
}

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) &&
		strings.EqualFold(a.Hostname(), b.Hostname()) &&
		portOf(a) == portOf(b)
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return "443"
	case "http":
		return "80"
	}
	return ""
}

// get sends GET rawURL with the bearer token and returns the 2xx body. It
// paces every attempt (through window first, if not nil), retries 429
// (honouring Retry-After), 500/502/503/504 and connection errors with
// exponential backoff and full jitter up to MaxRetries times, refreshes the
// token once after a 401, and returns a *GraphError for any other response
// (inside an *AuthError that says what to fix for 401 and 403).
func (c *Client) get(ctx context.Context, window *slidingWindow, endpoint, rawURL string) ([]byte, error) {
	return c.do(ctx, request{endpoint: endpoint, method: http.MethodGet, url: rawURL, idempotent: true, window: window})
}

// request is one Graph call for do.
type request struct {
	endpoint string // key of Stats.Requests
	method   string
	url      string
	body     []byte // sent as application/json; nil sends no body
	// idempotent is false for a request that must not be repeated once
	// Graph may have acted on it (POST /subscriptions creates one each time).
	idempotent bool
	// window, if not nil, is the Graph limit of the request's kind that
	// every attempt waits for (the list's, or its call record's).
	window *slidingWindow
}

// do sends r through the same pacing, token and retry machinery as get and
// returns the 2xx body (possibly empty).
//
// An idempotent request is retried on 429, 500/502/503/504 and connection
// errors. A non-idempotent one is retried only when Graph cannot have acted
// on it: after a 429 (throttling is decided before the request is handled),
// after a 401 (token refresh, at most once) and after a connection that was
// never established. Any other failure once the request may have been sent
// (a timeout, a connection lost before the response, a 5xx, cancellation)
// returns at once with an error matching ErrOutcomeUnknown, because repeating
// the request could act twice.
func (c *Client) do(ctx context.Context, r request) ([]byte, error) {
	refreshed := false
	retries := 0
	verb := strings.ToLower(r.method)
	for {
		resp, err := c.attempt(ctx, r, retries)
		var lastErr error
		var wait time.Duration
		switch {
		case err != nil:
			unknown := !r.idempotent && resp.sent
			if ctxErr := ctx.Err(); ctxErr != nil {
				if unknown {
					return nil, fmt.Errorf("%s %s: %w: %w", verb, r.url, ctxErr, ErrOutcomeUnknown)
				}
				return nil, fmt.Errorf("%s %s: %w", verb, r.url, ctxErr)
			}
			if !retryableTransport(err) {
				return nil, err
			}
			if unknown {
				return nil, fmt.Errorf("%w: %w", err, ErrOutcomeUnknown)
			}
			lastErr = err
			wait = c.backoff(retries)
		case resp.status >= 200 && resp.status < 300:
			return resp.body, nil
		case resp.status == http.StatusUnauthorized && !refreshed && resp.tok != "":
			refreshed = true
			c.dropToken(resp.tok)
			c.retries.Add(1)
			c.log.DebugContext(ctx, "graph token rejected, refreshing", "endpoint", r.endpoint)
			continue
		case resp.status == http.StatusTooManyRequests:
			c.throttled.Add(1)
			lastErr = newGraphError(r.method, resp.status, r.url, resp.header, resp.body)
			wait = c.retryAfter(resp.header, retries)
		case resp.status == http.StatusInternalServerError || resp.status == http.StatusBadGateway ||
			resp.status == http.StatusServiceUnavailable || resp.status == http.StatusGatewayTimeout:
			ge := newGraphError(r.method, resp.status, r.url, resp.header, resp.body)
			if !r.idempotent {
				return nil, fmt.Errorf("%w: %w", ge, ErrOutcomeUnknown)
			}
			c.serverErrors.Add(1)
			lastErr = ge
			wait = c.retryAfter(resp.header, retries)
		case resp.status == http.StatusUnauthorized || resp.status == http.StatusForbidden:
			return nil, c.explainAuth(newGraphError(r.method, resp.status, r.url, resp.header, resp.body), resp.tok)
		default:
			return nil, newGraphError(r.method, resp.status, r.url, resp.header, resp.body)
		}
		if retries >= c.maxRetries {
			return nil, lastErr
		}
		retries++
		c.retries.Add(1)
		c.log.DebugContext(ctx, "graph retry", "endpoint", r.endpoint, "retry", retries, "wait", wait, "error", lastErr)
		if err := c.sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("%s %s: retry %d: %w", verb, r.url, retries, err)
		}
	}
}

// response is the outcome of one attempt.
type response struct {
	status int
	header http.Header
	body   []byte
	tok    string // the bearer token sent, for dropToken after a 401
	// sent is true once the request may have reached Graph: it was handed
	// to the transport and did not fail while connecting.
	sent bool
}

// attempt sends one request. A non-nil error means no usable response
// (pacing cancelled, token, transport or body read failure).
func (c *Client) attempt(ctx context.Context, r request, retry int) (response, error) {
	verb := strings.ToLower(r.method)
	// The request's window first: a request it holds back does not take
	// a place of the pacer's.
	if r.window != nil {
		if err := r.window.wait(ctx); err != nil {
			return response{}, fmt.Errorf("%s %s: pace %s requests: %w", verb, r.url, r.endpoint, err)
		}
	}
	if c.pacer != nil {
		if err := c.pacer.Wait(ctx); err != nil {
			if ctx.Err() == nil {
				// The wait would outlast ctx's deadline: say so as
				// the deadline passing would have.
				err = fmt.Errorf("%w: %v", context.DeadlineExceeded, err)
			}
			return response{}, fmt.Errorf("%s %s: pace: %w", verb, r.url, err)
		}
	}
	tok, err := c.token(ctx)
	if err != nil {
		return response{}, permanent{err}
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, r.url, body)
	if err != nil {
		return response{}, permanent{fmt.Errorf("new request %s %s: %w", r.method, r.url, err)}
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.prefer != "" {
		req.Header.Set("Prefer", c.prefer)
	}
	c.countRequest(r.endpoint)
	start := time.Now()
	hresp, err := c.hc.Do(req)
	if err != nil {
		c.log.DebugContext(ctx, "graph request", "method", r.method, "endpoint", r.endpoint, "path", req.URL.Path,
			"retry", retry, "duration", time.Since(start), "error", err)
		return response{tok: tok, sent: !notConnected(err)}, fmt.Errorf("%s %s: %w", verb, r.url, stripURLError(err))
	}
	defer hresp.Body.Close()
	out := response{status: hresp.StatusCode, header: hresp.Header, tok: tok, sent: true}
	out.body, err = readBody(hresp, maxResponseBytes+1)
	c.log.DebugContext(ctx, "graph request", "method", r.method, "endpoint", r.endpoint, "path", req.URL.Path,
		"retry", retry, "status", hresp.StatusCode, "bytes", len(out.body), "duration", time.Since(start))
	if err != nil {
		return response{tok: tok, sent: true}, fmt.Errorf("%s %s: read body: %w", verb, r.url, err)
	}
	if len(out.body) > maxResponseBytes {
		return response{tok: tok, sent: true}, permanent{fmt.Errorf("%s %s: response larger than %d bytes", verb, r.url, maxResponseBytes)}
	}
	return out, nil
}

// notConnected reports whether a transport error happened while dialling
// (DNS lookup, refused or unreachable connection), so no byte of the request
// can have reached the server.
func notConnected(err error) bool {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial"
}

// permanent marks an error that retrying cannot fix.
type permanent struct{ err error }

func (p permanent) Error() string { return p.err.Error() }
func (p permanent) Unwrap() error { return p.err }

// stripURLError drops the *url.Error wrapper, whose message repeats the URL
// that the caller already names.
func stripURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// retryableTransport reports whether a transport-level error is worth
// retrying: connection resets, EOFs and timeouts are; certificate problems
// and permanent errors are not.
func retryableTransport(err error) bool {
	var p permanent
	if errors.As(err, &p) {
		return false
	}
	var cve *tls.CertificateVerificationError
	var uae x509.UnknownAuthorityError
	var he x509.HostnameError
	var ie x509.CertificateInvalidError
	if errors.As(err, &cve) || errors.As(err, &uae) || errors.As(err, &he) || errors.As(err, &ie) {
		return false
	}
	return true
}

// backoff returns the full-jitter exponential delay before retry n+1.
func (c *Client) backoff(n int) time.Duration {
	d := backoffCap
	if n < 30 {
		if e := backoffBase << n; e < backoffCap {
			d = e
		}
	}
	return c.jitter(d)
}

// retryAfter returns the delay a Retry-After header asks for (float seconds
// or an HTTP date), plus a little jitter to spread concurrent retries, or the
// backoff delay when the header is absent or unreadable.
func (c *Client) retryAfter(h http.Header, n int) time.Duration {
	d, ok := parseRetryAfter(h.Get("Retry-After"), time.Now())
	if !ok {
		return c.backoff(n)
	}
	return d + c.jitter(min(d/10, time.Second))
}

// parseRetryAfter reads Retry-After as (fractional) seconds or an HTTP date,
// capped at maxRetryAfter.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if math.IsNaN(secs) || secs < 0 {
			return 0, false
		}
		if secs > maxRetryAfter.Seconds() {
			return maxRetryAfter, true
		}
		d = time.Duration(secs * float64(time.Second))
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
		if d < 0 {
			d = 0
		}
	} else {
		return 0, false
	}
	return min(d, maxRetryAfter), true
}

// defaultTransport is http.DefaultTransport with room for an idle connection
// per concurrent request: the default keeps two per host, so with more
// requests in flight over HTTP/1.1 (a proxy, a simulator) most responses
// closed their connection and the next request dialled (and shook hands)
// again.
func defaultTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = maxIdleConnsPerHost
	return t
}
