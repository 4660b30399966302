package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/lake"
)

// What callers of jobs need of the lake protocol (package lake).
var (
	// ErrLocked: another run holds the tenant's lease (exit code 5).
	ErrLocked = lake.ErrLocked
)

// Retention is how long Graph keeps a call record.
const Retention = lake.Retention

// DefaultLockTTL is how long a lease outlives its last renewal.
const DefaultLockTTL = lake.DefaultLockTTL

// openStore opens the destination, unless the configuration carries a store.
func openStore(ctx context.Context, cfg Config) (load.Store, error) {
	if cfg.Store != nil {
		return cfg.Store, nil
	}
	store, err := load.OpenStore(ctx, cfg.Dest, cfg.S3)
	if err != nil {
		return nil, fmt.Errorf("%w: destination %s: %v", ErrConfig, cfg.Dest, err)
	}
	return store, nil
}

// ReadStatus reads every checkpoint under dest (one tenant when tenant is set),
// writing nothing. A destination that does not exist is a configuration error.
func ReadStatus(ctx context.Context, dest string, s3 load.S3Config, tenant string, now time.Time) ([]lake.Status, error) {
	store, err := openStore(ctx, Config{Dest: dest, S3: s3})
	if err != nil {
		return nil, err
	}
	st, err := lake.ReadStatus(ctx, store, tenant, now)
	if errors.Is(err, load.ErrNoDestination) {
		return nil, fmt.Errorf("%w: destination %s: %v", ErrConfig, dest, err)
	}
	return st, refusedDestination(Config{Dest: dest}, err)
}

// PrintStatus writes st as ReadStatus's text report, one line per tenant and
// dataset and one per retention gap.
func PrintStatus(w io.Writer, st []lake.Status) {
	if len(st) == 0 {
		fmt.Fprintln(w, "no checkpoints yet")
		return
	}
	for _, s := range st {
		fmt.Fprintf(w, "%s %s: watermark %s (lag %s), last success %s, unread data starts expiring in %s\n",
			s.Tenant, s.Dataset, s.Watermark.Format(time.RFC3339), time.Duration(s.LagSeconds*float64(time.Second)).Round(time.Second),
			s.LastSuccess.Format(time.RFC3339), time.Duration(s.ExpiresInSeconds*float64(time.Second)).Round(time.Minute))
		for _, g := range s.Gaps {
			fmt.Fprintf(w, "  RETENTION GAP %s .. %s (found by run %s)\n", g.From.Format(time.RFC3339), g.To.Format(time.RFC3339), g.RunID)
		}
	}
}
