package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/callrecords-etl/callrecords-etl/graphsim"
	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/notify"
	"github.com/callrecords-etl/callrecords-etl/schemas"
	"github.com/callrecords-etl/callrecords-etl/transform"
)

var privacyKey = []byte("a test key of more than 16 bytes")

// servedJSON records every body the simulator serves, and breaks one call
// record (its start date) so that the run quarantines it.
type servedJSON struct {
	mu     sync.Mutex
	bodies [][]byte
	badID  string
}

func (s *servedJSON) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		s.mu.Lock()
		s.bodies = append(s.bodies, bytes.Clone(body))
		bad := s.badID != "" && strings.HasSuffix(r.URL.Path, "/callRecords/"+s.badID)
		s.mu.Unlock()
		if bad {
			body = bytes.Replace(body, []byte(`"startDateTime":"`), []byte(`"startDateTime":"not a time `), 1)
		}
		for k, v := range rec.Header() {
			if k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(rec.Code)
		w.Write(body)
	})
}

// servedPersonalValues collects the strings under the Graph properties that
// name, address or describe a person, from what the simulator served: a
// list kept apart from the job's own (transform's jsonClass).
func (s *servedJSON) servedPersonalValues() map[string]bool {
	personal := map[string]bool{
		"displayName": true, "userPrincipalName": true, "email": true, "userDisplayName": true, "userId": true,
		"callerNumber": true, "calleeNumber": true, "ipAddress": true, "reflexiveIPAddress": true, "relayIPAddress": true,
		"subnet": true, "name": true, "captureDeviceName": true, "renderDeviceName": true, "macAddress": true, "text": true,
		"joinWebUrl": true,
	}
	out := map[string]bool{}
	var walk func(v any, key string)
	walk = func(v any, key string) {
		switch v := v.(type) {
		case string:
			if personal[key] {
				out[v] = true
			}
		case map[string]any:
			for k, e := range v {
				walk(e, k)
			}
		case []any:
			for _, e := range v {
				walk(e, key)
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.bodies {
		var v any
		if json.Unmarshal(b, &v) == nil {
			walk(v, "")
		}
	}
	return out
}

// lakePersonalValues calls fn with each personal value (by
// schemas.ColumnClasses) of the tables under dest.
func lakePersonalValues(t *testing.T, dest string, fn func(table, column, value string)) {
	t.Helper()
	for _, tb := range schemas.Tables {
		v := reflect.New(reflect.SliceOf(reflect.TypeOf(tb.Row))).Elem()
		files, _ := filepath.Glob(filepath.Join(dest, tb.Name, "dt=*", "*.parquet"))
		for _, f := range files {
			switch rows := v.Addr().Interface().(type) {
			case *[]schemas.CallRecordRow:
				*rows = append(*rows, readFile[schemas.CallRecordRow](t, f)...)
			case *[]schemas.SessionRow:
				*rows = append(*rows, readFile[schemas.SessionRow](t, f)...)
			case *[]schemas.SegmentRow:
				*rows = append(*rows, readFile[schemas.SegmentRow](t, f)...)
			case *[]schemas.MediaRow:
				*rows = append(*rows, readFile[schemas.MediaRow](t, f)...)
			case *[]schemas.MediaStreamRow:
				*rows = append(*rows, readFile[schemas.MediaStreamRow](t, f)...)
			case *[]schemas.ParticipantRow:
				*rows = append(*rows, readFile[schemas.ParticipantRow](t, f)...)
			case *[]schemas.CallJourneyHopRow:
				*rows = append(*rows, readFile[schemas.CallJourneyHopRow](t, f)...)
			case *[]schemas.PstnCallRow:
				*rows = append(*rows, readFile[schemas.PstnCallRow](t, f)...)
			case *[]schemas.DirectRoutingCallRow:
				*rows = append(*rows, readFile[schemas.DirectRoutingCallRow](t, f)...)
			default:
				t.Fatalf("table %s: no reader in lakePersonalValues", tb.Name)
			}
		}
		personalStrings(t, v, "", func(column, s string) { fn(tb.Name, column, s) })
	}
}

func readFile[T any](t *testing.T, path string) []T {
	t.Helper()
	var out []T
	if err := load.ReadParquet(path, 1000, func(rows []T) error { out = append(out, rows...); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// personalStrings calls fn with the column path and value of every
// non-empty personal string of v (rows, or a row).
func personalStrings(t *testing.T, v reflect.Value, prefix string, fn func(column, s string)) {
	switch v.Kind() {
	case reflect.Slice:
		for i := range v.Len() {
			personalStrings(t, v.Index(i), prefix, fn)
		}
		return
	case reflect.Pointer:
		if !v.IsNil() {
			personalStrings(t, v.Elem(), prefix, fn)
		}
		return
	case reflect.Struct:
	default:
		return
	}
	for i := range v.NumField() {
		f := v.Type().Field(i)
		fv := v.Field(i)
		if f.Anonymous {
			personalStrings(t, fv, prefix, fn)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("parquet"), ",")
		elem := f.Type
		for elem.Kind() == reflect.Slice || elem.Kind() == reflect.Pointer {
			elem = elem.Elem()
		}
		if elem.Kind() == reflect.Struct && elem.NumField() > 0 && elem.Field(0).Tag.Get("parquet") != "" {
			personalStrings(t, fv, prefix+name+".", fn)
			continue
		}
		if elem.Kind() != reflect.String {
			continue
		}
		class, ok := schemas.ColumnClass(prefix + name)
		if !ok {
			t.Fatalf("column %s has no class", prefix+name)
		}
		if class == schemas.NotPersonal {
			continue
		}
		switch fv.Kind() {
		case reflect.String:
			if fv.String() != "" {
				fn(prefix+name, fv.String())
			}
		case reflect.Pointer:
			if !fv.IsNil() {
				fn(prefix+name, fv.Elem().String())
			}
		case reflect.Slice:
			for _, s := range fv.Interface().([]string) {
				fn(prefix+name, s)
			}
		}
	}
}

// parquetText is every value of a Parquet file (any table, a future one
// too) and its key/value metadata, as text; with columns, only the values
// of the columns (as schemas.ColumnClass names them) it accepts.
func parquetText(t *testing.T, path string, columns func(string) bool) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var b strings.Builder
	if columns == nil {
		for _, kv := range f.Metadata().KeyValueMetadata {
			fmt.Fprintf(&b, "%s=%s\n", kv.Key, kv.Value)
		}
	}
	var leaves []string // column paths by column index
	for _, p := range f.Schema().Columns() {
		var path []string
		for _, name := range p {
			if name != "list" && name != "element" && name != "key_value" {
				path = append(path, name)
			}
		}
		leaves = append(leaves, strings.Join(path, "."))
	}
	for _, rg := range f.RowGroups() {
		rows := rg.Rows()
		buf := make([]parquet.Row, 64)
		for {
			n, err := rows.ReadRows(buf)
			for _, row := range buf[:n] {
				for _, v := range row {
					if columns != nil && !columns(leaves[v.Column()]) {
						continue
					}
					if v.Kind() == parquet.ByteArray || v.Kind() == parquet.FixedLenByteArray {
						b.Write(v.ByteArray())
						b.WriteByte('\n')
					}
				}
			}
			if err != nil {
				break
			}
		}
		rows.Close()
	}
	return b.String()
}

func policyFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "privacy.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func allDatasets(c *jobs.Config) {
	c.Datasets = []string{schemas.DatasetCallRecords, schemas.DatasetPstn, schemas.DatasetDirectRouting}
}

// TestRun_PrivacyPolicy is issue 18's acceptance: under a policy that
// hashes every class, no personal value the simulator served is anywhere
// the job wrote (the tables and the raw archive decoded, the quarantine,
// the checkpoints, the run summaries, the summary file, the logs); a person
// has one pseudonym in sessions, participants and PSTN rows; the policy's
// digest is in the summaries and every Parquet file's metadata.
func TestRun_PrivacyPolicy(t *testing.T) {
	t.Parallel()
	served, clearServed, unarchivedServed := &servedJSON{}, &servedJSON{}, &servedJSON{}
	// Seed 4 has calls through attendants and queues in the last day.
	seed := func(c *graphsim.Config) { thinUsage(c); c.Seed = 4 }
	clear := newFixtureWith(t, seed, clearServed.wrap)
	hashed := newFixtureWith(t, seed, served.wrap)
	unarchived := newFixtureWith(t, seed, unarchivedServed.wrap)
	// From the day of the latest call through an attendant or a queue
	// (call_journey_hops), a day at least.
	since := hashed.clock.Now().Add(-24 * time.Hour)
	for hashed.sim.JourneyTruth(since, hashed.clock.Now()).Records == 0 && since.After(hashed.clock.Now().Add(-jobs.Retention)) {
		since = since.Add(-24 * time.Hour)
	}
	for _, f := range []*fixture{clear, hashed, unarchived} {
		f.seedCheckpoint(t, f.dest, since)
	}
	truth := hashed.sim.Truth(since, hashed.clock.Now())
	for _, s := range []*servedJSON{served, clearServed, unarchivedServed} { // the same record broken in each
		s.mu.Lock()
		s.badID = truth.IDs[len(truth.IDs)/2]
		s.mu.Unlock()
	}
	if _, err := clear.run(t, allDatasets); !errors.Is(err, jobs.ErrQuarantined) {
		t.Fatalf("clear Run = %v, want ErrQuarantined (one record is broken)", err)
	}

	policy := transform.Policy{Classes: map[schemas.PersonalClass]transform.Action{}}
	for _, c := range schemas.PersonalClasses {
		policy.Classes[c] = transform.Hash
	}
	// Whole addresses hashed: a kept /24 prefix is the subnet, by design.
	policyPath := policyFile(t, "default: hash\nip_prefix: {ipv4: 0, ipv6: 0}\n")
	var logs bytes.Buffer
	summaryFile := filepath.Join(t.TempDir(), "summary.json")
	sum, err := hashed.run(t, func(c *jobs.Config) {
		allDatasets(c)
		c.PrivacyPolicyFile, c.PrivacyKey = policyPath, privacyKey
		c.SummaryFile = summaryFile
		c.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	if !errors.Is(err, jobs.ErrQuarantined) {
		t.Fatalf("Run = %v, want ErrQuarantined (one record is broken)", err)
	}
	if want := policy.Digest(); sum.PrivacyPolicy != want {
		t.Errorf("summary privacy_policy = %q, want %q", sum.PrivacyPolicy, want)
	}

	// Every personal value: what the clear lake holds in personal
	// columns, and what the simulator served under personal properties.
	values := served.servedPersonalValues()
	perTable := map[string]int{}
	lakePersonalValues(t, clear.dest, func(table, _, s string) {
		values[s] = true
		perTable[table]++
	})
	if perTable[schemas.TableCallJourneyHops] == 0 {
		t.Fatalf("the clear lake has no personal value in %s: the day has no journey to check", schemas.TableCallJourneyHops)
	}
	// A value that is part of a column that is not personal is not
	// identifying: a machine called "iPhone", and the user agent
	// "Teams/6.12.1 (iPhone; iOS 17.5.1)".
	var notPersonal strings.Builder
	for _, tb := range schemas.Tables {
		files, _ := filepath.Glob(filepath.Join(clear.dest, tb.Name, "dt=*", "*.parquet"))
		for _, f := range files {
			notPersonal.WriteString(parquetText(t, f, func(column string) bool {
				c, ok := schemas.ColumnClass(column)
				return ok && c == schemas.NotPersonal
			}))
		}
	}
	var searched []string
	for v := range values {
		if len(v) >= 6 && !strings.Contains(notPersonal.String(), v) { // shorter ones ("Liam") occur inside other text
			searched = append(searched, v)
		}
	}
	if len(searched) < 200 {
		t.Fatalf("only %d personal values to look for: the collection is broken", len(searched))
	}

	written := map[string]string{"(logs)": logs.String()}
	if b, err := os.ReadFile(summaryFile); err == nil {
		written["(summary file)"] = string(b)
	} else {
		t.Fatal(err)
	}
	var quarantined, parquets int
	err = filepath.WalkDir(hashed.dest, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasSuffix(path, ".parquet") {
			parquets++
			text := parquetText(t, path, nil)
			if !strings.Contains(text, "callrecords_etl.privacy_policy="+policy.Digest()) {
				t.Errorf("%s: no privacy_policy digest in its metadata", path)
			}
			written[path] = text
			return nil
		}
		if strings.Contains(path, "quarantine") {
			quarantined++
		}
		b, err := os.ReadFile(path)
		written[path] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if parquets < 10 || quarantined != 1 {
		t.Fatalf("%d Parquet files and %d quarantined: want the tables, the archive and one quarantined record", parquets, quarantined)
	}
	slices.Sort(searched)
	for path, text := range written {
		for _, v := range searched {
			if strings.Contains(text, v) {
				t.Errorf("%s holds %q in clear", path, v)
			}
		}
	}

	// One pseudonym per person, in every table.
	ps, err := transform.NewPseudonymiser(policy, privacyKey)
	if err != nil {
		t.Fatal(err)
	}
	people := func(dest string, pseudonym func(string) string) map[string]map[string]bool {
		out := map[string]map[string]bool{}
		lakePersonalValues(t, dest, func(table, column, s string) {
			if class, _ := schemas.ColumnClass(column); class == schemas.ClassUserID && column != "join_web_url" {
				if out[table] == nil {
					out[table] = map[string]bool{}
				}
				out[table][pseudonym(s)] = true
			}
		})
		return out
	}
	want := people(clear.dest, func(s string) string { return ps.Value(schemas.ClassUserID, s) })
	got := people(hashed.dest, func(s string) string { return s })
	for _, table := range []string{schemas.TableSessions, schemas.TableParticipants, schemas.TablePstnCalls} {
		if len(want[table]) == 0 {
			t.Fatalf("no user ids in %s", table)
		}
		for p := range want[table] {
			if !got[table][p] {
				t.Errorf("%s: pseudonym %s of a user of the clear lake is missing", table, p)
			}
		}
	}
	shared := 0
	for p := range got[schemas.TablePstnCalls] {
		if got[schemas.TableSessions][p] && got[schemas.TableParticipants][p] {
			shared++
		}
	}
	if shared == 0 {
		t.Error("no pseudonym is in sessions, participants and pstn_calls at once: joins across tables are lost")
	}

	// The archive holds each record as the policy writes it. With the
	// archive on, rows are made from that JSON; without it, the clear
	// rows are pseudonymised: the tables are the same either way.
	clearArchive, hashedArchive := archived(t, clear.dest), archived(t, hashed.dest)
	if len(clearArchive) < 10 || len(hashedArchive) != len(clearArchive) {
		t.Fatalf("%d records archived under the policy, %d in clear: want the same, at least 10", len(hashedArchive), len(clearArchive))
	}
	for k, raw := range clearArchive {
		want, err := ps.JSON(raw)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(hashedArchive[k], want) {
			t.Errorf("record %v: the archive holds %d bytes, want the record pseudonymised (%d bytes)", k, len(hashedArchive[k]), len(want))
		}
	}
	if _, err := unarchived.run(t, func(c *jobs.Config) {
		allDatasets(c)
		c.PrivacyPolicyFile, c.PrivacyKey, c.NoRawArchive = policyPath, privacyKey, true
	}); !errors.Is(err, jobs.ErrQuarantined) {
		t.Fatalf("Run without the archive = %v, want ErrQuarantined (one record is broken)", err)
	}
	diffLakes(t, "without the archive", lakeRows(t, unarchived.dest), lakeRows(t, hashed.dest))
}

// TestRun_PrivacyPolicyDrop: under a policy that drops every class, every
// personal column is NULL, and the rest is as in the clear lake.
func TestRun_PrivacyPolicyDrop(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, thinUsage, nil)
	f.seedCheckpoint(t, f.dest, f.clock.Now().Add(-24*time.Hour))
	f.MustRun(t, func(c *jobs.Config) {
		allDatasets(c)
		c.PrivacyPolicyFile = policyFile(t, "default: drop\n")
	})
	lakePersonalValues(t, f.dest, func(table, column, s string) {
		t.Errorf("%s.%s = %q, want NULL", table, column, s)
	})
	if n := len(callRecords(t, f.dest)); n == 0 {
		t.Error("no call records")
	}
}

// TestRun_PrivacyPolicyErrors: a bad policy file, or a policy that hashes
// without a key, stops the run before it starts, as a configuration error
// (exit 2) that names the file or the key.
func TestRun_PrivacyPolicyErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	for _, tc := range []struct {
		name string
		edit func(*jobs.Config)
		want string
	}{
		{"no key", func(c *jobs.Config) { c.PrivacyPolicyFile = policyFile(t, "classes: {user_id: hash}\n") }, "PrivacyKey and PrivacyKeyFile: the privacy policy hashes personal data and no pseudonymisation key was given"},
		{"unknown class", func(c *jobs.Config) { c.PrivacyPolicyFile = policyFile(t, "classes: {people: hash}\n") }, `privacy.yaml: classes: unknown class "people"`},
		{"missing key file", func(c *jobs.Config) {
			c.PrivacyPolicyFile, c.PrivacyKeyFile = policyFile(t, "default: hash\n"), filepath.Join(t.TempDir(), "nokey")
		}, "PrivacyKeyFile: open"},
	} {
		_, err := f.run(t, tc.edit)
		if jobs.ExitCode(err) != jobs.ExitConfig || !strings.Contains(fmt.Sprint(err), tc.want) {
			t.Errorf("%s: Run = %v (exit %d), want exit 2 and %q", tc.name, err, jobs.ExitCode(err), tc.want)
		}
	}
	keyFile := filepath.Join(t.TempDir(), "key")
	os.WriteFile(keyFile, append(privacyKey, '\n'), 0o600)
	f.MustRun(t, func(c *jobs.Config) {
		c.PrivacyPolicyFile, c.PrivacyKeyFile = policyFile(t, "default: hash\n"), keyFile
	})

	// A policy file that keeps everything (an empty one: a ConfigMap key
	// mounted empty) runs, and says so.
	for _, text := range []string{"", "# nothing yet\n", "default: keep\n"} {
		var logs bytes.Buffer
		f.MustRun(t, func(c *jobs.Config) {
			c.PrivacyPolicyFile = policyFile(t, text)
			c.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &logs}, &slog.HandlerOptions{Level: slog.LevelWarn}))
		})
		if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "keeps every class of personal data in clear") {
			t.Errorf("policy %q: logged %q, want a warning that it keeps everything", text, logs.String())
		}
	}
}

// lockedWriter serialises writes of the log handler's goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestRun_PrivacyPolicyOverAClearLake: a policy adopted on a lake written
// in clear applies to the rows a rewrite carries over (and to the archive
// rows it keeps), and replay brings every day's tables under it; a replay
// under the policy the archive was written under changes nothing.
func TestRun_PrivacyPolicyOverAClearLake(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, thinUsage, nil)
	f.seedCheckpoint(t, f.dest, f.clock.Now().Add(-24*time.Hour))
	f.MustRun(t, allDatasets)
	var clearNames []string
	lakePersonalValues(t, f.dest, func(_, column, s string) {
		if c, _ := schemas.ColumnClass(column); c == schemas.ClassDisplayName && len(s) >= 6 {
			clearNames = append(clearNames, s)
		}
	})

	hash := func(c *jobs.Config) {
		allDatasets(c)
		c.PrivacyPolicyFile, c.PrivacyKey = policyFile(t, "default: hash\n"), privacyKey
	}
	truth := f.sim.Truth(f.clock.Now().Add(-24*time.Hour), f.clock.Now())
	f.sim.Bump(truth.IDs[0]) // a new version: its day is rewritten, the others' rows carried over
	f.clock.Add(time.Hour)
	f.MustRun(t, hash)
	if _, err := jobs.Replay(context.Background(), func() jobs.Config { c := f.config(); hash(&c); return c }(), nil); err != nil {
		t.Fatal(err)
	}
	lakePersonalValues(t, f.dest, func(table, column, s string) {
		if slices.Contains(clearNames, s) {
			t.Errorf("%s.%s = %q in clear after the replay under a hash policy", table, column, s)
		}
	})
	before := tableText(t, f.dest)
	if _, err := jobs.Replay(context.Background(), func() jobs.Config { c := f.config(); hash(&c); return c }(), nil); err != nil {
		t.Fatal(err)
	}
	if after := tableText(t, f.dest); after != before {
		t.Error("a second replay under the same policy changed the tables: pseudonyms hashed twice")
	}
	_, err := f.run(t, allDatasets)
	if jobs.ExitCode(err) != jobs.ExitConfig || !strings.Contains(fmt.Sprint(err), "was written under privacy policy") {
		t.Errorf("a run that keeps personal data over pseudonymised partitions = %v, want exit 2: it would mix them", err)
	}
}

// tableText is every value of the fact tables under dest.
func tableText(t *testing.T, dest string) string {
	t.Helper()
	var b strings.Builder
	for _, tb := range schemas.Tables {
		files, _ := filepath.Glob(filepath.Join(dest, tb.Name, "dt=*", "*.parquet"))
		for _, f := range files {
			b.WriteString(parquetText(t, f, func(string) bool { return true }))
		}
	}
	return b.String()
}

// TestGetCallRecord_PrivacyPolicy: `get` prints a record under the policy,
// as the archive would hold it; without one, as Graph sent it.
func TestGetCallRecord_PrivacyPolicy(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, nil, nil)
	id := f.sim.Truth(f.clock.Now().Add(-24*time.Hour), f.clock.Now()).IDs[0]
	clear, err := jobs.GetCallRecord(context.Background(), f.config(), id)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := transform.DecodeCallRecord(clear)
	if err != nil || rec.ID != id {
		t.Fatalf("get without a policy: record %q, %v; want %s as Graph sent it", rec.ID, err, id)
	}

	path := policyFile(t, "default: hash\n")
	cfg := f.config()
	cfg.PrivacyPolicyFile, cfg.PrivacyKey = path, privacyKey
	hashed, err := jobs.GetCallRecord(context.Background(), cfg, id)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := transform.ParsePolicy(path, data)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := transform.NewPseudonymiser(policy, privacyKey)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ps.JSON(clear)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(hashed, want) || bytes.Equal(hashed, clear) {
		t.Errorf("get under a hash policy printed %d bytes, want the pseudonymised record (%d bytes, not the clear one)", len(hashed), len(want))
	}

	cfg.PrivacyKey = nil
	if _, err := jobs.GetCallRecord(context.Background(), cfg, id); !errors.Is(err, jobs.ErrConfig) {
		t.Errorf("get under a hash policy with no key = %v, want a configuration error", err)
	}
}

// TestDrainInbox_PrivacyPolicy: call records fetched for notifications wait
// in the spool pseudonymised, and the drain writes them as a scheduled run
// does under the same policy: the same rows, the same archived JSON (a
// record pseudonymised twice, or not at all, would differ).
func TestDrainInbox_PrivacyPolicy(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	path := policyFile(t, "default: hash\n")
	policy := func(c *jobs.Config) {
		c.PrivacyPolicyFile, c.PrivacyKey = path, privacyKey
		c.Datasets = []string{schemas.DatasetCallRecords}
	}
	f.MustRun(t, policy)
	want := lakeRows(t, f.dest)
	ids := callRecordsOf(t, want)
	if len(ids) == 0 {
		t.Fatal("the scheduled run wrote no call records")
	}

	drained := t.TempDir()
	h := notify.NewReceiver(notify.Config{TenantID: tenant, ClientState: clientState, Store: mustLocal(t, drained), Logger: testLogger()})
	if rec := post(t, h, "/n", notificationBody(clientState, tenant, ids...)); rec.Code != 202 {
		t.Fatalf("receiver: %d", rec.Code)
	}
	f.MustRun(t, func(c *jobs.Config) {
		policy(c)
		c.Dest, c.Datasets = drained, []string{jobs.DatasetNotifications}
	})
	diffLakes(t, "drained under the policy", lakeRows(t, drained), want)

	archived := func(dest string) map[string]string {
		out := map[string]string{}
		files, _ := filepath.Glob(filepath.Join(dest, "raw", schemas.TableCallRecords, "dt=*", "*.parquet"))
		for _, file := range files {
			for _, row := range readFile[schemas.RawCallRecordRow](t, file) {
				out[row.CallRecordID] += string(row.JSON) + row.JSONPiece
			}
		}
		return out
	}
	got, wantJSON := archived(drained), archived(f.dest)
	if len(got) != len(ids) {
		t.Fatalf("the drain archived %d records, want %d", len(got), len(ids))
	}
	for id, js := range wantJSON {
		if got[id] != js {
			t.Errorf("record %s: the drain archived\n%.300s\nthe scheduled run\n%.300s", id, got[id], js)
		}
	}
}
