package report_test

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/report"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

func mustDecimal(tb testing.TB, s string) *schemas.Decimal128 {
	tb.Helper()
	d, err := schemas.ParseDecimal(s)
	if err != nil {
		tb.Fatal(err)
	}
	return d.Column()
}

func seconds(n int32) *int32 { return &n }

// sample is a report of a few hand-made rows, one of them with a currency
// that needs escaping.
func sample(tb testing.TB) *report.Report {
	r := report.New("tenant-1", time.Time{}, time.Time{})
	nov := time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)
	r.AddPstn([]report.PstnCall{
		{StartDateTime: nov, Charge: mustDecimal(tb, "0.1"), Currency: "EUR", CallType: "user_out", DurationSeconds: seconds(60)},
		{StartDateTime: nov, Charge: mustDecimal(tb, "0.2"), Currency: "EUR", CallType: "user_out", DurationSeconds: seconds(30)},
		{StartDateTime: nov.AddDate(0, -1, 0), Charge: mustDecimal(tb, "1.5"), Currency: "USD", CallType: "user_in"},
		{StartDateTime: nov, Currency: "<b>X</b>", CallType: "user_in"},
	})
	r.AddDirectRouting([]report.DirectRoutingCall{{CallType: "ByotIn", DurationSeconds: seconds(120)}})
	r.AddStreams("2026-11-03", []report.Stream{
		{Quality: "good"}, {Quality: "good"}, {Quality: "good"},
		{Quality: "poor", PoorDueTo: []string{"average_jitter_ms", "average_packet_loss_rate"}},
		{Quality: "unclassified"},
	})
	wait := func(s float64) *float64 { return &s }
	r.AddHops([]report.Hop{
		{HopKind: "auto_attendant", ServiceDisplayName: "Main line", WaitSeconds: wait(20)},
		{HopKind: "call_queue", ServiceDisplayName: "Help <desk>", WaitSeconds: wait(15), Answered: true, Outcome: "answered"},
		{HopKind: "call_queue", ServiceDisplayName: "Help <desk>", WaitSeconds: wait(400), Outcome: "abandoned"},
		{HopKind: "call_queue", ServiceID: "queue-2", WaitSeconds: wait(31), Outcome: "voicemail"},
		{HopKind: "user", ServiceDisplayName: "Agent", WaitSeconds: wait(0), Answered: true, Outcome: "answered"},
	})
	r.SetCompleteness([]report.DayCompleteness{
		{Date: "2026-10-22", IDs: 4, Listed: 4, Committed: 3, Quarantined: 1, Settled: 3, Warning: true},
		{Date: "2026-11-19", IDs: 2, Listed: 2, Committed: 2, Settled: 2, Complete: true},
	})
	return r
}

func TestReport_Aggregates(t *testing.T) {
	r := sample(t)
	var got []string
	for _, c := range r.Costs() {
		got = append(got, c.Month+" "+c.Currency+" "+c.Charge.String())
	}
	want := []string{
		"2026-10 USD 1.500000000000000000",
		"2026-11 <b>X</b> 0.000000000000000000",
		"2026-11 EUR 0.300000000000000000", // exact: 0.1 + 0.2
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Costs() =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if c := r.Costs()[1]; c.Calls != 1 || c.Unpriced != 1 {
		t.Errorf("Costs()[1] = %+v, want one call without charge", c)
	}
	m := r.Minutes()
	if m[0].Source != report.SourceDirectRouting || m[0].Seconds != 120 || m[1].CallType != "user_out" || m[1].Seconds != 90 || m[1].Calls != 2 {
		t.Errorf("Minutes() = %+v, want Direct Routing ByotIn 120 s first, then PSTN user_out 90 s in 2 calls", m)
	}
	// Only call-queue hops count; a queue without a name goes by its id; a
	// wait of exactly 15 s is in the 0–15 s bucket.
	queues := r.Queues()
	if len(queues) != 2 {
		t.Fatalf("Queues() = %+v, want two queues", queues)
	}
	if h := queues[0]; h.Queue != "Help <desk>" || h.Calls != 2 || h.Answered != 1 || h.Abandoned != 1 || h.WaitSeconds != 415 || h.MaxWaitSeconds != 400 || h.Buckets != [6]int{1, 0, 0, 0, 0, 1} {
		t.Errorf("Queues()[0] = %+v", h)
	}
	if v := queues[1]; v.Queue != "queue-2" || v.Calls != 1 || v.Others != 1 || v.Buckets != [6]int{0, 0, 1, 0, 0, 0} {
		t.Errorf("Queues()[1] = %+v", v)
	}
	q := r.Quality()
	if len(q) != 1 || q[0].Good != 3 || q[0].Poor != 1 || q[0].Unclassified != 1 || q[0].PoorRate() != 0.25 || q[0].PoorDueTo["average_jitter_ms"] != 1 {
		t.Errorf("Quality() = %+v, want 3 good, 1 poor (rate 0.25 of classified), 1 unclassified", q)
	}
}

// TestReport_WriteHTML: the page stands alone (no script, nothing to fetch),
// escapes what it prints and draws one chart per figure.
func TestReport_WriteHTML(t *testing.T) {
	var b bytes.Buffer
	if err := sample(t).WriteHTML(&b, time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, bad := range []string{"<script", "http://", "https://", "<link", "@import", "url(", "<b>X"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	for _, want := range []string{"&lt;b&gt;X&lt;/b&gt;", "0.30", "1.50", "25.0%", "average_jitter_ms 1", "Direct Routing · ByotIn", "2026-11-20T00:00:00Z", "1 call, 1 without charge", "incomplete, near the 30-day edge", "2 of 2 ids settled", "1 of 2 days complete. <strong>Incomplete near the 30-day edge: 2026-10-22.</strong>", "Help &lt;desk&gt;", "208 s average, 2 calls"} {
		if !strings.Contains(page, want) {
			t.Errorf("page does not show %q", want)
		}
	}
	// Three currencies, minutes, poor rate per day, poor causes, queue
	// wait, settled ids.
	if n := strings.Count(page, `<svg class="chart"`); n != 8 {
		t.Errorf("page has %d charts, want 8", n)
	}
	if n := len(regexp.MustCompile(`<section id="\w+">`).FindAllString(page, -1)); n != 5 {
		t.Errorf("page has %d sections, want 5", n)
	}
}

func TestReport_EmptyWindow(t *testing.T) {
	var b bytes.Buffer
	r := report.New("tenant-1", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC))
	if err := r.WriteHTML(&b, time.Now()); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(b.String(), "No rows in this window."); n != 5 {
		t.Errorf("empty report says %d times that it has no rows, want 5 (once per section)", n)
	}
	if !strings.Contains(b.String(), "from 2026-01-01 up to 2026-02-01") {
		t.Errorf("empty report does not name its window")
	}
}

// TestReport_WriteFile leaves the page or nothing: a directory that does not
// exist is an error naming the path, and no temporary file stays behind.
func TestReport_WriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "report.html")
	if err := sample(t).WriteFile(path, time.Now()); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "report.html" {
		t.Errorf("directory holds %v, want report.html only", entries)
	}
	missing := filepath.Join(dir, "no", "report.html")
	if err := sample(t).WriteFile(missing, time.Now()); err == nil || !strings.Contains(err.Error(), missing) ||
		!strings.Contains(err.Error(), "no folder "+filepath.Dir(missing)) || strings.Contains(err.Error(), ".report-") {
		t.Errorf("WriteFile(%s) = %v, want an error naming it and its missing folder, not a temporary file", missing, err)
	}
}
