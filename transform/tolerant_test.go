package transform_test

import (
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"strings"
	"testing"

	"github.com/callrecords-etl/callrecords-etl/schemas"
	"github.com/callrecords-etl/callrecords-etl/transform"
)

// tolerantBase is a small record with a value at every depth the cases
// below change.
const tolerantBase = `{
 "id": "rec-1", "version": 3, "type": "peerToPeer", "modalities": ["audio"],
 "startDateTime": "2026-01-01T10:00:00Z", "endDateTime": "2026-01-01T10:05:00Z",
 "organizer_v2": {"id": "o", "identity": {"user": {"id": "u1", "displayName": "U"}}},
 "sessions": [{
  "id": "s1", "modalities": ["audio"], "isTest": false,
  "startDateTime": "2026-01-01T10:00:00Z", "endDateTime": "2026-01-01T10:05:00Z",
  "failureInfo": {"reason": "r", "stage": "midcall"},
  "caller": {
   "@odata.type": "#microsoft.graph.callRecords.participantEndpoint",
   "name": "laptop", "cpuCoresCount": 8,
   "userAgent": {"@odata.type": "#microsoft.graph.callRecords.clientUserAgent", "headerValue": "h", "platform": "windows"},
   "associatedIdentity": {"id": "u1", "displayName": "U"},
   "identity": {"user": {"id": "u1"}},
   "feedback": {"rating": "good", "tokens": {"Echo": true, "NoSound": false}}
  },
  "segments": [{
   "id": "g1", "startDateTime": "2026-01-01T10:00:00Z", "endDateTime": "2026-01-01T10:05:00Z",
   "media": [{
    "label": "main-audio",
    "callerNetwork": {"linkSpeed": 1000000, "port": 5000, "ipAddress": "10.0.0.1",
     "traceRouteHops": [{"hopCount": 1, "roundTripTime": "PT0.001S"}]},
    "callerDevice": {"howlingEventCount": 0, "micGlitchRate": 0.5},
    "streams": [{
     "streamId": "1", "streamDirection": "callerToCallee",
     "averageJitter": "PT0.016S", "maxJitter": "PT0.030S",
     "averageBandwidthEstimate": 12, "packetUtilization": 100,
     "averagePacketLossRate": 0.01, "wasMediaBypassed": false
    }]
   }]
  }]
 }]
}`

// mustEdit returns tolerantBase with the value at path (keys joined by dots,
// the first element of each array) set to the JSON literal v, or the
// property added when it is absent.
func mustEdit(tb testing.TB, path, v string) []byte {
	tb.Helper()
	return withProps(tb, []byte(tolerantBase), map[string]string{path: v})
}

func stream(rec schemas.CallRecord) schemas.MediaStream {
	return rec.Sessions[0].Segments[0].Media[0].Streams[0]
}

func media(rec schemas.CallRecord) schemas.Media { return rec.Sessions[0].Segments[0].Media[0] }

// TestDecodeCallRecord_Tolerant: a value that does not convert is stored as
// NULL and counted under its path; the record, and every other value of it,
// is stored in every table.
func TestDecodeCallRecord_Tolerant(t *testing.T) {
	tests := []struct {
		name, path, value string
		isNull            func(schemas.CallRecord) bool
	}{
		{"calendar duration", "sessions.segments.media.streams.averageJitter", `"P1Y"`,
			func(r schemas.CallRecord) bool { return !stream(r).AverageJitter.Valid }},
		{"duration overflow", "sessions.segments.media.streams.maxJitter", `"P2562047788015D"`,
			func(r schemas.CallRecord) bool { return !stream(r).MaxJitter.Valid }},
		{"duration not a string", "sessions.segments.media.callerNetwork.traceRouteHops.roundTripTime", `0.001`,
			func(r schemas.CallRecord) bool { return !media(r).CallerNetwork.TraceRouteHops[0].RoundTripTime.Valid }},
		{"int64 with a fraction", "sessions.segments.media.streams.averageBandwidthEstimate", `12.0`,
			func(r schemas.CallRecord) bool { return stream(r).AverageBandwidthEstimate == nil }},
		{"int64 as a string", "sessions.segments.media.streams.packetUtilization", `"12"`,
			func(r schemas.CallRecord) bool { return stream(r).PacketUtilization == nil }},
		{"int64 1e400", "sessions.segments.media.callerNetwork.linkSpeed", `1e400`,
			func(r schemas.CallRecord) bool { return media(r).CallerNetwork.LinkSpeed == nil }},
		{"int32 out of range", "sessions.segments.media.callerNetwork.port", `2147483648`,
			func(r schemas.CallRecord) bool { return media(r).CallerNetwork.Port == nil }},
		{"int32 with a fraction", "sessions.caller.cpuCoresCount", `8.5`,
			func(r schemas.CallRecord) bool { return r.Sessions[0].Caller.CPUCoresCount == nil }},
		{"feedback token not a boolean", "sessions.caller.feedback.tokens.Echo", `"yes"`,
			func(r schemas.CallRecord) bool {
				tok := r.Sessions[0].Caller.Feedback.Tokens
				return tok["Echo"] == nil && tok["NoSound"] != nil && !*tok["NoSound"]
			}},
		{"float 1e400", "sessions.segments.media.streams.averagePacketLossRate", `1e400`,
			func(r schemas.CallRecord) bool { return !stream(r).AveragePacketLossRate.Valid }},
		{"float not a number", "sessions.segments.media.callerDevice.micGlitchRate", `"lots"`,
			func(r schemas.CallRecord) bool { return !media(r).CallerDevice.MicGlitchRate.Valid }},
		{"timestamp", "sessions.segments.startDateTime", `"yesterday"`,
			func(r schemas.CallRecord) bool { return r.Sessions[0].Segments[0].StartDateTime.IsZero() }},
		{"record end timestamp", "endDateTime", `"2026-13-45T99:00:00Z"`,
			func(r schemas.CallRecord) bool { return r.EndDateTime.IsZero() }},
		{"string as a number", "sessions.caller.userAgent.headerValue", `5`,
			func(r schemas.CallRecord) bool { return r.Sessions[0].Caller.UserAgent.HeaderValue == nil }},
		{"string as an object", "sessions.caller.name", `{"first": "a"}`,
			func(r schemas.CallRecord) bool { return r.Sessions[0].Caller.Name == nil }},
		{"boolean as a string", "sessions.isTest", `"no"`,
			func(r schemas.CallRecord) bool { return r.Sessions[0].IsTest == nil }},
		{"object for an array", "sessions.modalities", `{"audio": true}`,
			func(r schemas.CallRecord) bool { return r.Sessions[0].Modalities == nil }},
		{"array for an object", "sessions.failureInfo", `["r"]`,
			func(r schemas.CallRecord) bool { return r.Sessions[0].FailureInfo == nil }},
		{"string in a list of strings", "modalities", `["audio", 7]`,
			func(r schemas.CallRecord) bool { return len(r.Modalities) == 2 && r.Modalities[1] == "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := mustEdit(t, tt.path, tt.value)
			rec, rep, err := transform.DecodeCallRecordWithReport(raw)
			if err != nil {
				t.Fatalf("DecodeCallRecordWithReport(%s = %s) = %v, want stored", tt.path, tt.value, err)
			}
			if !tt.isNull(rec) {
				t.Errorf("DecodeCallRecordWithReport(%s = %s): the value is not NULL", tt.path, tt.value)
			}
			path := strings.TrimSuffix(tt.path, ".Echo") // the keys of an open map are not part of the path
			if want := map[string]int{path: 1}; !reflect.DeepEqual(rep.Invalid, want) || rep.Unknown != nil {
				t.Errorf("DecodeCallRecordWithReport(%s = %s) report = %+v, want Invalid %v", tt.path, tt.value, rep, want)
			}
			// Everything else is as in the record without the bad value.
			good, _ := transform.DecodeCallRecord([]byte(tolerantBase))
			if stream(rec).StreamID == nil || *stream(rec).StreamID != "1" || rec.Sessions[0].Caller.UserAgent.Platform == nil || media(rec).CallerNetwork.IPAddress == nil {
				t.Errorf("DecodeCallRecordWithReport(%s = %s) lost the other values", tt.path, tt.value)
			}
			rows, want := transform.FlattenCallRecord("t", rec), transform.FlattenCallRecord("t", good)
			if rows.CallRecord.CallRecordID != "rec-1" || len(rows.Sessions) != len(want.Sessions) || len(rows.Segments) != len(want.Segments) ||
				len(rows.MediaStreams) != len(want.MediaStreams) || len(rows.Participants) != len(want.Participants) {
				t.Errorf("FlattenCallRecord after %s = %s: %d/%d/%d/%d rows, want %d/%d/%d/%d", tt.path, tt.value,
					len(rows.Sessions), len(rows.Segments), len(rows.MediaStreams), len(rows.Participants),
					len(want.Sessions), len(want.Segments), len(want.MediaStreams), len(want.Participants))
			}
		})
	}
}

// TestDecodeCallRecord_TolerantKeys: a record whose id, version or start
// cannot be read is still refused.
func TestDecodeCallRecord_TolerantKeys(t *testing.T) {
	for _, tt := range []struct{ path, value string }{
		{"id", `5`}, {"id", `{"x": 1}`}, {"version", `12.0`}, {"version", `"3"`}, {"startDateTime", `"yesterday"`}, {"startDateTime", `null`},
	} {
		raw := mustEdit(t, tt.path, tt.value)
		if _, rep, err := transform.DecodeCallRecordWithReport(raw); !errors.Is(err, transform.ErrInvalidRecord) || !rep.Empty() {
			t.Errorf("DecodeCallRecordWithReport(%s = %s) = %+v, %v, want ErrInvalidRecord and no report", tt.path, tt.value, rep, err)
		}
	}
	for _, raw := range []string{`[]`, `"x"`, `{"id": "a"`} {
		if _, _, err := transform.DecodeCallRecordWithReport([]byte(raw)); !errors.Is(err, transform.ErrInvalidRecord) {
			t.Errorf("DecodeCallRecordWithReport(%s) = %v, want ErrInvalidRecord", raw, err)
		}
	}
}

// unknownProps adds a property the schema does not know at every depth, and
// keys that are not properties: OData annotations, new identity kinds, new
// keys of an identity, new feedback tokens.
var unknownProps = map[string]string{
	"newTop":                                                          `1`,
	"organizer_v2.newParticipantProp":                                 `"x"`,
	"sessions.newSessionProp":                                         `{"a": [1]}`,
	"sessions.failureInfo.newFailureProp":                             `true`,
	"sessions.caller.newEndpointProp":                                 `null`,
	"sessions.caller.userAgent.newUserAgentProp":                      `"x"`,
	"sessions.caller.associatedIdentity.newIdProp":                    `"x"`,
	"sessions.caller.feedback.newFeedbackProp":                        `"x"`,
	"sessions.segments.newSegmentProp":                                `[]`,
	"sessions.segments.media.newMediaProp":                            `"x"`,
	"sessions.segments.media.callerNetwork.newNetProp":                `2`,
	"sessions.segments.media.callerNetwork.traceRouteHops.newHopProp": `2`,
	"sessions.segments.media.callerDevice.newDeviceProp":              `2`,
	"sessions.segments.media.streams.newStreamProp":                   `2.5`,
}

var notProps = map[string]string{
	"@odata.context":                            `"x"`,
	"sessions@odata.context":                    `"x"`,
	"sessions.caller.identity.somethingNew":     `{"id": "n"}`,
	"sessions.caller.identity.user.newUserProp": `"x"`,
	"sessions.caller.feedback.tokens.NewToken":  `true`,
}

// withProps returns raw with each path of props (as for mustEdit) set.
func withProps(tb testing.TB, raw []byte, props ...map[string]string) []byte {
	tb.Helper()
	var rec map[string]any
	d := json.NewDecoder(strings.NewReader(string(raw)))
	d.UseNumber()
	if err := d.Decode(&rec); err != nil {
		tb.Fatal(err)
	}
	for _, m := range props {
		for path, v := range m {
			keys := strings.Split(path, ".")
			for i, k := range keys { // an annotation's name has dots of its own
				if strings.Contains(k, "@") {
					keys = append(keys[:i], strings.Join(keys[i:], "."))
					break
				}
			}
			o := rec
			for _, k := range keys[:len(keys)-1] {
				switch x := o[k].(type) {
				case map[string]any:
					o = x
				case []any:
					o = x[0].(map[string]any)
				default:
					tb.Fatalf("no object at %s of %s", k, path)
				}
			}
			o[keys[len(keys)-1]] = json.RawMessage(v)
		}
	}
	out, err := json.Marshal(rec)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// TestDecodeCallRecord_Unknown: properties the schema does not know are
// counted under their path at every depth, by the fast decoder and by the
// tolerant one (a record with a bad value) alike, and by the session-at-a-time
// decoder of large records; the keys of open types are not unknown.
func TestDecodeCallRecord_Unknown(t *testing.T) {
	want := map[string]int{}
	for path := range unknownProps {
		want[path] = 1
	}
	good := withProps(t, []byte(tolerantBase), unknownProps, notProps)
	bad := withProps(t, good, map[string]string{"sessions.segments.media.streams.averageJitter": `"P1M"`})
	for name, raw := range map[string][]byte{"well-formed": good, "with a bad value": bad} {
		rec, rep, err := transform.DecodeCallRecordWithReport(raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(rep.Unknown, want) {
			t.Errorf("%s: Unknown = %v, want %v", name, rep.Unknown, want)
		}
		if rec.Sessions[0].Caller.Feedback.Tokens["NewToken"] == nil || rec.Sessions[0].Caller.Identity["somethingNew"] == nil {
			t.Errorf("%s: open keys not kept", name)
		}
		big, ok, err := transform.DecodeBigCallRecord(raw)
		if !ok || err != nil {
			t.Fatalf("%s: DecodeBigCallRecord = %v, %v", name, ok, err)
		}
		if !reflect.DeepEqual(big.Report(), rep) {
			t.Errorf("%s: DecodeBigCallRecord report = %+v, want %+v", name, big.Report(), rep)
		}
	}
}

// TestReport_Add: adding reports sums their counts; an empty report stays
// without maps.
func TestReport_Add(t *testing.T) {
	var r transform.Report
	r.Add(transform.Report{})
	if r.Invalid != nil || r.Unknown != nil || !r.Empty() {
		t.Errorf("empty + empty = %+v, want no maps", r)
	}
	r.Add(transform.Report{Invalid: map[string]int{"a": 1}})
	r.Add(transform.Report{Invalid: map[string]int{"a": 2, "b": 1}, Unknown: map[string]int{"c": 1}})
	if want := map[string]int{"a": 3, "b": 1}; !maps.Equal(r.Invalid, want) || !maps.Equal(r.Unknown, map[string]int{"c": 1}) || r.Empty() {
		t.Errorf("sum = %+v", r)
	}
}
