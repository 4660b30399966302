package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/lake"
	"github.com/callrecords-etl/callrecords-etl/report"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// reportBatch is how many rows of a table the report reads at a time: its
// columns are few, so memory stays a few hundred kilobytes per batch.
const reportBatch = 4096

// ReadReport reads cfg.TenantID's committed tables under cfg.Dest (the days
// of cfg.From..cfg.To, when set) into a report, one batch of rows at a time,
// writing nothing. A section whose table has no day in the window is empty;
// a destination that does not exist, or a lake with no table of the tenant,
// is a configuration error (a mistyped flag, not an empty report).
func ReadReport(ctx context.Context, cfg Config) (*report.Report, error) {
	if err := cfg.validate(false); err != nil {
		return nil, err
	}
	store, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := load.Exists(ctx, store); err != nil {
		return nil, refusedDestination(cfg, err)
	}
	l := lake.New(store, cfg.TenantID, cfg.TempDir, cfg.Now)
	rep := report.New(cfg.TenantID, cfg.From, cfg.To)
	// One reader per table; a new section's table is one more line.
	readers := []func() (int, error){
		func() (int, error) {
			return readTable(ctx, cfg, l, schemas.DatasetPstn, schemas.TablePstnCalls, func(_ string, rows []report.PstnCall) { rep.AddPstn(rows) })
		},
		func() (int, error) {
			return readTable(ctx, cfg, l, schemas.DatasetDirectRouting, schemas.TableDirectRoutingCalls, func(_ string, rows []report.DirectRoutingCall) { rep.AddDirectRouting(rows) })
		},
		func() (int, error) {
			return readTable(ctx, cfg, l, schemas.DatasetCallRecords, schemas.TableMediaStreams, rep.AddStreams)
		},
		func() (int, error) {
			return readTable(ctx, cfg, l, schemas.DatasetCallRecords, schemas.TableCallJourneyHops, func(_ string, rows []report.Hop) { rep.AddHops(rows) })
		},
	}
	days := 0
	for _, read := range readers {
		n, err := read()
		if err != nil {
			return nil, err
		}
		days += n
	}
	if days == 0 {
		return nil, configError(fmt.Sprintf(": the lake %s holds no table of this tenant", cfg.Dest), "TenantID")
	}
	ledger, err := l.Completeness(ctx, cfg.clock()())
	if err != nil {
		return nil, refusedDestination(cfg, err)
	}
	var shown []report.DayCompleteness
	for _, d := range ledger {
		if dayInWindow(d.Date, cfg.From, cfg.To) {
			shown = append(shown, report.DayCompleteness{Date: d.Date, IDs: d.IDs, Listed: d.Listed, Committed: d.Committed,
				Quarantined: d.Quarantined, NotifiedNotListed: d.NotifiedNotListed, Settled: d.Settled, Complete: d.Complete, Warning: d.Warning})
		}
	}
	rep.SetCompleteness(shown)
	return rep, nil
}

// readTable streams the committed rows of table, day by day over the days of
// cfg's window, as T (the columns T names), to add in batches. days is how
// many days the table holds, in the window or not.
func readTable[T any](ctx context.Context, cfg Config, l *lake.Lake, dataset, table string, add func(date string, rows []T)) (days int, err error) {
	dates, err := l.Dates(ctx, table)
	if err != nil {
		return 0, refusedDestination(cfg, err)
	}
	for _, date := range dates {
		if !dayInWindow(date, cfg.From, cfg.To) {
			continue
		}
		err := readTableDay(ctx, l, dataset, table, date, func(rows []T) error {
			add(date, rows)
			return nil
		})
		if err != nil {
			return 0, err
		}
	}
	return len(dates), nil
}

// readTableDay streams the committed rows of table on date, as T (the
// columns T names), to fn in batches.
func readTableDay[T any](ctx context.Context, l *lake.Lake, dataset, table, date string, fn func([]T) error) error {
	part, err := l.Partition(ctx, dataset, date, table)
	if err != nil {
		return err
	}
	defer part.Cleanup()
	keys, err := part.Files(ctx, table)
	if err != nil {
		return err
	}
	for _, key := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		path, err := part.Local(ctx, key)
		if err != nil {
			return err
		}
		if err := load.ReadParquet(path, reportBatch, fn); err != nil {
			return fmt.Errorf("read %s: %w", key, err)
		}
	}
	return nil
}

// dayInWindow reports whether day date (YYYY-MM-DD) overlaps [from, to),
// either end of which may be zero (unbounded).
func dayInWindow(date string, from, to time.Time) bool {
	d, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return false
	}
	return (from.IsZero() || d.Add(24*time.Hour).After(from)) && (to.IsZero() || d.Before(to))
}
