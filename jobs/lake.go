package jobs

import (
	"context"
	"errors"
	"fmt"
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
