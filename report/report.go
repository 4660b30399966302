// Package report turns the lake's fact rows into one self-contained HTML page:
// cost per month and currency, minutes by call type, the poor-stream rate per
// day with its causes, call-queue wait and completeness per day. It aggregates
// rows as they are read (a few numbers per month, call type, day and queue), so memory does not grow with the tables; jobs
// reads the lake and feeds it. It does no I/O but writing the page.
package report

import (
	"maps"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// PstnCall is the columns of pstn_calls the report reads.
type PstnCall struct {
	StartDateTime   time.Time           `parquet:"start_date_time,timestamp(microsecond)"`
	DurationSeconds *int32              `parquet:"duration_seconds,optional"`
	Charge          *schemas.Decimal128 `parquet:"charge,optional,decimal(18:38)"`
	Currency        string              `parquet:"currency,optional,dict"`
	CallType        string              `parquet:"call_type,optional,dict"`
}

// DirectRoutingCall is the columns of direct_routing_calls the report reads.
type DirectRoutingCall struct {
	DurationSeconds *int32 `parquet:"duration_seconds,optional"`
	CallType        string `parquet:"call_type,optional,dict"`
}

// Stream is the columns of media_streams the report reads.
type Stream struct {
	Quality   string   `parquet:"quality,optional,dict"`
	PoorDueTo []string `parquet:"poor_due_to,list"`
}

// The sources of Minutes.
const (
	SourcePstn          = "PSTN"
	SourceDirectRouting = "Direct Routing"
)

// Report accumulates the figures of one tenant's lake over a window of days.
// Add rows with the Add methods, then render it with WriteHTML. It is not
// safe for concurrent use.
type Report struct {
	// Tenant is the tenant the lake's rows belong to.
	Tenant string
	// From and To are the window's days [From, To); zero when unbounded.
	From, To time.Time

	cost    map[Cost]*costSum
	minutes map[Minutes]*Minutes
	days    map[string]*DayQuality

	queues       map[string]*QueueWait
	completeness []DayCompleteness
}

type costSum struct {
	calls, unpriced int
	unscaled        big.Int
}

// New returns an empty report of tenant over [from, to).
func New(tenant string, from, to time.Time) *Report {
	return &Report{Tenant: tenant, From: from, To: to,
		cost: map[Cost]*costSum{}, minutes: map[Minutes]*Minutes{}, days: map[string]*DayQuality{}, queues: map[string]*QueueWait{}}
}

// AddPstn counts PSTN calls: their cost in their month and currency, their
// minutes under their call type.
func (r *Report) AddPstn(rows []PstnCall) {
	for _, row := range rows {
		k := Cost{Month: row.StartDateTime.UTC().Format("2006-01"), Currency: row.Currency}
		s := r.cost[k]
		if s == nil {
			s = &costSum{}
			r.cost[k] = s
		}
		s.calls++
		if row.Charge == nil {
			s.unpriced++
		} else {
			s.unscaled.Add(&s.unscaled, row.Charge.Decimal().Unscaled)
		}
		r.addMinutes(SourcePstn, row.CallType, row.DurationSeconds)
	}
}

// AddDirectRouting counts Direct Routing calls' minutes under their call type.
func (r *Report) AddDirectRouting(rows []DirectRoutingCall) {
	for _, row := range rows {
		r.addMinutes(SourceDirectRouting, row.CallType, row.DurationSeconds)
	}
}

func (r *Report) addMinutes(source, callType string, seconds *int32) {
	if callType == "" {
		callType = "(none)"
	}
	k := Minutes{Source: source, CallType: callType}
	m := r.minutes[k]
	if m == nil {
		m = &Minutes{Source: source, CallType: callType}
		r.minutes[k] = m
	}
	m.Calls++
	if seconds != nil {
		m.Seconds += int64(*seconds)
	}
}

// AddStreams counts the media streams of day date (YYYY-MM-DD, the dt of
// their call record) by quality and, for poor ones, by cause.
func (r *Report) AddStreams(date string, rows []Stream) {
	d := r.days[date]
	if d == nil {
		d = &DayQuality{Date: date, PoorDueTo: map[string]int{}}
		r.days[date] = d
	}
	for _, row := range rows {
		switch row.Quality {
		case "good":
			d.Good++
		case "poor":
			d.Poor++
			for _, cause := range row.PoorDueTo {
				d.PoorDueTo[cause]++
			}
		default:
			d.Unclassified++
		}
	}
}

// Cost is the PSTN charge of one month (YYYY-MM, UTC) in one currency.
type Cost struct {
	Month, Currency string
	// Calls counts the calls; Unpriced those without a charge.
	Calls, Unpriced int
	// Charge is the exact sum of charge.
	Charge schemas.Decimal
}

// Costs lists the cost per month and currency, by month then currency.
// Amounts in different currencies are never added together.
func (r *Report) Costs() []Cost {
	var out []Cost
	for k, s := range r.cost {
		k.Calls, k.Unpriced = s.calls, s.unpriced
		k.Charge = schemas.Decimal{Unscaled: new(big.Int).Set(&s.unscaled)}
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b Cost) int {
		return strings.Compare(a.Month+" "+a.Currency, b.Month+" "+b.Currency)
	})
	return out
}

// Minutes is the usage of one call type of the PSTN or Direct Routing report.
type Minutes struct {
	Source, CallType string
	Calls            int
	Seconds          int64
}

// Minutes lists the usage per source and call type, most minutes first.
func (r *Report) Minutes() []Minutes {
	var out []Minutes
	for _, m := range r.minutes {
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b Minutes) int {
		if a.Seconds != b.Seconds {
			return int(b.Seconds - a.Seconds)
		}
		return strings.Compare(a.Source+a.CallType, b.Source+b.CallType)
	})
	return out
}

// DayQuality counts one day's media streams by quality.
type DayQuality struct {
	Date                     string
	Good, Poor, Unclassified int
	// PoorDueTo counts poor streams per metric over its limit (a stream
	// can count under several).
	PoorDueTo map[string]int
}

// PoorRate is the share of the classified streams that are poor, the way
// Microsoft's Call Quality Dashboard reports it (unclassified streams are
// left out); 0 when none is classified.
func (d DayQuality) PoorRate() float64 {
	if d.Good+d.Poor == 0 {
		return 0
	}
	return float64(d.Poor) / float64(d.Good+d.Poor)
}

// Quality lists the days' stream counts, by date.
func (r *Report) Quality() []DayQuality {
	var out []DayQuality
	for _, d := range r.days {
		c := *d
		c.PoorDueTo = maps.Clone(d.PoorDueTo)
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b DayQuality) int { return strings.Compare(a.Date, b.Date) })
	return out
}
