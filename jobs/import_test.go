package jobs_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/graphsim"
	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/load/lake"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// TestImport_EqualsRun loads the simulator's records from JSON lines, shuffled,
// with stale lower-version copies and one broken line: the lake equals the lake
// a run over Graph writes, and the broken line is quarantined.
func TestImport_EqualsRun(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	// A run over the last four days (checkpoint two days old, 48 h lookback).
	watermark := f.clock.Now().Add(-48 * time.Hour)
	f.seedCheckpoint(t, f.dest, watermark)
	f.MustRun(t, nil)
	want := lakeRows(t, f.dest)

	truth := f.sim.Truth(watermark.Add(-jobs.DefaultConfig().Lookback), f.clock.Now())
	var lines [][]byte
	for _, id := range truth.IDs {
		raw, _ := f.sim.Record(id)
		var compact bytes.Buffer
		json.Compact(&compact, raw)
		lines = append(lines, compact.Bytes())
		var rec map[string]any
		json.Unmarshal(raw, &rec)
		if v := rec["version"].(float64); v > 1 {
			rec["version"] = v - 1 // an older copy must not win
			rec["sessions"] = []any{}
			old, _ := json.Marshal(rec)
			lines = append(lines, old)
		}
	}
	lines = append(lines, []byte(`{"id": "broken-1", "version": "one", "startDateTime": "2026-11-01T00:00:00Z"}`)) // a bad value elsewhere would be stored as NULL
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(lines), func(i, j int) { lines[i], lines[j] = lines[j], lines[i] })

	dest := t.TempDir()
	cfg := f.config()
	cfg.Dest, cfg.Credential, cfg.GraphURL = dest, nil, ""
	sum, err := jobs.Import(context.Background(), cfg, bytes.NewReader(bytes.Join(lines, []byte("\n"))))
	checkSummaryCounts(t, sum, err)
	if !errors.Is(err, jobs.ErrQuarantined) || len(sum.Quarantined) != 1 || sum.Quarantined[0] != "broken-1" {
		t.Fatalf("Import = %v (quarantined %v), want the broken line quarantined", err, sum.Quarantined)
	}
	diffLakes(t, "import", lakeRows(t, dest), want)
	assertNoLeftovers(t, dest)

	// Importing again changes nothing.
	if _, err := jobs.Import(context.Background(), cfg, strings.NewReader(string(lines[0]))); err != nil {
		t.Fatal(err)
	}
	diffLakes(t, "re-import", lakeRows(t, dest), want)
	if d := sum.Datasets[schemas.DatasetCallRecords]; d.New != truth.Records {
		t.Errorf("import loaded %d new records, want %d", d.New, truth.Records)
	}
}

// TestImport_OtherForms: records as other tools write them (a JSON array,
// pretty-printed records one after another, CRLF lines, a UTF-8 byte order
// mark, gzip) load as their JSON lines do (which TestImport_EqualsRun holds
// to a run); a record that is not one is quarantined under its position; an
// input cut short in a record is an error that names the record.
func TestImport_OtherForms(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, noBigMeetings, nil)
	truth := f.sim.Truth(f.clock.Now().Add(-96*time.Hour), f.clock.Now())
	var records []json.RawMessage
	for i := range 5 { // spread over the days
		raw, _ := f.sim.Record(truth.IDs[i*(len(truth.IDs)-1)/4])
		records = append(records, raw)
	}
	compact := func(raw []byte) []byte {
		var b bytes.Buffer
		json.Compact(&b, raw)
		return b.Bytes()
	}
	var lines, pretty [][]byte
	for _, raw := range records {
		lines = append(lines, compact(raw))
		indented, _ := json.MarshalIndent(raw, "", "  ")
		pretty = append(pretty, indented)
	}
	array, _ := json.Marshal(records)
	arrayIndented, _ := json.MarshalIndent(records, "", "    ")
	bom := []byte{0xef, 0xbb, 0xbf}
	gzipped := func(b []byte) []byte {
		var out bytes.Buffer
		zw := gzip.NewWriter(&out)
		zw.Write(b)
		zw.Close()
		return out.Bytes()
	}
	recordBytes := 0 // the default
	import1 := func(input []byte) (*jobs.Summary, string, error) {
		dest := t.TempDir()
		cfg := f.config()
		cfg.Dest, cfg.Credential, cfg.GraphURL = dest, nil, ""
		cfg.ImportRecordBytes = recordBytes
		sum, err := jobs.Import(context.Background(), cfg, bytes.NewReader(input))
		checkSummaryCounts(t, sum, err)
		return sum, dest, err
	}
	_, wantDest, err := import1(bytes.Join(lines, []byte("\n")))
	if err != nil {
		t.Fatal(err)
	}
	want := lakeRows(t, wantDest)
	if days, _ := filepath.Glob(filepath.Join(wantDest, schemas.TableCallRecords, "dt=*")); len(days) < 2 || len(want[schemas.TableCallRecords]) != len(records) {
		t.Fatalf("the %d records fill %d days, %d rows: too few to tell the forms apart", len(records), len(days), len(want[schemas.TableCallRecords]))
	}
	for name, input := range map[string][]byte{
		"CRLF lines with a BOM":          append(slices.Clone(bom), bytes.Join(lines, []byte("\r\n\r\n"))...),
		"an array":                       array,
		"an indented array, BOM":         append(slices.Clone(bom), arrayIndented...),
		"pretty records":                 bytes.Join(pretty, []byte("\n")),
		"gzipped JSON lines":             gzipped(bytes.Join(lines, []byte("\n"))),
		"a gzipped array with a BOM":     gzipped(append(slices.Clone(bom), arrayIndented...)),
		"gzip members one after another": append(gzipped(bytes.Join(lines[:1], nil)), gzipped(append([]byte("\n"), bytes.Join(lines[1:], []byte("\n"))...))...),
	} {
		if _, dest, err := import1(input); err != nil {
			t.Errorf("%s: %v", name, err)
		} else {
			diffLakes(t, name, lakeRows(t, dest), want)
		}
	}

	withStranger := append(slices.Clone(records[:1]), append([]json.RawMessage{json.RawMessage(`{"kind": "not a call record"}`)}, records[1:]...)...)
	strangers, _ := json.MarshalIndent(withStranger, "", " ")
	sum, dest, err := import1(strangers)
	if !errors.Is(err, jobs.ErrQuarantined) || len(sum.Quarantined) != 1 || sum.Quarantined[0] != "record-2" {
		t.Errorf("an array with a value that is no call record: %v (quarantined %v), want record-2 quarantined", err, sum.Quarantined)
	} else {
		diffLakes(t, "array with a stranger", lakeRows(t, dest), want)
	}

	// A record that is not JSON, or longer than a record may be, is
	// quarantined under its position, in every form, and the ones after it
	// are read.
	longest := 0
	for _, raw := range lines {
		longest = max(longest, len(raw))
	}
	recordBytes = longest
	tooLong := fmt.Appendf(nil, `{"id": "%s"}`, strings.Repeat("x", longest))
	notJSON := []byte(`{"id": tru, "version": 1}`)
	for name, tc := range map[string]struct {
		input []byte
		want  string
	}{
		"an array, not JSON":   {bytes.Join([][]byte{[]byte("["), records[0], []byte(",\n"), notJSON, []byte(",\n"), bytes.Join(lines[1:], []byte(",")), []byte("]")}, nil), "record-2"},
		"an array, too long":   {bytes.Join([][]byte{[]byte("["), records[0], []byte(",\n"), tooLong, []byte(",\n"), bytes.Join(lines[1:], []byte(",")), []byte("]")}, nil), "record-2"},
		"pretty, not JSON":     {bytes.Join(slices.Insert(slices.Clone(pretty), 1, []byte("{\n  \"id\": tru\n}")), []byte("\n")), "record-2"},
		"pretty, too long":     {bytes.Join(slices.Insert(slices.Clone(pretty), 1, tooLong), []byte("\n")), "record-2"},
		"JSON lines, too long": {bytes.Join(slices.Insert(slices.Clone(lines), 1, tooLong), []byte("\n")), "line-2"},
	} {
		sum, dest, err := import1(tc.input)
		if !errors.Is(err, jobs.ErrQuarantined) || len(sum.Quarantined) != 1 || sum.Quarantined[0] != tc.want {
			t.Errorf("%s: %v (quarantined %v), want %s quarantined", name, err, sum.Quarantined, tc.want)
		} else {
			diffLakes(t, name, lakeRows(t, dest), want)
		}
	}
	recordBytes = 0

	for name, input := range map[string][]byte{
		"an array cut short":       arrayIndented[:len(arrayIndented)/2],
		"pretty records cut short": bytes.Join(pretty, []byte("\n"))[:len(pretty[0])+len(pretty[1])/2],
		"a value after the array":  append(slices.Clone(array), []byte(` {"id": "x"}`)...),
	} {
		if _, _, err := import1(input); err == nil || !strings.Contains(err.Error(), "read import") {
			t.Errorf("%s: %v, want an error saying where the input broke", name, err)
		}
	}
}

// TestImport_SortedInput loads records sorted by start, as a dump or an
// archive holds them (each date is written as soon as the next begins), with
// records of earlier dates coming back after later ones and stale copies among
// them: each date is loaded once, whole, even past the spool's bound; then
// with a bound on a date so small that a date is loaded in several parts, one
// after another while the previous commit is still in flight. Every lake
// equals the run's.
func TestImport_SortedInput(t *testing.T) {
	t.Parallel()
	f, want, lines, starts := sortedImportFixture(t, nil)
	// The two earliest records and a stale copy of one come back at the end.
	first := slices.Clone(lines[:2])
	var stale map[string]any
	json.Unmarshal(first[0], &stale)
	stale["version"] = stale["version"].(float64) - 1
	stale["sessions"] = []any{}
	staleLine, _ := json.Marshal(stale)
	lines = append(lines[2:], append(first, staleLine)...)
	if starts[0] == starts[len(starts)-1] {
		t.Fatal("the window holds one date; the test needs several")
	}
	dates := map[string]bool{} // of the records before the late ones
	for _, d := range starts[2:] {
		dates[d] = true
	}

	cfg := f.config()
	cfg.Credential, cfg.GraphURL = nil, ""
	few := int64(len(bytes.Join(lines, nil)) / 10) // a few records' worth
	for _, tc := range []struct {
		name       string
		spool, day int64
		loads      int // partition commits; 0: not checked
	}{
		// Each date once, whole, and one more load for the late records.
		{"default spool", 0, 0, len(dates) + 1},
		{"small spool", few, 1 << 30, len(dates) + 1},
		// Dates loaded in parts, each part after the previous one's commit.
		{"small spool and day", few, few, 0},
	} {
		cfg.ImportSpoolBytes, cfg.ImportDayBytes = tc.spool, tc.day
		cfg.Dest = t.TempDir()
		sum, err := jobs.Import(context.Background(), cfg, bytes.NewReader(bytes.Join(lines, []byte("\n"))))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		checkSummaryCounts(t, sum, err)
		if got := sum.Datasets[schemas.DatasetCallRecords].Partitions; tc.loads > 0 && got != tc.loads {
			t.Errorf("%s: %d partition loads, want %d (%d dates, then the late records)", tc.name, got, tc.loads, len(dates))
		}
		diffLakes(t, "sorted import, "+tc.name, lakeRows(t, cfg.Dest), want)
		assertNoLeftovers(t, cfg.Dest)
	}
}

// TestImport_StoreFailure fails the store at one write after another while a
// sorted import writes dates as it reads: the import stops with the error,
// and importing again gives the clean lake with no leftover files.
func TestImport_StoreFailure(t *testing.T) {
	t.Parallel()
	f, want, lines, _ := sortedImportFixture(t, noBigMeetings) // a commit-protocol test: its reruns need no big meetings
	input := bytes.Join(lines, []byte("\n"))

	cfg := f.config()
	cfg.Credential, cfg.GraphURL = nil, ""
	probe := &faultyStore{Store: mustLocal(t, t.TempDir())}
	cfg.Store = probe
	if _, err := jobs.Import(context.Background(), cfg, bytes.NewReader(input)); err != nil {
		t.Fatal(err)
	}
	total := probe.ops.Load()
	t.Logf("%d records, %d writes", len(lines), total)
	// The last write is the lease's release, whose failure is logged only
	// (the lease expires by itself).
	for k := int64(1); k < total; k += max(1, total/4) {
		dest := t.TempDir()
		cfg.Dest, cfg.Store = dest, &faultyStore{Store: mustLocal(t, dest), failAt: k}
		if _, err := jobs.Import(context.Background(), cfg, bytes.NewReader(input)); !errors.Is(err, errInjected) {
			t.Fatalf("fault at write %d of %d: Import = %v, want the injected error", k, total, err)
		}
		cfg.Store = nil
		expireLease(t, dest)
		if _, err := jobs.Import(context.Background(), cfg, bytes.NewReader(input)); err != nil {
			t.Fatalf("import after fault at write %d: %v", k, err)
		}
		diffLakes(t, fmt.Sprintf("fault at write %d of %d", k, total), lakeRows(t, dest), want)
		assertNoLeftovers(t, dest)
	}
}

// sortedImportFixture runs over the last four days (checkpoint two days old,
// 48 h lookback) and returns the fixture, the lake the run wrote, and the
// window's records as compact JSON lines sorted by start, with their dates;
// edit, if not nil, changes the simulated tenant.
func sortedImportFixture(t *testing.T, edit func(*graphsim.Config)) (f *fixture, want map[string][]string, lines [][]byte, dates []string) {
	f = newFixtureWith(t, edit, nil)
	watermark := f.clock.Now().Add(-48 * time.Hour)
	f.seedCheckpoint(t, f.dest, watermark)
	f.MustRun(t, nil)
	type rec struct {
		start string
		line  []byte
	}
	var recs []rec
	for _, id := range f.sim.Truth(watermark.Add(-jobs.DefaultConfig().Lookback), f.clock.Now()).IDs {
		raw, _ := f.sim.Record(id)
		var compact bytes.Buffer
		json.Compact(&compact, raw)
		var head struct {
			Start string `json:"startDateTime"`
		}
		json.Unmarshal(raw, &head)
		recs = append(recs, rec{head.Start, compact.Bytes()})
	}
	slices.SortFunc(recs, func(a, b rec) int { return strings.Compare(a.start, b.start) })
	for _, r := range recs {
		lines = append(lines, r.line)
		dates = append(dates, r.start[:10])
	}
	return f, lakeRows(t, f.dest), lines, dates
}

// TestImport_TooLongRecordKept: a record longer than a record may be, read
// from a pipe (nothing left to point into), is quarantined with its bytes in
// an object of their own, as the input had them; under a privacy policy with
// their SHA-256 only. The records around it are imported.
func TestImport_TooLongRecordKept(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, noBigMeetings, nil)
	truth := f.sim.Truth(f.clock.Now().Add(-48*time.Hour), f.clock.Now())
	var lines [][]byte
	for _, id := range truth.IDs[:2] {
		raw, _ := f.sim.Record(id)
		var b bytes.Buffer
		json.Compact(&b, raw)
		lines = append(lines, b.Bytes())
	}
	long := fmt.Appendf(nil, `{"id": "long", "note": "%s"}`, strings.Repeat("x", 3<<20))
	input := bytes.Join([][]byte{lines[0], long, lines[1]}, []byte("\r\n"))
	sha := func(b []byte) string { s := sha256.Sum256(b); return "sha256:" + hex.EncodeToString(s[:]) }

	for _, policy := range []bool{false, true} {
		cfg := f.config()
		cfg.Dest, cfg.Credential, cfg.GraphURL = t.TempDir(), nil, ""
		cfg.ImportRecordBytes = 1 << 20
		if policy {
			cfg.PrivacyPolicyFile, cfg.PrivacyKey = policyFile(t, "default: hash\n"), privacyKey
		}
		pr, pw := io.Pipe()
		go func() { _, err := pw.Write(input); pw.CloseWithError(err) }()
		sum, err := jobs.Import(context.Background(), cfg, pr)
		checkSummaryCounts(t, sum, err)
		if !errors.Is(err, jobs.ErrQuarantined) || !slices.Equal(sum.Quarantined, []string{"line-2"}) {
			t.Fatalf("policy %v: %v, quarantined %v; want line-2 quarantined", policy, err, sum.Quarantined)
		}
		if got := countRows[schemas.CallRecordRow](t, cfg.Dest, schemas.TableCallRecords); got != 2 {
			t.Errorf("policy %v: %d call records imported, want the 2 around the long one", policy, got)
		}
		var doc struct {
			Error         string `json:"error"`
			PayloadObject string `json:"payload_object"`
			PayloadBytes  int64  `json:"payload_bytes"`
			Digest        string `json:"raw_sha256"`
		}
		data, err := os.ReadFile(filepath.Join(cfg.Dest, lake.QuarantineKey(tenant, schemas.DatasetCallRecords, "line-2")))
		if err == nil {
			err = json.Unmarshal(data, &doc)
		}
		if err != nil {
			t.Fatal(err)
		}
		if doc.PayloadBytes != int64(len(long)) || doc.Digest != sha(long) || !strings.Contains(doc.Error, "line 2 of the input") {
			t.Errorf("policy %v: quarantine %+v, want %d bytes, %s, the line named", policy, doc, len(long), sha(long))
		}
		payload := filepath.Join(cfg.Dest, lake.QuarantinePayloadKey(tenant, schemas.DatasetCallRecords, "line-2"))
		kept, err := os.ReadFile(payload)
		switch {
		case policy && (doc.PayloadObject != "" || err == nil):
			t.Errorf("under a policy: payload object %q (%v), want none: only the digest", doc.PayloadObject, err)
		case !policy && (doc.PayloadObject != lake.QuarantinePayloadKey(tenant, schemas.DatasetCallRecords, "line-2") || !bytes.Equal(kept, long)):
			t.Errorf("payload object %q holds %d bytes (%v), want the %d of the line", doc.PayloadObject, len(kept), err, len(long))
		}
	}
}
