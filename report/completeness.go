package report

import (
	"fmt"
	"html/template"
	"strings"
)

// DayCompleteness is one day of the completeness ledger, as the report shows
// it (jobs fills it from the ledger; the report does no I/O).
type DayCompleteness struct {
	Date                                                   string
	IDs, Listed, Committed, Quarantined, NotifiedNotListed int
	Settled                                                int
	// Complete: every id of the day settled. Warning: not complete and
	// close to the day Graph starts deleting its records.
	Complete, Warning bool
}

// SetCompleteness sets the ledger's days shown by the completeness section,
// oldest first.
func (r *Report) SetCompleteness(days []DayCompleteness) { r.completeness = days }

// Completeness is the ledger's days the report shows.
func (r *Report) Completeness() []DayCompleteness { return r.completeness }

func (r *Report) completenessSection() section {
	s := section{ID: "completeness", Title: "Completeness per day",
		Note: "From call_record_ledger, for the days Graph still holds (30 days): call record ids listed, committed, quarantined, notified but never listed, and settled (committed at the version listed, which stayed the same). A day is complete when every id of it is settled; days marked near the edge are incomplete and Graph starts deleting their records within 5 days."}
	if len(r.completeness) == 0 {
		return s
	}
	var bars []bar
	for _, d := range r.completeness {
		bars = append(bars, bar{Label: d.Date[5:], Value: 100 * d.settledShare(),
			Note: fmt.Sprintf("%s %d of %d ids settled", d.Date, d.Settled, d.IDs)})
	}
	var b strings.Builder
	b.WriteString(string(columnChart("settled ids per day", bars, chartWidth, 240, func(v float64) string { return fmt.Sprintf("%.3g%%", v) })))
	complete, incomplete, near := 0, []string{}, []string{}
	for _, d := range r.completeness {
		switch {
		case d.Complete:
			complete++
		case d.Warning:
			near = append(near, d.Date)
		default:
			incomplete = append(incomplete, d.Date)
		}
	}
	fmt.Fprintf(&b, "<p>%d of %s complete.", complete, plural(len(r.completeness), "day"))
	if len(near) > 0 {
		fmt.Fprintf(&b, " <strong>Incomplete near the 30-day edge: %s.</strong>", strings.Join(near, ", "))
	}
	if len(incomplete) > 0 {
		fmt.Fprintf(&b, " Incomplete: %s.", strings.Join(incomplete, ", "))
	}
	b.WriteString("</p>\n")
	b.WriteString("<details><summary>Per day</summary><table><thead><tr><th>Day</th><th class=n>Ids</th><th class=n>Listed</th><th class=n>Committed</th><th class=n>Quarantined</th><th class=n>Notified, not listed</th><th class=n>Settled</th><th>State</th></tr></thead><tbody>\n")
	for _, d := range r.completeness {
		state := "complete"
		switch {
		case d.Warning:
			state = "<strong>incomplete, near the 30-day edge</strong>"
		case !d.Complete:
			state = "incomplete"
		}
		fmt.Fprintf(&b, "<tr><td>%s</td><td class=n>%d</td><td class=n>%d</td><td class=n>%d</td><td class=n>%d</td><td class=n>%d</td><td class=n>%d</td><td>%s</td></tr>\n",
			template.HTMLEscapeString(d.Date), d.IDs, d.Listed, d.Committed, d.Quarantined, d.NotifiedNotListed, d.Settled, state)
	}
	b.WriteString("</tbody></table></details>\n")
	s.Body = template.HTML(b.String())
	return s
}

func (d DayCompleteness) settledShare() float64 {
	if d.IDs == 0 {
		return 1
	}
	return float64(d.Settled) / float64(d.IDs)
}
