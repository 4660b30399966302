package transform

import (
	"slices"
	"time"

	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// Hop kinds of table call_journey_hops.
const (
	HopAutoAttendant = "auto_attendant"
	HopCallQueue     = "call_queue"
	HopVoicemail     = "voicemail"
	HopUser          = "user"     // a user who took the call after a service hop (or first)
	HopTransfer      = "transfer" // a user reached from the user who had answered
)

// Hop outcomes.
const (
	OutcomeAnswered    = "answered"
	OutcomeTransferred = "transferred"
	OutcomeVoicemail   = "voicemail"
	OutcomeAbandoned   = "abandoned"
)

// journeyRoles are the serviceUserAgent roles of a session's callee that
// make the session a service hop. Other services (conferencing, gateways,
// bots) carry the call but are not stops of its journey.
var journeyRoles = map[string]string{
	"skypeForBusinessAutoAttendant":   HopAutoAttendant,
	"skypeForBusinessCallQueues":      HopCallQueue,
	"voicemail":                       HopVoicemail,
	"exchangeUnifiedMessagingService": HopVoicemail,
}

// journey collects, as a record's sessions are flattened (a large record's
// a few at a time), the sessions that may be hops of its journey: those
// whose callee is a journey service or a user. It keeps a few strings per
// such session, not the sessions.
type journey struct{ legs []leg }

// leg is one session that may be a hop.
type leg struct {
	session    int
	sessionID  string
	start, end time.Time
	caller     string // who placed it: the journey is one caller's sessions
	kind       string // a journeyRoles kind, or HopUser
	role       string
	calleeID   string
	calleeName string
}

// session notes session si if its callee is a journey service or a user.
func (j *journey) session(si int, s *schemas.Session) {
	callee := s.Callee
	if callee == nil && len(s.Segments) > 0 {
		callee = s.Segments[len(s.Segments)-1].Callee
	}
	if callee == nil {
		return
	}
	role := ""
	if callee.UserAgent != nil {
		role = str(callee.UserAgent.Role)
	}
	kind, service := journeyRoles[role]
	if !service && role != "" {
		return // another service: a conference, a gateway, a bot
	}
	id, name := endpointIdentity(callee)
	if !service {
		if id == "" {
			return
		}
		kind = HopUser
	}
	j.legs = append(j.legs, leg{
		session: si, sessionID: s.ID, start: s.StartDateTime.Time, end: s.EndDateTime.Time,
		caller: callerKey(s.Caller), kind: kind, role: role, calleeID: id, calleeName: name,
	})
}

// callerKey names who placed a session: its caller's identity, or its
// role for a service.
func callerKey(e *schemas.Endpoint) string {
	if e == nil {
		return ""
	}
	if id, _ := endpointIdentity(e); id != "" {
		return id
	}
	if e.UserAgent != nil {
		return "role:" + str(e.UserAgent.Role)
	}
	return ""
}

// endpointIdentity is who an endpoint is: its associatedIdentity, or the
// first identity of its (deprecated) identity set.
func endpointIdentity(e *schemas.Endpoint) (id, name string) {
	if a := e.AssociatedIdentity; a != nil && str(a.ID) != "" {
		return str(a.ID), str(a.DisplayName)
	}
	if ids := e.Identity.Identities(decodeIdentity); len(ids) > 0 {
		return str(ids[0].ID), str(ids[0].DisplayName)
	}
	return "", ""
}

// hops are the journey's rows: the sessions placed by the caller of the
// first service hop, in start order (session ids repeat: an auto attendant
// hands over to a call queue within one session id), each a hop. A record
// without a service hop has no journey.
func (j *journey) hops(tenantID string, rec *schemas.CallRecord) []schemas.CallJourneyHopRow {
	legs := slices.Clone(j.legs)
	slices.SortStableFunc(legs, func(a, b leg) int { return a.start.Compare(b.start) })
	first := slices.IndexFunc(legs, func(l leg) bool { return l.kind != HopUser })
	if first < 0 {
		return nil
	}
	caller := legs[first].caller
	legs = slices.DeleteFunc(legs, func(l leg) bool { return l.caller != caller })
	out := make([]schemas.CallJourneyHopRow, len(legs))
	for i, l := range legs {
		h := &out[i]
		*h = schemas.CallJourneyHopRow{
			TenantID:           tenantID,
			CallRecordID:       rec.ID,
			CallRecordVersion:  rec.Version,
			HopIndex:           int32(i),
			HopKind:            l.kind,
			SessionIndex:       int32(l.session),
			SessionID:          l.sessionID,
			ServiceRole:        l.role,
			ServiceID:          l.calleeID,
			ServiceDisplayName: l.calleeName,
			StartDateTime:      l.start,
			EndDateTime:        l.end,
		}
		var next *leg
		if i+1 < len(legs) {
			next = &legs[i+1]
		}
		answeredAt := l.end
		switch {
		case l.kind == HopUser:
			if i > 0 && (out[i-1].HopKind == HopUser || out[i-1].HopKind == HopTransfer) {
				h.HopKind = HopTransfer
			}
			h.Answered, h.AnsweredByID, h.AnsweredByName = true, l.calleeID, l.calleeName
			answeredAt = l.start
			h.Outcome = OutcomeAnswered
			if next != nil {
				h.Outcome = OutcomeTransferred
			}
		case next != nil && next.kind == HopUser:
			h.Answered, h.AnsweredByID, h.AnsweredByName = true, next.calleeID, next.calleeName
			answeredAt = next.start
			h.Outcome = OutcomeAnswered
		case l.kind == HopVoicemail || next != nil && next.kind == HopVoicemail:
			h.Outcome = OutcomeVoicemail
		case next != nil:
			h.Outcome = OutcomeTransferred
		default:
			h.Outcome = OutcomeAbandoned
		}
		if !l.start.IsZero() && !answeredAt.IsZero() {
			wait := max(answeredAt.Sub(l.start).Seconds(), 0)
			h.WaitSeconds = &wait
		}
	}
	return out
}
