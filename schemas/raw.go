package schemas

import "time"

// The raw archive keeps what Graph sent, so that the tables can be rebuilt
// (replay) after Graph has deleted it: a call record lives there 30 days, the
// archive as long as the lake. It is partitioned and committed like the fact
// tables, under raw/ (RawTableOf), and read by replay; analysts may query it
// too (the json column has Parquet's JSON logical type).

// Raw archive tables, one per dataset.
const (
	TableRawCallRecords        = "raw/call_records"
	TableRawPstnCalls          = "raw/pstn_calls"
	TableRawDirectRoutingCalls = "raw/direct_routing_calls"
)

// RawTableOf is the raw archive table of a dataset.
func RawTableOf(dataset string) string {
	switch dataset {
	case DatasetCallRecords:
		return TableRawCallRecords
	case DatasetPstn:
		return TableRawPstnCalls
	case DatasetDirectRouting:
		return TableRawDirectRoutingCalls
	}
	return ""
}

// RawTables lists the raw archive's tables, as Tables the fact tables.
var RawTables = []Table{
	{TableRawCallRecords, DatasetCallRecords, RawCallRecordRow{}, []string{"tenant_id", "call_record_id", "version", "piece"}, "raw archive: one row per call record version fetched, as Graph sent it, or per piece of one of more than 8 MiB (replay rebuilds the tables from it)"},
	{TableRawPstnCalls, DatasetPstn, RawUsageRow{}, []string{"tenant_id", "id"}, "raw archive: one row per PSTN usage row id, the latest received, as Graph sent it"},
	{TableRawDirectRoutingCalls, DatasetDirectRouting, RawUsageRow{}, []string{"tenant_id", "id"}, "raw archive: one row per Direct Routing usage row id, the latest received, as Graph sent it"},
}

// RawCallRecordRow is one row of raw/call_records: one version of one call
// record as Graph returned it, with every page of its sessions and
// participants_v2 merged in. Every version the job fetched is kept, each
// once. A record of more than RawPieceFrom bytes of JSON (a meeting with
// thousands of sessions) is kept in pieces, one row each, so that neither
// the writer nor a reader holds it twice: json is NULL, json_piece holds
// piece piece of pieces (cut between UTF-8 characters; concatenated in
// piece order, they are the JSON).
type RawCallRecordRow struct {
	TenantID     string    `parquet:"tenant_id,dict"`
	CallRecordID string    `parquet:"call_record_id"`
	Version      int64     `parquet:"version"`
	FetchedAt    time.Time `parquet:"fetched_at,timestamp(microsecond)"`
	JSON         []byte    `parquet:"json,optional,json"`
	Piece        int32     `parquet:"piece"`
	Pieces       int32     `parquet:"pieces"`
	JSONPiece    string    `parquet:"json_piece,optional"`
}

// Raw archive pieces: a record's JSON of more than RawPieceFrom bytes is
// archived in pieces of about RawPieceBytes.
const (
	RawPieceFrom  = 8 << 20
	RawPieceBytes = 1 << 20
)

// RawUsageRow is one row of raw/pstn_calls or raw/direct_routing_calls: one
// report row as Graph returned it, the latest received per id (as in the
// table; the reports have no version).
type RawUsageRow struct {
	TenantID  string    `parquet:"tenant_id,dict"`
	ID        string    `parquet:"id"`
	FetchedAt time.Time `parquet:"fetched_at,timestamp(microsecond)"`
	JSON      []byte    `parquet:"json,json"`
}

// RawPieces cuts raw into pieces of about RawPieceBytes, each ending
// before a byte that continues a UTF-8 character (so that each piece is a
// valid string when raw is).
func RawPieces(raw []byte) [][]byte {
	var out [][]byte
	for len(raw) > 0 {
		n := min(RawPieceBytes, len(raw))
		for n < len(raw) && n > 1 && raw[n]&0xC0 == 0x80 {
			n--
		}
		out = append(out, raw[:n])
		raw = raw[n:]
	}
	return out
}
