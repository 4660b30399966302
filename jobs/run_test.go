package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/extract"
	"github.com/callrecords-etl/callrecords-etl/graphsim"
	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/iceberg"
	"github.com/callrecords-etl/callrecords-etl/load/lake"
	"github.com/callrecords-etl/callrecords-etl/load/loadtest"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

const tenant = "5b8f1d2e-3c4a-4b6d-8e9f-0a1b2c3d4e5f"

// clock is a settable time source shared by the simulator and the job.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	clock *clock
	sim   *graphsim.Simulator
	url   string
	dest  string
}

// newFixture gives a lake whose call-records checkpoint is a day old, so runs
// cover three days (with the lookback) instead of the retained month: the suite
// stays quick under -race. newFullFixture starts from an empty lake.
func newFixture(t *testing.T, wrap func(http.Handler) http.Handler) *fixture {
	f := newFixtureWith(t, nil, wrap)
	f.seedCheckpoint(t, f.dest, f.clock.Now().Add(-24*time.Hour))
	return f
}

func newFullFixture(t *testing.T) *fixture { return newFixtureWith(t, nil, nil) }

// noBigMeetings leaves the simulator's big meetings out: most of a run's
// bytes, which the tests of the commit protocol repeat many times over.
func noBigMeetings(c *graphsim.Config) { c.NoBigMeetings = true }

// newFixtureWith lets a test change the simulated tenant (e.g. fewer rows).
func newFixtureWith(t *testing.T, edit func(*graphsim.Config), wrap func(http.Handler) http.Handler) *fixture {
	t.Helper()
	c := &clock{t: time.Date(2026, 11, 20, 15, 30, 0, 0, time.UTC)}
	sc := graphsim.Config{Seed: 3, TenantID: tenant, Now: c.Now, RecordsPerDay: 6, Token: "tok"}
	if edit != nil {
		edit(&sc)
	}
	sim := graphsim.New(sc)
	var h http.Handler = sim
	if wrap != nil {
		h = wrap(sim)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &fixture{clock: c, sim: sim, url: srv.URL, dest: t.TempDir()}
}

// seedCheckpoint writes a call-records checkpoint into dest, so that the next
// scheduled run covers only the days since (plus the lookback) instead of the
// whole retained month: a smaller window for the slower tests.
func (f *fixture) seedCheckpoint(t *testing.T, dest string, watermark time.Time) {
	t.Helper()
	data, _ := json.Marshal(lake.Checkpoint{Tenant: tenant, Dataset: schemas.DatasetCallRecords, Watermark: watermark})
	if err := mustLocal(t, dest).Put(context.Background(), "_etl/state/"+tenant+"/callrecords.json", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) config() jobs.Config {
	cfg := jobs.DefaultConfig()
	cfg.TenantID, cfg.GraphURL, cfg.Dest = tenant, f.url, f.dest
	cfg.Credential = extract.StaticToken("tok")
	cfg.MaxRPS, cfg.Concurrency = 0, 4
	cfg.Now = f.clock.Now
	cfg.Logger = testLogger()
	cfg.Datasets = []string{schemas.DatasetCallRecords} // the usage tests choose their own
	cfg.IcebergOpener = iceberg.OpenCatalog             // in this process; the real-command tests start the binary
	return cfg
}

func (f *fixture) run(t *testing.T, edit func(*jobs.Config)) (*jobs.Summary, error) {
	t.Helper()
	cfg := f.config()
	if edit != nil {
		edit(&cfg)
	}
	sum, err := jobs.Run(context.Background(), cfg)
	checkSummaryCounts(t, sum, err)
	return sum, err
}

// checkSummaryCounts: a summary's quarantined per dataset add up to the
// records it lists as quarantined; and once the run completed, each dataset
// accounts for every record or row it listed: new, updated, unchanged, not
// found or quarantined.
func checkSummaryCounts(t *testing.T, sum *jobs.Summary, err error) {
	t.Helper()
	if sum == nil {
		return
	}
	completed := err == nil || errors.Is(err, jobs.ErrQuarantined) || errors.Is(err, jobs.ErrRetentionGap)
	total := 0
	for name, d := range sum.Datasets {
		total += d.Failed
		if accounted := d.New + d.Updated + d.Unchanged + d.NotFound + d.Failed; completed && d.Listed != accounted {
			t.Errorf("%s: listed %d, but new %d + updated %d + unchanged %d + not found %d + quarantined %d = %d",
				name, d.Listed, d.New, d.Updated, d.Unchanged, d.NotFound, d.Failed, accounted)
		}
	}
	if total != len(sum.Quarantined) {
		t.Errorf("the summary counts %d quarantined over its datasets, and lists %d: %v", total, len(sum.Quarantined), sum.Quarantined)
	}
}

// MustRun runs the job and fails the test on error.
func (f *fixture) MustRun(t *testing.T, edit func(*jobs.Config)) *jobs.Summary {
	t.Helper()
	sum, err := f.run(t, edit)
	if err != nil {
		t.Fatalf("jobs.Run: %v", err)
	}
	return sum
}

// callRecords reads every call_records row of the local lake back.
func callRecords(t *testing.T, dest string) []schemas.CallRecordRow {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dest, schemas.TableCallRecords, "dt=*", "*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	var out []schemas.CallRecordRow
	for _, f := range files {
		err := load.ReadParquet(f, 1000, func(rows []schemas.CallRecordRow) error {
			out = append(out, rows...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func countRows[T any](t *testing.T, dest, table string) int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dest, table, "dt=*", "*.parquet"))
	n := 0
	for _, f := range files {
		if err := load.ReadParquet(f, 1000, func(rows []T) error { n += len(rows); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

func TestRun_FirstRunReadsRetainedWindow(t *testing.T) {
	t.Parallel()
	f := newFullFixture(t)
	sum := f.MustRun(t, nil)
	truth := f.sim.Truth(f.clock.Now().Add(-jobs.Retention), f.clock.Now())

	rows := callRecords(t, f.dest)
	if len(rows) != truth.Records {
		t.Fatalf("call_records rows = %d, want %d (simulator truth)", len(rows), truth.Records)
	}
	seen := map[string]bool{}
	for _, r := range rows {
		if seen[r.CallRecordID] {
			t.Errorf("call record %s stored twice", r.CallRecordID)
		}
		seen[r.CallRecordID] = true
	}
	for _, id := range truth.IDs {
		if !seen[id] {
			t.Errorf("call record %s missing", id)
		}
	}
	if got := countRows[schemas.SessionRow](t, f.dest, schemas.TableSessions); got != truth.Sessions {
		t.Errorf("sessions rows = %d, want %d", got, truth.Sessions)
	}
	if got := countRows[schemas.SegmentRow](t, f.dest, schemas.TableSegments); got != truth.Segments {
		t.Errorf("segments rows = %d, want %d", got, truth.Segments)
	}
	if got := countRows[schemas.ParticipantRow](t, f.dest, schemas.TableParticipants); got != truth.Participants {
		t.Errorf("participants rows = %d, want %d", got, truth.Participants)
	}
	d := sum.Datasets[schemas.DatasetCallRecords]
	if d.New != truth.Records || d.Listed != truth.Records {
		t.Errorf("summary listed %d new %d, want %d", d.Listed, d.New, truth.Records)
	}
	if sum.Graph.Requests["get"] != int64(truth.Records) {
		t.Errorf("detail requests = %d, want one per record (%d)", sum.Graph.Requests["get"], truth.Records)
	}
	if _, err := os.Stat(filepath.Join(f.dest, "_etl", "state", tenant, "callrecords.json")); err != nil {
		t.Errorf("checkpoint not written: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(f.dest, "_etl", "runs", tenant, "*.json")); len(m) != 1 {
		t.Errorf("run summaries = %v, want one", m)
	}
}

// TestRun_Incremental changes the source between runs: the second run fetches
// only new and changed records and the lake holds each id once, at its newest
// version, with that version's sessions.
func TestRun_Incremental(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, noBigMeetings, nil)
	f.MustRun(t, nil)
	before := f.sim.Truth(f.clock.Now().Add(-jobs.Retention), f.clock.Now())

	// Bump two records inside the lookback window.
	var bumped []string
	for _, id := range before.IDs {
		raw, _ := f.sim.Record(id)
		var rec struct {
			Start time.Time `json:"startDateTime"`
		}
		json.Unmarshal(raw, &rec)
		if f.clock.Now().Sub(rec.Start) < 24*time.Hour && len(bumped) < 2 {
			if !f.sim.Bump(id) {
				t.Fatalf("Bump(%s) = false", id)
			}
			bumped = append(bumped, id)
		}
	}
	if len(bumped) != 2 {
		t.Fatalf("found %d recent records to bump, want 2", len(bumped))
	}
	f.clock.Add(6 * time.Hour)
	after := f.sim.Truth(f.clock.Now().Add(-jobs.Retention), f.clock.Now())
	sum := f.MustRun(t, nil)

	d := sum.Datasets[schemas.DatasetCallRecords]
	newIDs := 0
	old := map[string]bool{}
	for _, id := range before.IDs {
		old[id] = true
	}
	for _, id := range after.IDs {
		if !old[id] {
			newIDs++
		}
	}
	if d.Updated != len(bumped) || d.New != newIDs {
		t.Errorf("second run: updated %d new %d, want %d and %d", d.Updated, d.New, len(bumped), newIDs)
	}
	if got, want := sum.Graph.Requests["get"], int64(len(bumped)+newIDs); got != want {
		t.Errorf("second run made %d detail requests, want %d (changed and new only)", got, want)
	}

	rows := callRecords(t, f.dest)
	versions := map[string]int64{}
	for _, r := range rows {
		if _, dup := versions[r.CallRecordID]; dup {
			t.Errorf("call record %s stored twice", r.CallRecordID)
		}
		versions[r.CallRecordID] = r.Version
	}
	// Everything the first run stored stays (even what has since expired), plus the new.
	if len(rows) < after.Records {
		t.Errorf("lake holds %d records, want at least %d", len(rows), after.Records)
	}
	for _, id := range bumped {
		raw, _ := f.sim.Record(id)
		var rec struct {
			Version  int64 `json:"version"`
			Sessions []any `json:"sessions"`
		}
		json.Unmarshal(raw, &rec)
		if versions[id] != rec.Version {
			t.Errorf("record %s at version %d, want %d", id, versions[id], rec.Version)
		}
	}
	if got := countRows[schemas.SessionRow](t, f.dest, schemas.TableSessions); got < after.Sessions {
		t.Errorf("sessions = %d, want at least %d", got, after.Sessions)
	}
}

func TestRun_RetentionGap(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, noBigMeetings, nil)
	store, err := load.NewLocalStore(f.dest)
	if err != nil {
		t.Fatal(err)
	}
	old := lake.Checkpoint{Tenant: tenant, Dataset: "callrecords", Watermark: f.clock.Now().Add(-40 * 24 * time.Hour)}
	data, _ := json.Marshal(old)
	if _, err := store.PutIfAbsent(context.Background(), "_etl/state/"+tenant+"/callrecords.json", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	sum, err := f.run(t, nil)
	if !errors.Is(err, jobs.ErrRetentionGap) {
		t.Fatalf("Run = %v, want ErrRetentionGap", err)
	}
	if len(sum.Gaps) != 1 || !sum.Gaps[0].From.Equal(old.Watermark) {
		t.Errorf("summary gaps = %+v, want one from %s", sum.Gaps, old.Watermark)
	}
	st, err := jobs.ReadStatus(context.Background(), jobs.Config{Dest: f.dest}, tenant, f.clock.Now())
	if err != nil || len(st) != 1 || len(st[0].Gaps) != 1 {
		t.Fatalf("status = %+v, %v; want the gap recorded in state", st, err)
	}
	if got := len(callRecords(t, f.dest)); got == 0 {
		t.Error("the run did not carry on with what still exists")
	}
}

// TestRun_BackfillPastRetention: a backfill whose window starts before
// Graph's 30 days finds nothing of the older days; the run says why (a
// warning naming where retention starts) instead of looking like days
// without calls, and so does a window that has not begun.
func TestRun_BackfillPastRetention(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, noBigMeetings, nil)
	now := f.clock.Now()
	for _, c := range []struct {
		name     string
		from, to time.Time
		want     string
	}{
		{"past retention", now.Add(-40 * 24 * time.Hour), now.Add(-28 * 24 * time.Hour), "retained_from=" + now.Add(-jobs.Retention).UTC().Format(time.RFC3339)},
		{"not begun", now.Add(24 * time.Hour), now.Add(48 * time.Hour), "the window has not begun"},
		{"within retention", now.Add(-3 * 24 * time.Hour), now.Add(-2 * 24 * time.Hour), ""},
	} {
		var logs bytes.Buffer
		sum, err := f.run(t, func(cfg *jobs.Config) {
			cfg.From, cfg.To = c.from, c.to
			cfg.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
		})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if c.want == "" {
			if logs.Len() != 0 || sum.Datasets[schemas.DatasetCallRecords].New == 0 {
				t.Errorf("%s: warned %q, loaded %+v; want records and no warning", c.name, logs.String(), sum.Datasets[schemas.DatasetCallRecords])
			}
			continue
		}
		if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), c.want) {
			t.Errorf("%s: logged %q, want a warning saying %q", c.name, logs.String(), c.want)
		}
	}
}

func TestRun_ExplicitWindowKeepsWatermark(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.MustRun(t, nil)
	read := func() lake.Checkpoint {
		st, err := jobs.ReadStatus(context.Background(), jobs.Config{Dest: f.dest}, tenant, f.clock.Now())
		if err != nil || len(st) != 1 {
			t.Fatalf("status: %v %v", st, err)
		}
		return st[0].Checkpoint
	}
	before := read()
	f.clock.Add(time.Hour)
	to := f.clock.Now().Add(-24 * time.Hour)
	sum := f.MustRun(t, func(c *jobs.Config) { c.From, c.To = to.Add(-48*time.Hour), to })
	if d := sum.Datasets[schemas.DatasetCallRecords]; d.New+d.Updated != 0 {
		t.Errorf("backfill over stored data fetched %d records, want 0", d.New+d.Updated)
	}
	if after := read(); !after.Watermark.Equal(before.Watermark) || after.LastRunID != before.LastRunID {
		t.Errorf("explicit window moved the checkpoint: %+v -> %+v", before, after)
	}
}

// TestRun_Quarantine serves one record with a payload our decoder refuses: the
// run completes everything else, keeps the payload, and says so.
func TestRun_Quarantine(t *testing.T) {
	t.Parallel()
	var badID string
	var mu sync.Mutex
	f := newFixtureWith(t, noBigMeetings, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			id := badID
			mu.Unlock()
			if id == "" || !strings.HasSuffix(r.URL.Path, "/callRecords/"+id) {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			body := bytes.Replace(rec.Body.Bytes(), []byte(`"startDateTime":"`), []byte(`"startDateTime":"not a time `), 1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(rec.Code)
			w.Write(body)
		})
	})
	truth := f.sim.Truth(f.clock.Now().Add(-jobs.Retention), f.clock.Now())
	mu.Lock()
	badID = truth.IDs[len(truth.IDs)/2]
	mu.Unlock()

	sum, err := f.run(t, nil)
	if !errors.Is(err, jobs.ErrQuarantined) {
		t.Fatalf("Run = %v, want ErrQuarantined", err)
	}
	if len(sum.Quarantined) != 1 || sum.Quarantined[0] != badID {
		t.Errorf("quarantined = %v, want [%s]", sum.Quarantined, badID)
	}
	kept, err := os.ReadFile(filepath.Join(f.dest, filepath.FromSlash(lake.QuarantineKey(tenant, schemas.DatasetCallRecords, badID))))
	if err != nil {
		t.Fatalf("quarantined payload not kept: %v", err)
	}
	if !bytes.Contains(kept, []byte("not a time")) || !bytes.Contains(kept, []byte(badID)) {
		t.Errorf("quarantine file does not hold the payload and its error: %.200s", kept)
	}
	if got := len(callRecords(t, f.dest)); got != truth.Records-1 {
		t.Errorf("call_records = %d, want every other record (%d)", got, truth.Records-1)
	}
	// The completeness ledger counts it quarantined, and its day incomplete.
	days, err := jobs.ReadCompleteness(context.Background(), jobs.Config{Dest: f.dest}, tenant, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, d := range days {
		if d.Quarantined == 1 && (d.Complete || d.Committed != d.IDs-1) || d.Quarantined > 1 {
			t.Errorf("%+v: want the quarantined record not committed, its day incomplete", d)
		}
		if d.Quarantined == 1 {
			if r := ledgerRows(t, f.dest, d.Date)[badID]; !r.Quarantined || !r.Listed || !r.Fetched || r.Committed {
				t.Errorf("ledger row of the quarantined record: %+v", r)
			}
			found = true
		}
	}
	if !found {
		t.Errorf("no day of the ledger counts %s quarantined", badID)
	}
}

// TestRun_MigratesEarlierLayout: a lake written by an earlier version (several
// files per table and day, named by a manifest, plus a file a crashed run of
// it left) is read through its manifest, and the first rewrite of a day
// replaces its files with one object per table: the rows are those of a lake
// written by this version, and no file of the earlier layout is left in the
// days rewritten.
func TestRun_MigratesEarlierLayout(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.MustRun(t, nil)
	want := lakeRows(t, f.dest)

	// Turn each partition into the earlier layout.
	store := mustLocal(t, f.dest)
	manifests := map[string]map[string][]map[string]string{} // "dataset/date" -> table -> files
	records := map[string]int{}
	held := map[string]bool{} // "table/date" of the objects moved to the earlier layout
	for _, tb := range schemas.Tables {
		objs, _ := filepath.Glob(filepath.Join(f.dest, tb.Name, "dt=*", tenant+".parquet"))
		for _, obj := range objs {
			dt := strings.TrimPrefix(filepath.Base(filepath.Dir(obj)), "dt=")
			held[tb.Name+"/"+dt] = true
			key := fmt.Sprintf("%s/dt=%s/%s_20261120T000000Z-abcdef_0000.parquet", tb.Name, dt, tenant)
			if err := os.Rename(obj, filepath.Join(f.dest, filepath.FromSlash(key))); err != nil {
				t.Fatal(err)
			}
			part := tb.Dataset + "/" + dt
			if manifests[part] == nil {
				manifests[part] = map[string][]map[string]string{}
			}
			manifests[part][tb.Name] = append(manifests[part][tb.Name], map[string]string{"key": key})
			if tb.Name == schemas.TableCallRecords {
				n, _ := load.ParquetRows(filepath.Join(f.dest, filepath.FromSlash(key)))
				records[part] = int(n)
			}
		}
	}
	for part, tables := range manifests {
		data, _ := json.Marshal(map[string]any{"records": records[part], "tables": tables})
		loadtest.MustPut(t, store, "_etl/manifests/"+tenant+"/"+part+".json", data)
	}
	// A file a crashed run of the earlier version left, named by no manifest.
	day := schemas.PartitionDate(f.clock.Now())
	stray := filepath.Join(f.dest, schemas.TableSessions, "dt="+day, tenant+"_crashed-run_0000.parquet")
	os.WriteFile(stray, []byte("never committed"), 0o644)

	// Today's records change: today's partition is rewritten.
	tr := f.sim.Truth(f.clock.Now().Truncate(24*time.Hour), f.clock.Now())
	if len(tr.IDs) == 0 {
		t.Fatal("no record today")
	}
	f.sim.Bump(tr.IDs[0])
	f.clock.Add(time.Minute)
	f.MustRun(t, nil)

	for _, tb := range schemas.Tables {
		if tb.Dataset != schemas.DatasetCallRecords {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(f.dest, tb.Name, "dt="+day, "*"))
		if !held[tb.Name+"/"+day] && len(files) == 0 {
			continue // no rows that day (a day without a call through a queue has no journey hops)
		}
		if len(files) != 1 || filepath.Base(files[0]) != tenant+".parquet" {
			t.Errorf("%s/dt=%s after its rewrite holds %v, want only %s.parquet", tb.Name, day, files, tenant)
		}
	}
	if _, err := os.Stat(filepath.Join(f.dest, "_etl", "manifests", tenant, "callrecords", day+".json")); !os.IsNotExist(err) {
		t.Errorf("manifest of the rewritten day still there (%v)", err)
	}
	// Rows: those the lake held, with the bumped record's new version.
	got := lakeRows(t, f.dest)
	for table, rows := range want {
		if len(got[table]) < len(rows) {
			t.Errorf("%s: %d rows after the migration, want at least the %d before", table, len(got[table]), len(rows))
		}
	}
	versions := map[string]int64{}
	for _, r := range callRecords(t, f.dest) {
		if _, dup := versions[r.CallRecordID]; dup {
			t.Errorf("call record %s stored twice", r.CallRecordID)
		}
		versions[r.CallRecordID] = r.Version
	}
	if v, _ := f.sim.Version(tr.IDs[0]); versions[tr.IDs[0]] != v {
		t.Errorf("bumped record at version %d, want %d", versions[tr.IDs[0]], v)
	}
}

// TestRun_DryRun reports what a run would do — the records it would fetch,
// the partitions of every dataset it would rewrite, as the run that follows
// does — says it is a dry run, and writes nothing at all.
func TestRun_DryRun(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, noBigMeetings, nil)
	all := func(c *jobs.Config) {
		c.Datasets = []string{schemas.DatasetCallRecords, schemas.DatasetPstn, schemas.DatasetDirectRouting}
	}
	sum := f.MustRun(t, func(c *jobs.Config) { all(c); c.DryRun = true })
	truth := f.sim.Truth(f.clock.Now().Add(-jobs.Retention), f.clock.Now())
	if d := sum.Datasets[schemas.DatasetCallRecords]; d.New != truth.Records {
		t.Errorf("dry run: would fetch %d new, want %d", d.New, truth.Records)
	}
	var printed strings.Builder
	sum.Print(&printed)
	if !sum.DryRun || !strings.Contains(printed.String(), "DRY RUN") {
		t.Errorf("dry run summary (DryRun %t) does not say so:\n%s", sum.DryRun, printed.String())
	}
	files := func() []string {
		var files []string
		filepath.Walk(f.dest, func(path string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() {
				files = append(files, fmt.Sprintf("%s %d %s", path, info.Size(), info.ModTime()))
			}
			return nil
		})
		return files
	}
	if written := files(); len(written) != 0 {
		t.Errorf("dry run wrote %v", written)
	}
	sameCounts := func(label string, dry, real *jobs.Summary) {
		t.Helper()
		for _, ds := range []string{schemas.DatasetCallRecords, schemas.DatasetPstn, schemas.DatasetDirectRouting} {
			d, r := dry.Datasets[ds], real.Datasets[ds]
			if d.Partitions != r.Partitions || r.Partitions == 0 || d.New != r.New || d.Updated != r.Updated || d.Unchanged != r.Unchanged {
				t.Errorf("%s, %s: the dry run would rewrite %d partitions (new %d, updated %d, unchanged %d), the run rewrote %d (new %d, updated %d, unchanged %d)",
					label, ds, d.Partitions, d.New, d.Updated, d.Unchanged, r.Partitions, r.New, r.Updated, r.Unchanged)
			}
		}
	}
	sameCounts("empty lake", sum, f.MustRun(t, all))
	// Over the lake: the report rows the lookback reads again count as
	// unchanged, the late ones as new, as the run that follows counts them.
	f.clock.Add(20 * time.Hour)
	before := files()
	sum = f.MustRun(t, func(c *jobs.Config) { all(c); c.DryRun = true })
	if after := files(); !slices.Equal(after, before) {
		t.Errorf("dry run over a lake changed its files:\n%v\nwas\n%v", after, before)
	}
	if d := sum.Datasets[schemas.DatasetPstn]; d.Unchanged == 0 || d.New == 0 {
		t.Errorf("dry run over a lake, PSTN: new %d unchanged %d, want both", d.New, d.Unchanged)
	}
	sameCounts("over a lake", sum, f.MustRun(t, all))
}

// TestRun_KeepsEvolvableEnumMembers: a run asks Graph for evolvable enum
// members by name, so a client's productFamily azureCommunicationServices is
// stored as such; Graph (and the simulator) send unknownFutureValue to a
// client that does not ask, and that value could never be repaired later.
func TestRun_KeepsEvolvableEnumMembers(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, func(c *graphsim.Config) { c.RecordsPerDay = 20 }, nil)
	f.seedCheckpoint(t, f.dest, f.clock.Now().Add(-24*time.Hour))
	f.MustRun(t, nil)
	files, _ := filepath.Glob(filepath.Join(f.dest, schemas.TableSessions, "dt=*", "*.parquet"))
	families := map[string]int{}
	for _, file := range files {
		err := load.ReadParquet(file, 1000, func(rows []schemas.SessionRow) error {
			for _, r := range rows {
				families[r.CallerEndpoint.UserAgentProductFamily]++
				families[r.CalleeEndpoint.UserAgentProductFamily]++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if families["azureCommunicationServices"] == 0 {
		t.Errorf("no session endpoint with productFamily azureCommunicationServices; families stored: %v", families)
	}
}

// TestConfig_TenantID: the lake names a tenant's files and rows by its id,
// so only the one form of it is taken: a GUID in lowercase. A domain name
// (the same tenant under a second name: its data twice), capitals, or an id
// that is not one path segment are configuration errors naming the setting;
// a notifications receiver is held to the same.
func TestConfig_TenantID(t *testing.T) {
	for _, c := range []struct{ id, want string }{
		{"contoso.onmicrosoft.com", "is not a directory (tenant) ID"},
		{"5B8F1D2E-3C4A-4B6D-8E9F-0A1B2C3D4E5F", "give it in lowercase, " + tenant},
		{"../" + tenant, "is not a directory (tenant) ID"},
		{tenant + "/x", "is not a directory (tenant) ID"},
		{"{" + tenant + "}", "is not a directory (tenant) ID"},
	} {
		cfg := jobs.DefaultConfig()
		cfg.TenantID, cfg.Dest = c.id, t.TempDir()
		err := cfg.Validate()
		if !errors.Is(err, jobs.ErrConfig) || !strings.Contains(err.Error(), "TenantID") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("TenantID %q: Validate = %v, want a configuration error saying %q", c.id, err, c.want)
		}
		err = jobs.ServeNotifications(context.Background(), cfg, jobs.ServeOptions{ClientState: "s"})
		if !errors.Is(err, jobs.ErrConfig) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("TenantID %q: ServeNotifications = %v, want a configuration error saying %q", c.id, err, c.want)
		}
	}
	cfg := jobs.DefaultConfig()
	cfg.TenantID, cfg.Dest = tenant, t.TempDir()
	if err := cfg.Validate(); err != nil {
		t.Errorf("TenantID %q: %v", tenant, err)
	}
}
