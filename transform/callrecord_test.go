package transform_test

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callrecords-etl/callrecords-etl/schemas"
	"github.com/callrecords-etl/callrecords-etl/transform"
)

var update = flag.Bool("update", false, "rewrite golden files")

// MustReadFile reads a test fixture.
func MustReadFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestFlattenCallRecord_Golden flattens recorded payloads and compares the rows,
// rendered as JSON, with testdata/*.rows.golden. Refresh with -update and review.
func TestFlattenCallRecord_Golden(t *testing.T) {
	inputs, err := filepath.Glob("testdata/*.json")
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			rec, err := transform.DecodeCallRecord(MustReadFile(t, in))
			if err != nil {
				t.Fatal(err)
			}
			rows := transform.FlattenCallRecord("tenant-1", rec)
			got := []byte(renderRows(map[string]any{
				schemas.TableCallRecords:  []schemas.CallRecordRow{rows.CallRecord},
				schemas.TableSessions:     rows.Sessions,
				schemas.TableSegments:     rows.Segments,
				schemas.TableMediaStreams: rows.MediaStreams,
				schemas.TableParticipants: rows.Participants,
			}))
			golden := filepath.Join("testdata", name+".rows.golden")
			if *update {
				if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want := MustReadFile(t, golden)
			if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
				t.Errorf("FlattenCallRecord(%s) differs from %s; rerun with -update and review the diff.\ngot:\n%s", in, golden, got)
			}
		})
	}
}

func TestFlattenCallRecord_Quirks(t *testing.T) {
	rec, err := transform.DecodeCallRecord(MustReadFile(t, "testdata/quirks.json"))
	if err != nil {
		t.Fatal(err)
	}
	rows := transform.FlattenCallRecord("tenant-1", rec)

	if got, want := len(rows.Sessions), 2; got != want {
		t.Fatalf("sessions = %d, want %d", got, want)
	}
	// Duplicate session ids stay apart through their index.
	if a, b := rows.Sessions[0], rows.Sessions[1]; a.SessionID != b.SessionID || a.SessionIndex == b.SessionIndex {
		t.Errorf("duplicate session ids: got (%s,%d) and (%s,%d), want same id and distinct index", a.SessionID, a.SessionIndex, b.SessionID, b.SessionIndex)
	}
	cr := rows.CallRecord
	if cr.OrganizerID != "+5564981205182" || cr.OrganizerIdentityKind != "phone" {
		t.Errorf("organizer = %q/%q, want the organizer_v2 phone identity", cr.OrganizerID, cr.OrganizerIdentityKind)
	}
	if got := cr.StartDateTime.Format("2006-01-02T15:04:05.999999Z07:00"); got != "2026-11-19T23:59:59.999999Z" {
		t.Errorf("start = %s, want microseconds truncated from 7 digits", got)
	}
	if got := schemas.PartitionDate(cr.StartDateTime); got != "2026-11-19" {
		t.Errorf("partition = %s, want 2026-11-19", got)
	}
	// One stream row plus one row for the media line without streams.
	if got, want := len(rows.MediaStreams), 2; got != want {
		t.Fatalf("media stream rows = %d, want %d", got, want)
	}
	s := rows.MediaStreams[0]
	if s.AverageJitterMS == nil || *s.AverageJitterMS != 62500 {
		t.Errorf("average_jitter_ms = %v, want 62500 (PT1M2.5S)", s.AverageJitterMS)
	}
	if s.MaxJitterMS == nil || *s.MaxJitterMS != 2 {
		t.Errorf("max_jitter_ms = %v, want 2 (P0DT0H0M0.002S)", s.MaxJitterMS)
	}
	if s.AverageVideoFrameLossPercentage != nil {
		t.Errorf("NaN metric = %v, want NULL", *s.AverageVideoFrameLossPercentage)
	}
	if !s.EndDateTime.IsZero() {
		t.Errorf("0001-01-01 sentinel = %v, want NULL (zero)", s.EndDateTime)
	}
	if s.CallerNetwork.BandwidthLowEventRatio != nil || s.CallerNetwork.DelayEventRatio != nil || s.CallerNetwork.SentQualityEventRatio != nil {
		t.Errorf("NaN/INF/-INF network ratios must be NULL")
	}
	if got := len(s.CallerNetwork.TraceRouteHops); got != 2 {
		t.Errorf("trace route hops = %d, want 2", got)
	}
	if *s.PacketUtilization != 123456789012 {
		t.Errorf("packet_utilization = %d, want exact int64", *s.PacketUtilization)
	}
	if rows.MediaStreams[1].StreamIndex != nil || rows.MediaStreams[1].MediaLabel != "data" {
		t.Errorf("media without streams: got %+v, want a row with NULL stream columns", rows.MediaStreams[1].StreamIndex)
	}
	if got, want := len(rows.Participants), 3; got != want {
		t.Fatalf("participants = %d, want %d", got, want)
	}
	if p := rows.Participants[2]; p.IdentityKind != "somethingNew" || p.IdentityID != "future-kind-id" {
		t.Errorf("unknown identity kind: got %q/%q, want it kept", p.IdentityKind, p.IdentityID)
	}
	if p := rows.Participants[1]; p.Email != "o@example.org" || p.EndpointType != "default" {
		t.Errorf("guest: got email %q endpointType %q", p.Email, p.EndpointType)
	}
	se := rows.Sessions[0]
	if se.CallerEndpoint.FeedbackTokens["BrandNewToken"] != true || len(se.CallerEndpoint.FeedbackTokens) != 3 {
		t.Errorf("feedback tokens = %v, want all three open keys", se.CallerEndpoint.FeedbackTokens)
	}
	if se.CalleeEndpoint.EndpointType != "serviceEndpoint" || se.CalleeEndpoint.UserAgentRole != "skypeForBusinessAudioVideoMcu" {
		t.Errorf("callee = %+v, want service endpoint with its role", se.CalleeEndpoint)
	}
}

func TestDecodeCallRecord_Invalid(t *testing.T) {
	tests := []struct {
		name, raw, wantInMessage string
	}{
		{"not json", `{"id": "abc", `, "(unknown id)"},
		{"no id", `{"version": 1, "startDateTime": "2026-01-01T00:00:00Z"}`, "no id"},
		{"no start", `{"id": "rec-7", "version": 1}`, "rec-7"},
		{"bad timestamp", `{"id": "rec-9", "startDateTime": "yesterday"}`, "rec-9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := transform.DecodeCallRecord([]byte(tt.raw))
			if !errors.Is(err, transform.ErrInvalidRecord) {
				t.Fatalf("DecodeCallRecord(%s) = %v, want ErrInvalidRecord", tt.raw, err)
			}
			if !strings.Contains(err.Error(), tt.wantInMessage) {
				t.Errorf("DecodeCallRecord(%s) = %q, want it to name %q", tt.raw, err, tt.wantInMessage)
			}
		})
	}
}
