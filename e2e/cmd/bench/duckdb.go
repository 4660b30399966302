package main

import (
	"database/sql"
	"fmt"
	"os"
	"reflect"
	"strings"
	"unicode"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// The DuckDB side of benchmark 1 does the same job as `callrecords-etl import`:
// read the JSON lines, flatten each record into the six call-record tables
// with the same conversions (timestamps to TIMESTAMPTZ with the 0001-01-01
// sentinel as NULL, ISO 8601 durations to milliseconds, "NaN"/"INF" metric
// strings to NULL, empty strings to NULL, the primary identity of each
// identity set and the list of all its identities), the same row rules (one media row per media line, one
// media_streams row per stream) and write zstd Parquet partitioned by dt.
//
// Its read schema and projections are derived by reflection from the Graph
// types in package schemas, so it reads every property our pipeline reads and
// nothing less.

// identityKinds are the identity-set keys in the order the primary identity
// is chosen (schemas.IdentitySet.Identities).
var identityKinds = []string{
	"user", "phone", "guest", "acsUser", "spoolUser", "azureCommunicationServicesUser",
	"applicationInstance", "acsApplicationInstance", "spoolApplicationInstance",
	"application", "device", "onPremises", "encrypted", "assertedIdentity",
}

var (
	typTime        = reflect.TypeFor[schemas.Time]()
	typFloat       = reflect.TypeFor[schemas.Float]()
	typDuration    = reflect.TypeFor[schemas.Duration]()
	typIdentitySet = reflect.TypeFor[schemas.IdentitySet]()
)

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// duckType is the read_json column type of a Graph type.
func duckType(t reflect.Type) string {
	switch t {
	case typTime, typFloat, typDuration:
		return "VARCHAR" // converted in SQL, as our decoder converts them
	case typIdentitySet:
		id := `STRUCT("@odata.type" VARCHAR, id VARCHAR, displayName VARCHAR, tenantId VARCHAR, userPrincipalName VARCHAR, email VARCHAR,
  azureCommunicationServicesResourceId VARCHAR, applicationType VARCHAR, hidden BOOLEAN)`
		var f []string
		for _, k := range identityKinds {
			f = append(f, quoteIdent(k)+" "+id)
		}
		f = append(f, "endpointType VARCHAR")
		return "STRUCT(" + strings.Join(f, ", ") + ")"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return duckType(t.Elem())
	case reflect.String:
		return "VARCHAR"
	case reflect.Bool:
		return "BOOLEAN"
	case reflect.Int32:
		return "INTEGER"
	case reflect.Int64:
		return "BIGINT"
	case reflect.Slice:
		return duckType(t.Elem()) + "[]"
	case reflect.Map:
		return "MAP(VARCHAR, " + duckType(t.Elem()) + ")"
	case reflect.Struct:
		var f []string
		for i := range t.NumField() {
			name := jsonName(t.Field(i))
			f = append(f, quoteIdent(name)+" "+duckType(t.Field(i).Type))
		}
		return "STRUCT(" + strings.Join(f, ", ") + ")"
	}
	panic("no DuckDB type for " + t.String())
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	return name
}

// snake turns a Graph property name into a column name part.
func snake(s string) string {
	s = strings.TrimPrefix(s, "@odata.")
	var b strings.Builder
	rs := []rune(s)
	for i, r := range rs {
		if unicode.IsUpper(r) {
			if i > 0 && (unicode.IsLower(rs[i-1]) || i+1 < len(rs) && unicode.IsLower(rs[i+1])) {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// primary is the SQL of the first non-null identity of an identity set.
func primary(set string) string {
	var pick []string
	for _, k := range identityKinds {
		pick = append(pick, set+"."+quoteIdent(k))
	}
	return "coalesce(" + strings.Join(pick, ", ") + ")"
}

// identityList is the SQL of the list of every non-null identity of an
// identity set, in the order of identityKinds.
func identityList(set string) string {
	var items []string
	for _, k := range identityKinds {
		v := set + "." + quoteIdent(k)
		items = append(items, fmt.Sprintf(`CASE WHEN %[1]s IS NOT NULL THEN struct_pack(kind := '%[2]s', id := nullif(%[1]s.id, ''),
  display_name := nullif(%[1]s.displayName, ''), tenant_id := nullif(%[1]s.tenantId, ''),
  user_principal_name := nullif(%[1]s.userPrincipalName, ''), email := nullif(%[1]s.email, ''),
  azure_communication_services_resource_id := nullif(%[1]s.azureCommunicationServicesResourceId, ''),
  application_type := nullif(%[1]s.applicationType, ''), hidden := %[1]s.hidden, odata_type := nullif(%[1]s."@odata.type", '')) END`, v, k))
	}
	return "list_filter([" + strings.Join(items, ", ") + "], x -> x IS NOT NULL)"
}

// columns returns the select-list items for the scalar leaves of Graph type t
// at SQL expression expr, named with prefix. Nested lists named in skip are
// left out (they become rows of other tables).
func columns(t reflect.Type, expr, prefix string, skip map[string]bool) []string {
	name := func(s string) string {
		if prefix == "" {
			return s
		}
		return prefix + "_" + s
	}
	switch t {
	case typTime:
		return []string{fmt.Sprintf("graph_ts(%s) AS %s", expr, prefix)}
	case typFloat:
		return []string{fmt.Sprintf("graph_float(%s) AS %s", expr, prefix)}
	case typDuration:
		return []string{fmt.Sprintf("graph_ms(%s) AS %s_ms", expr, prefix)}
	case typIdentitySet:
		var kind []string
		for _, k := range identityKinds {
			kind = append(kind, fmt.Sprintf("WHEN %s.%s IS NOT NULL THEN '%s'", expr, quoteIdent(k), k))
		}
		p := primary(expr)
		return []string{
			fmt.Sprintf("CASE %s END AS %s", strings.Join(kind, " "), name("kind")),
			fmt.Sprintf("nullif(%s.id, '') AS %s", p, name("id")),
			fmt.Sprintf("nullif(%s.displayName, '') AS %s", p, name("display_name")),
			fmt.Sprintf("nullif(%s.tenantId, '') AS %s", p, name("tenant_id")),
			fmt.Sprintf("nullif(%s.userPrincipalName, '') AS %s", p, name("user_principal_name")),
			fmt.Sprintf("nullif(%s.email, '') AS %s", p, name("email")),
			fmt.Sprintf("nullif(%s.endpointType, '') AS %s", expr, name("endpoint_type")),
			fmt.Sprintf("%s AS %s", identityList(expr), strings.TrimSuffix(prefix, "identity")+"identities"),
		}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return columns(t.Elem(), expr, prefix, skip)
	case reflect.String:
		return []string{fmt.Sprintf("nullif(%s, '') AS %s", expr, prefix)}
	case reflect.Bool, reflect.Int32, reflect.Int64, reflect.Map:
		return []string{fmt.Sprintf("%s AS %s", expr, prefix)}
	case reflect.Slice:
		el := t.Elem()
		if el.Kind() == reflect.String {
			return []string{fmt.Sprintf("coalesce(%s, []) AS %s", expr, prefix)}
		}
		if el.Kind() == reflect.Struct && el != typIdentitySet {
			// a list of structs kept as a list (trace route hops, administrative units)
			var fields []string
			for i := range el.NumField() {
				f := el.Field(i)
				for _, c := range columns(f.Type, "x."+quoteIdent(jsonName(f)), snake(jsonName(f)), nil) {
					e, n, _ := strings.Cut(c, " AS ")
					fields = append(fields, n+" := "+e)
				}
			}
			return []string{fmt.Sprintf("list_transform(%s, x -> struct_pack(%s)) AS %s", expr, strings.Join(fields, ", "), prefix)}
		}
		return []string{fmt.Sprintf("%s AS %s", expr, prefix)} // participants (deprecated identity sets)
	case reflect.Struct:
		var out []string
		for i := range t.NumField() {
			f := t.Field(i)
			jn := jsonName(f)
			if skip[jn] {
				continue
			}
			out = append(out, columns(f.Type, expr+"."+quoteIdent(jn), name(snake(jn)), skip)...)
		}
		return out
	}
	panic("no columns for " + t.String())
}

const duckMacros = `
CREATE OR REPLACE MACRO graph_ts(s) AS
  nullif(greatest(TRY_CAST(s AS TIMESTAMPTZ), TIMESTAMPTZ '0002-01-01 00:00:00+00'), TIMESTAMPTZ '0002-01-01 00:00:00+00');
CREATE OR REPLACE MACRO graph_float(s) AS
  CASE WHEN isfinite(TRY_CAST(s AS DOUBLE)) THEN TRY_CAST(s AS DOUBLE) END;
CREATE OR REPLACE MACRO graph_ms_parts(p, neg) AS
  (coalesce(TRY_CAST(p.w AS DOUBLE), 0) * 604800000 + coalesce(TRY_CAST(p.d AS DOUBLE), 0) * 86400000
   + coalesce(TRY_CAST(p.h AS DOUBLE), 0) * 3600000 + coalesce(TRY_CAST(p.m AS DOUBLE), 0) * 60000
   + coalesce(TRY_CAST(p.s AS DOUBLE), 0) * 1000) * CASE WHEN neg THEN -1 ELSE 1 END;
CREATE OR REPLACE MACRO graph_ms(s) AS
  CASE WHEN s IS NULL OR s = '' THEN NULL
       WHEN regexp_full_match(s, 'PT[0-9.]+S') THEN TRY_CAST(s[3:-2] AS DOUBLE) * 1000
       ELSE graph_ms_parts(regexp_extract(s, '^-?P(?:([0-9.]+)W)?(?:([0-9.]+)D)?(?:T(?:([0-9.]+)H)?(?:([0-9.]+)M)?(?:([0-9.]+)S)?)?$',
                                          ['w', 'd', 'h', 'm', 's']), starts_with(s, '-')) END;
`

// duckJob holds the SQL of the DuckDB side.
type duckJob struct {
	read   string            // CREATE TABLE rec AS SELECT ... FROM read_json
	tables map[string]string // table -> SELECT producing its rows with dt
}

var tableOrder = []string{
	schemas.TableCallRecords, schemas.TableSessions, schemas.TableSegments,
	schemas.TableMedia, schemas.TableMediaStreams, schemas.TableParticipants,
}

func newDuckJob(input, tenant string) duckJob {
	rec := reflect.TypeFor[schemas.CallRecord]()
	var cols []string
	for i := range rec.NumField() {
		f := rec.Field(i)
		cols = append(cols, fmt.Sprintf("%s: '%s'", quoteIdent(jsonName(f)), strings.ReplaceAll(duckType(f.Type), "'", "''")))
	}
	read := fmt.Sprintf(`CREATE TEMP TABLE rec AS
SELECT *, strftime(graph_ts(startDateTime), '%%Y-%%m-%%d') AS dt
FROM read_json('%s', format = 'newline_delimited', maximum_object_size = 268435456, columns = {%s})`,
		input, strings.Join(cols, ", "))

	lit := "'" + tenant + "'"
	endpoint := func(expr, side string) string {
		return strings.Join(columns(reflect.TypeFor[schemas.Endpoint](), expr, side, nil), ", ")
	}
	keys := func(extra ...string) string {
		return strings.Join(append([]string{lit + " AS tenant_id", "rid AS call_record_id", "rver AS call_record_version"}, extra...), ", ")
	}
	t := map[string]string{}

	// call_records: the record's own scalars, counts and the organizer.
	top := columns(rec, "r", "", map[string]bool{"sessions": true, "participants_v2": true, "participants": true, "organizer": true, "organizer_v2": true})
	orgSet := "coalesce(r.organizer_v2.identity, r.organizer)"
	org := columns(typIdentitySet, orgSet, "organizer_identity", nil)
	t[schemas.TableCallRecords] = fmt.Sprintf(`SELECT %s AS tenant_id, %s, coalesce(nullif(r.organizer_v2.id, ''), %s) AS organizer_id, %s,
  list_transform(r.organizer_v2.administrativeUnitInfos, a -> a.id) AS organizer_administrative_unit_ids,
  len(coalesce(r.sessions, [])) AS session_count,
  CASE WHEN len(coalesce(r.participants_v2, [])) > 0 THEN len(r.participants_v2) ELSE len(coalesce(r.participants, [])) END AS participant_count,
  epoch(graph_ts(r.endDateTime)) - epoch(graph_ts(r.startDateTime)) AS duration_seconds, r.dt
FROM rec r`, lit, strings.Join(top, ", "), primary(orgSet)+".id", strings.Join(org, ", "))

	// Each level unnests the list of the level above with its ordinal.
	const (
		cteSessions = `sess AS (SELECT r.id AS rid, r.version AS rver, r.dt, unnest(r.sessions) AS s, generate_subscripts(r.sessions, 1) - 1 AS si FROM rec r)`
		cteSegments = `seg AS (SELECT rid, rver, dt, si, s.id AS sid, unnest(s.segments) AS g, generate_subscripts(s.segments, 1) - 1 AS gi FROM sess)`
		cteMedia    = `med AS (SELECT rid, rver, dt, si, sid, gi, g.id AS gid, unnest(g.media) AS m, generate_subscripts(g.media, 1) - 1 AS mi FROM seg)`
		// A media line without streams has no stream row, as ours.
		cteStreams = `str AS (SELECT rid, rver, dt, si, sid, gi, gid, m, mi, unnest(m.streams) AS t, generate_subscripts(m.streams, 1) - 1 AS ti FROM med)`
	)
	session := reflect.TypeFor[schemas.Session]()
	sessCols := columns(session, "s", "", map[string]bool{"segments": true, "caller": true, "callee": true})
	t[schemas.TableSessions] = fmt.Sprintf("WITH %s\nSELECT %s, %s, %s, %s, dt FROM sess",
		cteSessions, keys("si AS session_index"), strings.Join(sessCols, ", "), endpoint("s.caller", "caller"), endpoint("s.callee", "callee"))

	segment := reflect.TypeFor[schemas.Segment]()
	segCols := columns(segment, "g", "", map[string]bool{"media": true, "caller": true, "callee": true})
	t[schemas.TableSegments] = fmt.Sprintf("WITH %s, %s\nSELECT %s, %s, %s, %s, dt FROM seg",
		cteSessions, cteSegments, keys("si AS session_index", "nullif(sid, '') AS session_id", "gi AS segment_index"),
		strings.Join(segCols, ", "), endpoint("g.caller", "caller"), endpoint("g.callee", "callee"))

	media := reflect.TypeFor[schemas.Media]()
	stream := reflect.TypeFor[schemas.MediaStream]()
	medCols := columns(media, "m", "", map[string]bool{"streams": true})
	strCols := columns(stream, "t", "", nil)
	mediaKeys := []string{"si AS session_index", "nullif(sid, '') AS session_id", "gi AS segment_index", "nullif(gid, '') AS segment_id", "mi AS media_index"}
	t[schemas.TableMedia] = fmt.Sprintf("WITH %s, %s, %s\nSELECT %s, %s, dt FROM med",
		cteSessions, cteSegments, cteMedia, keys(mediaKeys...), strings.Join(medCols, ", "))
	t[schemas.TableMediaStreams] = fmt.Sprintf("WITH %s, %s, %s, %s\nSELECT %s, %s, %s, dt FROM str",
		cteSessions, cteSegments, cteMedia, cteStreams,
		keys(append(mediaKeys, "ti AS stream_index")...),
		strings.Join(medCols, ", "), strings.Join(strCols, ", "))

	part := reflect.TypeFor[schemas.Participant]()
	partCols := columns(part, "p", "", nil)
	t[schemas.TableParticipants] = fmt.Sprintf(`WITH parts AS (SELECT r.id AS rid, r.version AS rver, r.dt, unnest(r.participants_v2) AS p, generate_subscripts(r.participants_v2, 1) - 1 AS pi FROM rec r)
SELECT %s, %s, dt FROM parts`, keys("pi AS participant_index"), strings.Join(partCols, ", "))
	return duckJob{read: read, tables: t}
}

// runDuck runs the DuckDB job with the given number of threads, writing each
// table under out/<table>/dt=.../*.parquet.
func runDuck(input, out, tenant string, threads int) error {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // one connection: temp tables and settings are per connection
	job := newDuckJob(input, tenant)
	stmts := []string{
		fmt.Sprintf("SET threads = %d", threads),
		"SET TimeZone = 'UTC'",
		"SET preserve_insertion_order = false",
		duckMacros,
		job.read,
	}
	for _, table := range tableOrder {
		stmts = append(stmts, fmt.Sprintf("COPY (%s) TO '%s/%s' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (dt), OVERWRITE_OR_IGNORE)",
			job.tables[table], out, table))
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			return fmt.Errorf("duckdb: %w\n%s", err, s)
		}
	}
	return nil
}
