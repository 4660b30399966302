// Package transform turns Graph payloads into fact rows. It is pure: no I/O, no
// logging; errors name the record they concern.
package transform

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// ErrInvalidRecord marks a payload that cannot become fact rows. The caller keeps
// the raw payload and reports it; it never drops it silently.
var ErrInvalidRecord = errors.New("invalid call record")

// DecodeCallRecord parses one whole call record (sessions, segments and
// participants_v2 merged in) as Graph sends it. It is
// DecodeCallRecordWithReport without the report.
func DecodeCallRecord(raw []byte) (schemas.CallRecord, error) {
	rec, _, err := DecodeCallRecordWithReport(raw)
	return rec, err
}

// callRecordKeys are the properties without which a record cannot be stored:
// it is keyed on id and version and partitioned on its start.
var callRecordKeys = []string{"", "id", "version", "startDateTime"}

// DecodeCallRecordWithReport parses one whole call record and reports, per
// JSON path, the values stored as NULL because they did not convert and the
// properties the schema does not know. Only a record that is not JSON, or
// whose id, version or startDateTime cannot be read, is refused
// (ErrInvalidRecord); the report is then empty.
func DecodeCallRecordWithReport(raw []byte) (schemas.CallRecord, Report, error) {
	var rec schemas.CallRecord
	rep, ok := decodeCallRecordFast(raw, &rec)
	if !ok {
		rec = schemas.CallRecord{}
		var err error
		if rep, err = decodeTolerant(raw, &rec, "", callRecordKeys); err != nil {
			return rec, Report{}, fmt.Errorf("decode call record %s: %w: %v", peekID(raw), ErrInvalidRecord, err)
		}
	}
	rec, err := checkCallRecord(rec)
	if err != nil {
		return rec, Report{}, err
	}
	return rec, rep, nil
}

// checkCallRecord refuses a decoded record without the fields every row needs.
func checkCallRecord(rec schemas.CallRecord) (schemas.CallRecord, error) {
	return rec, checkKeys("call record", rec.ID, rec.StartDateTime)
}

// CallRecordHead is what routing a raw call record to its partition needs.
type CallRecordHead struct {
	ID      string       `json:"id"`
	Version int64        `json:"version"`
	Start   schemas.Time `json:"startDateTime"`
}

// Date is the partition (dt) the record belongs to.
func (h CallRecordHead) Date() string { return schemas.PartitionDate(h.Start.Time) }

// PeekCallRecord reads the head of a whole call record and checks that raw is
// one valid JSON value, exactly as json.Unmarshal into a CallRecordHead does
// (the other properties are not looked at), without decoding the rest. On
// error the head holds what was read before it.
func PeekCallRecord(raw []byte) (CallRecordHead, error) {
	var h CallRecordHead
	if peekCallRecordFast(raw, &h) {
		return h, nil
	}
	h = CallRecordHead{}
	err := json.Unmarshal(raw, &h)
	return h, err
}

// peekID finds the id of a record that does not decode, for the error message.
func peekID(raw []byte) string {
	var probe struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(raw, &probe) == nil && probe.ID != "" {
		return probe.ID
	}
	return "(unknown id)"
}

// FlattenCallRecord turns a decoded record into its rows in every call-record table.
func FlattenCallRecord(tenantID string, rec schemas.CallRecord) schemas.CallRecordRows {
	var out schemas.CallRecordRows
	// The rows are large structs: size the slices once instead of growing them.
	segments, media, streams := size(rec)
	if len(rec.Sessions) > 0 {
		out.Sessions = make([]schemas.SessionRow, 0, len(rec.Sessions))
	}
	if segments > 0 {
		out.Segments = make([]schemas.SegmentRow, 0, segments)
	}
	if media > 0 {
		out.Media = make([]schemas.MediaRow, 0, media)
	}
	if streams > 0 {
		out.MediaStreams = make([]schemas.MediaStreamRow, 0, streams)
	}
	var a slab
	var sum rollup
	var j journey
	for si := range rec.Sessions {
		flattenSession(&out, &a, &sum, tenantID, &rec, si, &rec.Sessions[si])
		j.session(si, &rec.Sessions[si])
	}
	out.CallRecord = callRecordRow(tenantID, rec, len(rec.Sessions), &sum)
	out.Participants = participantRows(tenantID, rec)
	out.JourneyHops = j.hops(tenantID, &rec)
	return out
}

// size counts a record's segments, media lines and media streams.
func size(rec schemas.CallRecord) (segments, media, streams int) {
	for _, s := range rec.Sessions {
		segments += len(s.Segments)
		for _, g := range s.Segments {
			media += len(g.Media)
			for _, m := range g.Media {
				streams += len(m.Streams)
			}
		}
	}
	return segments, media, streams
}

// BigCallRecord is a call record decoded a session at a time, for records
// too large to hold decoded whole (a meeting with thousands of sessions): its
// head (every property but the sessions) is decoded, its sessions stay JSON
// (slices of the payload) until Rows makes their rows.
type BigCallRecord struct {
	head     schemas.CallRecord
	sessions []json.RawMessage
	report   Report
}

// DecodeBigCallRecord decodes raw as DecodeCallRecord does — every session
// is decoded once, one at a time, to check it — but keeps only the head and
// the sessions' JSON. ok is false (and the error nil) for a payload that
// DecodeCallRecord must decode whole instead (one the fast decoder leaves to
// encoding/json).
func DecodeBigCallRecord(raw []byte) (big *BigCallRecord, ok bool, err error) {
	b := &BigCallRecord{}
	if b.report, ok = decodeBigCallRecordFast(raw, &b.head, &b.sessions); !ok {
		return nil, false, nil
	}
	if b.head, err = checkCallRecord(b.head); err != nil {
		return nil, true, err
	}
	for i := range b.sessions {
		if _, err := b.session(i, &b.report); err != nil {
			return nil, true, err
		}
	}
	return b, true, nil
}

// Version is the record's version.
func (b *BigCallRecord) Version() int64 { return b.head.Version }

// Report is what DecodeCallRecordWithReport reports for the record.
func (b *BigCallRecord) Report() Report { return b.report }

// session decodes session i, adding its report to rep if not nil.
func (b *BigCallRecord) session(i int, rep *Report) (schemas.Session, error) {
	var s schemas.Session
	r, ok := decodeSessionFast(b.sessions[i], &s)
	if !ok {
		s = schemas.Session{}
		var err error
		if r, err = decodeTolerant(b.sessions[i], &s, "sessions", nil); err != nil {
			return s, fmt.Errorf("decode call record %s: session %d: %w: %v", b.head.ID, i, ErrInvalidRecord, err)
		}
	}
	if rep != nil {
		rep.Add(r)
	}
	return s, nil
}

// Rows hands fn the record's rows a few sessions at a time, about
// batchStreams media and media-stream rows per batch, so that neither the
// decoded sessions nor their rows exist all at once. Each batch but the last
// holds session, segment, media and media-stream rows only; the last (last = true) also
// holds the call_records row, the participants and the journey hops. Concatenated table by
// table, the batches are FlattenCallRecord's rows. An error from fn stops it
// and is returned.
func (b *BigCallRecord) Rows(tenantID string, batchStreams int, fn func(rows schemas.CallRecordRows, last bool) error) error {
	var out schemas.CallRecordRows
	var a slab
	var sum rollup
	var j journey
	for i := range b.sessions {
		s, err := b.session(i, nil) // counted by DecodeBigCallRecord
		if err != nil {
			return err
		}
		flattenSession(&out, &a, &sum, tenantID, &b.head, i, &s)
		j.session(i, &s)
		if len(out.Media)+len(out.MediaStreams) >= batchStreams && i+1 < len(b.sessions) {
			if err := fn(out, false); err != nil {
				return err
			}
			out, a = schemas.CallRecordRows{}, slab{}
		}
	}
	out.CallRecord = callRecordRow(tenantID, b.head, len(b.sessions), &sum)
	out.Participants = participantRows(tenantID, b.head)
	out.JourneyHops = j.hops(tenantID, &b.head)
	return fn(out, true)
}

// callRecordRow is the call_records row of rec, which has sessions sessions
// summed up in sum.
func callRecordRow(tenantID string, rec schemas.CallRecord, sessions int, sum *rollup) schemas.CallRecordRow {
	cr := schemas.CallRecordRow{
		TenantID:             tenantID,
		CallRecordID:         rec.ID,
		Version:              rec.Version,
		Type:                 rec.Type,
		Modalities:           nonNil(rec.Modalities),
		StartDateTime:        rec.StartDateTime.Time,
		EndDateTime:          rec.EndDateTime.Time,
		LastModifiedDateTime: rec.LastModifiedDateTime.Time,
		JoinWebURL:           str(rec.JoinWebURL),
		SessionCount:         int32(sessions),
		ParticipantCount:     int32(len(rec.ParticipantsV2)),
		CallRollup:           sum.CallRollup,
	}
	cr.QualityRulesVersion = QualityRulesVersion
	if !rec.EndDateTime.IsZero() {
		d := rec.EndDateTime.Sub(rec.StartDateTime.Time).Seconds()
		cr.DurationSeconds = &d
	}
	organizer(&cr, rec)
	if len(rec.ParticipantsV2) == 0 {
		// Records older than the participants_v2 era carry the deprecated list only.
		cr.ParticipantCount = int32(len(rec.Participants))
	}
	return cr
}

// flattenSession appends the rows of s, session si of rec, to out.
func flattenSession(out *schemas.CallRecordRows, a *slab, sum *rollup, tenantID string, rec *schemas.CallRecord, si int, s *schemas.Session) {
	sr := schemas.SessionRow{
		TenantID:          tenantID,
		CallRecordID:      rec.ID,
		CallRecordVersion: rec.Version,
		SessionIndex:      int32(si),
		SessionID:         s.ID,
		Modalities:        nonNil(s.Modalities),
		StartDateTime:     s.StartDateTime.Time,
		EndDateTime:       s.EndDateTime.Time,
		IsTest:            s.IsTest,
		CallerEndpoint:    schemas.CallerEndpoint(endpoint(s.Caller)),
		CalleeEndpoint:    schemas.CalleeEndpoint(endpoint(s.Callee)),
	}
	sr.FailureReason, sr.FailureStage = failure(s.FailureInfo)
	out.Sessions = append(out.Sessions, sr)

	for gi, g := range s.Segments {
		gr := schemas.SegmentRow{
			TenantID:          tenantID,
			CallRecordID:      rec.ID,
			CallRecordVersion: rec.Version,
			SessionIndex:      int32(si),
			SessionID:         s.ID,
			SegmentIndex:      int32(gi),
			SegmentID:         g.ID,
			StartDateTime:     g.StartDateTime.Time,
			EndDateTime:       g.EndDateTime.Time,
			CallerEndpoint:    schemas.CallerEndpoint(endpoint(g.Caller)),
			CalleeEndpoint:    schemas.CalleeEndpoint(endpoint(g.Callee)),
		}
		gr.FailureReason, gr.FailureStage = failure(g.FailureInfo)
		sum.segment(g.FailureInfo != nil)
		out.Segments = append(out.Segments, gr)

		for mi, m := range g.Media {
			mr := schemas.MediaRow{
				TenantID:          tenantID,
				CallRecordID:      rec.ID,
				CallRecordVersion: rec.Version,
				SessionIndex:      int32(si),
				SessionID:         s.ID,
				SegmentIndex:      int32(gi),
				SegmentID:         g.ID,
				MediaIndex:        int32(mi),
				MediaLabel:        str(m.Label),
				CallerNetwork:     schemas.CallerNetwork(a.network(m.CallerNetwork)),
				CalleeNetwork:     schemas.CalleeNetwork(a.network(m.CalleeNetwork)),
				CallerDevice:      schemas.CallerDevice(a.device(m.CallerDevice)),
				CalleeDevice:      schemas.CalleeDevice(a.device(m.CalleeDevice)),
			}
			out.Media = append(out.Media, mr)
			for ti, st := range m.Streams {
				metrics := a.metrics(st)
				quality, poorDueTo := ClassifyStream(mr.MediaLabel, &metrics)
				sum.stream(mr.MediaLabel, quality, &metrics)
				out.MediaStreams = append(out.MediaStreams, schemas.MediaStreamRow{
					TenantID:            tenantID,
					CallRecordID:        rec.ID,
					CallRecordVersion:   rec.Version,
					SessionIndex:        int32(si),
					SessionID:           s.ID,
					SegmentIndex:        int32(gi),
					SegmentID:           g.ID,
					MediaIndex:          int32(mi),
					MediaLabel:          mr.MediaLabel,
					StreamIndex:         int32(ti),
					StreamID:            str(st.StreamID),
					StreamDirection:     str(st.StreamDirection),
					StartDateTime:       st.StartDateTime.Time,
					EndDateTime:         st.EndDateTime.Time,
					StreamMetrics:       metrics,
					Quality:             quality,
					PoorDueTo:           nonNil(poorDueTo),
					QualityRulesVersion: QualityRulesVersion,
					CallerNetwork:       mr.CallerNetwork,
					CalleeNetwork:       mr.CalleeNetwork,
					CallerDevice:        mr.CallerDevice,
					CalleeDevice:        mr.CalleeDevice,
				})
			}
		}
	}
}

// rollup sums a record's segments and streams up as they are flattened
// (a large record's a few sessions at a time).
type rollup struct{ schemas.CallRollup }

func (r *rollup) segment(failed bool) {
	r.SegmentCount++
	r.AnySegmentFailed = r.AnySegmentFailed || failed
}

func (r *rollup) stream(label, quality string, m *schemas.StreamMetrics) {
	r.StreamCount++
	var streams, poor, unclassified *int32
	switch label {
	case "main-audio":
		streams, poor, unclassified = &r.AudioStreams, &r.AudioPoorStreams, &r.AudioUnclassifiedStreams
	case "main-video":
		streams, poor, unclassified = &r.VideoStreams, &r.VideoPoorStreams, &r.VideoUnclassifiedStreams
	case "applicationsharing-video", "applicationsharing":
		streams, poor, unclassified = &r.ScreenSharingStreams, &r.ScreenSharingPoorStreams, &r.ScreenSharingUnclassifiedStreams
	}
	if streams != nil {
		*streams++
		switch quality {
		case QualityPoor:
			*poor++
		case QualityUnclassified:
			*unclassified++
		}
	}
	r.WorstAverageRoundTripTimeMS = worst(r.WorstAverageRoundTripTimeMS, m.AverageRoundTripTimeMS)
	r.WorstAverageJitterMS = worst(r.WorstAverageJitterMS, m.AverageJitterMS)
	r.WorstAveragePacketLossRate = worst(r.WorstAveragePacketLossRate, m.AveragePacketLossRate)
}

// worst is the larger of two optional values (a new pointer: the row's
// values come from a slab that a large record's batches reuse).
func worst(a, b *float64) *float64 {
	if b == nil || a != nil && *a >= *b {
		return a
	}
	v := *b
	return &v
}

// participantRows are the participants rows of rec.
func participantRows(tenantID string, rec schemas.CallRecord) []schemas.ParticipantRow {
	if len(rec.ParticipantsV2) == 0 {
		return nil
	}
	out := make([]schemas.ParticipantRow, 0, len(rec.ParticipantsV2))
	for pi, p := range rec.ParticipantsV2 {
		pr := schemas.ParticipantRow{
			TenantID:            tenantID,
			CallRecordID:        rec.ID,
			CallRecordVersion:   rec.Version,
			ParticipantIndex:    int32(pi),
			ParticipantID:       p.ID,
			EndpointType:        p.Identity.EndpointType(),
			AdministrativeUnits: adminUnits(p.AdministrativeUnitInfos),
		}
		ids := p.Identity.Identities(decodeIdentity)
		pr.Identities = identityRows(ids)
		if len(ids) > 0 {
			id := ids[0]
			pr.IdentityKind = id.Kind
			pr.IdentityID = str(id.ID)
			pr.DisplayName = str(id.DisplayName)
			pr.IdentityTenantID = str(id.TenantID)
			pr.UserPrincipalName = str(id.UserPrincipalName)
			pr.Email = str(id.Email)
		}
		out = append(out, pr)
	}
	return out
}

func organizer(cr *schemas.CallRecordRow, rec schemas.CallRecord) {
	set := rec.Organizer
	if rec.OrganizerV2 != nil {
		cr.OrganizerID = rec.OrganizerV2.ID
		cr.OrganizerAdministrativeUnits = adminUnits(rec.OrganizerV2.AdministrativeUnitInfos)
		set = rec.OrganizerV2.Identity
	}
	ids := set.Identities(decodeIdentity)
	cr.OrganizerIdentities = identityRows(ids)
	if len(ids) == 0 {
		return
	}
	id := ids[0]
	if cr.OrganizerID == "" {
		cr.OrganizerID = str(id.ID)
	}
	cr.OrganizerIdentityKind = id.Kind
	cr.OrganizerDisplayName = str(id.DisplayName)
	cr.OrganizerTenantID = str(id.TenantID)
	cr.OrganizerUserPrincipalName = str(id.UserPrincipalName)
}

// identityRows are the list rows of an identity set's identities; empty
// strings become NULL, as in every other column.
func identityRows(ids []schemas.Identity) []schemas.IdentityRow {
	if len(ids) == 0 {
		return nil
	}
	out := make([]schemas.IdentityRow, len(ids))
	for i, id := range ids {
		out[i] = schemas.IdentityRow{
			Kind:                                 id.Kind,
			ID:                                   nonEmpty(id.ID),
			DisplayName:                          nonEmpty(id.DisplayName),
			TenantID:                             nonEmpty(id.TenantID),
			UserPrincipalName:                    nonEmpty(id.UserPrincipalName),
			Email:                                nonEmpty(id.Email),
			AzureCommunicationServicesResourceID: nonEmpty(id.AzureCommunicationServicesResourceID),
			ApplicationType:                      nonEmpty(id.ApplicationType),
			Hidden:                               id.Hidden,
			ODataType:                            nonEmpty(id.ODataType),
		}
	}
	return out
}

func adminUnits(in []schemas.AdministrativeUnitInfo) []string {
	out := make([]string, 0, len(in))
	for _, a := range in {
		out = append(out, a.ID)
	}
	return out
}

func failure(f *schemas.FailureInfo) (reason, stage string) {
	if f == nil {
		return "", ""
	}
	return str(f.Reason), str(f.Stage)
}

// odataType strips the namespace from an @odata.type value:
// "#microsoft.graph.callRecords.participantEndpoint" -> "participantEndpoint".
func odataType(t string) string {
	if i := strings.LastIndexByte(t, '.'); i >= 0 {
		return t[i+1:]
	}
	return strings.TrimPrefix(t, "#")
}

func endpoint(e *schemas.Endpoint) schemas.CallerEndpoint {
	var r schemas.CallerEndpoint
	if e == nil {
		return r
	}
	r.EndpointType = odataType(e.ODataType)
	r.Name = str(e.Name)
	r.CPUName = str(e.CPUName)
	r.CPUCoresCount = e.CPUCoresCount
	r.CPUProcessorSpeedInMhz = e.CPUProcessorSpeedInMhz
	if ua := e.UserAgent; ua != nil {
		r.UserAgentType = odataType(ua.ODataType)
		r.UserAgentHeaderValue = str(ua.HeaderValue)
		r.UserAgentApplicationVersion = str(ua.ApplicationVersion)
		r.UserAgentPlatform = str(ua.Platform)
		r.UserAgentProductFamily = str(ua.ProductFamily)
		r.UserAgentCommunicationServiceID = str(ua.CommunicationServiceID)
		r.UserAgentAzureADAppID = str(ua.AzureADAppID)
		r.UserAgentRole = str(ua.Role)
	}
	if a := e.AssociatedIdentity; a != nil {
		r.AssociatedIdentityID = str(a.ID)
		r.AssociatedIdentityDisplayName = str(a.DisplayName)
		r.AssociatedIdentityTenantID = str(a.TenantID)
		r.AssociatedIdentityUserPrincipalName = str(a.UserPrincipalName)
	}
	ids := e.Identity.Identities(decodeIdentity)
	r.Identities = identityRows(ids)
	if len(ids) > 0 {
		id := ids[0]
		r.IdentityKind = id.Kind
		r.IdentityID = str(id.ID)
		r.IdentityDisplayName = str(id.DisplayName)
		r.IdentityTenantID = str(id.TenantID)
		r.IdentityUserPrincipalName = str(id.UserPrincipalName)
		r.IdentityEmail = str(id.Email)
	}
	if f := e.Feedback; f != nil {
		r.FeedbackRating = str(f.Rating)
		r.FeedbackText = str(f.Text)
		if len(f.Tokens) > 0 {
			r.FeedbackTokens = make(map[string]bool, len(f.Tokens))
			for k, v := range f.Tokens {
				if v != nil {
					r.FeedbackTokens[k] = *v
				}
			}
		}
	}
	return r
}

func (a *slab) network(n *schemas.NetworkInfo) schemas.CallerNetwork {
	var r schemas.CallerNetwork
	if n == nil {
		return r
	}
	r.BandwidthLowEventRatio = a.float(n.BandwidthLowEventRatio)
	r.BasicServiceSetIdentifier = str(n.BasicServiceSetIdentifier)
	r.ConnectionType = str(n.ConnectionType)
	r.DelayEventRatio = a.float(n.DelayEventRatio)
	r.DNSSuffix = str(n.DNSSuffix)
	r.IPAddress = str(n.IPAddress)
	r.LinkSpeed = n.LinkSpeed
	r.MACAddress = str(n.MACAddress)
	r.NetworkTransportProtocol = str(n.NetworkTransportProtocol)
	r.Port = n.Port
	r.ReceivedQualityEventRatio = a.float(n.ReceivedQualityEventRatio)
	r.ReflexiveIPAddress = str(n.ReflexiveIPAddress)
	r.RelayIPAddress = str(n.RelayIPAddress)
	r.RelayPort = n.RelayPort
	r.SentQualityEventRatio = a.float(n.SentQualityEventRatio)
	r.Subnet = str(n.Subnet)
	for _, h := range n.TraceRouteHops {
		r.TraceRouteHops = append(r.TraceRouteHops, schemas.TraceRouteHopRow{
			HopCount:        h.HopCount,
			IPAddress:       nonEmpty(h.IPAddress),
			RoundTripTimeMS: a.millis(h.RoundTripTime),
		})
	}
	r.WifiBand = str(n.WifiBand)
	r.WifiBatteryCharge = n.WifiBatteryCharge
	r.WifiChannel = n.WifiChannel
	r.WifiMicrosoftDriver = str(n.WifiMicrosoftDriver)
	r.WifiMicrosoftDriverVersion = str(n.WifiMicrosoftDriverVersion)
	r.WifiRadioType = str(n.WifiRadioType)
	r.WifiSignalStrength = n.WifiSignalStrength
	r.WifiVendorDriver = str(n.WifiVendorDriver)
	r.WifiVendorDriverVersion = str(n.WifiVendorDriverVersion)
	return r
}

func (a *slab) device(d *schemas.DeviceInfo) schemas.CallerDevice {
	var r schemas.CallerDevice
	if d == nil {
		return r
	}
	r.CaptureDeviceDriver = str(d.CaptureDeviceDriver)
	r.CaptureDeviceName = str(d.CaptureDeviceName)
	r.CaptureNotFunctioningEventRatio = a.float(d.CaptureNotFunctioningEventRatio)
	r.CPUInsufficentEventRatio = a.float(d.CPUInsufficentEventRatio)
	r.DeviceClippingEventRatio = a.float(d.DeviceClippingEventRatio)
	r.DeviceGlitchEventRatio = a.float(d.DeviceGlitchEventRatio)
	r.HowlingEventCount = d.HowlingEventCount
	r.InitialSignalLevelRootMeanSquare = a.float(d.InitialSignalLevelRootMeanSquare)
	r.LowSpeechLevelEventRatio = a.float(d.LowSpeechLevelEventRatio)
	r.LowSpeechToNoiseEventRatio = a.float(d.LowSpeechToNoiseEventRatio)
	r.MicGlitchRate = a.float(d.MicGlitchRate)
	r.ReceivedNoiseLevel = d.ReceivedNoiseLevel
	r.ReceivedSignalLevel = d.ReceivedSignalLevel
	r.RenderDeviceDriver = str(d.RenderDeviceDriver)
	r.RenderDeviceName = str(d.RenderDeviceName)
	r.RenderMuteEventRatio = a.float(d.RenderMuteEventRatio)
	r.RenderNotFunctioningEventRatio = a.float(d.RenderNotFunctioningEventRatio)
	r.RenderZeroVolumeEventRatio = a.float(d.RenderZeroVolumeEventRatio)
	r.SentNoiseLevel = d.SentNoiseLevel
	r.SentSignalLevel = d.SentSignalLevel
	r.SpeakerGlitchRate = a.float(d.SpeakerGlitchRate)
	return r
}

func (a *slab) metrics(s schemas.MediaStream) schemas.StreamMetrics {
	return schemas.StreamMetrics{
		AudioCodec:                               str(s.AudioCodec),
		VideoCodec:                               str(s.VideoCodec),
		AverageAudioDegradation:                  a.float(s.AverageAudioDegradation),
		AverageAudioNetworkJitterMS:              a.millis(s.AverageAudioNetworkJitter),
		MaxAudioNetworkJitterMS:                  a.millis(s.MaxAudioNetworkJitter),
		AverageBandwidthEstimate:                 s.AverageBandwidthEstimate,
		AverageFreezeDurationMS:                  a.millis(s.AverageFreezeDuration),
		RMSFreezeDurationMS:                      a.millis(s.RmsFreezeDuration),
		AverageJitterMS:                          a.millis(s.AverageJitter),
		MaxJitterMS:                              a.millis(s.MaxJitter),
		AveragePacketLossRate:                    a.float(s.AveragePacketLossRate),
		MaxPacketLossRate:                        a.float(s.MaxPacketLossRate),
		AverageRatioOfConcealedSamples:           a.float(s.AverageRatioOfConcealedSamples),
		MaxRatioOfConcealedSamples:               a.float(s.MaxRatioOfConcealedSamples),
		AverageReceivedFrameRate:                 a.float(s.AverageReceivedFrameRate),
		AverageRoundTripTimeMS:                   a.millis(s.AverageRoundTripTime),
		MaxRoundTripTimeMS:                       a.millis(s.MaxRoundTripTime),
		AverageVideoFrameLossPercentage:          a.float(s.AverageVideoFrameLossPercentage),
		AverageVideoFrameRate:                    a.float(s.AverageVideoFrameRate),
		AverageVideoPacketLossRate:               a.float(s.AverageVideoPacketLossRate),
		IsAudioForwardErrorCorrectionUsed:        s.IsAudioForwardErrorCorrectionUsed,
		LowFrameRateRatio:                        a.float(s.LowFrameRateRatio),
		LowVideoProcessingCapabilityRatio:        a.float(s.LowVideoProcessingCapabilityRatio),
		PacketUtilization:                        s.PacketUtilization,
		PostForwardErrorCorrectionPacketLossRate: a.float(s.PostForwardErrorCorrectionPacketLossRate),
		WasMediaBypassed:                         s.WasMediaBypassed,
	}
}

// nonEmpty is p, or nil for an empty string (stored as NULL, like every
// empty string).
func nonEmpty(p *string) *string {
	if p == nil || *p == "" {
		return nil
	}
	return p
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// slab hands out the pointers of one record's rows (optional metrics are
// *float64) from shared arrays: one allocation for many instead of one each,
// which was a large part of the flattening's garbage.
type slab struct {
	floats []float64
}

func (a *slab) float64(v float64) *float64 { return newIn(&a.floats, v, 256) }

// float is f's value, nil when not valid.
func (a *slab) float(f schemas.Float) *float64 {
	if !f.Valid {
		return nil
	}
	return a.float64(f.Value)
}

// millis is d in milliseconds, nil when not valid.
func (a *slab) millis(d schemas.Duration) *float64 {
	if !d.Valid {
		return nil
	}
	return a.float64(float64(d.Micros) / 1000)
}
