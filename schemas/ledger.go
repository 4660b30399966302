package schemas

import "time"

// The completeness ledger says, per tenant and call record id, how far the
// job got with it: listed by Graph in its day, fetched, committed to the
// tables, quarantined, seen by a change notification, and whether its
// version has settled. It lives in the lake beside the tables, partitioned by
// the same dt, so that completeness is a GROUP BY in any engine
// (docs/quality-queries.md, completeness_per_day).

// TableCallRecordLedger is the completeness ledger's table.
const TableCallRecordLedger = "call_record_ledger"

// LedgerTables lists the ledger's table, as Tables the fact tables.
var LedgerTables = []Table{
	{TableCallRecordLedger, DatasetCallRecords, LedgerRow{}, []string{"tenant_id", "call_record_id"}, "completeness ledger: one row per call record id listed, committed or notified, in the day it started (a notified id Graph never listed: the day its notification arrived)"},
}

// LedgerRow is one row of call_record_ledger.
type LedgerRow struct {
	TenantID      string    `parquet:"tenant_id,dict"`
	CallRecordID  string    `parquet:"call_record_id"`
	FirstListedAt time.Time `parquet:"first_listed_at,optional,timestamp(microsecond)" doc:"first run that found the id in its day's listing"`
	LastListedAt  time.Time `parquet:"last_listed_at,optional,timestamp(microsecond)" doc:"last run that found the id in its day's listing"`
	Listed        bool      `parquet:"listed" doc:"a run found the id in Graph's listing of its day"`
	Fetched       bool      `parquet:"fetched" doc:"Graph served the record's detail to a run (it may still have been quarantined)"`
	Committed     bool      `parquet:"committed" doc:"call_records holds the record at version or higher"`
	Quarantined   bool      `parquet:"quarantined" doc:"the last attempt at the record quarantined it (_etl/quarantine/) and it is not committed at version"`
	NotifiedAt    time.Time `parquet:"notified_at,optional,timestamp(microsecond)" doc:"when a change notification for the id was received, if one was"`
	Version       int64     `parquet:"version" doc:"the highest version listed (or committed)"`
	// CommittedVersion is call_records' version of the record, 0 if none.
	CommittedVersion    int64     `parquet:"committed_version" doc:"version in call_records, 0 if not there"`
	VersionFirstSeenAt  time.Time `parquet:"version_first_seen_at,optional,timestamp(microsecond)" doc:"when a run first saw version"`
	VersionFirstSeenRun string    `parquet:"version_first_seen_run,optional" doc:"the run that first saw version"`
	RunsAtVersion       int32     `parquet:"runs_at_version" doc:"consecutive runs that listed the id at version"`
	Settled             bool      `parquet:"settled" doc:"committed at version, and version listed by --settle-runs runs in a row or last listed at least --lookback after its day began"`
}
