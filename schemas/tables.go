package schemas

import (
	"strings"
	"time"
)

// Table names (fixed by the lake contract).
const (
	TableCallRecords        = "call_records"
	TableSessions           = "sessions"
	TableSegments           = "segments"
	TableMedia              = "media"
	TableMediaStreams       = "media_streams"
	TableParticipants       = "participants"
	TableCallJourneyHops    = "call_journey_hops"
	TablePstnCalls          = "pstn_calls"
	TableDirectRoutingCalls = "direct_routing_calls"
)

// Dataset names, as --datasets takes them.
const (
	DatasetCallRecords   = "callrecords"
	DatasetPstn          = "pstn"
	DatasetDirectRouting = "directrouting"
)

// PartitionColumn is the Hive partition key of every table.
const PartitionColumn = "dt"

// Table describes one fact table.
type Table struct {
	Name    string
	Dataset string
	Row     any // a zero row value, for schema reflection
	// Key is the columns that identify a row within a day: its grain
	// (README, Tables), required and unique together in a partition. It is
	// also the Iceberg tables' sort order.
	Key []string
	Doc string
}

// Tables lists every fact table in a stable order.
var Tables = []Table{
	{TableCallRecords, DatasetCallRecords, CallRecordRow{}, []string{"tenant_id", "call_record_id"}, "one row per call record id, at its highest version"},
	{TableSessions, DatasetCallRecords, SessionRow{}, []string{"tenant_id", "call_record_id", "session_index"}, "one row per session of a call record"},
	{TableSegments, DatasetCallRecords, SegmentRow{}, []string{"tenant_id", "call_record_id", "session_index", "segment_index"}, "one row per segment of a session"},
	{TableMedia, DatasetCallRecords, MediaRow{}, []string{"tenant_id", "call_record_id", "session_index", "segment_index", "media_index"}, "one row per media line of a segment, with its networks and devices"},
	{TableMediaStreams, DatasetCallRecords, MediaStreamRow{}, []string{"tenant_id", "call_record_id", "session_index", "segment_index", "media_index", "stream_index"}, "one row per media stream of a segment's media line, with the line's label, networks and devices repeated from media for convenience"},
	{TableParticipants, DatasetCallRecords, ParticipantRow{}, []string{"tenant_id", "call_record_id", "participant_index"}, "one row per participants_v2 entry of a call record"},
	{TableCallJourneyHops, DatasetCallRecords, CallJourneyHopRow{}, []string{"tenant_id", "call_record_id", "hop_index"}, "one row per hop of a call record's journey (auto attendant, call queue, voicemail, user, transfer), at its highest version (records without a service hop have none)"},
	{TablePstnCalls, DatasetPstn, PstnCallRow{}, []string{"tenant_id", "id"}, "one row per PSTN usage row id (calling plans, conferencing dial-in/out)"},
	{TableDirectRoutingCalls, DatasetDirectRouting, DirectRoutingCallRow{}, []string{"tenant_id", "id"}, "one row per Direct Routing usage row id"},
}

// TableNames lists the fact tables' names, in the order of Tables.
func TableNames() []string {
	out := make([]string, len(Tables))
	for i, t := range Tables {
		out[i] = t.Name
	}
	return out
}

// SQLName is the table's name in SQL: raw/call_records is raw_call_records.
func (t Table) SQLName() string { return strings.ReplaceAll(t.Name, "/", "_") }

// PartitionDate is the dt value for an instant: its UTC date.
func PartitionDate(t time.Time) string {
	return t.UTC().Format("2006-01-02")
}

// TablesOf lists the tables of a dataset, in the order of Tables: the first
// is its parent (call_records for call records), whose rows count the
// dataset's records.
func TablesOf(dataset string) []string {
	var out []string
	for _, t := range Tables {
		if t.Dataset == dataset {
			out = append(out, t.Name)
		}
	}
	return out
}
