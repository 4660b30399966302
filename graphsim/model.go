package graphsim

import (
	"encoding/binary"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// The tenant is never materialised. Every record is a pure function of
// (seed, UTC day, index within the day); everything below a record (sessions,
// segments, participants) is a pure function of the record key plus its own
// position, each with its own PCG stream, so any page can be rendered without
// rendering what comes before it.

// Salts separating the random streams.
const (
	saltID uint64 = 0x5eed0001 + iota
	saltStart
	saltRecord
	saltMeta
	saltBig
	saltLayout
	saltSession
	saltSegment
	saltBump
	saltParty
	saltDevice
	saltUser
	saltTenant
	saltEmpty
	saltFault
	saltLatency
	saltRequestID
	saltAU
	saltJourney
	saltAccount
)

const (
	day          = 24 * time.Hour
	retention    = 30 * day
	usersInDir   = 1009 // prime, so any stride walks distinct users
	mask48       = 1<<48 - 1
	metaBase     = "https://graph.microsoft.com/v1.0/$metadata#"
	typeUserID   = "#microsoft.graph.userIdentity"
	typePartEP   = "#microsoft.graph.callRecords.participantEndpoint"
	typeSvcEP    = "#microsoft.graph.callRecords.serviceEndpoint"
	typeClientUA = "#microsoft.graph.callRecords.clientUserAgent"
	typeSvcUA    = "#microsoft.graph.callRecords.serviceUserAgent"
)

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func mix(vs ...uint64) uint64 {
	h := uint64(0x243f6a8885a308d3)
	for _, v := range vs {
		h = splitmix(h ^ v)
	}
	return h
}

// unit maps a hash to [0, 1).
func unit(h uint64) float64 { return float64(h>>11) / (1 << 53) }

func newRand(a, b uint64) *rand.Rand { return rand.New(rand.NewPCG(a, b)) }

func formatGUID(b [16]byte) string {
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], b[10:16])
	return string(out[:])
}

func parseGUID(s string) ([16]byte, bool) {
	var b [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return b, false
	}
	h := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:36]
	if _, err := hex.Decode(b[:], []byte(h)); err != nil {
		return b, false
	}
	return b, true
}

// guid makes a version-4-looking GUID from two hashes.
func guid(h1, h2 uint64) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], h1)
	binary.BigEndian.PutUint64(b[8:], h2)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatGUID(b)
}

func randGUID(r *rand.Rand) string { return guid(r.Uint64(), r.Uint64()) }

// hashGUID makes a GUID from one hash.
func hashGUID(h uint64) string { return guid(h, splitmix(h)) }

// recordID encodes (day, idx) in a GUID-looking id: 64 bits of keyed hash,
// then the day (16 bits) and index (32 bits) masked by a function of that
// hash. decodeID verifies by re-encoding, so ids from another seed or
// RecordsPerDay are unknown.
func (s *Simulator) recordID(d int64, idx int) string {
	h := mix(s.seed, saltID, uint64(d), uint64(idx))
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], h)
	b[6] = b[6]&0x0f | 0x40
	h2 := splitmix(binary.BigEndian.Uint64(b[:8]) ^ s.seed)
	b[8] = byte(h2>>56)&0x3f | 0x80
	b[9] = byte(h2 >> 48)
	payload := (uint64(uint16(d))<<32 | uint64(uint32(idx))) ^ (h2 & mask48)
	for i := range 6 {
		b[10+i] = byte(payload >> (40 - 8*i))
	}
	return formatGUID(b)
}

func (s *Simulator) decodeID(id string) (d int64, idx int, ok bool) {
	id = strings.ToLower(id)
	b, ok := parseGUID(id)
	if !ok {
		return 0, 0, false
	}
	h2 := splitmix(binary.BigEndian.Uint64(b[:8]) ^ s.seed)
	var payload uint64
	for i := range 6 {
		payload = payload<<8 | uint64(b[10+i])
	}
	payload ^= h2 & mask48
	d = int64(payload >> 32)
	idx = int(uint32(payload))
	if idx >= s.perDay || s.recordID(d, idx) != id {
		return 0, 0, false
	}
	return d, idx, true
}

func dayOf(t time.Time) int64 {
	u := t.Unix()
	d := u / 86400
	if u%86400 < 0 {
		d--
	}
	return d
}

func dayStart(d int64) time.Time { return time.Unix(d*86400, 0).UTC() }

// warp maps [0,1) onto the seconds of a day, busier in office hours
// (70% of calls between 07:00 and 19:00 UTC). It is strictly increasing,
// so records of a day are ordered by index.
func warp(u float64) float64 {
	const a, b = 0.12, 0.82
	switch {
	case u < a:
		return u / a * 7 * 3600
	case u < b:
		return 7*3600 + (u-a)/(b-a)*12*3600
	default:
		return 19*3600 + (u-b)/(1-b)*5*3600
	}
}

// startOf is a record's startDateTime and timestamp style, cheap enough for
// binary searches over a day.
func (s *Simulator) startOf(d int64, idx int) (time.Time, tsStyle) {
	h := mix(s.seed, saltStart, uint64(d), uint64(idx))
	u := (float64(idx) + unit(h)*0.98) / float64(s.perDay)
	ns := int64(warp(u)*1e9) / 100 * 100
	st := tsSeven
	switch v := splitmix(h) % 100; {
	case v >= 94:
		st = tsTrimmed
	case v >= 84:
		st = tsSeconds
		ns -= ns % 1e9
	}
	return time.Unix(d*86400, ns).UTC(), st
}

// firstIndexAtOrAfter is the first index of day d whose start is >= t.
func (s *Simulator) firstIndexAtOrAfter(d int64, t time.Time) int {
	lo, hi := 0, s.perDay
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if st, _ := s.startOf(d, mid); st.Before(t) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

type recKind uint8

const (
	kindP2P recKind = iota
	kindGroup
	kindMeeting
	kindJourney // through auto attendants and call queues (journeys.go)
)

// meta is the cheap, record-level part of a call record.
type meta struct {
	key          uint64
	id           string
	kind         recKind
	typ          string
	start, end   time.Time
	publish      time.Time
	updates      []time.Time // later versions, sorted
	style        tsStyle
	mods         []string
	nPart        int
	phoneSide    int // P2P: participant that is a phone number, or -1
	extSide      int // P2P: participant from outside the tenant, or -1
	permA, permB int
	joinURL      string
	aaDup        int // group: participant whose call went AA -> CQ, or -1
	journey      *journeyPlan
	badNetwork   bool // on one of Config.BadNetworkDays
}

// bigIndex is the index of the day's big meeting, or -1. Every day has one,
// except that tenants with very few calls a day have one every other day
// (and none with Config.NoBigMeetings).
func (s *Simulator) bigIndex(d int64) int {
	if s.cfg.NoBigMeetings || s.perDay < 8 && d%2 != 0 {
		return -1
	}
	return int(mix(s.seed, saltBig, uint64(d)) % uint64(s.perDay))
}

func roundDur(d time.Duration, st tsStyle) time.Duration {
	if st == tsSeconds {
		d = d.Truncate(time.Second)
		if d < time.Second {
			d = time.Second
		}
		return d
	}
	return d.Truncate(100 * time.Nanosecond)
}

func (s *Simulator) meta(d int64, idx int) *meta {
	start, st := s.startOf(d, idx)
	key := mix(s.seed, saltRecord, uint64(d), uint64(idx))
	r := newRand(key, saltMeta)
	m := &meta{
		key: key, id: s.recordID(d, idx),
		start: start, style: st, phoneSide: -1, extSide: -1, aaDup: -1,
		badNetwork: s.badDays[d],
	}
	m.permA = r.IntN(usersInDir)
	m.permB = 1 + r.IntN(usersInDir-1)
	var dur time.Duration
	switch {
	case s.isJourney(d, idx, key):
		dur = s.planJourney(m)
	case idx == s.bigIndex(d):
		m.kind = kindMeeting
		m.typ = "groupCall"
		m.nPart = 131 + r.IntN(60)
		dur = 40*time.Minute + time.Duration(r.Float64()*float64(140*time.Minute))
		m.mods = []string{"audio", "video", "screenSharing"}
		if r.IntN(3) == 0 {
			m.mods = append(m.mods, "data")
		}
	case r.Float64() < 0.77:
		m.kind = kindP2P
		m.nPart = 2
		switch v := r.Float64(); {
		case v < 0.96:
			m.typ = "peerToPeer"
		case v < 0.99:
			m.typ = "unknown"
		default:
			m.typ = "unknownFutureValue"
		}
		if r.Float64() < 0.08 {
			dur = time.Second + time.Duration(r.Float64()*float64(7*time.Second))
		} else {
			sec := 20 + math.Exp(r.NormFloat64()+math.Log(180))
			dur = time.Duration(min(sec, 7200) * float64(time.Second))
		}
		switch v := r.Float64(); {
		case v < 0.12:
			m.phoneSide = r.IntN(2)
		case v < 0.18:
			m.extSide = 1
		}
		switch v := r.Float64(); {
		case m.phoneSide >= 0 || v < 0.70:
			m.mods = []string{"audio"}
		case v < 0.90:
			m.mods = []string{"audio", "video"}
		case v < 0.96:
			m.mods = []string{"audio", "video", "screenSharing"}
		default:
			m.mods = []string{"audio", "videoBasedScreenSharing"}
		}
	default:
		m.kind = kindGroup
		m.typ = "groupCall"
		if r.Float64() < 0.03 {
			m.typ = "unknown"
		}
		u := r.Float64()
		m.nPart = 2 + int(19*u*u)
		dur = 5*time.Minute + time.Duration(r.Float64()*float64(70*time.Minute))
		m.mods = []string{"audio"}
		if r.Float64() < 0.6 {
			m.mods = append(m.mods, "video")
		}
		if r.Float64() < 0.35 {
			m.mods = append(m.mods, "screenSharing")
		}
		if r.Float64() < 0.05 {
			m.mods = append(m.mods, "videoBasedScreenSharing")
		}
		if r.Float64() < 0.10 {
			m.mods = append(m.mods, "data")
		}
		if r.Float64() < 0.03 && m.nPart >= 3 {
			m.aaDup = 1 + r.IntN(m.nPart-1)
		}
	}
	if r.Float64() < 0.02 {
		m.mods = append(m.mods, "unknownFutureValue")
	}
	if m.kind == kindMeeting || m.kind == kindGroup && r.Float64() < 0.8 {
		thread := strings.ToUpper(strconv.FormatUint(r.Uint64(), 36)) + strconv.FormatUint(r.Uint64(), 36)
		m.joinURL = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_" + thread +
			"%40thread.v2/0?context=%7b%22Tid%22%3a%22" + s.tenant + "%22%7d"
	}
	m.end = m.start.Add(roundDur(dur, st))
	delay := 30*time.Minute + time.Duration(math.Pow(r.Float64(), 3)*float64(120*time.Minute))
	m.publish = m.end.Add(roundDur(delay, st))
	if r.Float64() < 0.30 {
		n := 1 + r.IntN(3)
		m.updates = make([]time.Time, n)
		for i := range n {
			off := 10*time.Minute + time.Duration(r.Float64()*float64(6*day))
			m.updates[i] = m.publish.Add(roundDur(off, st))
		}
		sortTimes(m.updates)
	}
	return m
}

func sortTimes(ts []time.Time) {
	for i := 1; i < len(ts); i++ {
		for j := i; j > 0 && ts[j].Before(ts[j-1]); j-- {
			ts[j], ts[j-1] = ts[j-1], ts[j]
		}
	}
}

// visible reports whether a record is listed and gettable at now: within
// retention (startDateTime in the 30 days before now) and published.
func (m *meta) visible(now time.Time) bool {
	return !m.start.Before(now.Add(-retention)) && !m.publish.After(now)
}

// versionAt is the version and lastModifiedDateTime at now, counting the
// record's scheduled later versions and the bumps it received.
func (s *Simulator) versionAt(m *meta, now time.Time) (v int64, lm time.Time, bumps int) {
	v, lm = 1, m.publish
	for _, u := range m.updates {
		if !u.After(now) {
			v++
			lm = u
		}
	}
	s.mu.Lock()
	bs := s.bumps[m.id]
	s.mu.Unlock()
	for _, b := range bs {
		v++
		if b.After(lm) {
			lm = b
		}
	}
	return v, lm, len(bs)
}

type partyKind uint8

const (
	pkUser partyKind = iota
	pkExternal
	pkPhone
	pkGuest
	pkACS
)

// party is one participant of a record.
type party struct {
	kind   partyKind
	id     string
	name   string // "" is null
	upn    string // "" is null
	tenant string // "" is null
	au     string // administrative unit id or ""
	// multi: the party's identity sets hold more identities than its own
	// (see extraIdentities).
	multi bool
}

func (s *Simulator) user(k int) (id, name, upn string) {
	h := mix(s.seed, saltUser, uint64(k))
	id = hashGUID(h)
	var local string
	if h%17 == 0 {
		fn := fullNames[(h>>8)%uint64(len(fullNames))]
		name, local = fn.display, fn.ascii
	} else {
		f := firstNames[(h>>8)%uint64(len(firstNames))]
		l := lastNames[(h>>24)%uint64(len(lastNames))]
		name, local = f.display+" "+l.display, f.ascii+"."+l.ascii
	}
	if (h>>40)%4 == 0 {
		local += strconv.Itoa(k % 100)
	}
	return id, name, local + "@contoso.com"
}

func phoneNumber(h uint64) string {
	p := phonePrefixes[h%uint64(len(phonePrefixes))]
	n := strconv.FormatUint(1000+(h>>16)%9000, 10)
	return p + n
}

func (s *Simulator) party(m *meta, j int) party {
	h := mix(m.key, saltParty, uint64(j))
	kind := pkUser
	switch {
	case j == m.phoneSide:
		kind = pkPhone
	case m.kind == kindP2P && j == m.extSide:
		kind = pkExternal
		if h%3 == 0 {
			kind = pkGuest
		}
	case (m.kind == kindGroup || m.kind == kindMeeting) && j > 0:
		switch u := unit(h); {
		case m.aaDup == j || u < 0.08:
			kind = pkPhone
		case u < 0.82:
			kind = pkUser
		case u < 0.90:
			kind = pkGuest
		case u < 0.97:
			kind = pkExternal
		default:
			kind = pkACS
		}
	}
	p := party{kind: kind, multi: (h>>40)%5 == 0}
	h2 := splitmix(h)
	switch kind {
	case pkUser:
		k := (m.permA + j*m.permB) % usersInDir
		p.id, p.name, p.upn = s.user(k)
		p.tenant = s.tenant
		if k%5 == 0 {
			p.au = hashGUID(mix(s.seed, saltAU, uint64(k%3)))
		}
	case pkExternal:
		f := firstNames[h2%uint64(len(firstNames))]
		l := lastNames[(h2>>16)%uint64(len(lastNames))]
		dom := externalDomains[(h2>>32)%uint64(len(externalDomains))]
		p.id = guid(h, h2)
		p.name = f.display + " " + l.display
		p.upn = f.ascii + "." + l.ascii + "@" + dom
		p.tenant = hashGUID(mix(s.seed, saltTenant, (h2>>32)%uint64(len(externalDomains))))
	case pkPhone:
		p.id = phoneNumber(h2)
	case pkGuest:
		f := firstNames[h2%uint64(len(firstNames))]
		p.id = guid(h, h2)
		p.name = f.display + " (Guest)"
	case pkACS:
		p.id = "8:acs:" + hashGUID(mix(s.seed, saltTenant, 99)) + "_" + guid(h, h2)[:23]
		p.name = "Support Kiosk " + strconv.Itoa(int(h2%40))
		p.tenant = s.tenant
	}
	return p
}

// epRef is one side of a session or segment: a participant, or a service
// endpoint with a role when part < 0, with the service's resource account
// if it has one (auto attendants and call queues).
type epRef struct {
	part    int
	role    string
	account *resourceAccount
}

func svc(role string) epRef { return epRef{part: -1, role: role} }

// sdesc describes one session of a record.
type sdesc struct {
	seq            int // position in the record's session list, keys its random stream
	id             string
	caller, callee epRef
	start, end     time.Time
}

// layout lists a record's sessions, including those added by bumps.
func (s *Simulator) layout(m *meta, bumps int) []sdesc {
	var out []sdesc
	add := func(d sdesc) {
		d.seq = len(out)
		out = append(out, d)
	}
	dur := m.end.Sub(m.start)
	within := func(r *rand.Rand) (time.Time, time.Time) {
		a := time.Duration(r.Float64() * 0.35 * float64(dur))
		b := time.Duration(r.Float64() * 0.35 * float64(dur))
		st, en := m.start.Add(a.Truncate(100)), m.end.Add(-b.Truncate(100))
		if !en.After(st) {
			en = st.Add(time.Second)
		}
		return st, en
	}
	switch m.kind {
	case kindP2P:
		add(sdesc{id: m.id, caller: epRef{part: 0}, callee: epRef{part: 1}, start: m.start, end: m.end})
	case kindJourney:
		r := newRand(m.key, saltLayout)
		s.journeySessions(m, func() string { return randGUID(r) }, add)
	default:
		r := newRand(m.key, saltLayout)
		for j := range m.nPart {
			id := randGUID(r)
			st, en := within(r)
			if j == 0 {
				st, en = m.start, m.end
			}
			role := meetingRoles[r.IntN(len(meetingRoles))]
			dialOut := r.Float64() < 0.12
			rejoin := r.Float64() < 0.07
			cut := st.Add(time.Duration(r.Float64() * float64(en.Sub(st))).Truncate(100))
			me := epRef{part: j}
			switch {
			case j == m.aaDup:
				// Dialled in through an auto attendant and a call queue in
				// conference mode, whose agent brings the caller into the
				// meeting. Auto attendant -> call queue virtual transfer: the
				// same session id shows up twice (reference §8 pitfall 6).
				h := mix(m.key, saltAccount)
				aa := epRef{part: -1, role: roleAttendant, account: s.account(roleAttendant, int(h%uint64(len(attendantNames))))}
				cq := epRef{part: -1, role: roleQueue, account: s.account(roleQueue, int(h>>32%uint64(len(queueNames))))}
				joined := cut.Add(roundDur(5*time.Second+time.Duration(unit(splitmix(h))*float64(115*time.Second)), m.style))
				if joined.After(en) {
					joined = en
				}
				add(sdesc{id: id, caller: me, callee: aa, start: st, end: cut})
				add(sdesc{id: id, caller: me, callee: cq, start: cut, end: joined})
				if joined.Before(en) {
					add(sdesc{id: hashGUID(splitmix(h ^ 1)), caller: me, callee: svc(role), start: joined, end: en})
				}
			case dialOut:
				add(sdesc{id: id, caller: svc(role), callee: me, start: st, end: en})
			case rejoin:
				add(sdesc{id: id, caller: me, callee: svc(role), start: st, end: cut})
				again := cut.Add(3 * time.Second)
				if again.After(en) {
					again = en
				}
				add(sdesc{id: randGUID(r), caller: me, callee: svc(role), start: again, end: en})
			default:
				add(sdesc{id: id, caller: me, callee: svc(role), start: st, end: en})
			}
		}
	}
	for k := range bumps {
		r := newRand(m.key, mix(saltBump, uint64(k)))
		n := 1 + r.IntN(3)
		for range n {
			id := randGUID(r)
			st, en := within(r)
			if m.kind == kindP2P {
				add(sdesc{id: id, caller: epRef{part: 0}, callee: epRef{part: 1}, start: st, end: en})
				continue
			}
			add(sdesc{id: id, caller: epRef{part: r.IntN(m.nPart)}, callee: svc("skypeForBusinessAudioVideoMcu"), start: st, end: en})
		}
	}
	return out
}

// Session plans: the counts below a session, drawn first from the session's
// stream so Truth can count without rendering.
type mediaPlan struct {
	label   string
	audio   bool
	streams int
}

type segPlan struct {
	media     []mediaPlan
	mediaNull bool
}

type splan struct {
	mods []string
	segs []segPlan
}

var mediaLabels = map[string]string{
	"audio":                   "main-audio",
	"video":                   "main-video",
	"videoBasedScreenSharing": "applicationsharing-video",
	"screenSharing":           "applicationsharing",
	"data":                    "data",
}

func (s *Simulator) hasPhone(m *meta, d *sdesc) bool {
	for _, e := range []epRef{d.caller, d.callee} {
		if e.part >= 0 && s.party(m, e.part).kind == pkPhone {
			return true
		}
	}
	return false
}

func (s *Simulator) sessionPlan(m *meta, d *sdesc) (splan, *rand.Rand) {
	r := newRand(m.key, mix(saltSession, uint64(d.seq)))
	var p splan
	if m.kind == kindP2P {
		p.mods = m.mods
	} else {
		for _, mod := range m.mods {
			if mod == "audio" || r.Float64() < 0.55 {
				p.mods = append(p.mods, mod)
			}
		}
		if len(p.mods) == 0 {
			p.mods = []string{m.mods[0]}
		}
	}
	nseg := 1
	switch v := r.Float64(); {
	case s.hasPhone(m, d):
		nseg = 2
	case v < 0.13:
		nseg = 2
	case v < 0.15:
		nseg = 3
	}
	p.segs = make([]segPlan, nseg)
	for k := range p.segs {
		switch v := r.Float64(); {
		case v < 0.02:
			p.segs[k].mediaNull = true
			continue
		case v < 0.04:
			p.segs[k].media = []mediaPlan{}
			continue
		}
		for _, mod := range p.mods {
			label, ok := mediaLabels[mod]
			if !ok || len(p.segs[k].media) == 3 {
				continue
			}
			n := 2
			switch v := r.Float64(); {
			case v < 0.10:
				n = 1
			case v < 0.13:
				n = 3
			case v < 0.16:
				n = 0 // Graph sends media lines without streams too
			}
			p.segs[k].media = append(p.segs[k].media, mediaPlan{label: label, audio: mod == "audio", streams: n})
		}
	}
	return p, r
}

// pos is a list position: a record's day and index.
type pos struct {
	day int64
	idx int
}

// scan calls fn for every record visible at now with lo <= start < hi, in
// startDateTime order, beginning at from (if not nil). It stops when fn
// returns false.
func (s *Simulator) scan(now, lo, hi time.Time, from *pos, fn func(p pos, m *meta) bool) {
	if r := now.Add(-retention); lo.Before(r) {
		lo = r
	}
	if now.Before(hi) {
		hi = now
	}
	if !lo.Before(hi) {
		return
	}
	d0, d1 := dayOf(lo), dayOf(hi.Add(-time.Nanosecond))
	if from != nil && from.day > d0 {
		d0 = from.day
	}
	for d := d0; d <= d1; d++ {
		i0 := 0
		if d == dayOf(lo) {
			i0 = s.firstIndexAtOrAfter(d, lo)
		}
		if from != nil && d == from.day && from.idx > i0 {
			i0 = from.idx
		}
		for i := i0; i < s.perDay; i++ {
			st, _ := s.startOf(d, i)
			if !st.Before(hi) {
				return
			}
			if st.Before(lo) {
				continue
			}
			m := s.meta(d, i)
			if !m.visible(now) {
				continue
			}
			if !fn(pos{d, i}, m) {
				return
			}
		}
	}
}
