package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// replayConfig is f's configuration without Graph: replay must not need it.
func replayConfig(f *fixture) jobs.Config {
	cfg := f.config()
	cfg.Credential, cfg.GraphURL = nil, "http://127.0.0.1:1" // nothing listens there
	return cfg
}

// removeTables deletes every fact table folder of dest, as a user might
// before a replay (the raw archive stays).
func removeTables(t *testing.T, dest string, tables ...string) {
	t.Helper()
	if len(tables) == 0 {
		for _, tb := range schemas.Tables {
			tables = append(tables, tb.Name)
		}
	}
	for _, tb := range tables {
		if err := os.RemoveAll(filepath.Join(dest, tb)); err != nil {
			t.Fatal(err)
		}
	}
}

// archived reads every raw call record row of the local lake: (id, version)
// to its JSON, failing the test on a pair archived twice.
func archived(t *testing.T, dest string) map[[2]any][]byte {
	t.Helper()
	out := map[[2]any][]byte{}
	files, _ := filepath.Glob(filepath.Join(dest, schemas.TableRawCallRecords, "dt=*", "*.parquet"))
	for _, f := range files {
		var pieces []byte // of the record being put together
		err := load.ReadParquet(f, 16, func(rows []schemas.RawCallRecordRow) error {
			for _, r := range rows {
				k := [2]any{r.CallRecordID, r.Version}
				if r.TenantID != tenant || r.FetchedAt.IsZero() {
					t.Errorf("%s version %d: tenant %q fetched_at %v", r.CallRecordID, r.Version, r.TenantID, r.FetchedAt)
				}
				json := bytes.Clone(r.JSON)
				if r.Pieces > 1 { // consecutive, in order
					if r.JSON != nil || int(r.Piece) >= int(r.Pieces) || (r.Piece == 0) != (pieces == nil) {
						t.Errorf("%s version %d: piece %d of %d out of order", r.CallRecordID, r.Version, r.Piece, r.Pieces)
					}
					pieces = append(pieces, r.JSONPiece...)
					if r.Piece < r.Pieces-1 {
						continue
					}
					json, pieces = pieces, nil
				}
				if _, dup := out[k]; dup {
					t.Errorf("%s version %d archived twice", r.CallRecordID, r.Version)
				}
				out[k] = json
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestReplay_RebuildsTheTables: two runs (the second with new versions of
// two records) fill the archive with every version fetched, each once, as
// Graph sent it; with every table deleted and Graph out of reach, replay
// rebuilds tables equal to the runs', row for row; then a replay of one
// table leaves the others' objects untouched, and a replay of one day
// rebuilds that day only.
func TestReplay_RebuildsTheTables(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	usage := func(c *jobs.Config) { // three days of reports: enough rows, a shorter test
		c.Datasets, c.UsageHistory = jobs.DefaultConfig().Datasets, 72*time.Hour
	}
	f.MustRun(t, usage)
	var bumped []string
	for _, r := range callRecords(t, f.dest) {
		recent := f.clock.Now().Sub(r.StartDateTime) < 24*time.Hour // inside the next run's lookback
		if recent && len(bumped) < 2 && f.sim.Bump(r.CallRecordID) {
			bumped = append(bumped, r.CallRecordID)
		}
	}
	f.clock.Add(2 * time.Hour)
	f.MustRun(t, usage)
	want := lakeRows(t, f.dest)
	if len(bumped) != 2 {
		t.Fatalf("bumped %d records, the test needs 2", len(bumped))
	}
	if len(want[schemas.TablePstnCalls]) == 0 || len(want[schemas.TableDirectRoutingCalls]) == 0 {
		t.Fatal("the runs wrote no PSTN or Direct Routing rows; the test needs some")
	}

	arch := archived(t, f.dest)
	for _, r := range callRecords(t, f.dest) {
		raw, ok := arch[[2]any{r.CallRecordID, r.Version}]
		if !ok {
			t.Fatalf("%s version %d is in the tables but not in the archive", r.CallRecordID, r.Version)
		}
		if served, _ := f.sim.RecordWithUnknownEnumMembers(r.CallRecordID); !sameRecord(raw, served) {
			t.Errorf("archive of %s differs from what Graph served", r.CallRecordID)
		}
	}
	for _, id := range bumped { // the version before the bump is kept too
		raw, _ := f.sim.Record(id)
		var v struct{ Version int64 }
		json.Unmarshal(raw, &v)
		if _, ok := arch[[2]any{id, v.Version - 1}]; !ok {
			t.Errorf("%s: version %d (before the bump) not archived", id, v.Version-1)
		}
	}

	removeTables(t, f.dest)
	sum, err := jobs.Replay(context.Background(), replayConfig(f), nil)
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	checkSummaryCounts(t, sum, err)
	diffLakes(t, "replay", lakeRows(t, f.dest), want)
	assertReaderView(t, "replay", f.dest)
	if d := sum.Datasets[schemas.DatasetCallRecords]; d.New != len(callRecords(t, f.dest)) {
		t.Errorf("replay summary: %d new records, want %d", d.New, len(callRecords(t, f.dest)))
	}
	if got := archived(t, f.dest); len(got) != len(arch) {
		t.Errorf("replay changed the archive: %d versions, was %d", len(got), len(arch))
	}

	// One table: the others' objects are not rewritten.
	stamp := func(table string) map[string]time.Time {
		out := map[string]time.Time{}
		files, _ := filepath.Glob(filepath.Join(f.dest, table, "dt=*", "*.parquet"))
		for _, p := range files {
			fi, _ := os.Stat(p)
			out[p] = fi.ModTime()
		}
		return out
	}
	before := stamp(schemas.TableCallRecords)
	removeTables(t, f.dest, schemas.TableSessions)
	if _, err := jobs.Replay(context.Background(), replayConfig(f), []string{schemas.TableSessions}); err != nil {
		t.Fatalf("Replay sessions: %v", err)
	}
	diffLakes(t, "replay of sessions", lakeRows(t, f.dest), want)
	if after := stamp(schemas.TableCallRecords); !mapsEqual(after, before) {
		t.Error("a replay of sessions rewrote call_records")
	}

	// One day.
	days, _ := filepath.Glob(filepath.Join(f.dest, schemas.TableRawCallRecords, "dt=*"))
	if len(days) < 2 {
		t.Fatalf("archive holds %d days, the test needs two", len(days))
	}
	removeTables(t, f.dest)
	day, _ := time.Parse(time.DateOnly, filepath.Base(days[0])[len("dt="):])
	cfg := replayConfig(f)
	cfg.From, cfg.To = day, day.Add(24*time.Hour)
	if _, err := jobs.Replay(context.Background(), cfg, nil); err != nil {
		t.Fatalf("Replay of one day: %v", err)
	}
	if got, _ := filepath.Glob(filepath.Join(f.dest, schemas.TableCallRecords, "dt=*")); len(got) != 1 || filepath.Base(got[0]) != filepath.Base(days[0]) {
		t.Errorf("replay of %s wrote %v", day.Format(time.DateOnly), got)
	}

	if _, err := jobs.Replay(context.Background(), replayConfig(f), []string{"calls"}); err == nil {
		t.Error("replay of an unknown table did not fail")
	}

	// The archive's JSON, every version, imported into another lake.
	var lines [][]byte
	for _, raw := range arch {
		var c bytes.Buffer
		json.Compact(&c, raw)
		lines = append(lines, c.Bytes())
	}
	cfg = replayConfig(f)
	cfg.Dest = t.TempDir()
	if _, err := jobs.Import(context.Background(), cfg, bytes.NewReader(bytes.Join(lines, []byte("\n")))); err != nil {
		t.Fatalf("Import of the archive: %v", err)
	}
	for _, tb := range schemas.Tables {
		if tb.Dataset != schemas.DatasetCallRecords {
			delete(want, tb.Name)
		}
	}
	diffLakes(t, "import of the archive", lakeRows(t, cfg.Dest), want)
}

// TestReplay_FillsANewColumn: tables written by an earlier build, which did
// not have a column, get it filled by replay from the archive, for records
// Graph no longer serves.
func TestReplay_FillsANewColumn(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.MustRun(t, nil)
	want := lakeRows(t, f.dest)

	// The earlier build's call_records: no join_web_url, no modalities.
	type oldRow struct {
		TenantID      string    `parquet:"tenant_id"`
		CallRecordID  string    `parquet:"call_record_id"`
		Version       int64     `parquet:"version"`
		Type          string    `parquet:"type,optional"`
		StartDateTime time.Time `parquet:"start_date_time,timestamp(microsecond)"`
	}
	files, _ := filepath.Glob(filepath.Join(f.dest, schemas.TableCallRecords, "dt=*", "*.parquet"))
	filled := 0
	for _, p := range files {
		var old []oldRow
		load.ReadParquet(p, 1000, func(rows []schemas.CallRecordRow) error {
			for _, r := range rows {
				old = append(old, oldRow{r.TenantID, r.CallRecordID, r.Version, r.Type, r.StartDateTime})
				if r.JoinWebURL != "" {
					filled++
				}
			}
			return nil
		})
		if err := parquet.WriteFile(p, old); err != nil {
			t.Fatal(err)
		}
	}
	if filled == 0 {
		t.Fatal("no record has a join_web_url; the test needs some")
	}
	for _, r := range callRecords(t, f.dest) {
		if r.JoinWebURL != "" {
			t.Fatal("the earlier build's files still have join_web_url")
		}
	}

	// Graph has deleted the records (30 days later).
	f.clock.Add(jobs.Retention + 24*time.Hour)
	if _, ok := f.sim.Record(callRecords(t, f.dest)[0].CallRecordID); ok {
		t.Fatal("the simulator still serves the record; the test needs it expired")
	}
	if _, err := jobs.Replay(context.Background(), replayConfig(f), []string{schemas.TableCallRecords}); err != nil {
		t.Fatalf("Replay: %v", err)
	}
	got := lakeRows(t, f.dest)
	diffLakes(t, "replay after an upgrade", got, want)
}

// sameRecord: a and b are the same call record, whatever their key order,
// spacing and @odata.context (which names the $expand of the request).
func sameRecord(a, b []byte) bool {
	var x, y map[string]any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	delete(x, "@odata.context")
	delete(y, "@odata.context")
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return bytes.Equal(ja, jb)
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestReplay_KeepsWhatTheArchiveMissed: a run with the archive off writes no
// raw/ object and leaves the archive as it was; a record it updated keeps
// its newer rows through a replay, which has only the older version.
func TestReplay_KeepsWhatTheArchiveMissed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.MustRun(t, nil)
	arch := archived(t, f.dest)
	var bumped string
	for _, r := range callRecords(t, f.dest) {
		if f.clock.Now().Sub(r.StartDateTime) < 24*time.Hour && f.sim.Bump(r.CallRecordID) {
			bumped = r.CallRecordID
			break
		}
	}
	if bumped == "" {
		t.Fatal("no recent record to bump")
	}
	f.clock.Add(time.Hour)
	f.MustRun(t, func(c *jobs.Config) { c.NoRawArchive = true })
	if got := archived(t, f.dest); !mapsEqual(keysOf(got), keysOf(arch)) {
		t.Errorf("a run with the archive off changed it: %d versions, was %d", len(got), len(arch))
	}
	want := lakeRows(t, f.dest)
	if _, err := jobs.Replay(context.Background(), replayConfig(f), nil); err != nil {
		t.Fatalf("Replay: %v", err)
	}
	diffLakes(t, "replay", lakeRows(t, f.dest), want)

	off := t.TempDir()
	f.MustRun(t, func(c *jobs.Config) { c.NoRawArchive, c.Dest = true, off })
	if _, err := os.Stat(filepath.Join(off, "raw")); !os.IsNotExist(err) {
		t.Errorf("a run with the archive off wrote raw/ (%v)", err)
	}
}

func keysOf[K comparable, V any](m map[K]V) map[K]bool {
	out := make(map[K]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}
