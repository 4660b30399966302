package report

import (
	"fmt"
	"html/template"
	"maps"
	"slices"
	"strings"
)

// Hop is the columns of call_journey_hops the report reads.
type Hop struct {
	HopKind            string   `parquet:"hop_kind,dict"`
	ServiceDisplayName string   `parquet:"service_display_name,optional"`
	ServiceID          string   `parquet:"service_id,optional"`
	WaitSeconds        *float64 `parquet:"wait_seconds,optional"`
	Answered           bool     `parquet:"answered"`
	Outcome            string   `parquet:"outcome,dict"`
}

// waitBuckets are the upper bounds, in seconds, of the queue-wait
// histogram: fixed, so a queue costs a few counters however many calls it had.
var waitBuckets = []float64{15, 30, 60, 120, 300}

// QueueWait sums the call-queue hops of one queue.
type QueueWait struct {
	// Queue is the queue's display name, or its id when it has none.
	Queue                              string
	Calls, Answered, Abandoned, Others int
	// WaitSeconds sums the waits (until an agent answered, or until the
	// caller left the queue); MaxWaitSeconds is the longest.
	WaitSeconds, MaxWaitSeconds float64
	// Buckets counts the waits up to each of waitBuckets, then above the last.
	Buckets [6]int
}

// AvgWaitSeconds is the average wait, 0 without calls.
func (q QueueWait) AvgWaitSeconds() float64 {
	if q.Calls == 0 {
		return 0
	}
	return q.WaitSeconds / float64(q.Calls)
}

// AddHops counts the call-queue hops of rows per queue.
func (r *Report) AddHops(rows []Hop) {
	for _, row := range rows {
		if row.HopKind != "call_queue" {
			continue
		}
		name := row.ServiceDisplayName
		if name == "" {
			name = orNone(row.ServiceID)
		}
		q := r.queues[name]
		if q == nil {
			q = &QueueWait{Queue: name}
			r.queues[name] = q
		}
		q.Calls++
		switch {
		case row.Answered:
			q.Answered++
		case row.Outcome == "abandoned":
			q.Abandoned++
		default:
			q.Others++
		}
		if row.WaitSeconds == nil {
			continue
		}
		w := *row.WaitSeconds
		q.WaitSeconds += w
		q.MaxWaitSeconds = max(q.MaxWaitSeconds, w)
		i, _ := slices.BinarySearch(waitBuckets, w)
		q.Buckets[i]++
	}
}

// Queues lists the call queues' waits, by queue name.
func (r *Report) Queues() []QueueWait {
	var out []QueueWait
	for _, name := range slices.Sorted(maps.Keys(r.queues)) {
		out = append(out, *r.queues[name])
	}
	return out
}

func (r *Report) queueSection() section {
	s := section{ID: "queues", Title: "Call-queue wait",
		Note: "Call-queue hops of call_journey_hops, per queue: how long callers waited until an agent answered, or until they left the queue (hung up, or sent on to voicemail or elsewhere)."}
	queues := r.Queues()
	if len(queues) == 0 {
		return s
	}
	var bars []bar
	for _, q := range queues {
		bars = append(bars, bar{Label: q.Queue, Value: q.AvgWaitSeconds(),
			Note: fmt.Sprintf("%.0f s average, %s", q.AvgWaitSeconds(), plural(q.Calls, "call"))})
	}
	var b strings.Builder
	b.WriteString(string(barChart("average wait per call queue", bars)))
	b.WriteString("<table><thead><tr><th>Queue</th><th class=n>Calls</th><th class=n>Answered</th><th class=n>Abandoned</th><th class=n>Other</th><th class=n>Average wait</th><th class=n>Longest</th>")
	lower := 0.0
	for _, up := range waitBuckets {
		fmt.Fprintf(&b, "<th class=n>%g–%g s</th>", lower, up)
		lower = up
	}
	fmt.Fprintf(&b, "<th class=n>&gt; %g s</th></tr></thead><tbody>\n", lower)
	for _, q := range queues {
		fmt.Fprintf(&b, "<tr><td>%s</td><td class=n>%d</td><td class=n>%d</td><td class=n>%d</td><td class=n>%d</td><td class=n>%.0f s</td><td class=n>%.0f s</td>",
			template.HTMLEscapeString(q.Queue), q.Calls, q.Answered, q.Abandoned, q.Others, q.AvgWaitSeconds(), q.MaxWaitSeconds)
		for _, n := range q.Buckets {
			fmt.Fprintf(&b, "<td class=n>%d</td>", n)
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</tbody></table>\n")
	s.Body = template.HTML(b.String())
	return s
}
