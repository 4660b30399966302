package validate_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cronSchedule is a five-field cron expression (minute hour day-of-month month
// day-of-week) as the CronJob controller reads it (robfig/cron's standard
// parser), limited to numbers, "*", ranges, steps and lists: no names, macros
// (@hourly) or "?". Each field is a bit set of the values it allows.
type cronSchedule struct {
	minute, hour, dom, month, dow uint64
	domStar, dowStar              bool // "*" (robfig's star bit): the other day field decides alone
}

var cronFields = []struct {
	name     string
	min, max int
}{{"minute", 0, 59}, {"hour", 0, 23}, {"day of month", 1, 31}, {"month", 1, 12}, {"day of week", 0, 6}}

// parseCron parses a schedule.
func parseCron(expr string) (cronSchedule, error) {
	fields := strings.Fields(expr)
	if len(fields) != len(cronFields) {
		return cronSchedule{}, fmt.Errorf("schedule %q: want %d fields", expr, len(cronFields))
	}
	var bits [5]uint64
	var star [5]bool
	for i, f := range fields {
		b, s, err := parseCronField(f, cronFields[i].min, cronFields[i].max)
		if err != nil {
			return cronSchedule{}, fmt.Errorf("schedule %q: %s: %w", expr, cronFields[i].name, err)
		}
		bits[i], star[i] = b, s
	}
	return cronSchedule{minute: bits[0], hour: bits[1], dom: bits[2], month: bits[3], dow: bits[4], domStar: star[2], dowStar: star[4]}, nil
}

func parseCronField(f string, lo, hi int) (bits uint64, star bool, err error) {
	for _, part := range strings.Split(f, ",") {
		rng, stepText, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			if step, err = strconv.Atoi(stepText); err != nil || step < 1 {
				return 0, false, fmt.Errorf("bad step in %q", part)
			}
		}
		var from, to int
		switch {
		case rng == "*":
			from, to = lo, hi
			star = star || step == 1
		case strings.Contains(rng, "-"):
			a, b, _ := strings.Cut(rng, "-")
			from, err = strconv.Atoi(a)
			if err == nil {
				to, err = strconv.Atoi(b)
			}
			if err != nil {
				return 0, false, fmt.Errorf("bad range %q", rng)
			}
		default:
			if from, err = strconv.Atoi(rng); err != nil {
				return 0, false, fmt.Errorf("bad value %q", rng)
			}
			to = from
			if hasStep {
				to = hi
			}
		}
		if from < lo || to > hi || from > to {
			return 0, false, fmt.Errorf("%q is outside %d-%d", part, lo, hi)
		}
		for v := from; v <= to; v += step {
			bits |= 1 << v
		}
	}
	return bits, star, nil
}

// matches reports whether the schedule fires in t's minute.
func (s cronSchedule) matches(t time.Time) bool {
	has := func(bits uint64, v int) bool { return bits&(1<<v) != 0 }
	if !has(s.minute, t.Minute()) || !has(s.hour, t.Hour()) || !has(s.month, int(t.Month())) {
		return false
	}
	dom, dow := has(s.dom, t.Day()), has(s.dow, int(t.Weekday()))
	if s.domStar || s.dowStar {
		return dom && dow
	}
	return dom || dow
}

// cronGaps returns the shortest and the longest time between two consecutive
// runs of a schedule over a year in loc.
func cronGaps(expr string, loc *time.Location) (shortest, longest time.Duration, err error) {
	s, err := parseCron(expr)
	if err != nil {
		return 0, 0, err
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, loc)
	end := start.AddDate(1, 0, 0)
	var prev time.Time
	for t := start; t.Before(end); t = t.Add(time.Minute) {
		if !s.matches(t) {
			continue
		}
		if !prev.IsZero() {
			gap := t.Sub(prev)
			if shortest == 0 || gap < shortest {
				shortest = gap
			}
			longest = max(longest, gap)
		}
		prev = t
	}
	if shortest == 0 {
		return 0, 0, fmt.Errorf("schedule %q runs less than twice a year", expr)
	}
	return shortest, longest, nil
}

func TestCronGaps(t *testing.T) {
	tests := []struct {
		expr              string
		shortest, longest time.Duration
	}{
		{"17 * * * *", time.Hour, time.Hour},
		{"*/5 * * * *", 5 * time.Minute, 5 * time.Minute},
		{"41 */6 * * *", 6 * time.Hour, 6 * time.Hour},
		{"0 1,5 * * *", 4 * time.Hour, 20 * time.Hour},
		{"10-20/5 3 * * *", 5 * time.Minute, 24*time.Hour - 10*time.Minute},
		{"0 0 * * 1-5", 24 * time.Hour, 72 * time.Hour},
		{"30 2 1 * *", 28 * 24 * time.Hour, 31 * 24 * time.Hour},
		{"0 0 1 * 1", time.Hour * 24, 7 * 24 * time.Hour}, // day of month OR Monday
	}
	for _, tt := range tests {
		shortest, longest, err := cronGaps(tt.expr, time.UTC)
		if err != nil || shortest != tt.shortest || longest != tt.longest {
			t.Errorf("cronGaps(%q) = %s, %s, %v; want %s, %s", tt.expr, shortest, longest, err, tt.shortest, tt.longest)
		}
	}
	for _, bad := range []string{"@hourly", "* * * *", "60 * * * *", "*/0 * * * *", "0 24 * * *", "0 0 0 * *", "0 0 * * 7", "0 0 * JAN *", "5-1 * * * *", "0 0 30 2 *"} {
		if _, _, err := cronGaps(bad, time.UTC); err == nil {
			t.Errorf("cronGaps(%q) = nil error, want one", bad)
		}
	}
}
