package transform_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/transform"
)

// journeyRecord is a call record whose sessions are given as
// "id caller callee startSecond endSecond": a callee (or caller) "aa", "cq"
// or "vm" is that service with its resource account, "mcu" a conference
// service, any other name a user.
func journeyRecord(sessions ...string) []byte {
	t0 := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	at := func(sec string) string {
		var s int
		fmt.Sscan(sec, &s)
		return t0.Add(time.Duration(s) * time.Second).Format(time.RFC3339)
	}
	roles := map[string]string{"aa": "skypeForBusinessAutoAttendant", "cq": "skypeForBusinessCallQueues", "vm": "voicemail", "mcu": "skypeForBusinessAudioVideoMcu"}
	endpoint := func(who string) string {
		if role, ok := roles[who]; ok {
			if who == "vm" || who == "mcu" {
				return `{"@odata.type":"#microsoft.graph.callRecords.serviceEndpoint","userAgent":{"@odata.type":"#microsoft.graph.callRecords.serviceUserAgent","role":"` + role + `"}}`
			}
			return `{"@odata.type":"#microsoft.graph.callRecords.participantEndpoint","userAgent":{"@odata.type":"#microsoft.graph.callRecords.serviceUserAgent","role":"` + role + `"},` +
				`"associatedIdentity":{"id":"ra-` + who + `","displayName":"Resource ` + who + `"}}`
		}
		return `{"@odata.type":"#microsoft.graph.callRecords.participantEndpoint","userAgent":{"@odata.type":"#microsoft.graph.callRecords.clientUserAgent","platform":"windows","productFamily":"teams"},` +
			`"associatedIdentity":{"id":"` + who + `","displayName":"User ` + who + `"}}`
	}
	var ss []string
	for _, s := range sessions {
		f := strings.Fields(s)
		ss = append(ss, `{"id":"`+f[0]+`","modalities":["audio"],"startDateTime":"`+at(f[3])+`","endDateTime":"`+at(f[4])+`","caller":`+endpoint(f[1])+`,"callee":`+endpoint(f[2])+`,"segments":[]}`)
	}
	return []byte(`{"id":"rec","version":3,"type":"peerToPeer","modalities":["audio"],"startDateTime":"` + at("0") + `","endDateTime":"` + at("900") +
		`","sessions":[` + strings.Join(ss, ",") + `]}`)
}

// TestJourneyHops derives hops from the service roles and start times of
// a record's sessions, whatever order Graph lists them in.
func TestJourneyHops(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sessions []string
		want     []string // kind service answered-by wait outcome
	}{
		{"a peer-to-peer call has no journey", []string{"s x y 0 60"}, nil},
		{"a meeting has no journey", []string{"s x mcu 0 60", "t y mcu 5 60"}, nil},
		{
			"attendant, queue, agent, colleague, listed out of order, another caller's sessions left out",
			[]string{"a x agent 60 300", "s x aa 0 20", "m mcu other 10 30", "s x cq 20 60", "b x colleague 300 500"},
			[]string{
				"auto_attendant ra-aa - 20 transferred",
				"call_queue ra-cq agent 40 answered",
				"user agent agent 0 transferred",
				"transfer colleague colleague 0 answered",
			},
		},
		{
			"a queue that times out to voicemail",
			[]string{"s x cq 0 120", "v x vm 120 150"},
			[]string{"call_queue ra-cq - 120 voicemail", "voicemail - - 30 voicemail"},
		},
		{"a caller who hangs up in the queue", []string{"s x aa 0 10", "s x cq 10 95"}, []string{"auto_attendant ra-aa - 10 transferred", "call_queue ra-cq - 85 abandoned"}},
		{"a user who sends a call on to a queue", []string{"a x y 0 30", "q x cq 30 50", "b x z 50 80"}, []string{"user y y 0 transferred", "call_queue ra-cq z 20 answered", "user z z 0 answered"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := transform.DecodeCallRecord(journeyRecord(tc.sessions...))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for i, h := range transform.FlattenCallRecord("t", rec).JourneyHops {
				if int(h.HopIndex) != i || h.CallRecordID != "rec" || h.CallRecordVersion != 3 || h.TenantID != "t" {
					t.Errorf("hop %d: keys %+v", i, h)
				}
				by, svc := h.AnsweredByID, h.ServiceID
				if by == "" {
					by = "-"
				}
				if svc == "" {
					svc = "-"
				}
				got = append(got, fmt.Sprintf("%s %s %s %g %s", h.HopKind, svc, by, *h.WaitSeconds, h.Outcome))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("hops:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
