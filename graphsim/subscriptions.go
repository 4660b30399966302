package graphsim

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Change notifications for call records (reference §5, §7.7): the
// /v1.0/subscriptions collection with Graph's validation handshake, and
// Deliver, which posts the notifications a subscription has earned since the
// last Deliver. Records are generated lazily, so nothing is pushed when a
// record is published: Deliver works out what was published, updated or
// bumped between a subscription's cursor and Now.

// kindSubscriptions is the endpoint kind of /v1.0/subscriptions, as counted
// in Stats.Requests.
const kindSubscriptions = "subscriptions"

const (
	maxSubscriptionLife  = 4230 * time.Minute
	maxClientState       = 128
	subscriptionQuota    = 100
	validationTimeout    = 10 * time.Second
	deliveryTimeout      = 3 * time.Second
	deliveryRetryWindow  = 4 * time.Hour
	notificationBatch    = 10
	maxSubscriptionBody  = 64 << 10
	maxValidationAnswer  = 64 << 10
	callRecordsResource  = "communications/callRecords"
	notificationType     = "#Microsoft.Graph.callRecord"
	subscriptionTimeForm = "2006-01-02T15:04:05.0000000-07:00"
	// eventLookback bounds how long before an event a record can start: a
	// record is published less than 6 hours after it starts (calls of at
	// most about 3 hours, then up to 150 minutes of latency) and gains its
	// scheduled later versions less than 6 days and 10 minutes after that.
	eventLookback = 7 * day
)

// Salts of the subscription streams (distinct from the record and usage
// salts).
const (
	saltSubID uint64 = 0x5eed0201 + iota
	saltApp
	saltCreator
	saltValidation
	saltQuirk
)

// Subscription is a live change-notification subscription, as created with
// POST /v1.0/subscriptions.
type Subscription struct {
	// ID is the subscription's GUID; the others are the properties as the
	// client sent them (LifecycleNotificationURL and ClientState may be
	// empty).
	ID, Resource, ChangeType, NotificationURL, LifecycleNotificationURL, ClientState string
	// Expiration is expirationDateTime; after it the subscription delivers
	// nothing and is gone.
	Expiration time.Time
}

// DeliveryQuirks makes Deliver misbehave like the real service sometimes
// does. The zero value delivers each notification once, in the order the
// changes happened.
type DeliveryQuirks struct {
	// Duplicates sends some notifications twice (at least one per
	// subscription and Deliver that has any to send).
	Duplicates bool
	// Shuffle sends notifications out of order, across and within batches;
	// with two or more to send the order always differs from the natural
	// one.
	Shuffle bool
	// Lifecycle also sends a reauthorizationRequired lifecycle event to the
	// lifecycleNotificationUrl of every live subscription that has one, on
	// every Deliver.
	Lifecycle bool
}

// DeliveryStats says what one Deliver did.
type DeliveryStats struct {
	// Posts counts the POSTs made: notification batches and lifecycle
	// events, answered or not.
	Posts int
	// Notifications counts the change notifications in batches that were
	// answered with a 2xx in time (duplicates included).
	Notifications int
	// Failed counts the change notifications in batches that were not;
	// they are sent again on the next Deliver, for up to 4 hours.
	Failed int
	// Lifecycle counts the lifecycle events answered with a 2xx in time.
	Lifecycle int
}

// subscription is a live subscription and its delivery state.
type subscription struct {
	Subscription
	seq      uint64
	created  bool            // changeType includes created
	updated  bool            // changeType includes updated
	filter   map[string]bool // lowercased participant ids; nil: every record
	cursor   time.Time       // publish/update events at or before it are done
	bumpSeq  uint64          // bumps with seq at or below it are done
	pending  []note          // notifications whose POST failed
	noteSeqs uint64
}

// note is one change notification to send.
type note struct {
	seq        uint64 // unique within its subscription
	recordID   string
	changeType string
	firstTry   time.Time
}

// bumpEvent is a Bump, kept until every subscription has seen it.
type bumpEvent struct {
	seq uint64
	id  string
	at  time.Time
}

// subState is the subscription side of a Simulator; its zero value is
// ready to use.
type subState struct {
	deliverMu sync.Mutex // serialises Deliver

	mu      sync.Mutex
	list    []*subscription // creation order
	created uint64          // subscriptions ever created
	bumpSeq uint64          // bumps ever logged
	bumps   []bumpEvent     // ascending seq
	quirks  DeliveryQuirks
	rounds  uint64 // Deliver calls

	// Timeouts; zero means the documented value. Tests shorten them.
	validationTimeout time.Duration
	deliveryTimeout   time.Duration
}

// SetDeliveryQuirks sets how later Deliver calls misbehave.
func (s *Simulator) SetDeliveryQuirks(q DeliveryQuirks) {
	s.subs.mu.Lock()
	s.subs.quirks = q
	s.subs.mu.Unlock()
}

// Subscriptions returns the live subscriptions (not expired at Now), in
// creation order.
func (s *Simulator) Subscriptions() []Subscription {
	ss := &s.subs
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.prune(s.now())
	out := make([]Subscription, 0, len(ss.list))
	for _, sub := range ss.list {
		out = append(out, sub.Subscription)
	}
	return out
}

// prune drops the subscriptions that expired before now; ss.mu is held.
func (ss *subState) prune(now time.Time) {
	ss.list = slices.DeleteFunc(ss.list, func(sub *subscription) bool { return now.After(sub.Expiration) })
	if len(ss.list) == 0 {
		ss.bumps = nil
	}
}

// find returns the live subscription id; ss.mu is held.
func (ss *subState) find(id string, now time.Time) *subscription {
	ss.prune(now)
	for _, sub := range ss.list {
		if strings.EqualFold(sub.ID, id) {
			return sub
		}
	}
	return nil
}

// logBump records a Bump of record id at at for the live subscriptions.
func (s *Simulator) logBump(id string, at time.Time) {
	ss := &s.subs
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.bumpSeq++
	if len(ss.list) > 0 {
		ss.bumps = append(ss.bumps, bumpEvent{seq: ss.bumpSeq, id: id, at: at})
	}
}

// event is a change of one record that subscriptions may be told about.
type event struct {
	at      time.Time
	bumpSeq uint64 // 0 for publish and scheduled-update events
	first   bool   // the record's first appearance
	m       *meta
}

// Deliver sends the pending notifications to every live subscription: for
// each call record that was published (Now >= end + publish delay), gained
// a scheduled later version, or was bumped since the subscription's last
// Deliver (or its creation: Graph does not backfill), one notification per
// subscription whose changeType and resource filter cover it. A record's
// first appearance is "created" on a subscription to created and "updated"
// on one to updated only; later versions are "updated". Notifications go in
// batches of up to 10 per POST, in the body of reference §7.7; a batch not
// answered with a 2xx within 3 s is sent again on the next Deliver, for up
// to 4 hours after its first try. Deliver is safe for concurrent use; calls
// are serialised.
func (s *Simulator) Deliver(ctx context.Context) DeliveryStats {
	ss := &s.subs
	ss.deliverMu.Lock()
	defer ss.deliverMu.Unlock()
	var st DeliveryStats
	now := s.now()

	ss.mu.Lock()
	ss.prune(now)
	if len(ss.list) == 0 {
		ss.mu.Unlock()
		return st
	}
	subs := slices.Clone(ss.list)
	lo := subs[0].cursor
	for _, sub := range subs[1:] {
		if sub.cursor.Before(lo) {
			lo = sub.cursor
		}
	}
	bumps := slices.Clone(ss.bumps)
	lastBump := ss.bumpSeq
	quirks := ss.quirks
	ss.rounds++
	round := ss.rounds
	timeout := positiveOr(ss.deliveryTimeout, deliveryTimeout)
	ss.mu.Unlock()

	events := s.changes(now, lo, bumps)
	parts := map[string]map[string]bool{}

	type job struct {
		sub   *subscription
		snap  Subscription
		notes []note
	}
	jobs := make([]job, 0, len(subs))
	ss.mu.Lock()
	for _, sub := range subs {
		notes := slices.DeleteFunc(sub.pending, func(n note) bool { return now.Sub(n.firstTry) > deliveryRetryWindow })
		sub.pending = nil
		for _, ev := range events {
			if (ev.bumpSeq == 0 && !ev.at.After(sub.cursor)) || (ev.bumpSeq != 0 && ev.bumpSeq <= sub.bumpSeq) {
				continue
			}
			ct := ""
			switch {
			case ev.first && sub.created:
				ct = "created"
			case sub.updated:
				ct = "updated"
			}
			if ct == "" || !s.matches(sub.filter, ev.m, parts) {
				continue
			}
			sub.noteSeqs++
			notes = append(notes, note{seq: sub.noteSeqs, recordID: ev.m.id, changeType: ct, firstTry: now})
		}
		if now.After(sub.cursor) {
			sub.cursor = now
		}
		sub.bumpSeq = lastBump
		jobs = append(jobs, job{sub: sub, snap: sub.Subscription, notes: notes})
	}
	ss.trimBumps()
	ss.mu.Unlock()

	hc := &http.Client{Timeout: timeout}
	for _, j := range jobs {
		r := newRand(mix(s.seed, saltQuirk, round), j.sub.seq)
		send := quirky(j.notes, quirks, r)
		var failed []note
		for i := 0; i < len(send); i += notificationBatch {
			batch := send[i:min(i+notificationBatch, len(send))]
			st.Posts++
			if s.post(ctx, hc, j.snap.NotificationURL, s.notificationBody(j.snap, batch)) {
				st.Notifications += len(batch)
				continue
			}
			st.Failed += len(batch)
			failed = append(failed, batch...)
		}
		if len(failed) > 0 {
			slices.SortFunc(failed, func(a, b note) int { return cmp.Compare(a.seq, b.seq) })
			failed = slices.CompactFunc(failed, func(a, b note) bool { return a.seq == b.seq })
			ss.mu.Lock()
			if slices.Contains(ss.list, j.sub) {
				j.sub.pending = append(failed, j.sub.pending...)
			}
			ss.mu.Unlock()
		}
		if quirks.Lifecycle && j.snap.LifecycleNotificationURL != "" {
			st.Posts++
			if s.post(ctx, hc, j.snap.LifecycleNotificationURL, s.lifecycleBody(j.snap, "reauthorizationRequired")) {
				st.Lifecycle++
			}
		}
	}
	return st
}

// cmpOr returns d, or def when d is not positive.
// trimBumps forgets the bumps every subscription has seen; ss.mu is held.
func (ss *subState) trimBumps() {
	if len(ss.list) == 0 {
		ss.bumps = nil
		return
	}
	low := ss.list[0].bumpSeq
	for _, sub := range ss.list[1:] {
		low = min(low, sub.bumpSeq)
	}
	i := 0
	for i < len(ss.bumps) && ss.bumps[i].seq <= low {
		i++
	}
	ss.bumps = slices.Clone(ss.bumps[i:])
}

// changes lists the events after after and at or before now (publishes and
// scheduled later versions), then the given bumps, of records visible at
// now, in the order they happened.
func (s *Simulator) changes(now, after time.Time, bumps []bumpEvent) []event {
	var out []event
	if after.Before(now) {
		s.scan(now, after.Add(-eventLookback), now, nil, func(_ pos, m *meta) bool {
			if m.publish.After(after) {
				out = append(out, event{at: m.publish, first: true, m: m})
			}
			for _, u := range m.updates {
				if u.After(after) && !u.After(now) {
					out = append(out, event{at: u, m: m})
				}
			}
			return true
		})
		slices.SortStableFunc(out, func(a, b event) int { return a.at.Compare(b.at) })
	}
	for _, b := range bumps {
		if m, ok := s.lookup(b.id, now); ok {
			out = append(out, event{at: b.at, bumpSeq: b.seq, m: m})
		}
	}
	return out
}

// matches reports whether a record passes a participants filter; parts
// caches the records' participant ids.
func (s *Simulator) matches(filter map[string]bool, m *meta, parts map[string]map[string]bool) bool {
	if filter == nil {
		return true
	}
	ids, ok := parts[m.id]
	if !ok {
		ids = make(map[string]bool, m.nPart)
		for j := range m.nPart {
			ids[strings.ToLower(s.party(m, j).id)] = true
		}
		parts[m.id] = ids
	}
	for id := range filter {
		if ids[id] {
			return true
		}
	}
	return false
}

// quirky applies the delivery quirks to notes.
func quirky(notes []note, q DeliveryQuirks, r *rand.Rand) []note {
	out := slices.Clone(notes)
	if q.Duplicates && len(notes) > 0 {
		n := 0
		for _, nt := range notes {
			if r.IntN(5) == 0 {
				out = append(out, nt)
				n++
			}
		}
		if n == 0 {
			out = append(out, notes[r.IntN(len(notes))])
		}
	}
	if q.Shuffle && len(out) > 1 {
		orig := slices.Clone(out)
		r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		if slices.EqualFunc(orig, out, func(a, b note) bool { return a.seq == b.seq }) {
			slices.Reverse(out)
		}
	}
	return out
}

// post POSTs a JSON body and reports whether it was answered with a 2xx in
// time.
func (s *Simulator) post(ctx context.Context, hc *http.Client, u string, body []byte) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := hc.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)); err != nil {
		return false
	}
	return resp.StatusCode >= 200 && resp.StatusCode < 300
}

// notificationBody renders a batch of change notifications (reference §7.7).
func (s *Simulator) notificationBody(sub Subscription, batch []note) []byte {
	w := &jw{}
	w.open("")
	w.openArr("value")
	for _, n := range batch {
		res := callRecordsResource + "/" + n.recordID
		w.open("")
		w.str("subscriptionId", sub.ID)
		w.strOrNull("clientState", sub.ClientState)
		w.str("changeType", n.changeType)
		w.str("resource", res)
		w.str("subscriptionExpirationDateTime", sub.Expiration.UTC().Format(subscriptionTimeForm))
		w.open("resourceData")
		w.str("@odata.type", notificationType)
		w.str("@odata.id", res)
		w.str("id", n.recordID)
		w.close()
		w.str("tenantId", s.tenant)
		w.close()
	}
	w.closeArr()
	w.close()
	return w.b
}

// lifecycleBody renders a lifecycle notification (reference §5).
func (s *Simulator) lifecycleBody(sub Subscription, ev string) []byte {
	w := &jw{}
	w.open("")
	w.openArr("value")
	w.open("")
	w.str("subscriptionId", sub.ID)
	w.str("subscriptionExpirationDateTime", sub.Expiration.UTC().Format(subscriptionTimeForm))
	w.str("tenantId", s.tenant)
	w.strOrNull("clientState", sub.ClientState)
	w.str("lifecycleEvent", ev)
	w.close()
	w.closeArr()
	w.close()
	return w.b
}

// serveSubscriptions serves /v1.0/subscriptions[/{id}[/reauthorize]]; rest
// is the path after /v1.0/subscriptions/.
func (s *Simulator) serveSubscriptions(w http.ResponseWriter, r *http.Request, rc *reqCtx, rest string) {
	id, action, _ := strings.Cut(rest, "/")
	switch {
	case id == "":
		switch r.Method {
		case http.MethodGet:
			s.listSubscriptions(w, rc)
		case http.MethodPost:
			s.createSubscription(w, r, rc)
		default:
			s.methodNotAllowed(w, rc, r.Method, "GET, POST")
		}
	case action == "":
		switch r.Method {
		case http.MethodGet:
			s.getSubscription(w, rc, id)
		case http.MethodPatch:
			s.renewSubscription(w, r, rc, id)
		case http.MethodDelete:
			s.deleteSubscription(w, rc, id)
		default:
			s.methodNotAllowed(w, rc, r.Method, "GET, PATCH, DELETE")
		}
	case action == "reauthorize":
		if r.Method != http.MethodPost {
			s.methodNotAllowed(w, rc, r.Method, "POST")
			return
		}
		s.reauthorizeSubscription(w, rc, id)
	default:
		s.badRequest(w, rc, "Resource not found for the segment '"+action+"'.")
	}
}

func (s *Simulator) methodNotAllowed(w http.ResponseWriter, rc *reqCtx, method, allow string) {
	w.Header().Set("Allow", allow)
	s.writeError(w, rc, http.StatusMethodNotAllowed, "Request_BadRequest", "The HTTP method '"+method+"' is not allowed for this resource.")
}

func (s *Simulator) subscriptionNotFound(w http.ResponseWriter, rc *reqCtx, id string) {
	s.writeError(w, rc, http.StatusNotFound, "ResourceNotFound", "The object '"+id+"' was not found.")
}

func (s *Simulator) writeSubscriptionJSON(w *jw, sub Subscription) {
	w.str("id", sub.ID)
	w.str("resource", sub.Resource)
	w.str("applicationId", hashGUID(mix(s.seed, saltApp)))
	w.str("changeType", sub.ChangeType)
	w.strOrNull("clientState", sub.ClientState)
	w.str("notificationUrl", sub.NotificationURL)
	w.null("notificationQueryOptions")
	w.strOrNull("lifecycleNotificationUrl", sub.LifecycleNotificationURL)
	w.ts("expirationDateTime", sub.Expiration, tsSeven)
	w.str("creatorId", hashGUID(mix(s.seed, saltCreator)))
	w.null("includeResourceData")
	w.str("latestSupportedTlsVersion", "v1_2")
	w.null("encryptionCertificate")
	w.null("encryptionCertificateId")
	w.null("notificationUrlAppId")
}

func (s *Simulator) writeSubscription(w http.ResponseWriter, rc *reqCtx, status int, sub Subscription) {
	j := &jw{}
	j.open("")
	j.str("@odata.context", metaBase+"subscriptions/$entity")
	s.writeSubscriptionJSON(j, sub)
	j.close()
	s.setHeaders(w, rc)
	w.WriteHeader(status)
	_, _ = w.Write(j.b)
}

func (s *Simulator) listSubscriptions(w http.ResponseWriter, rc *reqCtx) {
	j := &jw{}
	j.open("")
	j.str("@odata.context", metaBase+"subscriptions")
	j.openArr("value")
	for _, sub := range s.Subscriptions() {
		j.open("")
		s.writeSubscriptionJSON(j, sub)
		j.close()
	}
	j.closeArr()
	j.close()
	s.writeBody(w, rc, "", j.b)
}

func (s *Simulator) getSubscription(w http.ResponseWriter, rc *reqCtx, id string) {
	ss := &s.subs
	ss.mu.Lock()
	sub := ss.find(id, rc.now)
	var snap Subscription
	if sub != nil {
		snap = sub.Subscription
	}
	ss.mu.Unlock()
	if sub == nil {
		s.subscriptionNotFound(w, rc, id)
		return
	}
	s.writeSubscription(w, rc, http.StatusOK, snap)
}

func (s *Simulator) deleteSubscription(w http.ResponseWriter, rc *reqCtx, id string) {
	ss := &s.subs
	ss.mu.Lock()
	sub := ss.find(id, rc.now)
	if sub != nil {
		ss.list = slices.DeleteFunc(ss.list, func(x *subscription) bool { return x == sub })
		ss.trimBumps()
	}
	ss.mu.Unlock()
	if sub == nil {
		s.subscriptionNotFound(w, rc, id)
		return
	}
	s.setHeaders(w, rc)
	w.Header().Del("Content-Type")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Simulator) reauthorizeSubscription(w http.ResponseWriter, rc *reqCtx, id string) {
	ss := &s.subs
	ss.mu.Lock()
	sub := ss.find(id, rc.now)
	ss.mu.Unlock()
	if sub == nil {
		s.subscriptionNotFound(w, rc, id)
		return
	}
	s.setHeaders(w, rc)
	w.Header().Del("Content-Type")
	w.WriteHeader(http.StatusNoContent)
}

// subscriptionBody is the body of POST and PATCH /subscriptions.
type subscriptionBody struct {
	ChangeType               *string `json:"changeType"`
	NotificationURL          *string `json:"notificationUrl"`
	LifecycleNotificationURL *string `json:"lifecycleNotificationUrl"`
	Resource                 *string `json:"resource"`
	ExpirationDateTime       *string `json:"expirationDateTime"`
	ClientState              *string `json:"clientState"`
}

func (s *Simulator) readSubscriptionBody(w http.ResponseWriter, r *http.Request, rc *reqCtx) (subscriptionBody, bool) {
	var b subscriptionBody
	if err := json.NewDecoder(io.LimitReader(r.Body, maxSubscriptionBody)).Decode(&b); err != nil {
		s.badRequest(w, rc, "Invalid request body: "+err.Error()+".")
		return b, false
	}
	return b, true
}

// expiration checks an expirationDateTime against the documented maximum.
func expiration(v *string, now time.Time) (time.Time, string) {
	if v == nil || *v == "" {
		return time.Time{}, "Subscription expirationDateTime is required."
	}
	t, err := time.Parse(time.RFC3339Nano, *v)
	if err != nil {
		return time.Time{}, "Cannot convert the literal '" + *v + "' to the expected type 'Edm.DateTimeOffset'."
	}
	t = t.UTC()
	if !t.After(now) {
		return t, "Subscription expiration must be in the future."
	}
	if t.After(now.Add(maxSubscriptionLife)) {
		return t, "Subscription expiration can only be 4230 minutes in the future."
	}
	return t, ""
}

func (s *Simulator) renewSubscription(w http.ResponseWriter, r *http.Request, rc *reqCtx, id string) {
	b, ok := s.readSubscriptionBody(w, r, rc)
	if !ok {
		return
	}
	ss := &s.subs
	ss.mu.Lock()
	sub := ss.find(id, rc.now)
	ss.mu.Unlock()
	if sub == nil {
		s.subscriptionNotFound(w, rc, id)
		return
	}
	exp, msg := expiration(b.ExpirationDateTime, rc.now)
	if msg != "" {
		s.writeError(w, rc, http.StatusBadRequest, "InvalidRequest", msg)
		return
	}
	ss.mu.Lock()
	sub.Expiration = exp
	snap := sub.Subscription
	ss.mu.Unlock()
	s.writeSubscription(w, rc, http.StatusOK, snap)
}

// participantClause matches one clause of a participants filter:
// "p/id eq '…'" or "p/id in ('…', '…')".
var participantClause = regexp.MustCompile(`(?i)^\s*(\w+)/id\s+(?:eq\s+'([^']*)'|in\s+\(\s*('[^']*'(?:\s*,\s*'[^']*')*)\s*\))\s*$`)

// orSplit splits a filter body at its "or" operators.
var orSplit = regexp.MustCompile(`(?i)\s+or\s+`)

// parseResource reads a subscription resource: the callRecords collection,
// optionally with $filter=participants/any(p:p/id eq '…') (eq, or, in). It
// returns the participant ids (nil for every record) or an error message.
func parseResource(res string) (map[string]bool, string) {
	path, query, hasQuery := strings.Cut(res, "?")
	if !strings.EqualFold(strings.TrimPrefix(path, "/"), callRecordsResource) {
		return nil, "Resource '" + res + "' is not supported for change notifications."
	}
	if !hasQuery {
		return nil, ""
	}
	q, err := url.ParseQuery(query)
	if err != nil || len(q) != 1 || len(q["$filter"]) != 1 {
		return nil, "Only $filter on participants is supported in the callRecords resource '" + res + "'."
	}
	f := strings.TrimSpace(q.Get("$filter"))
	bad := "Invalid filter clause '" + f + "': use participants/any(p:p/id eq '{id}'), joined with or, or p/id in (…)."
	inner, ok := strings.CutPrefix(f, "participants/any(")
	if !ok || !strings.HasSuffix(inner, ")") {
		return nil, bad
	}
	inner = strings.TrimSuffix(inner, ")")
	v, body, ok := strings.Cut(inner, ":")
	v = strings.TrimSpace(v)
	if !ok || v == "" {
		return nil, bad
	}
	ids := map[string]bool{}
	for _, cl := range orSplit.Split(body, -1) {
		m := participantClause.FindStringSubmatch(cl)
		if m == nil || m[1] != v {
			return nil, bad
		}
		if m[3] == "" {
			ids[strings.ToLower(m[2])] = true
			continue
		}
		for lit := range strings.SplitSeq(m[3], ",") {
			ids[strings.ToLower(strings.Trim(strings.TrimSpace(lit), "'"))] = true
		}
	}
	return ids, ""
}

// parseChangeType reads changeType: created, updated or both.
func parseChangeType(ct string) (created, updated bool, ok bool) {
	for p := range strings.SplitSeq(ct, ",") {
		switch strings.TrimSpace(p) {
		case "created":
			created = true
		case "updated":
			updated = true
		default:
			return false, false, false
		}
	}
	return created, updated, true
}

// checkNotificationURL accepts https URLs and plain http to a loopback
// host.
func checkNotificationURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return "Invalid notification url '" + raw + "'."
	}
	if u.Scheme == "https" {
		return ""
	}
	if u.Scheme == "http" {
		h := u.Hostname()
		if ip := net.ParseIP(h); h == "localhost" || ip != nil && ip.IsLoopback() {
			return ""
		}
	}
	return "Invalid notification url '" + raw + "': the url must use https."
}

func (s *Simulator) createSubscription(w http.ResponseWriter, r *http.Request, rc *reqCtx) {
	b, ok := s.readSubscriptionBody(w, r, rc)
	if !ok {
		return
	}
	invalid := func(msg string) { s.writeError(w, rc, http.StatusBadRequest, "InvalidRequest", msg) }
	for _, f := range []struct {
		name string
		v    *string
	}{{"changeType", b.ChangeType}, {"notificationUrl", b.NotificationURL}, {"resource", b.Resource}} {
		if f.v == nil || strings.TrimSpace(*f.v) == "" {
			invalid("Subscription " + f.name + " is required.")
			return
		}
	}
	created, updated, ok := parseChangeType(*b.ChangeType)
	if !ok {
		invalid("Invalid changeType '" + *b.ChangeType + "': callRecords supports created and updated.")
		return
	}
	filter, msg := parseResource(*b.Resource)
	if msg != "" {
		invalid(msg)
		return
	}
	exp, msg := expiration(b.ExpirationDateTime, rc.now)
	if msg != "" {
		invalid(msg)
		return
	}
	clientState := ""
	if b.ClientState != nil {
		clientState = *b.ClientState
	}
	if utf8.RuneCountInString(clientState) > maxClientState {
		invalid("clientState must be at most 128 characters.")
		return
	}
	urls := []string{*b.NotificationURL}
	lifecycle := ""
	if b.LifecycleNotificationURL != nil && *b.LifecycleNotificationURL != "" {
		lifecycle = *b.LifecycleNotificationURL
		urls = append(urls, lifecycle)
	}
	for _, u := range urls {
		if msg := checkNotificationURL(u); msg != "" {
			invalid(msg)
			return
		}
	}
	if !s.underQuota(rc.now) {
		s.quotaExceeded(w, rc)
		return
	}
	timeout := positiveOr(s.subs.validationTimeoutValue(), validationTimeout)
	for _, u := range urls {
		if code, msg := s.validate(r.Context(), u, rc, timeout); code != "" {
			s.writeError(w, rc, http.StatusBadRequest, code, msg)
			return
		}
	}
	ss := &s.subs
	ss.mu.Lock()
	ss.prune(rc.now)
	if len(ss.list) >= subscriptionQuota {
		ss.mu.Unlock()
		s.quotaExceeded(w, rc)
		return
	}
	ss.created++
	sub := &subscription{
		Subscription: Subscription{
			ID:                       hashGUID(mix(s.seed, saltSubID, ss.created)),
			Resource:                 *b.Resource,
			ChangeType:               *b.ChangeType,
			NotificationURL:          *b.NotificationURL,
			LifecycleNotificationURL: lifecycle,
			ClientState:              clientState,
			Expiration:               exp,
		},
		seq: ss.created, created: created, updated: updated, filter: filter,
		cursor: rc.now, bumpSeq: ss.bumpSeq,
	}
	ss.list = append(ss.list, sub)
	snap := sub.Subscription
	ss.mu.Unlock()
	s.writeSubscription(w, rc, http.StatusCreated, snap)
}

func (ss *subState) validationTimeoutValue() time.Duration {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.validationTimeout
}

func (s *Simulator) underQuota(now time.Time) bool {
	ss := &s.subs
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.prune(now)
	return len(ss.list) < subscriptionQuota
}

func (s *Simulator) quotaExceeded(w http.ResponseWriter, rc *reqCtx) {
	s.writeError(w, rc, http.StatusForbidden, "ExtensionError",
		"Operation: Create; Exception: [Status Code: Forbidden; Reason: The number of subscriptions for resource 'communications/callRecords' exceeded the maximum of 100 per organization.]")
}

// validate performs the validation handshake with a notification endpoint
// (reference §5): POST {u}?validationToken=<token> with text/plain; the
// endpoint must answer 200, text/plain, with the decoded token, within
// timeout. It returns an error code and message, or "" on success.
func (s *Simulator) validate(ctx context.Context, u string, rc *reqCtx, timeout time.Duration) (code, msg string) {
	var nonce [12]byte
	binary.BigEndian.PutUint64(nonce[:8], mix(s.seed, saltValidation, rc.seq))
	binary.BigEndian.PutUint32(nonce[8:], uint32(mix(s.seed, saltValidation, rc.seq, 1)))
	token := "Validation: Testing client application reachability for subscription Request-Id: " +
		rc.requestID + " & nonce=" + base64.StdEncoding.EncodeToString(nonce[:]) + "+/%"
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u+sep+"validationToken="+url.QueryEscape(token), nil)
	if err != nil {
		return "InvalidRequest", "Invalid notification url '" + u + "'."
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	const failed = "Subscription validation request failed. "
	resp, err := hc.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return "InvalidRequest", "Subscription validation request timed out."
		}
		return "ValidationError", failed + "Notification endpoint must respond with 200 OK to validation request."
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxValidationAnswer))
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "InvalidRequest", "Subscription validation request timed out."
	case err != nil || resp.StatusCode != http.StatusOK:
		return "ValidationError", failed + "Notification endpoint must respond with 200 OK to validation request."
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		return "ValidationError", failed + "Must respond with 200 OK to this request with Content-Type text/plain."
	}
	if string(body) != token {
		return "ValidationError", failed + "Response must exactly match validationToken query parameter."
	}
	return "", ""
}
