package lake

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// EdgeWarning is how close to Graph's 30-day edge an incomplete day is
// flagged: its first records expire from Graph within this time, after which
// what the lake lacks of them is lost for good.
const EdgeWarning = 5 * 24 * time.Hour

// LedgerDataset names the ledger's partitions (lake.Partition): a dataset of
// its own, committed after the call records of its day.
const LedgerDataset = "ledger"

// DayCompleteness sums up one day of the completeness ledger
// (schemas.LedgerRow) of one tenant.
type DayCompleteness struct {
	Date              string `json:"dt"`
	IDs               int    `json:"ids"` // rows of the day's ledger
	Listed            int    `json:"listed"`
	Fetched           int    `json:"fetched"`
	Committed         int    `json:"committed"`
	Quarantined       int    `json:"quarantined"`
	NotifiedNotListed int    `json:"notified_not_listed"`
	Settled           int    `json:"settled"`
	// Complete: every id of the day settled (listed, committed at the
	// version listed, not quarantined, that version stable).
	Complete bool `json:"complete"`
	// ExpiresInSeconds is how long until Graph starts deleting the day's
	// records (its midnight plus 30 days); negative once it has begun.
	ExpiresInSeconds float64 `json:"expires_in_seconds"`
	// Warning: not complete, and within EdgeWarning of that edge.
	Warning bool `json:"warning"`
}

// Completeness reads the tenant's ledger of every day Graph still holds
// records of (started less than Retention before now), oldest first, one
// day at a time.
func (l *Lake) Completeness(ctx context.Context, now time.Time) ([]DayCompleteness, error) {
	dates, err := l.Dates(ctx, schemas.TableCallRecordLedger)
	if err != nil {
		return nil, err
	}
	oldest := schemas.PartitionDate(now.Add(-Retention))
	var out []DayCompleteness
	for _, date := range dates {
		if date < oldest {
			continue
		}
		day, err := l.dayCompleteness(ctx, date, now)
		if errors.Is(err, load.ErrNotExist) {
			continue // replaced by none between the listing and the read
		}
		if err != nil {
			return nil, err
		}
		out = append(out, day)
	}
	return out, nil
}

func (l *Lake) dayCompleteness(ctx context.Context, date string, now time.Time) (DayCompleteness, error) {
	day := DayCompleteness{Date: date}
	midnight, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return day, fmt.Errorf("ledger day %q: %w", date, err)
	}
	key := TableKey(schemas.TableCallRecordLedger, date, l.tenant)
	path, _, err := load.Download(ctx, l.store, key, l.tmp)
	if err != nil {
		return day, err
	}
	defer os.Remove(path)
	err = load.ReadParquet(path, 4096, func(rows []schemas.LedgerRow) error {
		for _, r := range rows {
			day.IDs++
			day.Listed += count(r.Listed)
			day.Fetched += count(r.Fetched)
			day.Committed += count(r.Committed)
			day.Quarantined += count(r.Quarantined)
			day.NotifiedNotListed += count(!r.NotifiedAt.IsZero() && !r.Listed)
			day.Settled += count(r.Settled)
		}
		return nil
	})
	if err != nil {
		return day, fmt.Errorf("read %s: %w", key, err)
	}
	expires := midnight.Add(Retention).Sub(now)
	day.Complete = day.Settled == day.IDs
	day.ExpiresInSeconds = expires.Seconds()
	day.Warning = !day.Complete && expires < EdgeWarning
	return day, nil
}

func count(b bool) int {
	if b {
		return 1
	}
	return 0
}
