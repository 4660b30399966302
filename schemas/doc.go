// Package schemas is the domain package of callrecords-etl: the shapes Microsoft Graph
// sends (call records, sessions, segments, media streams, participants), the flattened
// fact-row structs written to Parquet, the table names and their partitioning, and the
// DDL that Athena, Spark and DuckDB need to read them.
//
// It does no I/O. Every other package imports it; it imports none of them.
package schemas
