package report

import (
	"bufio"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"maps"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// section is one part of the page. A new one (e.g. call-queue wait) is a
// method returning a section, listed in sections.
type section struct {
	ID, Title string
	// Note says what the figures are and where they come from.
	Note string
	// Body is the charts and tables, empty when the window has no rows.
	Body template.HTML
}

// sections are the page's parts, in order.
func (r *Report) sections() []section {
	return []section{r.costSection(), r.minutesSection(), r.qualitySection(), r.queueSection(), r.completenessSection()}
}

//go:embed report.html.tmpl
var pageText string

var page = template.Must(template.New("report").Parse(pageText))

// WriteHTML writes the page: HTML with its CSS and SVG charts inline, no
// script and nothing fetched from the network. generated is the instant
// shown as when it was made.
func (r *Report) WriteHTML(w io.Writer, generated time.Time) error {
	window := "every day in the lake"
	if !r.From.IsZero() || !r.To.IsZero() {
		window = fmt.Sprintf("from %s up to %s", day(r.From, "the first day"), day(r.To, "the last day (included)"))
	}
	return page.Execute(w, map[string]any{
		"Tenant": r.Tenant, "Window": window, "Generated": generated.UTC().Format(time.RFC3339), "Sections": r.sections(),
	})
}

func day(t time.Time, zero string) string {
	if t.IsZero() {
		return zero
	}
	return t.UTC().Format(time.DateOnly)
}

// WriteFile writes the page to path, whole or not at all: into a temporary
// file beside it, renamed over path once complete.
func (r *Report) WriteFile(path string, generated time.Time) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".report-*.html")
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("write report %s: no folder %s", path, dir) // not the temporary file's name
	}
	if err != nil {
		return fmt.Errorf("write report %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	w := bufio.NewWriter(f)
	err = r.WriteHTML(w, generated)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write report %s: %w", path, err)
	}
	return nil
}

func (r *Report) costSection() section {
	s := section{ID: "cost", Title: "PSTN cost per month and currency",
		Note: "Sum of charge in pstn_calls (Calling Plans and Audio Conferencing), exact, per month of the call's start (UTC). Amounts in different currencies are never added together."}
	costs := r.Costs()
	if len(costs) == 0 {
		return s
	}
	var b strings.Builder
	currencies := map[string][]bar{}
	for _, c := range costs {
		f, _ := new(big.Rat).SetString(c.Charge.String())
		v, _ := f.Float64()
		currencies[c.Currency] = append(currencies[c.Currency], bar{Label: c.Month, Value: v, Note: money(c.Charge) + " " + c.Currency})
	}
	b.WriteString("<div class=multiples>\n")
	for _, cur := range slices.Sorted(maps.Keys(currencies)) {
		fmt.Fprintf(&b, "<figure><figcaption>%s</figcaption>", template.HTMLEscapeString(orNone(cur)))
		b.WriteString(string(columnChart("cost per month in "+orNone(cur), currencies[cur], 360, 200, func(v float64) string { return fmt.Sprintf("%.4g", v) })))
		b.WriteString("</figure>\n")
	}
	b.WriteString("</div>\n")
	// One row per month, one column per currency.
	curs := slices.Sorted(maps.Keys(currencies))
	cells := map[[2]string]Cost{}
	var months []string
	for _, c := range costs {
		cells[[2]string{c.Month, c.Currency}] = c
		if len(months) == 0 || months[len(months)-1] != c.Month {
			months = append(months, c.Month)
		}
	}
	b.WriteString("<table><thead><tr><th>Month</th>")
	for _, cur := range curs {
		fmt.Fprintf(&b, "<th class=n>%s</th>", template.HTMLEscapeString(orNone(cur)))
	}
	b.WriteString("</tr></thead><tbody>\n")
	for _, m := range months {
		fmt.Fprintf(&b, "<tr><td>%s</td>", m)
		for _, cur := range curs {
			c, ok := cells[[2]string{m, cur}]
			if !ok {
				b.WriteString("<td class=n></td>")
				continue
			}
			calls := plural(c.Calls, "call")
			if c.Unpriced > 0 {
				calls += fmt.Sprintf(", %d without charge", c.Unpriced)
			}
			fmt.Fprintf(&b, "<td class=n>%s<br><small>%s</small></td>", money(c.Charge), calls)
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</tbody></table>\n")
	s.Body = template.HTML(b.String())
	return s
}

func (r *Report) minutesSection() section {
	s := section{ID: "minutes", Title: "Minutes by call type",
		Note: "Sum of duration_seconds in pstn_calls and direct_routing_calls, per report and call type."}
	mins := r.Minutes()
	if len(mins) == 0 {
		return s
	}
	var bars []bar
	total := map[string]int64{}
	for _, m := range mins {
		bars = append(bars, bar{Label: m.Source + " · " + m.CallType, Value: float64(m.Seconds),
			Note: fmt.Sprintf("%s min, %s", minutes(m.Seconds), plural(m.Calls, "call"))})
		total[m.Source] += m.Seconds
	}
	var b strings.Builder
	b.WriteString(string(barChart("minutes by call type", bars)))
	b.WriteString("<p>")
	for i, src := range slices.Sorted(maps.Keys(total)) {
		if i > 0 {
			b.WriteString(" · ")
		}
		fmt.Fprintf(&b, "%s: %s min", template.HTMLEscapeString(src), minutes(total[src]))
	}
	b.WriteString("</p>\n")
	s.Body = template.HTML(b.String())
	return s
}

func (r *Report) qualitySection() section {
	s := section{ID: "quality", Title: "Poor streams per day, and why",
		Note: "Streams of media_streams classified by Microsoft's Call Quality Dashboard rules (quality, poor_due_to), per day of the call (dt). The rate is poor over classified (good + poor) streams; unclassified streams lack the metrics."}
	days := r.Quality()
	if len(days) == 0 {
		return s
	}
	var rates []bar
	causes := map[string]int{}
	for _, d := range days {
		rates = append(rates, bar{Label: d.Date[5:], Value: 100 * d.PoorRate(),
			Note: fmt.Sprintf("%s %.1f%% poor (%d of %d classified)", d.Date, 100*d.PoorRate(), d.Poor, d.Good+d.Poor)})
		for c, n := range d.PoorDueTo {
			causes[c] += n
		}
	}
	var b strings.Builder
	b.WriteString(string(columnChart("poor-stream rate per day", rates, chartWidth, 240, func(v float64) string { return fmt.Sprintf("%.3g%%", v) })))
	if len(causes) > 0 {
		var bars []bar
		for _, c := range sortedByCount(causes) {
			bars = append(bars, bar{Label: c, Value: float64(causes[c]), Note: plural(causes[c], "poor stream")})
		}
		b.WriteString("<h3>Poor due to</h3>\n")
		b.WriteString(string(barChart("poor streams by cause", bars)))
	}
	b.WriteString("<details><summary>Per day</summary><table><thead><tr><th>Day</th><th class=n>Streams</th><th class=n>Good</th><th class=n>Poor</th><th class=n>Unclassified</th><th class=n>Poor rate</th><th>Poor due to</th></tr></thead><tbody>\n")
	for _, d := range days {
		var due []string
		for _, c := range sortedByCount(d.PoorDueTo) {
			due = append(due, fmt.Sprintf("%s %d", c, d.PoorDueTo[c]))
		}
		fmt.Fprintf(&b, "<tr><td>%s</td><td class=n>%d</td><td class=n>%d</td><td class=n>%d</td><td class=n>%d</td><td class=n>%.1f%%</td><td>%s</td></tr>\n",
			d.Date, d.Good+d.Poor+d.Unclassified, d.Good, d.Poor, d.Unclassified, 100*d.PoorRate(), template.HTMLEscapeString(strings.Join(due, ", ")))
	}
	b.WriteString("</tbody></table></details>\n")
	s.Body = template.HTML(b.String())
	return s
}

// money renders an exact amount with its significant fractional digits,
// at least two.
func money(d schemas.Decimal) string {
	s := d.String()
	whole, frac, _ := strings.Cut(s, ".")
	frac = strings.TrimRight(frac, "0")
	for len(frac) < 2 {
		frac += "0"
	}
	return whole + "." + frac
}

// plural is "1 call", "2 calls".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func minutes(seconds int64) string { return fmt.Sprintf("%.1f", float64(seconds)/60) }

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// sortedByCount lists m's keys, highest count first.
func sortedByCount(m map[string]int) []string {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	return keys
}
