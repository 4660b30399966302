package lake

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/callrecords-etl/callrecords-etl/load"
)

// Retention is how long Graph keeps a call record.
const Retention = 30 * 24 * time.Hour

// Checkpoint is the durable progress of one (tenant, dataset).
type Checkpoint struct {
	Tenant  string `json:"tenant_id"`
	Dataset string `json:"dataset"`
	// Watermark: every record that started before it has been read at least once
	// (later versions are caught by the lookback).
	Watermark   time.Time `json:"watermark"`
	LastSuccess time.Time `json:"last_success"`
	LastRunID   string    `json:"last_run_id"`
	// Gaps are windows whose data had already expired from Graph when a run got to
	// them: lost for good, and recorded so that nobody has to guess.
	Gaps []Gap `json:"retention_gaps,omitempty"`

	etag  string // of the stored version; "" if there is none
	found bool
}

// Found reports whether the checkpoint was stored (a first run finds none).
func (c *Checkpoint) Found() bool { return c.found }

// Gap is a window that expired before it was read.
type Gap struct {
	From       time.Time `json:"from"`
	To         time.Time `json:"to"`
	DetectedAt time.Time `json:"detected_at"`
	RunID      string    `json:"run_id"`
}

// Checkpoint reads the checkpoint of dataset (Found is false when there is none).
func (l *Lake) Checkpoint(ctx context.Context, dataset string) (Checkpoint, error) {
	var cp Checkpoint
	etag, found, err := readJSON(ctx, l.store, checkpointKey(l.tenant, dataset), &cp)
	if err != nil {
		return Checkpoint{}, err
	}
	cp.etag, cp.found = etag, found
	return cp, nil
}

// Advance moves the checkpoint read by Checkpoint to watermark, records gap
// (if any) and the run, with a compare-and-swap over the version read: a
// checkpoint that another run moved meanwhile is not overwritten
// (ErrPrecondition).
func (l *Lake) Advance(ctx context.Context, cp *Checkpoint, dataset string, watermark time.Time, runID string, gap *Gap) error {
	next := *cp
	next.Tenant, next.Dataset = l.tenant, dataset
	next.Watermark, next.LastSuccess, next.LastRunID = watermark, l.now().UTC(), runID
	if gap != nil {
		next.Gaps = append(next.Gaps[:len(next.Gaps):len(next.Gaps)], *gap)
	}
	etag, err := writeJSON(ctx, l.store, checkpointKey(l.tenant, dataset), cp.etag, next)
	if err != nil {
		return fmt.Errorf("advance %s checkpoint: %w", dataset, err)
	}
	next.etag, next.found = etag, true
	*cp = next
	return nil
}

// Status is the state of one (tenant, dataset), for `status` and for alerting.
type Status struct {
	Checkpoint
	// LagSeconds is how far the watermark trails now.
	LagSeconds float64 `json:"lag_seconds"`
	// ExpiresInSeconds is how long until the oldest unread data (just after the
	// watermark) starts to expire from Graph. Negative: it is already expiring.
	ExpiresInSeconds float64   `json:"expires_in_seconds"`
	ExpiresAt        time.Time `json:"expires_at"`
	// Days is the completeness ledger of the call records dataset per day
	// still in Graph's retention (Lake.Completeness); ReadStatus leaves it
	// empty.
	Days []DayCompleteness `json:"days,omitempty"`
}

// ReadStatus reads every checkpoint in store (one tenant's when tenant is
// set). It writes nothing; a destination that does not exist is an error
// matching load.ErrNoDestination, not an empty lake.
func ReadStatus(ctx context.Context, store load.Store, tenant string, now time.Time) ([]Status, error) {
	if err := load.Exists(ctx, store); err != nil {
		return nil, err
	}
	prefix := etlPrefix + "state/"
	if tenant != "" {
		prefix += tenant + "/"
	}
	var keys []string
	err := store.List(ctx, prefix, func(o load.Object) error {
		if strings.HasSuffix(o.Key, ".json") {
			keys = append(keys, o.Key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list checkpoints: %w", err)
	}
	out := []Status{} // not nil: `status --json` prints [] for a lake without checkpoints
	for _, key := range keys {
		var cp Checkpoint
		if _, _, err := readJSON(ctx, store, key, &cp); err != nil {
			return nil, err
		}
		expires := cp.Watermark.Add(Retention)
		out = append(out, Status{
			Checkpoint:       cp,
			LagSeconds:       now.Sub(cp.Watermark).Seconds(),
			ExpiresInSeconds: expires.Sub(now).Seconds(),
			ExpiresAt:        expires,
		})
	}
	return out, nil
}
