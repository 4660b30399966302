package jobs_test

import (
	"fmt"
	"math"
	"testing"

	"github.com/callrecords-etl/callrecords-etl/graphsim"
	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// TestRun_JourneyHopsEqualTheSimulatorsJourneys runs the job over HTTP
// against a month of simulated calls, a quarter of them through auto
// attendants and call queues (a twentieth by default: too few journeys in
// a month of the fixture's six calls a day), and checks call_journey_hops
// against the simulator's own account of those calls: hops per kind and
// outcome, and per queue the calls, answers and waits.
func TestRun_JourneyHopsEqualTheSimulatorsJourneys(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, func(c *graphsim.Config) { c.JourneyShare = 0.25 }, nil)
	f.MustRun(t, nil)
	want := f.sim.JourneyTruth(f.clock.Now().Add(-jobs.Retention), f.clock.Now())
	if want.Hops["call_queue"] < 10 || want.Outcomes["call_queue abandoned"] == 0 || want.Hops["voicemail"] == 0 || want.Hops["transfer"] == 0 {
		t.Fatalf("simulator journeys too thin for the check: %+v", want)
	}

	t.Logf("simulator journeys: %d records, hops %v, queues %+v", want.Records, want.Hops, want.Queues)
	hops := readTable[schemas.CallJourneyHopRow](t, f.dest, schemas.TableCallJourneyHops)
	versions := map[string]int64{}
	for _, r := range callRecords(t, f.dest) {
		versions[r.CallRecordID] = r.Version
	}
	kinds, outcomes := map[string]int{}, map[string]int{}
	queues := map[string]graphsim.QueueTruth{}
	perRecord := map[string]int32{}
	for _, h := range hops {
		kinds[h.HopKind]++
		outcomes[h.HopKind+" "+h.Outcome]++
		if h.HopIndex != perRecord[h.CallRecordID] {
			t.Errorf("%s: hop %d where %d was next", h.CallRecordID, h.HopIndex, perRecord[h.CallRecordID])
		}
		perRecord[h.CallRecordID]++
		if v, ok := versions[h.CallRecordID]; !ok || v != h.CallRecordVersion {
			t.Errorf("%s: hop at version %d, call_records has %d (%v)", h.CallRecordID, h.CallRecordVersion, v, ok)
		}
		if h.WaitSeconds == nil {
			t.Errorf("%s hop %d: no wait", h.CallRecordID, h.HopIndex)
			continue
		}
		if h.Answered != (h.AnsweredByID != "") {
			t.Errorf("%s hop %d: answered %v by %q", h.CallRecordID, h.HopIndex, h.Answered, h.AnsweredByID)
		}
		if h.HopKind != "call_queue" {
			continue
		}
		if h.ServiceDisplayName == "" || h.ServiceID == "" || h.ServiceRole != "skypeForBusinessCallQueues" {
			t.Errorf("%s: queue hop without its resource account: %+v", h.CallRecordID, h)
		}
		q := queues[h.ServiceDisplayName]
		q.Calls++
		if h.Answered {
			q.Answered++
		}
		q.WaitSeconds += *h.WaitSeconds
		q.MaxWaitSeconds = math.Max(q.MaxWaitSeconds, *h.WaitSeconds)
		queues[h.ServiceDisplayName] = q
	}
	if len(perRecord) != want.Records {
		t.Errorf("records with a journey = %d, want %d", len(perRecord), want.Records)
	}
	if fmt.Sprint(kinds) != fmt.Sprint(want.Hops) {
		t.Errorf("hops per kind:\n got %v\nwant %v", kinds, want.Hops)
	}
	if fmt.Sprint(outcomes) != fmt.Sprint(want.Outcomes) {
		t.Errorf("hops per kind and outcome:\n got %v\nwant %v", outcomes, want.Outcomes)
	}
	if len(queues) != len(want.Queues) {
		t.Errorf("queues %v, want %v", queues, want.Queues)
	}
	for name, w := range want.Queues {
		g := queues[name]
		// The lake keeps microseconds, Graph's timestamps 100 ns.
		if g.Calls != w.Calls || g.Answered != w.Answered || math.Abs(g.WaitSeconds-w.WaitSeconds) > 1e-6*float64(w.Calls) || math.Abs(g.MaxWaitSeconds-w.MaxWaitSeconds) > 1e-6 {
			t.Errorf("queue %q: got %+v, want %+v", name, g, w)
		}
	}
}
