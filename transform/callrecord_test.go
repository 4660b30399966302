package transform_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
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
				schemas.TableMedia:        rows.Media,
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
	// One row per media line, one per stream: the line without streams has
	// a media row and no stream row.
	if got, want := len(rows.Media), 2; got != want {
		t.Fatalf("media rows = %d, want %d", got, want)
	}
	if got, want := len(rows.MediaStreams), 1; got != want {
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
	if m := rows.Media[1]; m.MediaIndex != 1 || m.MediaLabel != "data" {
		t.Errorf("media without streams: got index %d label %q, want 1 and data", m.MediaIndex, m.MediaLabel)
	}
	if m := rows.Media[0]; m.CallerNetwork.Subnet != s.CallerNetwork.Subnet || len(m.CallerNetwork.TraceRouteHops) != 2 {
		t.Errorf("media row network = %+v, want the stream's media line network", m.CallerNetwork)
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

// TestFlattenCallRecord_EveryIdentity: each identity set keeps all its
// identities, with their kinds and every property, in the order the primary
// identity is chosen (known kinds, then unknown ones by name), and session
// and segment endpoints keep their identity's UPN and email.
func TestFlattenCallRecord_EveryIdentity(t *testing.T) {
	set := `{"@odata.type": "#microsoft.graph.communicationsIdentitySet", "endpointType": "default",
		"zNewKind": {"id": "z"}, "encrypted": {"id": "enc"}, "user": null,
		"assertedIdentity": {"id": "+15550100", "displayName": "Asserted"},
		"guest": {"@odata.type": "#microsoft.graph.communicationsGuestIdentity", "id": "g", "displayName": "Guest", "email": "g@example.org"},
		"phone": {"id": "+15550199", "displayName": ""},
		"acsUser": {"@odata.type": "#microsoft.graph.azureCommunicationServicesUserIdentity", "id": "8:acs:1", "tenantId": "t1", "azureCommunicationServicesResourceId": "acs-res"},
		"application": {"id": "app", "applicationType": "bot", "hidden": true},
		"applicationInstance": {"id": "inst", "hidden": false, "tenantId": "t2", "userPrincipalName": "inst@contoso.com"}}`
	raw := `{"id": "r", "version": 1, "startDateTime": "2026-11-19T10:00:00Z",
		"organizer": {"user": {"id": "legacy"}},
		"organizer_v2": {"id": "o", "identity": ` + set + `},
		"participants_v2": [{"id": "p", "identity": ` + set + `}],
		"sessions": [{"id": "s",
			"caller": {"@odata.type": "#microsoft.graph.callRecords.participantEndpoint", "identity": ` + set + `},
			"callee": {"@odata.type": "#microsoft.graph.callRecords.participantEndpoint", "identity": {"user": {"id": "u", "userPrincipalName": "u@contoso.com", "email": "u@example.org"}}},
			"segments": [{"id": "g", "caller": {"@odata.type": "#microsoft.graph.callRecords.participantEndpoint", "identity": ` + set + `}}]}]}`
	rec, err := transform.DecodeCallRecord([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	rows := transform.FlattenCallRecord("tenant-1", rec)

	p := func(s string) *string { return &s }
	yes, no := true, false
	want := []schemas.IdentityRow{
		{Kind: "phone", ID: p("+15550199")},
		{Kind: "guest", ID: p("g"), DisplayName: p("Guest"), Email: p("g@example.org"), ODataType: p("#microsoft.graph.communicationsGuestIdentity")},
		{Kind: "acsUser", ID: p("8:acs:1"), TenantID: p("t1"), AzureCommunicationServicesResourceID: p("acs-res"), ODataType: p("#microsoft.graph.azureCommunicationServicesUserIdentity")},
		{Kind: "applicationInstance", ID: p("inst"), TenantID: p("t2"), UserPrincipalName: p("inst@contoso.com"), Hidden: &no},
		{Kind: "application", ID: p("app"), ApplicationType: p("bot"), Hidden: &yes},
		{Kind: "encrypted", ID: p("enc")},
		{Kind: "assertedIdentity", ID: p("+15550100"), DisplayName: p("Asserted")},
		{Kind: "zNewKind", ID: p("z")},
	}
	for name, got := range map[string][]schemas.IdentityRow{
		"organizer_identities":      rows.CallRecord.OrganizerIdentities,
		"participants identities":   rows.Participants[0].Identities,
		"session caller_identities": rows.Sessions[0].CallerEndpoint.Identities,
		"segment caller_identities": rows.Segments[0].CallerEndpoint.Identities,
	} {
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Flatten(%s) = %s, want %s", name, renderIdentities(got), renderIdentities(want))
		}
	}
	if cr := rows.CallRecord; cr.OrganizerIdentityKind != "phone" || cr.OrganizerID != "o" {
		t.Errorf("organizer = %q/%q, want the first identity's kind and organizer_v2's id", cr.OrganizerIdentityKind, cr.OrganizerID)
	}
	if pr := rows.Participants[0]; pr.IdentityKind != "phone" || pr.EndpointType != "default" {
		t.Errorf("participant primary = %q, endpointType %q; want phone and default", pr.IdentityKind, pr.EndpointType)
	}
	callee := rows.Sessions[0].CalleeEndpoint
	if callee.IdentityUserPrincipalName != "u@contoso.com" || callee.IdentityEmail != "u@example.org" {
		t.Errorf("callee identity UPN/email = %q/%q, want u@contoso.com/u@example.org", callee.IdentityUserPrincipalName, callee.IdentityEmail)
	}
	if got := rows.Sessions[0].CallerEndpoint.IdentityUserPrincipalName; got != "" {
		t.Errorf("caller identity UPN = %q, want NULL (the phone identity has none)", got)
	}
	if got := rows.Segments[0].CalleeEndpoint.Identities; got != nil {
		t.Errorf("segment without a callee: identities = %s, want none", renderIdentities(got))
	}
}

func renderIdentities(ids []schemas.IdentityRow) string {
	b, _ := json.Marshal(ids)
	return string(b)
}
