package jobs_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/extract"
	"github.com/callrecords-etl/callrecords-etl/graphsim"
	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/schemas"
	"github.com/callrecords-etl/callrecords-etl/transform"
)

// bigRecord builds a call record of at least size bytes of JSON from a
// simulated one, its sessions repeated under new ids.
func bigRecord(t *testing.T, size int) map[string]json.RawMessage {
	t.Helper()
	now := time.Date(2026, 11, 20, 15, 30, 0, 0, time.UTC)
	sim := graphsim.New(graphsim.Config{Seed: 5, Now: func() time.Time { return now }, RecordsPerDay: 4})
	ids := sim.Truth(now.Add(-3*24*time.Hour), now).IDs
	raw, _ := sim.Record(ids[0])
	var rec map[string]json.RawMessage
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	var sessions []map[string]json.RawMessage
	json.Unmarshal(rec["sessions"], &sessions)
	var out []map[string]json.RawMessage
	for n := 0; n < size; {
		for _, s := range sessions {
			c := map[string]json.RawMessage{}
			for k, v := range s {
				c[k] = v
			}
			c["id"], _ = json.Marshal(fmt.Sprintf("00000000-0000-4000-8000-%012d", len(out)))
			b, _ := json.Marshal(c)
			n += len(b)
			out = append(out, c)
		}
	}
	rec["sessions"], _ = json.Marshal(out)
	return rec
}

// serveBig serves rec as Graph does: listed alone, its sessions in pages of
// 60 (sessions@odata.nextLink), participants_v2 at its own endpoint.
func serveBig(t *testing.T, rec map[string]json.RawMessage) string {
	t.Helper()
	var sessions []json.RawMessage
	json.Unmarshal(rec["sessions"], &sessions)
	var head struct {
		ID      string `json:"id"`
		Version int64  `json:"version"`
		Start   string `json:"startDateTime"`
	}
	all, _ := json.Marshal(rec)
	json.Unmarshal(all, &head)
	page := func(from int) json.RawMessage {
		b, _ := json.Marshal(sessions[from:min(from+60, len(sessions))])
		return b
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		next := func(from int) string {
			return fmt.Sprintf("http://%s/v1.0/communications/callRecords/%s/sessions?skip=%d", r.Host, head.ID, from)
		}
		switch {
		case strings.HasSuffix(r.URL.Path, "/communications/callRecords"):
			fmt.Fprintf(w, `{"value":[{"id":%q,"version":%d,"startDateTime":%q}]}`, head.ID, head.Version, head.Start)
		case strings.HasSuffix(r.URL.Path, "/participants_v2"):
			fmt.Fprintf(w, `{"value":%s}`, rec["participants_v2"])
		case strings.HasSuffix(r.URL.Path, "/sessions"):
			from, _ := strconv.Atoi(r.URL.Query().Get("skip"))
			body := map[string]any{"value": page(from)}
			if from+60 < len(sessions) {
				body["@odata.nextLink"] = next(from + 60)
			}
			json.NewEncoder(w).Encode(body)
		default:
			m := map[string]json.RawMessage{}
			for k, v := range rec {
				if k != "participants_v2" {
					m[k] = v
				}
			}
			m["sessions"] = page(0)
			m["sessions@odata.nextLink"], _ = json.Marshal(next(60))
			json.NewEncoder(w).Encode(m)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestRun_BigRecord: a call record of over 10 MiB (hundreds of sessions, in
// pages) is decoded and written a few sessions at a time, and the lake holds
// exactly the rows of the record flattened whole.
func TestRun_BigRecord(t *testing.T) {
	t.Parallel()
	rec := bigRecord(t, 10<<20)
	url := serveBig(t, rec)
	dest := t.TempDir()
	cfg := jobs.DefaultConfig()
	cfg.TenantID, cfg.GraphURL, cfg.Dest = tenant, url, dest
	cfg.Credential = extract.StaticToken("tok")
	cfg.MaxRPS, cfg.Datasets, cfg.Logger = 0, []string{schemas.DatasetCallRecords}, testLogger()
	var start struct {
		Start schemas.Time `json:"startDateTime"`
	}
	all, _ := json.Marshal(rec)
	json.Unmarshal(all, &start)
	cfg.From = start.Start.Truncate(24 * time.Hour)
	cfg.To = cfg.From.Add(24 * time.Hour)
	if _, err := jobs.Run(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}

	decoded, err := transform.DecodeCallRecord(all)
	if err != nil {
		t.Fatal(err)
	}
	want := transform.FlattenCallRecord(tenant, decoded)
	if len(want.Sessions) < 600 {
		t.Fatalf("the record has %d sessions, want hundreds", len(want.Sessions))
	}
	check := func(table string, got, want []string) {
		t.Helper()
		sort.Strings(got)
		sort.Strings(want)
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s: %d rows, want the %d of the record flattened whole (or they differ)", table, len(got), len(want))
			for i := range min(len(got), len(want)) {
				if got[i] != want[i] {
					t.Logf("first difference:\n got %s\nwant %s", got[i], want[i])
					break
				}
			}
		}
	}
	check("sessions", render(readTable[schemas.SessionRow](t, dest, schemas.TableSessions)), render(want.Sessions))
	check("segments", render(readTable[schemas.SegmentRow](t, dest, schemas.TableSegments)), render(want.Segments))
	check("media", render(readTable[schemas.MediaRow](t, dest, schemas.TableMedia)), render(want.Media))
	check("media_streams", render(readTable[schemas.MediaStreamRow](t, dest, schemas.TableMediaStreams)), render(want.MediaStreams))
	check("participants", render(readTable[schemas.ParticipantRow](t, dest, schemas.TableParticipants)), render(want.Participants))
	check("call_records", render(readTable[schemas.CallRecordRow](t, dest, schemas.TableCallRecords)), render([]schemas.CallRecordRow{want.CallRecord}))

	// Archived in pieces, which put together are what Graph served, and
	// from which replay rebuilds the same rows.
	arch := archived(t, dest)
	if len(arch) != 1 {
		t.Fatalf("the archive holds %d versions, want the record's one", len(arch))
	}
	for _, raw := range arch {
		if !sameRecord(raw, all) {
			t.Error("the archived record differs from what Graph served")
		}
	}
	if n := countRows[schemas.RawCallRecordRow](t, dest, schemas.TableRawCallRecords); n < len(all)/schemas.RawPieceBytes {
		t.Errorf("the record of %d bytes is archived in %d rows, want pieces of at most %d bytes", len(all), n, schemas.RawPieceBytes)
	}
	before := lakeRows(t, dest)
	removeTables(t, dest)
	cfg.GraphURL, cfg.Credential, cfg.From, cfg.To = "", nil, time.Time{}, time.Time{}
	if _, err := jobs.Replay(t.Context(), cfg, nil); err != nil {
		t.Fatalf("Replay: %v", err)
	}
	diffLakes(t, "replay of the big record", lakeRows(t, dest), before)

	// Under the recommended policy, its rows are made from its
	// pseudonymised JSON a few sessions at a time: they are the record's
	// rows pseudonymised, and the archive holds that JSON.
	policyPath := "../deploy/privacy-policy.yaml"
	data, err := os.ReadFile(policyPath)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := transform.ParsePolicy(policyPath, data)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := transform.NewPseudonymiser(policy, privacyKey)
	if err != nil {
		t.Fatal(err)
	}
	hashed := t.TempDir()
	cfg.Dest, cfg.GraphURL, cfg.Credential = hashed, url, extract.StaticToken("tok")
	cfg.From = start.Start.Truncate(24 * time.Hour)
	cfg.To = cfg.From.Add(24 * time.Hour)
	cfg.PrivacyPolicyFile, cfg.PrivacyKey = policyPath, privacyKey
	if _, err := jobs.Run(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	ps.CallRecordRows(&want)
	check("sessions under the policy", render(readTable[schemas.SessionRow](t, hashed, schemas.TableSessions)), render(want.Sessions))
	check("segments under the policy", render(readTable[schemas.SegmentRow](t, hashed, schemas.TableSegments)), render(want.Segments))
	check("participants under the policy", render(readTable[schemas.ParticipantRow](t, hashed, schemas.TableParticipants)), render(want.Participants))
	check("call_records under the policy", render(readTable[schemas.CallRecordRow](t, hashed, schemas.TableCallRecords)), render([]schemas.CallRecordRow{want.CallRecord}))
	hashedArch := archived(t, hashed)
	if len(hashedArch) != 1 {
		t.Fatalf("the archive under the policy holds %d versions, want the record's one", len(hashedArch))
	}
	for k, raw := range hashedArch {
		wantJSON, err := ps.JSON(arch[k])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(raw, wantJSON) {
			t.Errorf("the archive holds %d bytes under the policy, want the record pseudonymised (%d bytes)", len(raw), len(wantJSON))
		}
	}
}

// render turns rows into comparable text, as read back from Parquet (an empty
// list reads back as nil).
func render[T any](rows []T) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		b, _ := json.Marshal(r)
		out[i] = strings.ReplaceAll(string(b), "[]", "null")
	}
	return out
}
