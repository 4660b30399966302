package e2e_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/callrecords-etl/callrecords-etl/extract"
	"github.com/callrecords-etl/callrecords-etl/graphsim"
	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/loadtest"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

const tenant = "7a1c0e52-7c4e-4a57-9f0e-2f1f0c3b6a10"

// now is the instant the simulator and the job take as the current time in
// every test here: the simulated tenant moves with the clock, so no result
// depends on the hour a test runs at (TestLake_AtSeveralInstants runs at
// others).
var now = time.Date(2026, 11, 20, 15, 30, 0, 0, time.UTC)

func newSim(tb testing.TB) (*graphsim.Simulator, string) {
	return newSimAt(tb, now, 8)
}

func newSimAt(tb testing.TB, at time.Time, perDay int) (*graphsim.Simulator, string) {
	tb.Helper()
	sim := graphsim.New(graphsim.Config{Seed: 42, TenantID: tenant, Now: func() time.Time { return at }, RecordsPerDay: perDay, Token: "tok"})
	srv := httptest.NewServer(sim)
	tb.Cleanup(srv.Close)
	return sim, srv.URL
}

func runJob(tb testing.TB, graphURL, dest string, s3 load.S3Config) *jobs.Summary {
	return runJobAt(tb, now, graphURL, dest, s3)
}

func runJobAt(tb testing.TB, at time.Time, graphURL, dest string, s3 load.S3Config, edits ...func(*jobs.Config)) *jobs.Summary {
	tb.Helper()
	cfg := jobs.DefaultConfig()
	cfg.TenantID, cfg.GraphURL, cfg.Dest, cfg.S3 = tenant, graphURL, dest, s3
	cfg.Credential = extract.StaticToken("tok")
	cfg.MaxRPS = 0
	cfg.Concurrency = 4
	cfg.Now = func() time.Time { return at }
	for _, edit := range edits {
		edit(&cfg)
	}
	sum, err := jobs.Run(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("jobs.Run(%s): %v", dest, err)
	}
	return sum
}

func openDuckDB(tb testing.TB) *sql.DB {
	tb.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func scan[T any](tb testing.TB, db *sql.DB, query string, args ...any) T {
	tb.Helper()
	var v T
	if err := db.QueryRow(query, args...).Scan(&v); err != nil {
		tb.Fatalf("%s: %v", query, err)
	}
	return v
}

func table(root, name string) string {
	return fmt.Sprintf("read_parquet('%s', hive_partitioning = true)", filepath.Join(root, name, "*", "*.parquet"))
}

// expected counts the rows each table must hold, computed from the simulator's
// own records (its truth), not from our flattening code.
// rowsPerTable is the rows each call-record table should hold.
func (e expected) rowsPerTable() map[string]int {
	return map[string]int{
		schemas.TableCallRecords:  e.records,
		schemas.TableSessions:     e.sessions,
		schemas.TableSegments:     e.segments,
		schemas.TableMedia:        e.media,
		schemas.TableMediaStreams: e.streams,
		schemas.TableParticipants: e.participants,
	}
}

type expected struct {
	records, sessions, segments, media, streams, participants int
	streamless                                                int // media lines without streams
	participantIdentities                                     int // non-null identities of the participants_v2 sets
	byID                                                      map[string]map[string]any
}

func truth(tb testing.TB, sim *graphsim.Simulator) expected {
	return truthAt(tb, sim, now)
}

func truthAt(tb testing.TB, sim *graphsim.Simulator, at time.Time) expected {
	tb.Helper()
	tr := sim.Truth(at.Add(-jobs.Retention), at)
	e := expected{byID: map[string]map[string]any{}}
	for _, id := range tr.IDs {
		raw, ok := sim.Record(id)
		if !ok {
			tb.Fatalf("simulator lists %s but cannot return it", id)
		}
		var rec map[string]any
		if err := json.Unmarshal(raw, &rec); err != nil {
			tb.Fatal(err)
		}
		e.byID[id] = rec
		e.records++
		sessions, _ := rec["sessions"].([]any)
		e.sessions += len(sessions)
		for _, s := range sessions {
			segs, _ := s.(map[string]any)["segments"].([]any)
			e.segments += len(segs)
			for _, g := range segs {
				media, _ := g.(map[string]any)["media"].([]any)
				e.media += len(media)
				for _, m := range media {
					streams, _ := m.(map[string]any)["streams"].([]any)
					e.streams += len(streams)
					if len(streams) == 0 {
						e.streamless++
					}
				}
			}
		}
		parts, _ := rec["participants_v2"].([]any)
		e.participants += len(parts)
		for _, p := range parts {
			set, _ := p.(map[string]any)["identity"].(map[string]any)
			for k, v := range set {
				if v != nil && !strings.HasPrefix(k, "@") && k != "endpointType" {
					e.participantIdentities++
				}
			}
		}
	}
	if e.records != tr.Records || e.sessions != tr.Sessions || e.segments != tr.Segments || e.media != tr.Media || e.streams != tr.Streams || e.participants != tr.Participants || e.participantIdentities != tr.ParticipantIdentities {
		tb.Fatalf("simulator Truth %+v disagrees with its records (%d records, %d sessions, %d segments, %d media lines, %d streams, %d participants with %d identities)",
			tr, e.records, e.sessions, e.segments, e.media, e.streams, e.participants, e.participantIdentities)
	}
	return e
}

// TestLake_DuckDB runs the whole job against the simulator into a local directory
// and reads the lake back with DuckDB: row counts equal the simulator's truth, keys
// are unique, types are what Athena/Spark/DuckDB need, and sample values match the
// payloads.
func TestLake_DuckDB(t *testing.T) {
	t.Parallel()
	sim, url := newSim(t)
	dest := t.TempDir()
	runJob(t, url, dest, load.S3Config{})
	want := truth(t, sim)
	db := openDuckDB(t)
	if want.sessions <= want.records || want.participants == 0 || want.streamless == 0 {
		t.Fatalf("simulator data too thin for this test: %+v", want)
	}
	checkCounts(t, db, dest, want)
	checkQuality(t, db, dest, want)

	// Types.
	if typ := scan[string](t, db, "SELECT typeof(start_date_time) FROM "+table(dest, "call_records")+" LIMIT 1"); typ != "TIMESTAMP WITH TIME ZONE" {
		t.Errorf("start_date_time is %s, want TIMESTAMP WITH TIME ZONE (INT64 TIMESTAMP(MICROS, UTC))", typ)
	}
	if typ := scan[string](t, db, "SELECT typeof(modalities) FROM "+table(dest, "call_records")+" LIMIT 1"); typ != "VARCHAR[]" {
		t.Errorf("modalities is %s, want VARCHAR[]", typ)
	}

	// Sample values against the payloads.
	checked := 0
	for id, rec := range want.byID {
		var version int64
		var start time.Time
		var sessions int
		q := "SELECT version, start_date_time, session_count FROM " + table(dest, "call_records") + " WHERE call_record_id = ?"
		if err := db.QueryRow(q, id).Scan(&version, &start, &sessions); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		wantStart, err := schemas.ParseTime(rec["startDateTime"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if float64(version) != rec["version"].(float64) || !start.Equal(wantStart) || sessions != len(rec["sessions"].([]any)) {
			t.Errorf("record %s: got version %d start %s sessions %d; payload says %v %v %d", id, version, start, sessions, rec["version"], rec["startDateTime"], len(rec["sessions"].([]any)))
		}
		checkFirstStream(t, db, dest, id, rec)
		if checked++; checked == 25 {
			break
		}
	}
	checkIdentities(t, db, dest, want)
}

// checkIdentities reads the identity lists back: the participants' hold every
// identity the simulator sent, and the sets with several identities keep
// each, with the properties only the lists hold.
func checkIdentities(t *testing.T, db *sql.DB, dest string, want expected) {
	t.Helper()
	if got := scan[int](t, db, "SELECT coalesce(sum(len(identities)), 0) FROM "+table(dest, "participants")); got != want.participantIdentities {
		t.Errorf("participants.identities hold %d identities, want %d (simulator truth)", got, want.participantIdentities)
	}
	for _, c := range []struct{ what, table, where string }{
		{"a phone with its encrypted and asserted identities", "participants",
			"identity_kind = 'phone' AND list_transform(identities, i -> i.kind) = ['phone', 'encrypted', 'assertedIdentity']"},
		{"an ACS user with its resource id", "participants",
			"len(list_filter(identities, i -> i.kind = 'azureCommunicationServicesUser' AND i.azure_communication_services_resource_id IS NOT NULL AND i.odata_type = '#microsoft.graph.azureCommunicationServicesUserIdentity')) > 0"},
		{"a user with a hidden bot application", "participants",
			"identity_kind = 'user' AND len(list_filter(identities, i -> i.kind = 'application' AND i.hidden AND i.application_type = 'bot')) > 0"},
		{"an organizer with several identities", "call_records", "len(organizer_identities) > 1"},
		{"a session caller with several identities", "sessions", "len(caller_identities) > 1"},
		{"a session callee with several identities", "sessions", "len(callee_identities) > 1"},
	} {
		if n := scan[int](t, db, "SELECT count(*) FROM "+table(dest, c.table)+" WHERE "+c.where); n == 0 {
			t.Errorf("%s: no row with %s", c.table, c.what)
		}
	}
}

// checkCounts compares the lake with the simulator's truth: rows per table,
// one row per key, children in their record's partition, partition = UTC
// start date.
func checkCounts(t *testing.T, db *sql.DB, dest string, want expected) {
	t.Helper()
	for name, n := range want.rowsPerTable() {
		if got := scan[int](t, db, "SELECT count(*) FROM "+table(dest, name)); got != n {
			t.Errorf("%s: %d rows, want %d (simulator truth)", name, got, n)
		}
	}
	// Keys: one row per record id; children unique by their ordinal keys.
	if got := scan[int](t, db, "SELECT count(DISTINCT call_record_id) FROM "+table(dest, "call_records")); got != want.records {
		t.Errorf("distinct call_record_id = %d, want %d", got, want.records)
	}
	counted := want.rowsPerTable()
	for _, tb := range schemas.Tables {
		if _, ok := counted[tb.Name]; !ok {
			continue
		}
		if dup := scan[int](t, db, "SELECT count(*) FROM (SELECT "+strings.Join(tb.Key, ", ")+" FROM "+table(dest, tb.Name)+" GROUP BY ALL HAVING count(*) > 1)"); dup != 0 {
			t.Errorf("%s: %d keys (%s) held twice", tb.Name, dup, strings.Join(tb.Key, ", "))
		}
	}
	// Every stream belongs to a media line of its record.
	if orphans := scan[int](t, db, "SELECT count(*) FROM "+table(dest, "media_streams")+" s ANTI JOIN "+table(dest, "media")+" m USING (call_record_id, session_index, segment_index, media_index, dt)"); orphans != 0 {
		t.Errorf("%d streams without their media line", orphans)
	}
	// Every child belongs to a record of the same partition.
	if orphans := scan[int](t, db, "SELECT count(*) FROM "+table(dest, "sessions")+" s ANTI JOIN "+table(dest, "call_records")+" c USING (call_record_id, dt)"); orphans != 0 {
		t.Errorf("%d sessions without their call record in the same dt partition", orphans)
	}
	// Partition = UTC date of the start.
	if bad := scan[int](t, db, "SELECT count(*) FROM "+table(dest, "call_records")+" WHERE CAST(dt AS VARCHAR) <> strftime(start_date_time AT TIME ZONE 'UTC', '%Y-%m-%d')"); bad != 0 {
		t.Errorf("%d call records in the wrong dt partition", bad)
	}
}

// TestLake_AtSeveralInstants runs the whole job at instants spread over a day
// (the simulated tenant moves with its clock: which records are retained and
// published, where the list pages break and which of them come back empty)
// and checks the lake against the simulator's truth at each. At least one of
// them must meet a list page that is empty but carries a nextLink.
func TestLake_AtSeveralInstants(t *testing.T) {
	t.Parallel()
	db := openDuckDB(t)
	empty := 0
	for _, at := range []time.Time{
		time.Date(2026, 12, 4, 0, 20, 0, 0, time.UTC),
		time.Date(2026, 12, 4, 2, 55, 0, 0, time.UTC),
		time.Date(2026, 12, 4, 7, 40, 0, 0, time.UTC),
		time.Date(2026, 12, 4, 13, 5, 0, 0, time.UTC),
		time.Date(2026, 12, 4, 18, 30, 0, 0, time.UTC),
		time.Date(2026, 12, 4, 23, 50, 0, 0, time.UTC),
	} {
		t.Run(at.Format("15-04Z"), func(t *testing.T) {
			sim, url := newSimAt(t, at, 3)
			dest := t.TempDir()
			runJobAt(t, at, url, dest, load.S3Config{}, func(c *jobs.Config) { c.Datasets = []string{schemas.DatasetCallRecords} })
			checkCounts(t, db, dest, truthAt(t, sim, at))
			empty += sim.Stats().EmptyListPages
		})
	}
	if empty == 0 && !t.Failed() {
		t.Error("no run met an empty list page with a nextLink: the instants no longer cover that case")
	}
}

// checkFirstStream compares the first stream of the first segment with media.
func checkFirstStream(t *testing.T, db *sql.DB, dest, id string, rec map[string]any) {
	t.Helper()
	for si, s := range rec["sessions"].([]any) {
		for gi, g := range s.(map[string]any)["segments"].([]any) {
			media, _ := g.(map[string]any)["media"].([]any)
			for mi, m := range media {
				streams, _ := m.(map[string]any)["streams"].([]any)
				if len(streams) == 0 {
					continue
				}
				st := streams[0].(map[string]any)
				var jitter sql.NullFloat64
				var dir sql.NullString
				q := "SELECT average_jitter_ms, stream_direction FROM " + table(dest, "media_streams") +
					" WHERE call_record_id = ? AND session_index = ? AND segment_index = ? AND media_index = ? AND stream_index = 0"
				if err := db.QueryRow(q, id, si, gi, mi).Scan(&jitter, &dir); err != nil {
					t.Fatalf("stream of %s: %v", id, err)
				}
				wantDir, _ := st["streamDirection"].(string)
				if dir.String != wantDir {
					t.Errorf("%s stream direction = %q, want %q", id, dir.String, wantDir)
				}
				if js, ok := st["averageJitter"].(string); ok {
					us, err := schemas.ParseISODuration(js)
					if err != nil {
						t.Fatal(err)
					}
					if !jitter.Valid || math.Abs(jitter.Float64-float64(us)/1000) > 1e-9 {
						t.Errorf("%s average_jitter_ms = %v, want %s", id, jitter, js)
					}
				} else if jitter.Valid {
					t.Errorf("%s average_jitter_ms = %v, want NULL for %v", id, jitter.Float64, st["averageJitter"])
				}
				return
			}
		}
	}
}

// fingerprint is an order-independent digest of every row of every table.
func fingerprint(tb testing.TB, db *sql.DB, root string) map[string]string {
	tb.Helper()
	out := map[string]string{}
	for _, tbl := range schemas.Tables {
		var n int
		var h sql.NullString
		q := "SELECT count(*), CAST(bit_xor(hash(t)) AS VARCHAR) FROM " + table(root, tbl.Name) + " AS t"
		if err := db.QueryRow(q).Scan(&n, &h); err != nil {
			tb.Fatalf("%s: %v", q, err)
		}
		out[tbl.Name] = fmt.Sprintf("%d rows, hash %s", n, h.String)
	}
	return out
}

// TestLake_RerunAndS3 runs the job twice into a local lake and once into a real S3
// server (versitygw, read back through its root directory): all three give
// identical query results.
func TestLake_RerunAndS3(t *testing.T) {
	t.Parallel() // StartS3 finds the AWS variables TestMain set
	_, url := newSim(t)
	db := openDuckDB(t)

	local := t.TempDir()
	runJob(t, url, local, load.S3Config{})
	first := fingerprint(t, db, local)
	second := runJob(t, url, local, load.S3Config{})
	if again := fingerprint(t, db, local); fmt.Sprint(again) != fmt.Sprint(first) {
		t.Errorf("second run changed the lake:\nfirst  %v\nsecond %v", first, again)
	}
	if d := second.Datasets[schemas.DatasetCallRecords]; d.New+d.Updated != 0 {
		t.Errorf("second run fetched %d new and %d updated records, want none (nothing changed)", d.New, d.Updated)
	}

	s3cfg, root := loadtest.StartS3(t)
	runJob(t, url, "s3://"+s3cfg.Bucket+"/lake", s3cfg)
	if got := fingerprint(t, db, filepath.Join(root, s3cfg.Bucket, "lake")); fmt.Sprint(got) != fmt.Sprint(first) {
		t.Errorf("S3 lake differs from the local one:\nlocal %v\ns3    %v", first, got)
	}
}

// TestLake_CarryOverKeepsEveryValue: a partition rewritten by a later run
// (records changed, the others carried over from the stored file) holds the
// same rows as one written fresh from Graph — NULL metrics stay NULL, empty
// strings NULL, lists and maps whole — compared by DuckDB, not by our reader.
func TestLake_CarryOverKeepsEveryValue(t *testing.T) {
	t.Parallel()
	clk := &settable{t: now}
	sim := graphsim.New(graphsim.Config{Seed: 42, TenantID: tenant, Now: clk.Now, RecordsPerDay: 8, Token: "tok"})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	run := func(dest string) {
		cfg := jobs.DefaultConfig()
		cfg.TenantID, cfg.GraphURL, cfg.Dest = tenant, srv.URL, dest
		cfg.Credential = extract.StaticToken("tok")
		cfg.MaxRPS, cfg.Now, cfg.Logger = 0, clk.Now, quietLogger
		cfg.Datasets = []string{schemas.DatasetCallRecords}
		if _, err := jobs.Run(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
	}
	incremental := t.TempDir()
	run(incremental)
	bumped := 0
	for _, id := range sim.Truth(clk.Now().Add(-36*time.Hour), clk.Now()).IDs {
		if bumped < 3 && sim.Bump(id) {
			bumped++
		}
	}
	clk.Add(2 * time.Hour)
	run(incremental) // rewrites the days of the bumped records, carrying the others over
	fresh := t.TempDir()
	run(fresh)

	db := openDuckDB(t)
	// The days the second run listed again (watermark less the 48 h
	// lookback), from the first whole one: older days keep what the first
	// run stored, and the simulator's versions move with its clock.
	since := clk.Now().Add(-50*time.Hour + 24*time.Hour).Format("2006-01-02")
	for _, tb := range schemas.Tables[:5] {
		a, b := table(incremental, tb.Name), table(fresh, tb.Name)
		for _, q := range []string{
			fmt.Sprintf("SELECT count(*) FROM (SELECT * FROM %s WHERE dt >= '%s' EXCEPT ALL SELECT * FROM %s WHERE dt >= '%s')", a, since, b, since),
			fmt.Sprintf("SELECT count(*) FROM (SELECT * FROM %s WHERE dt >= '%s' EXCEPT ALL SELECT * FROM %s WHERE dt >= '%s')", b, since, a, since),
		} {
			if n := scan[int](t, db, q); n != 0 {
				t.Errorf("%s: %d rows of the rewritten lake differ from a fresh one's since %s", tb.Name, n, since)
			}
		}
	}
	if nulls := scan[int](t, db, "SELECT count(*) FROM "+table(incremental, "media_streams")+" WHERE average_round_trip_time_ms IS NULL AND dt >= '"+since+"'"); nulls == 0 {
		t.Error("no NULL round trip in the compared days: the test compares too little")
	}
}

// TestLake_Azure runs the job into Azure Blob Storage (Azurite, the Azure
// Storage emulator, through an abfss:// destination) and reads the lake back
// with DuckDB from files downloaded through the same store: every table equals
// the local-directory run's, row for row.
func TestLake_Azure(t *testing.T) {
	t.Parallel()
	_, url := newSim(t)
	db := openDuckDB(t)
	local := t.TempDir()
	runJob(t, url, local, load.S3Config{})
	want := fingerprint(t, db, local)

	az := loadtest.StartAzurite(t)
	dest := az.Dest("teams/lake")
	runJobAt(t, now, url, dest, load.S3Config{}, func(c *jobs.Config) { c.Azure = az.Config() })
	store, err := load.OpenStore(context.Background(), dest, load.StoreConfig{Azure: az.Config()})
	if err != nil {
		t.Fatal(err)
	}
	copied := loadtest.DownloadAll(t, store)
	if got := fingerprint(t, db, copied); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Azure lake differs from the local one:\nlocal %v\nazure %v", want, got)
	}
	st, err := jobs.ReadStatus(context.Background(), jobs.Config{Dest: dest, Azure: az.Config()}, tenant, now)
	if err != nil || len(st) == 0 {
		t.Errorf("status of the Azure lake = %v, %v; want its checkpoints", st, err)
	}
}
