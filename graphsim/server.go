package graphsim

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Endpoint kinds, as counted in Stats.Requests.
const (
	kindList         = "list"
	kindGet          = "get"
	kindSessions     = "sessions"
	kindParticipants = "participants"
	kindOther        = "other"
)

const basePath = "/v1.0/communications/callRecords"

// route is a request path resolved against the API.
type route struct {
	kind    string
	id      string // call record id, for get/sessions/participants
	segment string // the offending segment, for unknown resources
	v1      bool   // false: not under /v1.0
}

// functionRoutes are the bound functions of the callRecords collection,
// matched by name (with or without the microsoft.graph.callRecords.
// namespace) before the parameter list; functionKinds (pstn.go) gives their
// endpoint kinds.
var functionRoutes = map[string]func(s *Simulator, w http.ResponseWriter, r *http.Request, rc *reqCtx, args string){
	"getPstnCalls":          (*Simulator).servePstn,
	"getDirectRoutingCalls": (*Simulator).serveDirectRouting,
}

func resolve(path string) route {
	path = strings.TrimSuffix(path, "/")
	if !strings.HasPrefix(path, "/v1.0/") {
		return route{kind: kindOther, segment: path}
	}
	if path == basePath {
		return route{kind: kindList, v1: true}
	}
	if sub, ok := strings.CutPrefix(path, "/v1.0/subscriptions"); ok && (sub == "" || sub[0] == '/') {
		return route{kind: kindSubscriptions, v1: true, segment: strings.TrimPrefix(sub, "/")}
	}
	rest, ok := strings.CutPrefix(path, basePath+"/")
	if !ok {
		return route{kind: kindOther, v1: true, segment: strings.TrimPrefix(path, "/v1.0/")}
	}
	parts := strings.Split(rest, "/")
	if strings.Contains(parts[0], "(") {
		if len(parts) > 1 {
			return route{kind: kindOther, v1: true, segment: parts[1]}
		}
		return route{kind: functionKind(parts[0]), v1: true, segment: parts[0]}
	}
	switch {
	case len(parts) == 1:
		return route{kind: kindGet, id: parts[0], v1: true}
	case len(parts) == 2 && parts[1] == "sessions":
		return route{kind: kindSessions, id: parts[0], v1: true}
	case len(parts) == 2 && parts[1] == "participants_v2":
		return route{kind: kindParticipants, id: parts[0], v1: true}
	}
	return route{kind: kindOther, v1: true, segment: parts[len(parts)-1]}
}

// reqCtx carries per-request values used in responses.
type reqCtx struct {
	seq       uint64
	requestID string
	clientID  string
	now       time.Time
	prefs     prefs
}

// prefs are the Prefer header preferences Graph honours for call records.
type prefs struct {
	maxPage      int
	unknownEnums bool
	omitNulls    bool
}

func parsePrefer(h http.Header) prefs {
	var p prefs
	for _, v := range h.Values("Prefer") {
		for item := range strings.SplitSeq(v, ",") {
			item = strings.TrimSpace(item)
			k, val, _ := strings.Cut(item, "=")
			switch strings.ToLower(strings.TrimSpace(k)) {
			case "odata.maxpagesize":
				if n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(val), `"`)); err == nil && n > 0 {
					p.maxPage = n
				}
			case "include-unknown-enum-members":
				p.unknownEnums = true
			case "omit-values":
				if strings.EqualFold(strings.TrimSpace(val), "nulls") {
					p.omitNulls = true
				}
			}
		}
	}
	return p
}

func (p prefs) writer() *jw {
	return &jw{b: (*bodies.Get().(*[]byte))[:0], omitNulls: p.omitNulls, unknownEnums: p.unknownEnums}
}

// bodies recycles the buffers responses are written into (writeBody puts
// them back): growing a new one to a big meeting's 2 MB for every response
// allocated several times that, a tenth of what a whole-run test allocates,
// which the race detector makes costly.
var bodies = sync.Pool{New: func() any { b := make([]byte, 0, 32<<10); return &b }}

// maxPooledBody keeps the buffers of very large records (a test's 40 MiB
// one) out of the pool.
const maxPooledBody = 4 << 20

// pageSize is the page size for a collection with maximum max.
func (p prefs) pageSize(max int) int {
	if p.maxPage > 0 && p.maxPage < max {
		return p.maxPage
	}
	return max
}

// applied is the Preference-Applied header value.
func (p prefs) applied(max int, paged bool) string {
	var out []string
	if paged && p.maxPage > 0 {
		out = append(out, "odata.maxpagesize="+strconv.Itoa(p.pageSize(max)))
	}
	if p.unknownEnums {
		out = append(out, "include-unknown-enum-members")
	}
	if p.omitNulls {
		out = append(out, "omit-values=nulls")
	}
	return strings.Join(out, ", ")
}

// ServeHTTP serves the simulated Graph API.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.seq.Add(1)
	rt := resolve(r.URL.Path)
	s.count(func(st *Stats) { st.Requests[rt.kind]++ })
	rc := &reqCtx{
		seq:       n,
		requestID: hashGUID(mix(s.seed, saltRequestID, n)),
		clientID:  r.Header.Get("client-request-id"),
		now:       s.now(),
		prefs:     parsePrefer(r.Header),
	}
	if rc.clientID == "" {
		rc.clientID = rc.requestID
	}
	if d := s.latency(n); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if msg, ok := s.authorize(r); !ok {
		s.count(func(st *Stats) { st.Unauthorized++ })
		w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
		s.writeError(w, rc, http.StatusUnauthorized, "InvalidAuthenticationToken", msg)
		return
	}
	if r.Method != http.MethodGet && rt.kind != kindSubscriptions {
		s.methodNotAllowed(w, rc, r.Method, http.MethodGet)
		return
	}
	if s.cfg.Throttle {
		if wait, ok := s.thr.admit(rt.kind, strings.ToLower(rt.id)); !ok {
			s.count(func(st *Stats) { st.Throttled++ })
			s.writeThrottled(w, rc, wait)
			return
		}
	}
	if s.injectFault(w, rc) {
		return
	}
	switch rt.kind {
	case kindList:
		s.serveList(w, r, rc)
	case kindGet:
		s.serveGet(w, r, rc, rt.id)
	case kindSessions:
		s.serveSessions(w, r, rc, rt.id)
	case kindParticipants:
		s.serveParticipants(w, r, rc, rt.id)
	case kindSubscriptions:
		s.serveSubscriptions(w, r, rc, rt.segment)
	default:
		s.serveOther(w, r, rc, rt)
	}
}

func (s *Simulator) count(f func(*Stats)) {
	s.statsMu.Lock()
	f(&s.stats)
	s.statsMu.Unlock()
}

func (s *Simulator) latency(n uint64) time.Duration {
	lo, hi := s.cfg.Latency[0], s.cfg.Latency[1]
	if hi < lo {
		hi = lo
	}
	if hi <= 0 {
		return 0
	}
	return lo + time.Duration(unit(mix(s.seed, saltLatency, n))*float64(hi-lo))
}

func (s *Simulator) authorize(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "Access token is empty.", false
	}
	scheme, tok, ok := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "Access token validation failure. Invalid audience.", false
	}
	if s.cfg.Token != "" && tok != s.cfg.Token {
		return "Access token validation failure. Invalid audience.", false
	}
	return "", true
}

// injectFault fails the request with probability FaultRate; it reports
// whether it did.
func (s *Simulator) injectFault(w http.ResponseWriter, rc *reqCtx) bool {
	if s.cfg.FaultRate <= 0 || unit(mix(s.seed, saltFault, rc.seq)) >= s.cfg.FaultRate {
		return false
	}
	s.count(func(st *Stats) { st.Faults++ })
	switch h := mix(s.seed, saltFault, rc.seq, 1); h % 3 {
	case 0:
		if h>>8%2 == 0 {
			w.Header().Set("Retry-After", []string{"1", "0.5", "2.128"}[h>>16%3])
		}
		s.writeError(w, rc, http.StatusServiceUnavailable, "ServiceUnavailable", "The service is temporarily unavailable. Please retry later.")
	case 1:
		s.writeError(w, rc, http.StatusGatewayTimeout, "GatewayTimeout", "The server, while acting as a gateway or proxy, did not receive a timely response from the upstream server.")
	default:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return true
			}
		}
		panic(http.ErrAbortHandler)
	}
	return true
}

func (s *Simulator) setHeaders(w http.ResponseWriter, rc *reqCtx) {
	h := w.Header()
	h.Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	h.Set("request-id", rc.requestID)
	h.Set("client-request-id", rc.clientID)
	h.Set("Cache-Control", "no-cache")
}

func (s *Simulator) writeBody(w http.ResponseWriter, rc *reqCtx, applied string, body []byte) {
	s.setHeaders(w, rc)
	if applied != "" {
		w.Header().Set("Preference-Applied", applied)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	if cap(body) <= maxPooledBody {
		body = body[:0]
		bodies.Put(&body)
	}
}

// writeError writes a Graph error body (reference §7.8).
func (s *Simulator) writeError(w http.ResponseWriter, rc *reqCtx, status int, code, msg string) {
	jw := &jw{}
	jw.open("")
	jw.open("error")
	jw.str("code", code)
	jw.str("message", msg)
	jw.open("innerError")
	jw.str("date", rc.now.UTC().Format("2006-01-02T15:04:05"))
	jw.str("request-id", rc.requestID)
	jw.str("client-request-id", rc.clientID)
	jw.close()
	jw.close()
	jw.close()
	s.setHeaders(w, rc)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(jw.b)
}

// writeThrottled writes the documented 429 body with a fractional
// Retry-After (seconds until the fullest window frees a slot, rounded up to
// the hundredth).
func (s *Simulator) writeThrottled(w http.ResponseWriter, rc *reqCtx, wait time.Duration) {
	secs := float64((wait+10*time.Millisecond-1)/(10*time.Millisecond)) / 100
	if secs < 0.01 {
		secs = 0.01
	}
	jw := &jw{}
	jw.open("")
	jw.open("error")
	jw.str("code", "TooManyRequests")
	jw.open("innerError")
	jw.str("code", "429")
	jw.str("date", rc.now.UTC().Format("2006-01-02T15:04:05"))
	jw.str("message", "Please retry after")
	jw.str("request-id", rc.requestID)
	jw.str("client-request-id", rc.clientID)
	jw.str("status", "429")
	jw.close()
	jw.str("message", "Please retry again later.")
	jw.close()
	jw.close()
	s.setHeaders(w, rc)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Retry-After", strconv.FormatFloat(secs, 'f', 2, 64))
	w.WriteHeader(http.StatusTooManyRequests)
	_, _ = w.Write(jw.b)
}

func (s *Simulator) badRequest(w http.ResponseWriter, rc *reqCtx, msg string) {
	s.writeError(w, rc, http.StatusBadRequest, "BadRequest", msg)
}

func (s *Simulator) notFound(w http.ResponseWriter, rc *reqCtx) {
	s.writeError(w, rc, http.StatusNotFound, "NotFound",
		"Could not find the requested call record. Records about calls or online meetings that started more than 30 days ago are not available.")
}

func (s *Simulator) serveOther(w http.ResponseWriter, r *http.Request, rc *reqCtx, rt route) {
	if !rt.v1 {
		s.writeError(w, rc, http.StatusNotFound, "NotFound", "Unsupported API version or resource: '"+rt.segment+"'.")
		return
	}
	name, args, isFunc := strings.Cut(rt.segment, "(")
	if isFunc && rt.kind != kindOther {
		if h, ok := functionRoutes[strings.TrimPrefix(name, "microsoft.graph.callRecords.")]; ok {
			h(s, w, r, rc, strings.TrimSuffix(args, ")"))
			return
		}
	}
	s.badRequest(w, rc, "Resource not found for the segment '"+rt.segment+"'.")
}

// requestBase is scheme://host of the request, for absolute nextLinks.
func requestBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// nextLink is the request URL with $skiptoken replaced.
func nextLink(r *http.Request, token string) string { return withQueryParam(r, "$skiptoken", token) }

// withQueryParam is the request URL with its query kept as sent and key set
// to value.
func withQueryParam(r *http.Request, key, value string) string {
	var parts []string
	for p := range strings.SplitSeq(r.URL.RawQuery, "&") {
		if p == "" {
			continue
		}
		k, _, _ := strings.Cut(p, "=")
		if uk, err := url.QueryUnescape(k); err == nil && uk == key {
			continue
		}
		parts = append(parts, p)
	}
	parts = append(parts, key+"="+value)
	return requestBase(r) + r.URL.EscapedPath() + "?" + strings.Join(parts, "&")
}

// Skip tokens are opaque to clients: base64url of a short text.
func offsetToken(n int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("o." + strconv.Itoa(n)))
}

func parseOffsetToken(tok string) (int, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return 0, false
	}
	v, ok := strings.CutPrefix(string(b), "o.")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	return n, err == nil && n >= 0
}

// listToken is a list position; emptied says the empty page at this
// position has already been served.
func listToken(p pos, emptied bool) string {
	e := "0"
	if emptied {
		e = "1"
	}
	return base64.RawURLEncoding.EncodeToString([]byte("l." + strconv.FormatInt(p.day, 10) + "." + strconv.Itoa(p.idx) + "." + e))
}

func parseListToken(tok string) (pos, bool, bool) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return pos{}, false, false
	}
	f := strings.Split(string(b), ".")
	if len(f) != 4 || f[0] != "l" {
		return pos{}, false, false
	}
	d, err1 := strconv.ParseInt(f[1], 10, 64)
	i, err2 := strconv.Atoi(f[2])
	if err1 != nil || err2 != nil || i < 0 {
		return pos{}, false, false
	}
	return pos{d, i}, f[3] == "1", true
}

var (
	errFilterSyntax   = errors.New("syntax error")
	farPast           = time.Unix(0, 0).UTC()
	farFuture         = time.Unix(1<<40, 0).UTC()
	allowedListParams = map[string]bool{"$filter": true, "$skiptoken": true, "$select": true}
)

// parseFilter reads "startDateTime {ge|gt|le|lt} <ISO 8601>" clauses joined
// by "and" into the half-open range [lo, hi).
func parseFilter(f string) (lo, hi time.Time, err error) {
	lo, hi = farPast, farFuture
	f = strings.TrimSpace(f)
	if f == "" {
		return lo, hi, nil
	}
	toks := strings.Fields(f)
	for i := 0; ; i += 4 {
		if i+3 > len(toks) {
			return lo, hi, errFilterSyntax
		}
		prop := strings.TrimLeft(toks[i], "(")
		op := strings.ToLower(toks[i+1])
		lit := strings.TrimRight(toks[i+2], ")")
		if !strings.EqualFold(prop, "startDateTime") {
			return lo, hi, errors.New("filtering on '" + prop + "' is not supported; only startDateTime with ge, gt, le, lt is")
		}
		if strings.HasPrefix(lit, "'") {
			return lo, hi, errors.New("a binary operator with incompatible types was detected: found operand types 'Edm.DateTimeOffset' and 'Edm.String' for operator kind '" + op + "'")
		}
		t, perr := time.Parse(time.RFC3339Nano, lit)
		if perr != nil {
			return lo, hi, errors.New("unrecognized 'Edm.DateTimeOffset' literal '" + lit + "'")
		}
		t = t.UTC()
		switch op {
		case "ge":
			lo = later(lo, t)
		case "gt":
			lo = later(lo, t.Add(time.Nanosecond))
		case "le":
			hi = earlier(hi, t.Add(time.Nanosecond))
		case "lt":
			hi = earlier(hi, t)
		default:
			return lo, hi, errors.New("operator '" + op + "' is not supported on startDateTime; use ge, gt, le or lt")
		}
		if i+3 == len(toks) {
			return lo, hi, nil
		}
		if !strings.EqualFold(toks[i+3], "and") {
			return lo, hi, errors.New("only 'and' may combine startDateTime clauses")
		}
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// query parses the query string; Graph rejects malformed escapes.
func (s *Simulator) query(w http.ResponseWriter, r *http.Request, rc *reqCtx) (url.Values, bool) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		s.badRequest(w, rc, "Bad Request - Error in query syntax.")
		return nil, false
	}
	return q, true
}

func (s *Simulator) serveList(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	q, ok := s.query(w, r, rc)
	if !ok {
		return
	}
	for k := range q {
		if !allowedListParams[k] {
			s.badRequest(w, rc, "Query option '"+k+"' is not supported when listing call records.")
			return
		}
	}
	lo, hi, err := parseFilter(q.Get("$filter"))
	if err != nil {
		s.badRequest(w, rc, "Invalid filter clause: "+err.Error()+".")
		return
	}
	var from *pos
	emptied := false
	if tok := q.Get("$skiptoken"); tok != "" {
		p, e, ok := parseListToken(tok)
		if !ok {
			s.badRequest(w, rc, "The $skiptoken is invalid.")
			return
		}
		from, emptied = &p, e
	}
	size := rc.prefs.pageSize(listPage)
	var page []*meta
	var next *pos
	nextEmptied := false
	s.scan(rc.now, lo, hi, from, func(p pos, m *meta) bool {
		if len(page) == size {
			next = &p
			return false
		}
		// Now and then an empty page that still carries a nextLink, as
		// Graph's paging rules allow.
		if len(page) == 0 && !(emptied && from != nil && p == *from) && mix(s.seed, saltEmpty, uint64(p.day), uint64(p.idx))%23 == 0 {
			next, nextEmptied = &p, true
			return false
		}
		page = append(page, m)
		return true
	})
	jw := rc.prefs.writer()
	jw.open("")
	jw.str("@odata.context", metaBase+"communications/callRecords")
	jw.openArr("value")
	for _, m := range page {
		jw.open("")
		s.writeRecordProps(jw, m, rc.now, false)
		jw.close()
	}
	jw.closeArr()
	if next != nil {
		jw.str("@odata.nextLink", nextLink(r, listToken(*next, nextEmptied)))
		if len(page) == 0 {
			s.count(func(st *Stats) { st.EmptyListPages++ })
		}
	}
	jw.close()
	s.writeBody(w, rc, rc.prefs.applied(listPage, true), jw.b)
}

// parseExpand reads $expand for GET callRecord: sessions,
// sessions($expand=segments) and participants_v2, comma-separated.
func parseExpand(v string) (getOpts, error) {
	var o getOpts
	depth, start := 0, 0
	var items []string
	for i := 0; i <= len(v); i++ {
		switch {
		case i == len(v) || (v[i] == ',' && depth == 0):
			if it := strings.TrimSpace(v[start:i]); it != "" {
				items = append(items, it)
			}
			start = i + 1
		case v[i] == '(':
			depth++
		case v[i] == ')':
			depth--
		}
	}
	for _, it := range items {
		name, inner, _ := strings.Cut(it, "(")
		inner = strings.TrimSuffix(inner, ")")
		switch strings.TrimSpace(name) {
		case "sessions":
			o.sessions = true
			for opt := range strings.SplitSeq(inner, ";") {
				k, val, _ := strings.Cut(strings.TrimSpace(opt), "=")
				switch {
				case k == "":
				case k == "$expand" && strings.TrimSpace(val) == "segments":
					o.segments = true
				case k == "$select":
				default:
					return o, errors.New("Parsing OData Select and Expand failed: unsupported option '" + opt + "' on sessions.")
				}
			}
		case "participants_v2":
			o.participants = true
		default:
			return o, errors.New("Parsing OData Select and Expand failed: Could not find a property named '" + name + "' on type 'microsoft.graph.callRecords.callRecord'.")
		}
	}
	return o, nil
}

func (s *Simulator) serveGet(w http.ResponseWriter, r *http.Request, rc *reqCtx, id string) {
	q, ok := s.query(w, r, rc)
	if !ok {
		return
	}
	o, err := parseExpand(q.Get("$expand"))
	if err != nil {
		s.badRequest(w, rc, err.Error())
		return
	}
	if s.cfg.SingleExpand && o.sessions && o.participants {
		s.badRequest(w, rc, "Query option 'Expand' is not allowed with more than one navigation property.")
		return
	}
	m, ok := s.lookup(id, rc.now)
	if !ok {
		s.notFound(w, rc)
		return
	}
	o.base = requestBase(r)
	jw := rc.prefs.writer()
	s.writeRecord(jw, m, rc.now, o)
	s.writeBody(w, rc, rc.prefs.applied(0, false), jw.b)
}

func (s *Simulator) serveSessions(w http.ResponseWriter, r *http.Request, rc *reqCtx, id string) {
	q, ok := s.query(w, r, rc)
	if !ok {
		return
	}
	segs := false
	switch e := q.Get("$expand"); e {
	case "":
	case "segments":
		segs = true
	default:
		s.badRequest(w, rc, "Parsing OData Select and Expand failed: Could not find a property named '"+e+"' on type 'microsoft.graph.callRecords.session'.")
		return
	}
	off, ok := s.skipOffset(w, rc, q)
	if !ok {
		return
	}
	m, ok := s.lookup(id, rc.now)
	if !ok {
		s.notFound(w, rc)
		return
	}
	_, _, bumps := s.versionAt(m, rc.now)
	lay := s.layout(m, bumps)
	size := rc.prefs.pageSize(sessionsPage)
	end := min(off+size, len(lay))
	off = min(off, end)
	ctx := metaBase + "communications/callRecords('" + m.id + "')/sessions"
	if segs {
		ctx += "(segments())"
	}
	jw := rc.prefs.writer()
	jw.open("")
	jw.str("@odata.context", ctx)
	if end < len(lay) {
		jw.str("@odata.nextLink", nextLink(r, offsetToken(end)))
	}
	jw.openArr("value")
	for i := off; i < end; i++ {
		s.writeSession(jw, m, &lay[i], segs)
	}
	jw.closeArr()
	jw.close()
	s.writeBody(w, rc, rc.prefs.applied(sessionsPage, true), jw.b)
}

// skipOffset reads the $skiptoken of a sessions or participants page (0 when
// absent); an invalid one is answered 400 and ok is false.
func (s *Simulator) skipOffset(w http.ResponseWriter, rc *reqCtx, q url.Values) (int, bool) {
	tok := q.Get("$skiptoken")
	if tok == "" {
		return 0, true
	}
	n, ok := parseOffsetToken(tok)
	if !ok {
		s.badRequest(w, rc, "The $skiptoken is invalid.")
	}
	return n, ok
}

func (s *Simulator) serveParticipants(w http.ResponseWriter, r *http.Request, rc *reqCtx, id string) {
	q, ok := s.query(w, r, rc)
	if !ok {
		return
	}
	off, ok := s.skipOffset(w, rc, q)
	if !ok {
		return
	}
	m, ok := s.lookup(id, rc.now)
	if !ok {
		s.notFound(w, rc)
		return
	}
	size := rc.prefs.pageSize(participantsPage)
	end := min(off+size, m.nPart)
	off = min(off, end)
	jw := rc.prefs.writer()
	jw.open("")
	jw.str("@odata.context", metaBase+"communications/callRecords('"+m.id+"')/participants_v2")
	if end < m.nPart {
		jw.str("@odata.nextLink", nextLink(r, offsetToken(end)))
	}
	jw.openArr("value")
	for j := off; j < end; j++ {
		writeParticipant(jw, s.party(m, j))
	}
	jw.closeArr()
	jw.close()
	s.writeBody(w, rc, rc.prefs.applied(participantsPage, true), jw.b)
}
