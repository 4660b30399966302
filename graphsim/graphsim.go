// Package graphsim is a deterministic, in-process simulator of the Microsoft
// Graph v1.0 call-records API: a fake tenant that serves
// /v1.0/communications/callRecords (list with $filter on startDateTime and
// @odata.nextLink paging), GET by id with $expand of sessions, segments and
// participants_v2 (paged at 60 and 130), the sessions and participants_v2
// collections, the getPstnCalls and getDirectRoutingCalls usage reports
// (paged at 1,000 with $skip), change-notification subscriptions
// (/v1.0/subscriptions with the validation handshake; Deliver posts the
// notifications), bearer-token checks, the documented throttling limits and
// injected faults.
//
// It is an independent fake of Microsoft's server and imports nothing from
// the rest of the repository: it renders JSON the way Graph does, quirks
// included (polymorphic @odata.type, ISO 8601 durations, "NaN"/"INF" floats,
// 7-digit timestamps, duplicate session ids, evolvable enums, empty pages
// that still carry a nextLink), so a client tested against it is tested
// against Graph's shapes rather than against our own types. A few percent
// of its calls go through auto attendants and call queues (journeys.go).
//
// Data is generated lazily: a record is a pure function of (Seed, UTC day,
// index in the day), its id encodes the day and index, and only Bump state
// is kept in memory, so a tenant of a million records costs nothing until
// it is read. The same Seed and the same Now give byte-identical responses.
package graphsim

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Simulator. The zero value is usable.
type Config struct {
	// Seed selects the tenant: the same Seed and the same Now give
	// byte-identical data.
	Seed int64
	// TenantID is the tenant GUID that appears in identities; when empty one
	// is derived from Seed.
	TenantID string
	// Now is the simulated clock (default time.Now). Retention is the 30 days
	// before Now; records appear as Now passes their publish time.
	Now func() time.Time
	// RecordsPerDay is how many calls start on each UTC day (default 48).
	RecordsPerDay int
	// Token, if set, is the only bearer token accepted; if empty any
	// non-empty bearer token is accepted. Otherwise the answer is 401
	// InvalidAuthenticationToken.
	Token string
	// Throttle enforces the documented limits (see Limits) with sliding
	// windows, answering 429 TooManyRequests with a fractional Retry-After.
	Throttle bool
	// Limits overrides the documented limits; zero fields keep the
	// documented value.
	Limits Limits
	// Latency is the min and max latency added to each request (uniform,
	// seeded by Seed and the request's sequence number).
	Latency [2]time.Duration
	// FaultRate is the fraction of requests that fail with 503 (sometimes
	// with Retry-After), 504 or a dropped connection, chosen from Seed and
	// the request's sequence number.
	FaultRate float64
	// PstnPerDay is how many getPstnCalls rows start on each UTC day
	// (default 40).
	PstnPerDay int
	// DirectRoutingPerDay is how many getDirectRoutingCalls rows start on
	// each UTC day (default 25).
	DirectRoutingPerDay int
	// UsageRetention is how far before Now PSTN and Direct Routing rows
	// still exist (default 365 days). Rows appear 24 to 48 hours after the
	// call ended.
	UsageRetention time.Duration
	// BadNetworkDays are UTC days (any instant of the day) on which networks
	// are bad: jitter, packet loss and audio degradation are each poor for a
	// fifth of the streams instead of 1.5%, so about a third of the audio
	// streams are poor instead of a few percent. Other days do not change.
	BadNetworkDays []time.Time
	// JourneyShare is the share of a day's calls (the big meeting aside)
	// that go through auto attendants and call queues (default 0.05): more
	// journeys in fewer records, for the tests of call_journey_hops.
	JourneyShare float64
	// NoBigMeetings leaves out the daily big meeting (131 to 190
	// participants, 2 MB of JSON, most of a day's bytes): for the tests of
	// the commit protocol, which a run's size does not change but slows.
	NoBigMeetings bool
	// SingleExpand answers 400 to a GET of a call record that expands more
	// than one relationship: Graph documents $expand on it as "a single
	// relationship (participants_v2 or session segments)", and the reference
	// lists each alone, so a client that asks for both must cope with a
	// refusal.
	SingleExpand bool
}

// Limits are the call-records throttling limits (reference §4.1).
type Limits struct {
	// Window is the sliding window length (documented: 20 s).
	Window time.Duration
	// PerAppPerTenant limits all requests of the app in the tenant
	// (documented: 1,500 per window).
	PerAppPerTenant int
	// List limits list call records requests, nextLink pages included
	// (documented: 40 per window).
	List int
	// PerRecord limits requests for one call record: get, sessions and
	// participants_v2 (documented: 40 per window).
	PerRecord int
	// UsageWindow is the sliding window of the PSTN usage functions
	// getPstnCalls and getDirectRoutingCalls (reference §4.2; documented:
	// 60 s). Their requests count only against the Usage limits.
	UsageWindow time.Duration
	// UsagePerAppPerTenant limits all usage-function requests of the app in
	// the tenant (documented: 200 per window).
	UsagePerAppPerTenant int
	// UsagePerCollection limits the requests of one usage function
	// (documented: 50 per window).
	UsagePerCollection int
}

// documentedLimits are the documented Graph limits for call records and
// the PSTN usage functions.
var documentedLimits = Limits{
	Window: 20 * time.Second, PerAppPerTenant: 1500, List: 40, PerRecord: 40,
	UsageWindow: 60 * time.Second, UsagePerAppPerTenant: 200, UsagePerCollection: 50,
}

// Simulator is a simulated Graph tenant; it is an http.Handler and is safe
// for concurrent use.
type Simulator struct {
	cfg    Config
	seed   uint64
	tenant string
	now    func() time.Time
	perDay int
	// journeyShare is Config.JourneyShare or its default.
	journeyShare float64
	thr          *throttler
	seq          atomic.Uint64

	mu    sync.Mutex
	bumps map[string][]time.Time

	statsMu sync.Mutex
	stats   Stats

	subs subState

	badDays map[int64]bool // the days of Config.BadNetworkDays
}

// New returns a Simulator for cfg.
func New(cfg Config) *Simulator {
	s := &Simulator{
		cfg:    cfg,
		seed:   uint64(cfg.Seed),
		now:    cfg.Now,
		perDay: cfg.RecordsPerDay,
		tenant: strings.ToLower(cfg.TenantID),
		bumps:  map[string][]time.Time{},
		stats:  Stats{Requests: map[string]int{}},
	}
	s.badDays = make(map[int64]bool, len(cfg.BadNetworkDays))
	for _, d := range cfg.BadNetworkDays {
		s.badDays[dayOf(d)] = true
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.perDay <= 0 {
		s.perDay = 48
	}
	if s.journeyShare = cfg.JourneyShare; s.journeyShare <= 0 {
		s.journeyShare = defaultJourneyShare
	}
	if s.tenant == "" {
		s.tenant = hashGUID(mix(s.seed, saltTenant))
	}
	l, d := cfg.Limits, documentedLimits
	l.Window = positiveOr(l.Window, d.Window)
	l.PerAppPerTenant = positiveOr(l.PerAppPerTenant, d.PerAppPerTenant)
	l.List = positiveOr(l.List, d.List)
	l.PerRecord = positiveOr(l.PerRecord, d.PerRecord)
	l.UsageWindow = positiveOr(l.UsageWindow, d.UsageWindow)
	l.UsagePerAppPerTenant = positiveOr(l.UsagePerAppPerTenant, d.UsagePerAppPerTenant)
	l.UsagePerCollection = positiveOr(l.UsagePerCollection, d.UsagePerCollection)
	s.thr = newThrottler(l, s.now)
	return s
}

// Truth counts what the server holds at Now for records whose startDateTime
// is in [From, To): retained (started in the 30 days before Now) and
// published, exactly the records a list over that range returns.
type Truth struct {
	Records, Sessions, Segments, Media, Streams, Participants int
	// ParticipantIdentities counts the identities (non-null keys) of the
	// participants_v2 items' identity sets; some hold several.
	ParticipantIdentities int
	// IDs are the records' ids, sorted.
	IDs []string
}

// Truth returns what the server holds at Now for records whose
// startDateTime is in [from, to), counting every session (bumped ones
// included), segment, media, stream and participants_v2 item.
func (s *Simulator) Truth(from, to time.Time) Truth {
	now := s.now()
	t := Truth{IDs: []string{}}
	s.scan(now, from, to, nil, func(_ pos, m *meta) bool {
		t.Records++
		t.Participants += m.nPart
		for j := range m.nPart {
			t.ParticipantIdentities += 1 + len(extraIdentities(s.party(m, j)))
		}
		_, _, bumps := s.versionAt(m, now)
		lay := s.layout(m, bumps)
		t.Sessions += len(lay)
		for i := range lay {
			plan, _ := s.sessionPlan(m, &lay[i])
			t.Segments += len(plan.segs)
			for _, sp := range plan.segs {
				t.Media += len(sp.media)
				for _, mp := range sp.media {
					t.Streams += mp.streams
				}
			}
		}
		t.IDs = append(t.IDs, m.id)
		return true
	})
	slices.Sort(t.IDs)
	return t
}

// Record returns the JSON the server would return for
// GET /callRecords/{id}?$expand=sessions($expand=segments) if nothing were
// paged (every session, with segments), plus "participants_v2" with every
// participant. It renders as for a client that sends no Prefer header.
// ok is false if the id is unknown, expired or not yet published.
func (s *Simulator) Record(id string) (json.RawMessage, bool) { return s.record(id, &jw{}) }

// RecordWithUnknownEnumMembers is Record as rendered for a client that
// sends Prefer: include-unknown-enum-members (as the job does).
func (s *Simulator) RecordWithUnknownEnumMembers(id string) (json.RawMessage, bool) {
	return s.record(id, &jw{unknownEnums: true})
}

func (s *Simulator) record(id string, w *jw) (json.RawMessage, bool) {
	now := s.now()
	m, ok := s.lookup(id, now)
	if !ok {
		return nil, false
	}
	s.writeRecord(w, m, now, getOpts{sessions: true, segments: true, participants: true, all: true})
	return json.RawMessage(w.b), true
}

// Stats counts requests since New.
type Stats struct {
	// Requests counts every request received, by endpoint kind: "list",
	// "get", "sessions", "participants", "pstn" (getPstnCalls),
	// "directrouting" (getDirectRoutingCalls), "subscriptions" and "other".
	Requests map[string]int
	// Throttled counts 429 answers, Faults injected failures, Unauthorized
	// 401 answers.
	Throttled, Faults, Unauthorized int
	// EmptyListPages counts call-record list pages answered with no items
	// and a nextLink.
	EmptyListPages int
}

// Stats returns a snapshot of the request counters.
func (s *Simulator) Stats() Stats {
	s.statsMu.Lock()
	defer s.statsMu.Unlock()
	out := s.stats
	out.Requests = make(map[string]int, len(s.stats.Requests))
	for k, v := range s.stats.Requests {
		out.Requests[k] = v
	}
	return out
}

// Bump publishes a new version of record id at Now: version+1,
// lastModifiedDateTime = Now, and one to three extra sessions. Later list,
// get, Record and Truth reflect it; startDateTime does not change. It
// reports false if the record is unknown, expired or not yet published.
func (s *Simulator) Bump(id string) bool {
	now := s.now()
	m, ok := s.lookup(id, now)
	if !ok {
		return false
	}
	s.mu.Lock()
	s.bumps[m.id] = append(s.bumps[m.id], now)
	s.mu.Unlock()
	s.logBump(m.id, now)
	return true
}

// Version returns the version of record id at Now, as list and get report
// it. Besides Bump, about 30% of records gain one to three later versions by
// themselves between 10 minutes and 6 days after they are first published,
// so advancing Now changes versions too. ok is false if the record is
// unknown, expired or not yet published.
func (s *Simulator) Version(id string) (version int64, ok bool) {
	now := s.now()
	m, ok := s.lookup(id, now)
	if !ok {
		return 0, false
	}
	v, _, _ := s.versionAt(m, now)
	return v, true
}

// lookup finds a record that is visible at now.
func (s *Simulator) lookup(id string, now time.Time) (*meta, bool) {
	d, idx, ok := s.decodeID(id)
	if !ok {
		return nil, false
	}
	m := s.meta(d, idx)
	if !m.visible(now) {
		return nil, false
	}
	return m, true
}
