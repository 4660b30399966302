package jobs_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/graphsim"
	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// firstStream returns the first stream of the first media line of the first
// segment of the first session of a decoded record, or nil.
func firstStream(rec map[string]any) map[string]any {
	first := func(v any) map[string]any {
		if a, ok := v.([]any); ok && len(a) > 0 {
			m, _ := a[0].(map[string]any)
			return m
		}
		return nil
	}
	var m map[string]any = rec
	for _, k := range []string{"sessions", "segments", "media", "streams"} {
		if m = first(m[k]); m == nil {
			return nil
		}
	}
	return m
}

func decodeNumbers(body []byte) map[string]any {
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if d.Decode(&m) != nil {
		return nil
	}
	return m
}

// lockedBuffer is a log destination the test reads while the job writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRun_FieldTolerance: records whose stream has a duration Graph's
// schema allows but the lake cannot hold ("P1Y"), and a PSTN row whose
// duration is no integer, are stored in every table with that value NULL;
// the summary counts the values and the properties Graph added (per JSON
// path), nothing is quarantined, and each path is named once in the log
// however many records carry it.
func TestRun_FieldTolerance(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	edited := map[string]bool{} // call record ids whose detail is edited
	var pstnID, chargeID string
	wrap := hostile(func(r *http.Request, body []byte) []byte {
		mu.Lock()
		defer mu.Unlock()
		if strings.Contains(r.URL.Path, "getPstnCalls") {
			return editPage(body, func(it map[string]any) {
				switch it["id"] {
				case pstnID:
					it["duration"] = json.Number("12.5")
					it["newPstnProp"] = "x"
				case chargeID:
					it["charge"] = json.Number("0.1234567")
				}
			})
		}
		for id := range edited {
			if isDetail(r, id) {
				rec := decodeNumbers(body)
				s := firstStream(rec)
				s["averageJitter"] = "P1Y"
				s["newStreamProp"] = 1
				rec["sessions"].([]any)[0].(map[string]any)["newSessionProp"] = true
				out, _ := json.Marshal(rec)
				return out
			}
		}
		return body
	})
	f := newFixtureWith(t, func(c *graphsim.Config) { c.PstnPerDay = 6 }, wrap)
	f.seedCheckpoint(t, f.dest, f.clock.Now().Add(-24*time.Hour))
	mu.Lock()
	for _, id := range f.sim.Truth(f.clock.Now().Add(-40*time.Hour), f.clock.Now()).IDs {
		raw, _ := f.sim.Record(id)
		if len(edited) < 2 && firstStream(decodeNumbers(raw)) != nil {
			edited[id] = true
		}
	}
	pstnIDs := f.sim.PstnTruth(f.clock.Now().Add(-jobs.DefaultConfig().UsageHistory), f.clock.Now()).IDs
	pstnID, chargeID = pstnIDs[0], pstnIDs[1]
	mu.Unlock()
	if len(edited) != 2 {
		t.Fatalf("%d records with a stream in the last 40 hours, want 2", len(edited))
	}

	var logs lockedBuffer
	sum, err := f.run(t, func(c *jobs.Config) {
		c.Datasets = []string{schemas.DatasetCallRecords, schemas.DatasetPstn}
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	if err != nil || len(sum.Quarantined) != 0 {
		t.Fatalf("Run = %v, quarantined %v; want the records stored", err, sum.Quarantined)
	}
	cr := sum.Datasets[schemas.DatasetCallRecords]
	if want := map[string]int{"sessions.segments.media.streams.averageJitter": 2}; !maps.Equal(cr.InvalidValues, want) {
		t.Errorf("call records invalid_values = %v, want %v", cr.InvalidValues, want)
	}
	if want := map[string]int{"sessions.newSessionProp": 2, "sessions.segments.media.streams.newStreamProp": 2}; !maps.Equal(cr.UnknownProperties, want) {
		t.Errorf("call records unknown_properties = %v, want %v", cr.UnknownProperties, want)
	}
	p := sum.Datasets[schemas.DatasetPstn]
	if !maps.Equal(p.InvalidValues, map[string]int{"duration": 1}) || !maps.Equal(p.UnknownProperties, map[string]int{"newPstnProp": 1}) {
		t.Errorf("pstn invalid_values = %v, unknown_properties = %v", p.InvalidValues, p.UnknownProperties)
	}

	// Stored in every table, the bad value NULL.
	has := map[string]map[string]bool{}
	note := func(table, id string) {
		if has[table] == nil {
			has[table] = map[string]bool{}
		}
		has[table][id] = true
	}
	for _, r := range callRecords(t, f.dest) {
		note(schemas.TableCallRecords, r.CallRecordID)
	}
	for _, r := range readTable[schemas.SessionRow](t, f.dest, schemas.TableSessions) {
		note(schemas.TableSessions, r.CallRecordID)
	}
	for _, r := range readTable[schemas.SegmentRow](t, f.dest, schemas.TableSegments) {
		note(schemas.TableSegments, r.CallRecordID)
	}
	for _, r := range readTable[schemas.ParticipantRow](t, f.dest, schemas.TableParticipants) {
		note(schemas.TableParticipants, r.CallRecordID)
	}
	for _, r := range readTable[schemas.MediaRow](t, f.dest, schemas.TableMedia) {
		note(schemas.TableMedia, r.CallRecordID)
	}
	for _, r := range readTable[schemas.MediaStreamRow](t, f.dest, schemas.TableMediaStreams) {
		note(schemas.TableMediaStreams, r.CallRecordID)
		first := r.SessionIndex == 0 && r.SegmentIndex == 0 && r.MediaIndex == 0 && r.StreamIndex == 0
		if edited[r.CallRecordID] && first && r.AverageJitterMS != nil {
			t.Errorf("record %s: average_jitter_ms = %v, want NULL", r.CallRecordID, *r.AverageJitterMS)
		}
		if edited[r.CallRecordID] && first && r.MaxJitterMS == nil {
			t.Errorf("record %s: max_jitter_ms NULL, want the value Graph sent", r.CallRecordID)
		}
	}
	for id := range edited {
		for _, table := range []string{schemas.TableCallRecords, schemas.TableSessions, schemas.TableSegments, schemas.TableMedia, schemas.TableMediaStreams, schemas.TableParticipants} {
			if !has[table][id] {
				t.Errorf("record %s not in %s", id, table)
			}
		}
	}
	stored := 0
	for _, r := range readTable[schemas.PstnCallRow](t, f.dest, schemas.TablePstnCalls) {
		switch r.ID {
		case pstnID:
			stored++
			if r.DurationSeconds != nil {
				t.Errorf("PSTN row %s duration = %d, want NULL", r.ID, *r.DurationSeconds)
			}
		case chargeID: // a charge of 7 decimals, exact in the Parquet file
			stored++
			if r.Charge == nil || r.Charge.String() != "0.123456700000000000" {
				t.Errorf("PSTN row %s charge = %v, want 0.1234567 exactly", r.ID, r.Charge)
			}
		}
	}
	if stored != 2 {
		t.Errorf("%d of the 2 edited PSTN rows stored", stored)
	}

	// Each path named once, however many records carry it.
	const unknown = `msg="unknown property in what Graph sent; kept in the raw archive (replay after an upgrade recovers it), not in the tables"`
	const invalid = `msg="value could not be converted; stored as NULL"`
	out := logs.String()
	for _, want := range [][2]string{
		{unknown, "path=sessions.newSessionProp"},
		{unknown, "path=sessions.segments.media.streams.newStreamProp"},
		{invalid, "path=sessions.segments.media.streams.averageJitter"},
	} {
		if n := countLines(out, want[0], "dataset=callrecords", want[1]); n != 1 {
			t.Errorf("%s %s logged %d times, want once", want[0], want[1], n)
		}
	}
	var printed bytes.Buffer
	sum.Print(&printed)
	if !strings.Contains(printed.String(), "INVALID VALUE: callrecords sessions.segments.media.streams.averageJitter, 2 times") {
		t.Errorf("printed summary does not name the invalid values:\n%s", printed.String())
	}
}

// countLines counts the lines of out that hold every one of parts.
func countLines(out string, parts ...string) int {
	n := 0
	for line := range strings.SplitSeq(out, "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}
