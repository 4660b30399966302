package graphsim

import (
	"math"
	"slices"
	"strings"
	"time"
)

// Calls through auto attendants and call queues: a caller (a phone number
// through PSTN, or a user over VoIP) reaches an auto attendant, which hands
// the call to a call queue within the same session id (reference §8
// pitfall 6); an agent answers after a wait, or the caller hangs up in the
// queue, or the queue times out to voicemail; some answered calls are then
// transferred to a colleague. Each step is a session whose callee is the
// service (a participantEndpoint with a serviceUserAgent role and the
// resource account as associatedIdentity) or the user who answered.

// defaultJourneyShare is the share of a day's calls (the big meeting aside)
// that go through the attendants and queues, unless Config.JourneyShare says.
const defaultJourneyShare = 0.05

// Journey outcomes in the queue.
const (
	queueAnswered uint8 = iota
	queueAbandoned
	queueVoicemail
)

// journeyPlan is the path of one journey call.
type journeyPlan struct {
	attendant int // resource account in attendants, or -1 when the call rings the queue directly
	queue     int // resource account in queues
	outcome   uint8
	transfer  bool // answered, then transferred to a colleague
	// agentFirst: the agent's session is listed first (Graph does not
	// order a record's sessions by time).
	agentFirst bool
	// Time in the attendant, in the queue (until answered or given up), in
	// the conversation, with the colleague, in voicemail.
	attendantFor, wait, talk, transferTalk, voicemailFor time.Duration
}

// resourceAccount is the identity of an auto attendant or call queue.
type resourceAccount struct{ id, name, upn string }

var (
	attendantNames = []string{"Contoso Main Line", "Contoso After Hours"}
	queueNames     = []string{"Sales Queue", "Support Queue", "Billing Queue"}
)

// account is resource account k of the auto attendants (role
// skypeForBusinessAutoAttendant) or the call queues.
func (s *Simulator) account(role string, k int) *resourceAccount {
	names, salt := queueNames, uint64(1)
	if role == roleAttendant {
		names, salt = attendantNames, 0
	}
	upn := strings.ToLower(strings.ReplaceAll(names[k], " ", "-")) + "@contoso.com"
	return &resourceAccount{id: hashGUID(mix(s.seed, saltAccount, salt, uint64(k))), name: names[k], upn: upn}
}

const (
	roleAttendant = "skypeForBusinessAutoAttendant"
	roleQueue     = "skypeForBusinessCallQueues"
)

// isJourney reports whether record (d, idx) with key is a journey call.
func (s *Simulator) isJourney(d int64, idx int, key uint64) bool {
	return idx != s.bigIndex(d) && unit(mix(key, saltJourney)) < s.journeyShare
}

// planJourney draws the journey of record m and sets what follows from it:
// its participants (the caller, the agent, the colleague), modalities and
// duration.
func (s *Simulator) planJourney(m *meta) time.Duration {
	r := newRand(m.key, saltJourney)
	p := &journeyPlan{attendant: -1}
	sec := func(lo, typical, hi float64) time.Duration {
		v := math.Exp(r.NormFloat64()*0.7 + math.Log(typical))
		return roundDur(time.Duration(math.Min(math.Max(v, lo), hi)*float64(time.Second)), m.style)
	}
	if r.Float64() < 0.8 {
		p.attendant = r.IntN(len(attendantNames))
		p.attendantFor = sec(5, 20, 90)
	}
	p.queue = r.IntN(len(queueNames))
	switch v := r.Float64(); {
	case v < 0.75:
		p.outcome = queueAnswered
		p.wait = sec(3, 40, 600)
		p.talk = sec(20, 240, 3600)
		p.transfer = r.Float64() < 0.2
		p.transferTalk = sec(15, 180, 1800)
		p.agentFirst = r.Float64() < 0.5
	case v < 0.9:
		p.outcome = queueAbandoned
		p.wait = sec(5, 90, 900)
	default:
		p.outcome = queueVoicemail
		p.wait = roundDur(time.Duration(60+30*r.IntN(8))*time.Second, m.style) // the queue's timeout
		p.voicemailFor = sec(5, 30, 180)
	}
	m.journey = p
	m.kind = kindJourney
	m.typ = "peerToPeer"
	m.mods = []string{"audio"}
	if r.Float64() < 0.7 {
		m.phoneSide = 0
	}
	m.nPart = 1
	dur := p.attendantFor + p.wait
	switch p.outcome {
	case queueAnswered:
		m.nPart, dur = 2, dur+p.talk
		if p.transfer {
			m.nPart, dur = 3, dur+p.transferTalk
		}
	case queueVoicemail:
		dur += p.voicemailFor
	}
	return dur
}

// journeySessions are the sessions of journey record m: the caller
// (participant 0) to the attendant and the queue (one session id), then to
// the agent (participant 1) and the colleague (2), or to voicemail.
func (s *Simulator) journeySessions(m *meta, id func() string, add func(sdesc)) {
	p := m.journey
	caller := epRef{part: 0}
	t := m.start
	step := func(callee epRef, sid string, d time.Duration) sdesc {
		sd := sdesc{id: sid, caller: caller, callee: callee, start: t, end: t.Add(d)}
		t = sd.end
		return sd
	}
	queueSession := id()
	var out []sdesc
	if p.attendant >= 0 {
		out = append(out, step(epRef{part: -1, role: roleAttendant, account: s.account(roleAttendant, p.attendant)}, queueSession, p.attendantFor))
	}
	out = append(out, step(epRef{part: -1, role: roleQueue, account: s.account(roleQueue, p.queue)}, queueSession, p.wait))
	switch p.outcome {
	case queueAnswered:
		agent := step(epRef{part: 1}, id(), p.talk)
		if p.agentFirst {
			out = append([]sdesc{agent}, out...)
		} else {
			out = append(out, agent)
		}
		if p.transfer {
			out = append(out, step(epRef{part: 2}, id(), p.transferTalk))
		}
	case queueVoicemail:
		out = append(out, step(svc("voicemail"), id(), p.voicemailFor))
	}
	for _, sd := range out {
		add(sd)
	}
}

// JourneyTruth is what the journeys of the records Truth counts hold: their
// hops as a reader of table call_journey_hops should find them.
type JourneyTruth struct {
	// Records counts the records with a journey (a hop through an auto
	// attendant, a call queue or voicemail).
	Records int
	// Hops counts hops per kind: auto_attendant, call_queue, voicemail,
	// user (the agent who answered from the queue) and transfer (the
	// colleague the agent transferred to).
	Hops map[string]int
	// Outcomes counts hops per kind and outcome, as "call_queue answered".
	Outcomes map[string]int
	// Queues sums the call-queue hops per queue display name.
	Queues map[string]QueueTruth
}

// QueueTruth sums the hops of one call queue.
type QueueTruth struct {
	Calls, Answered int
	// WaitSeconds sums the waits (until an agent answered, or until the
	// caller left the queue); MaxWaitSeconds is the longest.
	WaitSeconds, MaxWaitSeconds float64
}

// JourneyTruth returns the journeys of the records Truth(from, to) counts:
// the journey calls and the group calls in which a participant reached the
// meeting through an attendant and a queue.
func (s *Simulator) JourneyTruth(from, to time.Time) JourneyTruth {
	t := JourneyTruth{Hops: map[string]int{}, Outcomes: map[string]int{}, Queues: map[string]QueueTruth{}}
	hop := func(kind, outcome string, queue *resourceAccount, wait time.Duration) {
		t.Hops[kind]++
		t.Outcomes[kind+" "+outcome]++
		if queue != nil {
			q := t.Queues[queue.name]
			q.Calls++
			if outcome == "answered" {
				q.Answered++
			}
			q.WaitSeconds += wait.Seconds()
			q.MaxWaitSeconds = math.Max(q.MaxWaitSeconds, wait.Seconds())
			t.Queues[queue.name] = q
		}
	}
	s.scan(s.now(), from, to, nil, func(_ pos, m *meta) bool {
		switch {
		case m.journey != nil:
			t.Records++
			p := m.journey
			queue := s.account(roleQueue, p.queue)
			if p.attendant >= 0 {
				hop("auto_attendant", "transferred", nil, p.attendantFor)
			}
			switch p.outcome {
			case queueAnswered:
				hop("call_queue", "answered", queue, p.wait)
				if p.transfer {
					hop("user", "transferred", nil, 0)
					hop("transfer", "answered", nil, 0)
				} else {
					hop("user", "answered", nil, 0)
				}
			case queueAbandoned:
				hop("call_queue", "abandoned", queue, p.wait)
			case queueVoicemail:
				hop("call_queue", "voicemail", queue, p.wait)
				hop("voicemail", "voicemail", nil, p.voicemailFor)
			}
		case m.aaDup >= 0:
			// The participant's attendant hands over to the queue, whose
			// agent brings the caller into the meeting: no user answers
			// the caller's session, so the queue hop reads as abandoned.
			t.Records++
			lay := s.layout(m, 0)
			i := slices.IndexFunc(lay, func(d sdesc) bool { return d.callee.role == roleAttendant })
			hop("auto_attendant", "transferred", nil, shownSpan(lay[i], m.style))
			hop("call_queue", "abandoned", lay[i+1].callee.account, shownSpan(lay[i+1], m.style))
		}
		return true
	})
	return t
}

// shownSpan is a session's length as its rendered timestamps give it.
func shownSpan(d sdesc, st tsStyle) time.Duration {
	if st == tsSeconds {
		return d.end.Truncate(time.Second).Sub(d.start.Truncate(time.Second))
	}
	return d.end.Sub(d.start)
}
