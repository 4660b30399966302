package schemas

import "time"

// Fact-row structs. Column names are the snake_case of the Graph property path,
// nested objects flattened with "_"; converted durations carry a unit suffix.
// Every row carries tenant_id and its parents' keys. Session ids repeat within a
// record (reference pitfall 6), so children are keyed by their ordinal position
// (session_index, segment_index, media_index, stream_index) under the record at
// its version; the Graph ids are kept as plain columns.
//
// Strings tagged optional store "" as NULL. The partition column dt is not a
// column of the files: it is the Hive directory (dt=YYYY-MM-DD) the file lives in.

// CallRecordRow is one row of table call_records: one per call record id, at its
// highest version.
type CallRecordRow struct {
	TenantID                     string        `parquet:"tenant_id,dict"`
	CallRecordID                 string        `parquet:"call_record_id"`
	Version                      int64         `parquet:"version"`
	Type                         string        `parquet:"type,optional,dict"`
	Modalities                   []string      `parquet:"modalities,list"`
	StartDateTime                time.Time     `parquet:"start_date_time,timestamp(microsecond)"`
	EndDateTime                  time.Time     `parquet:"end_date_time,optional,timestamp(microsecond)"`
	LastModifiedDateTime         time.Time     `parquet:"last_modified_date_time,optional,timestamp(microsecond)"`
	JoinWebURL                   string        `parquet:"join_web_url,optional"`
	OrganizerID                  string        `parquet:"organizer_id,optional"`
	OrganizerIdentityKind        string        `parquet:"organizer_identity_kind,optional,dict"`
	OrganizerDisplayName         string        `parquet:"organizer_display_name,optional"`
	OrganizerTenantID            string        `parquet:"organizer_tenant_id,optional"`
	OrganizerUserPrincipalName   string        `parquet:"organizer_user_principal_name,optional"`
	OrganizerIdentities          []IdentityRow `parquet:"organizer_identities,list"`
	OrganizerAdministrativeUnits []string      `parquet:"organizer_administrative_unit_ids,list"`
	SessionCount                 int32         `parquet:"session_count"`
	ParticipantCount             int32         `parquet:"participant_count"`
	DurationSeconds              *float64      `parquet:"duration_seconds,optional"`
	CallRollup
}

// CallRollup sums a call record's sessions, segments and streams up, so
// that a per-call question needs no join. Streams are counted by the
// classifier of their media line (media_streams.quality): audio
// (main-audio), video (main-video), screen sharing (applicationsharing-video
// and applicationsharing, whose RDP streams are always unclassified).
type CallRollup struct {
	SegmentCount                     int32    `parquet:"segment_count"`
	StreamCount                      int32    `parquet:"stream_count" doc:"every stream, data channels included"`
	AudioStreams                     int32    `parquet:"audio_streams"`
	AudioPoorStreams                 int32    `parquet:"audio_poor_streams"`
	AudioUnclassifiedStreams         int32    `parquet:"audio_unclassified_streams"`
	VideoStreams                     int32    `parquet:"video_streams"`
	VideoPoorStreams                 int32    `parquet:"video_poor_streams"`
	VideoUnclassifiedStreams         int32    `parquet:"video_unclassified_streams"`
	ScreenSharingStreams             int32    `parquet:"screen_sharing_streams"`
	ScreenSharingPoorStreams         int32    `parquet:"screen_sharing_poor_streams"`
	ScreenSharingUnclassifiedStreams int32    `parquet:"screen_sharing_unclassified_streams"`
	WorstAverageRoundTripTimeMS      *float64 `parquet:"worst_average_round_trip_time_ms,optional" doc:"the highest average_round_trip_time_ms of the call's streams"`
	WorstAverageJitterMS             *float64 `parquet:"worst_average_jitter_ms,optional" doc:"the highest average_jitter_ms of the call's streams"`
	WorstAveragePacketLossRate       *float64 `parquet:"worst_average_packet_loss_rate,optional" doc:"the highest average_packet_loss_rate of the call's streams"`
	AnySegmentFailed                 bool     `parquet:"any_segment_failed" doc:"whether a segment of the call carries failure information"`
	QualityRulesVersion              string   `parquet:"quality_rules_version,optional,dict" doc:"the stream classification rules the counts were computed with"`
}

// SessionRow is one row of table sessions.
type SessionRow struct {
	TenantID          string    `parquet:"tenant_id,dict"`
	CallRecordID      string    `parquet:"call_record_id"`
	CallRecordVersion int64     `parquet:"call_record_version"`
	SessionIndex      int32     `parquet:"session_index"`
	SessionID         string    `parquet:"session_id,optional"`
	Modalities        []string  `parquet:"modalities,list"`
	StartDateTime     time.Time `parquet:"start_date_time,optional,timestamp(microsecond)"`
	EndDateTime       time.Time `parquet:"end_date_time,optional,timestamp(microsecond)"`
	IsTest            *bool     `parquet:"is_test,optional"`
	FailureReason     string    `parquet:"failure_info_reason,optional"`
	FailureStage      string    `parquet:"failure_info_stage,optional,dict"`
	CallerEndpoint
	CalleeEndpoint
}

// SegmentRow is one row of table segments.
type SegmentRow struct {
	TenantID          string    `parquet:"tenant_id,dict"`
	CallRecordID      string    `parquet:"call_record_id"`
	CallRecordVersion int64     `parquet:"call_record_version"`
	SessionIndex      int32     `parquet:"session_index"`
	SessionID         string    `parquet:"session_id,optional"`
	SegmentIndex      int32     `parquet:"segment_index"`
	SegmentID         string    `parquet:"segment_id,optional"`
	StartDateTime     time.Time `parquet:"start_date_time,optional,timestamp(microsecond)"`
	EndDateTime       time.Time `parquet:"end_date_time,optional,timestamp(microsecond)"`
	FailureReason     string    `parquet:"failure_info_reason,optional"`
	FailureStage      string    `parquet:"failure_info_stage,optional,dict"`
	CallerEndpoint
	CalleeEndpoint
}

// MediaRow is one row of table media: one media line of a segment, with
// its label and both sides' networks and devices, whether or not it has streams.
type MediaRow struct {
	TenantID          string `parquet:"tenant_id,dict"`
	CallRecordID      string `parquet:"call_record_id"`
	CallRecordVersion int64  `parquet:"call_record_version"`
	SessionIndex      int32  `parquet:"session_index"`
	SessionID         string `parquet:"session_id,optional"`
	SegmentIndex      int32  `parquet:"segment_index"`
	SegmentID         string `parquet:"segment_id,optional"`
	MediaIndex        int32  `parquet:"media_index"`
	MediaLabel        string `parquet:"media_label,optional,dict"`
	CallerNetwork
	CalleeNetwork
	CallerDevice
	CalleeDevice
}

// MediaStreamRow is one row of table media_streams: one stream of one media
// line of a segment. The media line's label, networks and devices are repeated
// from its media row so that stream queries need no join.
type MediaStreamRow struct {
	TenantID          string    `parquet:"tenant_id,dict"`
	CallRecordID      string    `parquet:"call_record_id"`
	CallRecordVersion int64     `parquet:"call_record_version"`
	SessionIndex      int32     `parquet:"session_index"`
	SessionID         string    `parquet:"session_id,optional"`
	SegmentIndex      int32     `parquet:"segment_index"`
	SegmentID         string    `parquet:"segment_id,optional"`
	MediaIndex        int32     `parquet:"media_index"`
	MediaLabel        string    `parquet:"media_label,optional,dict"`
	StreamIndex       int32     `parquet:"stream_index"`
	StreamID          string    `parquet:"stream_id,optional"`
	StreamDirection   string    `parquet:"stream_direction,optional,dict"`
	StartDateTime     time.Time `parquet:"start_date_time,optional,timestamp(microsecond)"`
	EndDateTime       time.Time `parquet:"end_date_time,optional,timestamp(microsecond)"`
	StreamMetrics
	Quality             string   `parquet:"quality,optional,dict" doc:"good, poor or unclassified, as Microsoft's Call Quality Dashboard classifies streams (rules: quality_rules_version)"`
	PoorDueTo           []string `parquet:"poor_due_to,list" doc:"the metrics over their limit when quality is poor, as column names"`
	QualityRulesVersion string   `parquet:"quality_rules_version,optional,dict" doc:"the classification rules quality was computed with (replay recomputes it)"`
	CallerNetwork
	CalleeNetwork
	CallerDevice
	CalleeDevice
}

// TraceRouteHopRow is one hop of a network's trace route.
type TraceRouteHopRow struct {
	HopCount        *int32   `parquet:"hop_count,optional"`
	IPAddress       *string  `parquet:"ip_address,optional"` // a pointer: parquet-go can write "" of a value field in a list as a value
	RoundTripTimeMS *float64 `parquet:"round_trip_time_ms,optional"`
}

// IdentityRow is one identity of an identity set, in the list that holds
// every identity of the set (the primary-identity columns hold the first).
// Its optional fields are pointers: parquet-go can write "" of a value field
// in a list as a value.
type IdentityRow struct {
	Kind                                 string  `parquet:"kind"` // the identity set's key: user, phone, guest, ...
	ID                                   *string `parquet:"id,optional"`
	DisplayName                          *string `parquet:"display_name,optional"`
	TenantID                             *string `parquet:"tenant_id,optional"`
	UserPrincipalName                    *string `parquet:"user_principal_name,optional"`
	Email                                *string `parquet:"email,optional"`
	AzureCommunicationServicesResourceID *string `parquet:"azure_communication_services_resource_id,optional"`
	ApplicationType                      *string `parquet:"application_type,optional"`
	Hidden                               *bool   `parquet:"hidden,optional"`
	ODataType                            *string `parquet:"odata_type,optional"` // as Graph sends it: #microsoft.graph.userIdentity
}

// ParticipantRow is one row of table participants: one participants_v2 item.
type ParticipantRow struct {
	TenantID            string        `parquet:"tenant_id,dict"`
	CallRecordID        string        `parquet:"call_record_id"`
	CallRecordVersion   int64         `parquet:"call_record_version"`
	ParticipantIndex    int32         `parquet:"participant_index"`
	ParticipantID       string        `parquet:"participant_id,optional"`
	IdentityKind        string        `parquet:"identity_kind,optional,dict"`
	IdentityID          string        `parquet:"identity_id,optional"`
	DisplayName         string        `parquet:"identity_display_name,optional"`
	IdentityTenantID    string        `parquet:"identity_tenant_id,optional"`
	UserPrincipalName   string        `parquet:"identity_user_principal_name,optional"`
	Email               string        `parquet:"identity_email,optional"`
	EndpointType        string        `parquet:"identity_endpoint_type,optional,dict"`
	Identities          []IdentityRow `parquet:"identities,list"`
	AdministrativeUnits []string      `parquet:"administrative_unit_ids,list"`
}

// CallJourneyHopRow is one row of table call_journey_hops: one hop of the
// path a call took through auto attendants, call queues, voicemail and the
// users who answered it, derived from the service roles and start times of
// its sessions (transform.JourneyHops says how).
type CallJourneyHopRow struct {
	TenantID           string    `parquet:"tenant_id,dict"`
	CallRecordID       string    `parquet:"call_record_id"`
	CallRecordVersion  int64     `parquet:"call_record_version"`
	HopIndex           int32     `parquet:"hop_index" doc:"0-based position in the journey, by start time"`
	HopKind            string    `parquet:"hop_kind,dict" doc:"auto_attendant, call_queue, voicemail, user (answered after a service hop) or transfer (a user reached from another user)"`
	SessionIndex       int32     `parquet:"session_index" doc:"the session of the hop, as in table sessions"`
	SessionID          string    `parquet:"session_id,optional"`
	ServiceRole        string    `parquet:"service_role,optional,dict" doc:"the callee's serviceUserAgent role (NULL for user and transfer hops)"`
	ServiceID          string    `parquet:"service_id,optional" doc:"the identity of the hop's callee: the resource account of an auto attendant or call queue, the user of a user or transfer hop"`
	ServiceDisplayName string    `parquet:"service_display_name,optional"`
	StartDateTime      time.Time `parquet:"start_date_time,optional,timestamp(microsecond)"`
	EndDateTime        time.Time `parquet:"end_date_time,optional,timestamp(microsecond)"`
	WaitSeconds        *float64  `parquet:"wait_seconds,optional" doc:"from entering the hop until a user answered (at the next hop's start, at once for user hops) or, unanswered, until the hop ended"`
	Answered           bool      `parquet:"answered" doc:"a user answered the call at this hop or straight from it"`
	AnsweredByID       string    `parquet:"answered_by_id,optional"`
	AnsweredByName     string    `parquet:"answered_by_display_name,optional"`
	Outcome            string    `parquet:"outcome,dict" doc:"answered (a user took the call at this hop or straight from it), transferred (passed on unanswered, or by the user who had answered), voicemail (sent to or ended in voicemail) or abandoned (ended at this service hop unanswered)"`
}

// CallRecordRows is every fact row of one call record.
type CallRecordRows struct {
	CallRecord   CallRecordRow
	Sessions     []SessionRow
	Segments     []SegmentRow
	Media        []MediaRow
	MediaStreams []MediaStreamRow
	Participants []ParticipantRow
	JourneyHops  []CallJourneyHopRow
}
