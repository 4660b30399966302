package extract

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/callrecords-etl/callrecords-etl/jsonscan"
)

// ListedRecord is the part of a listed call record that decides whether to
// fetch it: its id, version and times.
type ListedRecord struct {
	// ID is the call record id.
	ID string
	// Version grows each time Graph rewrites the record.
	Version int64
	// StartDateTime is when the first participant joined (the list filter key).
	StartDateTime time.Time
	// EndDateTime is when the last participant left.
	EndDateTime time.Time
	// LastModifiedDateTime is when this version was written.
	LastModifiedDateTime time.Time
	// Err says why the item could not be read (a field of the wrong type,
	// no id); Raw is then the item as listed, and ID its id if it has a
	// readable one. The other items of the page are not affected.
	Err error
	Raw json.RawMessage
}

// page is one page of an OData collection.
type page struct {
	Value    []json.RawMessage `json:"value"`
	NextLink string            `json:"@odata.nextLink"`
}

// listedJSON is the wire shape of a listed record's fields of interest.
type listedJSON struct {
	ID                   string    `json:"id"`
	Version              flexInt64 `json:"version"`
	StartDateTime        time.Time `json:"startDateTime"`
	EndDateTime          time.Time `json:"endDateTime"`
	LastModifiedDateTime time.Time `json:"lastModifiedDateTime"`
}

// flexInt64 reads an Int64 sent as a JSON number or, with
// IEEE754Compatible, as a string.
type flexInt64 int64

// UnmarshalJSON accepts 42, "42" and null.
func (f *flexInt64) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	if s == "null" {
		return nil
	}
	if uq, err := strconv.Unquote(s); err == nil {
		s = uq
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("parse int64 %s: %w", b, err)
	}
	*f = flexInt64(n)
	return nil
}

// graphTime formats t for an OData filter literal: UTC, at most 7 fractional
// digits (Graph's precision), rounded up so that "ge"/"lt" keep their meaning
// for the 100 ns timestamps Graph stores.
func graphTime(t time.Time) string {
	t = t.UTC()
	if tr := t.Truncate(100 * time.Nanosecond); !tr.Equal(t) {
		t = tr.Add(100 * time.Nanosecond)
	}
	return t.Format("2006-01-02T15:04:05.9999999Z")
}

// versionPath is the API root, e.g. https://graph.microsoft.com/v1.0.
func (c *Client) versionPath() string { return c.baseStr + "/v1.0" }

func (c *Client) recordURL(id string) string {
	return c.versionPath() + "/communications/callRecords/" + url.PathEscape(id)
}

// ListCallRecords lists the call records whose startDateTime is in [from, to)
// ($filter=startDateTime ge from and startDateTime lt to), follows every
// @odata.nextLink as an opaque URL (an empty page with a nextLink continues),
// and calls fn for each record in page order. An error from fn stops the
// listing and is returned wrapped.
func (c *Client) ListCallRecords(ctx context.Context, from, to time.Time, fn func(ListedRecord) error) error {
	if !from.Before(to) {
		return fmt.Errorf("list call records: window [%s, %s) is empty", from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano))
	}
	filter := "startDateTime ge " + graphTime(from) + " and startDateTime lt " + graphTime(to)
	first := c.versionPath() + "/communications/callRecords?$filter=" + strings.ReplaceAll(url.QueryEscape(filter), "+", "%20")
	err := c.pages(ctx, c.listWindow, endpointList, first, func(pageURL string, values []json.RawMessage) error {
		for i, v := range values {
			var lj listedJSON
			err := json.Unmarshal(v, &lj)
			if err == nil && lj.ID == "" {
				err = errors.New("no id")
			}
			if err != nil {
				item := ListedRecord{ID: idOf(v), Raw: v, Err: fmt.Errorf("record %d of page %s: %w", i, pageURL, err)}
				if err := fn(item); err != nil {
					return fmt.Errorf("record %d of page %s: %w", i, pageURL, err)
				}
				continue
			}
			if err := fn(ListedRecord{
				ID:                   lj.ID,
				Version:              int64(lj.Version),
				StartDateTime:        lj.StartDateTime,
				EndDateTime:          lj.EndDateTime,
				LastModifiedDateTime: lj.LastModifiedDateTime,
			}); err != nil {
				return fmt.Errorf("record %s: %w", lj.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("list call records [%s, %s): %w", graphTime(from), graphTime(to), err)
	}
	return nil
}

// idOf is the id of a listed item that does not decode, if it has a string one.
func idOf(v json.RawMessage) string {
	var item struct {
		ID any `json:"id"`
	}
	json.Unmarshal(v, &item)
	id, _ := item.ID.(string)
	return id
}

// Budgets of a chain of pages: Graph answers a page with no items and a
// nextLink now and then, never many in a row; and a page whose body does not
// parse may be a proxy's hiccup, so it is fetched again before giving up.
const (
	maxIdlePages = 5 // pages in a row that add no item not seen before in the chain
	pageRetries  = 2 // fetches again of a page whose body does not parse
)

// pages GETs first and every @odata.nextLink after it, calling fn with each
// page's values. Links must stay on the Graph host. A chain that does not
// end — a link seen before, or maxIdlePages pages in a row that bring no new
// item — is an error matching ErrPaging, and a page that still does not parse
// after pageRetries fetches one matching ErrBadPage; both name the endpoint
// and the page.
func (c *Client) pages(ctx context.Context, window *slidingWindow, endpoint, first string, fn func(pageURL string, values []json.RawMessage) error) error {
	seen := map[string]bool{}
	items := map[uint64]bool{} // hashes of the items of the chain
	seed := maphash.MakeSeed() // maphash: FNV's byte loop was 1.4% of a run's CPU
	idle := 0
	for next := first; next != ""; {
		if seen[next] {
			return fmt.Errorf("%s: next link %s repeats an earlier page: %w", endpoint, next, ErrPaging)
		}
		seen[next] = true
		p, err := c.page(ctx, window, endpoint, next)
		if err != nil {
			return err
		}
		fresh := false
		for _, v := range p.Value {
			if h := maphash.Bytes(seed, v); !items[h] {
				items[h], fresh = true, true
			}
		}
		if idle = idle + 1; fresh {
			idle = 0
		}
		if idle >= maxIdlePages && p.NextLink != "" {
			return fmt.Errorf("%s: %d pages in a row brought no new item, the last %s: %w", endpoint, idle, next, ErrPaging)
		}
		if err := fn(next, p.Value); err != nil {
			return err
		}
		if p.NextLink == "" {
			return nil
		}
		link, err := c.checkLink(next, p.NextLink)
		if err != nil {
			return fmt.Errorf("page %s: %w", next, err)
		}
		next = link
	}
	return nil
}

// page GETs one page of a collection, again if its body does not parse.
func (c *Client) page(ctx context.Context, window *slidingWindow, endpoint, u string) (page, error) {
	for attempt := 0; ; attempt++ {
		body, err := c.get(ctx, window, endpoint, u)
		if err != nil {
			return page{}, err
		}
		p, err := decodePage(body)
		if err == nil {
			return p, nil
		}
		if attempt == pageRetries {
			return page{}, fmt.Errorf("%s: decode page %s (fetched %d times): %v: %w", endpoint, u, attempt+1, err, ErrBadPage)
		}
		c.retries.Add(1)
		if err := c.sleep(ctx, c.backoff(attempt)); err != nil {
			return page{}, err
		}
	}
}

// decodePage reads a page: its value array and nextLink. The items are slices
// of body, not copies.
func decodePage(body []byte) (page, error) {
	ms, err := splitObject(body, "value")
	if err != nil {
		return page{}, err
	}
	var p page
	for _, m := range ms {
		switch m.key {
		case "value":
			if p.Value, err = m.array(); err != nil {
				return page{}, fmt.Errorf("value: %w", err)
			}
		case "@odata.nextLink":
			if err := json.Unmarshal(m.value, &p.NextLink); err != nil && !bytes.Equal(m.value, []byte("null")) {
				return page{}, fmt.Errorf("@odata.nextLink: %w", err)
			}
		}
	}
	return p, nil
}

// member is one key of a JSON object with its value verbatim, and the
// value's elements if splitObject was asked to split it.
type member struct {
	key   string
	value json.RawMessage
	elems []json.RawMessage
	split bool // elems holds the value's elements
}

// array returns the elements of the member's value, a JSON array or null.
func (m member) array() ([]json.RawMessage, error) {
	if m.split {
		return m.elems, nil
	}
	return splitArray(m.value)
}

// splitObject checks that data is one JSON object and splits it into its
// members in document order, in one pass: bytes from the network are
// scanned once. The values are slices of data, not copies: a record of any
// size is split without a second copy of it (they stay valid while data is
// not changed). The members named in arrays whose values are arrays are split
// into their elements in the same pass (member.array), not scanned again.
func splitObject(data []byte, arrays ...string) ([]member, error) {
	i := jsonscan.SkipSpace(data, 0)
	if i == len(data) || data[i] != '{' {
		if !jsonscan.Valid(data) {
			return nil, errors.New("not valid JSON")
		}
		return nil, errors.New("want a JSON object")
	}
	var ms []member
	i = jsonscan.SkipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		i++
	} else {
		for {
			if i == len(data) || data[i] != '"' {
				return nil, &jsonscan.Error{Offset: i, Msg: "want a string key"}
			}
			end, err := jsonscan.SkipString(data, i)
			if err != nil {
				return nil, err
			}
			key, err := keyOf(data[i:end])
			if err != nil {
				return nil, err
			}
			if i = jsonscan.SkipSpace(data, end); i == len(data) || data[i] != ':' {
				return nil, &jsonscan.Error{Offset: i, Msg: "want : after an object key"}
			}
			i = jsonscan.SkipSpace(data, i+1)
			m := member{key: key}
			if i < len(data) && data[i] == '[' && slices.Contains(arrays, key) {
				m.elems, end, err = jsonscan.Elements(data, i, 1, []json.RawMessage(nil))
				m.split = true
			} else {
				end, err = jsonscan.Skip(data, i, 1)
			}
			if err != nil {
				return nil, err
			}
			m.value = data[i:end]
			ms = append(ms, m)
			if i = jsonscan.SkipSpace(data, end); i < len(data) && data[i] == ',' {
				i = jsonscan.SkipSpace(data, i+1)
				continue
			}
			if i == len(data) || data[i] != '}' {
				return nil, &jsonscan.Error{Offset: i, Msg: "want , or } after an object value"}
			}
			i++
			break
		}
	}
	if jsonscan.SkipSpace(data, i) != len(data) {
		return nil, errors.New("trailing data after the JSON object")
	}
	return ms, nil
}

// keyOf is the string of a key's token: its bytes when they are plain
// ASCII, else as encoding/json unquotes it.
func keyOf(tok []byte) (string, error) {
	if jsonscan.PlainUntil(tok, 1) == len(tok)-1 {
		return string(tok[1 : len(tok)-1]), nil
	}
	var key string
	err := json.Unmarshal(tok, &key)
	return key, err
}

// splitArray splits a JSON array (or null) that splitObject checked, a
// member's value it did not split, into its elements: slices of raw, not
// copies.
func splitArray(raw json.RawMessage) ([]json.RawMessage, error) {
	i := jsonscan.SkipSpace(raw, 0)
	switch {
	case bytes.Equal(bytes.TrimSpace(raw), []byte("null")):
		return nil, nil
	case i == len(raw) || raw[i] != '[':
		return nil, errors.New("want a JSON array")
	}
	var vs []json.RawMessage
	for i = jsonscan.SkipSpace(raw, i+1); i < len(raw) && raw[i] != ']'; {
		end, err := jsonscan.Skip(raw, i, 1)
		if err != nil {
			return nil, err
		}
		vs = append(vs, raw[i:end])
		if i = jsonscan.SkipSpace(raw, end); i < len(raw) && raw[i] == ',' {
			i = jsonscan.SkipSpace(raw, i+1)
		}
	}
	return vs, nil
}

// encodeObject writes members back as one JSON object, in one allocation.
func encodeObject(ms []member) ([]byte, error) {
	size := 2
	for _, m := range ms {
		size += len(m.key) + len(m.value) + 8
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	buf.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, err := json.Marshal(m.key)
		if err != nil {
			return nil, err
		}
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(m.value)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// encodeArray writes values as one JSON array, in one allocation.
func encodeArray(vs []json.RawMessage) json.RawMessage {
	size := 2
	for _, v := range vs {
		size += len(v) + 1
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	buf.WriteByte('[')
	for i, v := range vs {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(v)
	}
	buf.WriteByte(']')
	return buf.Bytes()
}

// decodeLink reads a nextLink value (a JSON string or null).
func decodeLink(raw json.RawMessage) (string, error) {
	var s *string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", err
	}
	if s == nil {
		return "", nil
	}
	return *s, nil
}

// GetCallRecord returns one whole call record as a JSON object: it GETs
// /v1.0/communications/callRecords/{id}?$expand=sessions($expand=segments),participants_v2,
// follows every sessions@odata.nextLink and participants_v2@odata.nextLink
// page (or fetches every page of /participants_v2 if the body has no
// participants_v2), and returns the record with the complete "sessions" and
// "participants_v2" arrays and without any *@odata.nextLink key. All other
// members are kept as received, in order, byte for byte. A 404 matches
// ErrNotFound (expired or not yet published). A record Graph serves but that
// cannot be read (a body that is not a JSON object even when fetched again,
// "sessions" not an array, a session or participant page that cannot be read,
// paging that does not end, a nextLink off the Graph host) is a *RecordError
// holding what Graph sent.
func (c *Client) GetCallRecord(ctx context.Context, id string) (json.RawMessage, error) {
	if id == "" {
		return nil, errors.New("get call record: empty id")
	}
	raw, err := c.getCallRecord(ctx, id)
	var re *RecordError
	var ge *GraphError
	switch {
	case errors.As(err, &re):
		re.ID = id
		return nil, re
	case errors.As(err, &ge) && refusesRecord(ge.Status) && !errors.Is(err, ErrAuth):
		// Graph refuses this record (an id it does not accept, say): the
		// record's problem, not the run's.
		return nil, &RecordError{ID: id, Raw: []byte(err.Error()), Err: err}
	}
	if err != nil {
		return nil, fmt.Errorf("get call record %s: %w", id, err)
	}
	return raw, nil
}

// refusesRecord reports whether an HTTP status answering a record's requests
// is about that record alone: a 4xx other than 401, 403 (credentials), 404
// (not there: expired or not yet published) and 429 (throttling).
func refusesRecord(status int) bool {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusTooManyRequests:
		return false
	}
	return status >= 400 && status < 500
}

// The record's expansions: sessions with their segments, and its first
// participants_v2 page, so that one request brings most records whole;
// sessions alone if Graph refuses two (participants_v2 then comes from its
// own endpoint).
const (
	expandBoth     = "?$expand=sessions($expand=segments),participants_v2"
	expandSessions = "?$expand=sessions($expand=segments)"
)

func (c *Client) getCallRecord(ctx context.Context, id string) (json.RawMessage, error) {
	// Graph limits the requests for one record apart from the others.
	var window *slidingWindow
	if c.recordWindow != nil {
		window = c.recordWindow()
	}
	both := !c.singleExpand.Load()
	recURL := c.recordURL(id) + expandSessions
	if both {
		recURL = c.recordURL(id) + expandBoth
	}
	var body []byte
	var ms []member
	for attempt := 0; ; attempt++ {
		var err error
		body, err = c.get(ctx, window, endpointGet, recURL)
		var ge *GraphError
		if both && errors.As(err, &ge) && ge.Status == http.StatusBadRequest {
			// Refused for the two expansions, or for the record? Ask
			// for the sessions alone: if that is served, the run stops
			// asking for both.
			single := c.recordURL(id) + expandSessions
			if body, err = c.get(ctx, window, endpointGet, single); err == nil {
				if !c.singleExpand.Swap(true) {
					c.log.Warn("Graph refused to expand both sessions and participants_v2 of a call record; participants_v2 is fetched on its own from now on", "status", ge.Status)
				}
				recURL, both = single, false
			}
		}
		if err != nil {
			return nil, err
		}
		if ms, err = splitObject(body, "sessions", "participants_v2"); err == nil {
			break
		}
		if attempt == pageRetries {
			return nil, &RecordError{Raw: body, Err: fmt.Errorf("decode %s (fetched %d times): %w", recURL, attempt+1, err)}
		}
		c.retries.Add(1)
		if err := c.sleep(ctx, c.backoff(attempt)); err != nil {
			return nil, err
		}
	}
	if servedWhole(ms) {
		return body, nil
	}
	bad := func(err error) error { return &RecordError{Raw: body, Err: err} }

	var sessions, participants []json.RawMessage
	var sessionsNext, participantsNext string
	haveParticipants := false
	var err error
	kept := ms[:0]
	for _, m := range ms {
		switch {
		case m.key == "sessions":
			if sessions, err = m.array(); err != nil {
				return nil, bad(fmt.Errorf("decode sessions of %s: %w", recURL, err))
			}
			kept = append(kept, m)
		case m.key == "sessions@odata.nextLink":
			if sessionsNext, err = decodeLink(m.value); err != nil {
				return nil, bad(fmt.Errorf("decode sessions@odata.nextLink of %s: %w", recURL, err))
			}
		case m.key == "participants_v2":
			if participants, err = m.array(); err != nil {
				return nil, bad(fmt.Errorf("decode participants_v2 of %s: %w", recURL, err))
			}
			haveParticipants = true
			kept = append(kept, m)
		case m.key == "participants_v2@odata.nextLink":
			if participantsNext, err = decodeLink(m.value); err != nil {
				return nil, bad(fmt.Errorf("decode participants_v2@odata.nextLink of %s: %w", recURL, err))
			}
		case strings.HasSuffix(m.key, "@odata.nextLink"):
			// Dropped: no other member is paged.
		default:
			kept = append(kept, m)
		}
	}
	// What the record's own pages do wrong is the record's problem, not the run's.
	chain := func(err error) error {
		if errors.Is(err, ErrBadPage) || errors.Is(err, ErrPaging) || errors.Is(err, errForeignLink) || errors.Is(err, ErrBadRecord) {
			return bad(err)
		}
		return err
	}

	if sessionsNext != "" {
		link, err := c.checkLink(recURL, sessionsNext)
		if err != nil {
			return nil, chain(fmt.Errorf("sessions of %s: %w", recURL, err))
		}
		err = c.pages(ctx, window, endpointSessions, link, func(_ string, values []json.RawMessage) error {
			sessions = append(sessions, values...)
			return nil
		})
		if err != nil {
			return nil, chain(fmt.Errorf("sessions: %w", err))
		}
	}
	for i, s := range sessions {
		if s, err = c.completeSegments(ctx, window, recURL, s); err != nil {
			return nil, chain(fmt.Errorf("session %d: %w", i, err))
		}
		sessions[i] = s
	}

	// The rest of participants_v2 from its nextLink; all of it from its own
	// endpoint if the expansion brought none (a server that ignored it).
	var participantsURL string
	switch {
	case !haveParticipants:
		participantsURL = c.recordURL(id) + "/participants_v2"
	case participantsNext != "":
		if participantsURL, err = c.checkLink(recURL, participantsNext); err != nil {
			return nil, chain(fmt.Errorf("participants_v2 of %s: %w", recURL, err))
		}
	}
	if participantsURL != "" {
		err = c.pages(ctx, window, endpointParticipants, participantsURL, func(_ string, values []json.RawMessage) error {
			participants = append(participants, values...)
			return nil
		})
		if err != nil {
			return nil, chain(fmt.Errorf("participants_v2: %w", err))
		}
	}
	return encodeRecord(kept, sessions, participants)
}

// servedWhole reports whether a record's body needs nothing added or taken
// away: its sessions and participants_v2 are arrays served whole (once each,
// without a nextLink, no session with a segments nextLink) and it has no
// other paged member. Most records are; they are handed on as served, without
// a second scan of their sessions and a copy.
func servedWhole(ms []member) bool {
	var sessions, participants int
	for _, m := range ms {
		switch {
		case m.key == "sessions":
			sessions++
			if m.value[0] != '[' || hasSegmentsLink(m.value) {
				return false
			}
		case m.key == "participants_v2":
			participants++
			if m.value[0] != '[' {
				return false
			}
		case strings.HasSuffix(m.key, "@odata.nextLink"):
			return false
		}
	}
	return sessions == 1 && participants == 1
}

// hasSegmentsLink reports whether b holds the text "segments@odata.nextLink"
// (quoted). It looks for the '@' part first: a search from '"' would stop at
// every string of the JSON, '@' is rare.
func hasSegmentsLink(b []byte) bool {
	const prefix, link = `"segments`, `@odata.nextLink"`
	for {
		i := bytes.Index(b, []byte(link))
		if i < 0 {
			return false
		}
		if i >= len(prefix) && string(b[i-len(prefix):i]) == prefix {
			return true
		}
		b = b[i+1:]
	}
}

// encodeRecord writes a record's members with its complete sessions and
// participants_v2 arrays (added if the body had none) into one buffer sized
// up front: the assembled record costs one copy of it, however large.
func encodeRecord(kept []member, sessions, participants []json.RawMessage) (json.RawMessage, error) {
	listSize := func(vs []json.RawMessage) int {
		n := 2
		for _, v := range vs {
			n += len(v) + 1
		}
		return n
	}
	size := 64 + listSize(sessions) + listSize(participants)
	for _, m := range kept {
		if size += len(m.key) + 8; m.key != "sessions" && m.key != "participants_v2" {
			size += len(m.value) // the other two are written from their lists
		}
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	writeList := func(vs []json.RawMessage) {
		buf.WriteByte('[')
		for i, v := range vs {
			if i > 0 {
				buf.WriteByte(',')
			}
			buf.Write(v)
		}
		buf.WriteByte(']')
	}
	haveSessions, haveParticipants := false, false
	buf.WriteByte('{')
	for i, m := range kept {
		if i > 0 {
			buf.WriteByte(',')
		}
		k, err := json.Marshal(m.key)
		if err != nil {
			return nil, fmt.Errorf("encode record: %w", err)
		}
		buf.Write(k)
		buf.WriteByte(':')
		switch m.key {
		case "sessions":
			writeList(sessions)
			haveSessions = true
		case "participants_v2":
			writeList(participants)
			haveParticipants = true
		default:
			buf.Write(m.value)
		}
	}
	for _, extra := range []struct {
		have bool
		key  string
		vs   []json.RawMessage
	}{{haveSessions, "sessions", sessions}, {haveParticipants, "participants_v2", participants}} {
		if extra.have {
			continue
		}
		if buf.Len() > 1 {
			buf.WriteByte(',')
		}
		buf.WriteString(`"` + extra.key + `":`)
		writeList(extra.vs)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// completeSegments follows a session's segments@odata.nextLink, if any, and
// returns the session with all its segments and without the link. Graph does
// not document segment paging; this only guards against losing data if it appears.
func (c *Client) completeSegments(ctx context.Context, window *slidingWindow, from string, session json.RawMessage) (json.RawMessage, error) {
	if !hasSegmentsLink(session) {
		return session, nil
	}
	ms, err := splitObject(session, "segments")
	if err != nil {
		return nil, fmt.Errorf("decode: %v: %w", err, ErrBadRecord)
	}
	var segments []json.RawMessage
	var next string
	kept := ms[:0]
	for _, m := range ms {
		switch m.key {
		case "segments":
			if segments, err = m.array(); err != nil {
				return nil, fmt.Errorf("decode segments: %v: %w", err, ErrBadRecord)
			}
			kept = append(kept, m)
		case "segments@odata.nextLink":
			if next, err = decodeLink(m.value); err != nil {
				return nil, fmt.Errorf("decode segments@odata.nextLink: %v: %w", err, ErrBadRecord)
			}
		default:
			kept = append(kept, m)
		}
	}
	if next == "" {
		return session, nil
	}
	link, err := c.checkLink(from, next)
	if err != nil {
		return nil, fmt.Errorf("segments: %w", err)
	}
	err = c.pages(ctx, window, endpointSessions, link, func(_ string, values []json.RawMessage) error {
		segments = append(segments, values...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("segments: %w", err)
	}
	found := false
	for i := range kept {
		if kept[i].key == "segments" {
			kept[i].value, found = encodeArray(segments), true
		}
	}
	if !found {
		kept = append(kept, member{key: "segments", value: encodeArray(segments)})
	}
	return encodeObject(kept)
}

// Fetched receives what GetCallRecords fetches, one call at a time (never
// concurrently), in completion order.
type Fetched struct {
	// Record is called with each record; an error stops the batch.
	Record func(id string, raw json.RawMessage) error
	// NotFound, if set, is called with each id Graph answers 404 for.
	NotFound func(id string)
	// Bad is called with each record Graph served but that cannot be
	// read (a *RecordError, with what Graph sent); an error stops the batch.
	Bad func(e *RecordError) error
	// Dispatched, if set, is called once no more fetches will start (the
	// last ones may still be in flight): a caller sharing a FetchLimit may
	// start its next batch.
	Dispatched func()
}

// GetCallRecords fetches ids with at most concurrency request chains in
// flight (GetCallRecord each) and hands each outcome to to. A record that is
// not found or cannot be read does not fail the batch; the first other
// error, from Graph or from a callback, cancels the remaining fetches and is
// returned.
func (c *Client) GetCallRecords(ctx context.Context, ids []string, concurrency int, to Fetched) error {
	return c.GetCallRecordsWithin(ctx, ids, NewFetchLimit(concurrency), to)
}

// A FetchLimit bounds the request chains in flight across the batches that
// share it: a caller may start its next batch while the last records of one
// are still fetched, without exceeding the limit.
type FetchLimit struct{ slots *semaphore.Weighted }

// NewFetchLimit returns a limit of n request chains in flight (at least 1).
func NewFetchLimit(n int) *FetchLimit {
	return &FetchLimit{slots: semaphore.NewWeighted(int64(max(1, n)))}
}

// GetCallRecordsWithin is GetCallRecords with its concurrency taken from
// limit, which other batches may share.
func (c *Client) GetCallRecordsWithin(ctx context.Context, ids []string, limit *FetchLimit, to Fetched) error {
	g, gctx := errgroup.WithContext(ctx)
	var mu sync.Mutex // serialises fn and notFound
	for _, id := range ids {
		// Acquire may succeed on a context already done: check it first.
		if gctx.Err() != nil || limit.slots.Acquire(gctx, 1) != nil {
			break
		}
		g.Go(func() error {
			defer limit.slots.Release(1)
			raw, err := c.GetCallRecord(gctx, id)
			mu.Lock()
			defer mu.Unlock()
			var re *RecordError
			switch {
			case errors.Is(err, ErrNotFound):
				if to.NotFound != nil {
					to.NotFound(id)
				}
				return nil
			case errors.As(err, &re):
				return to.Bad(re)
			case err != nil:
				return err
			}
			if err := gctx.Err(); err != nil {
				return err
			}
			if err := to.Record(id, raw); err != nil {
				return fmt.Errorf("call record %s: %w", id, err)
			}
			return nil
		})
	}
	if to.Dispatched != nil {
		to.Dispatched()
	}
	if err := g.Wait(); err != nil {
		return err
	}
	// A cancelled parent may have stopped the loop before any goroutine failed.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("get call records: %w", err)
	}
	return nil
}
