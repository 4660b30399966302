// Package jobs is the only package that wires extract, transform and load together:
// it plans windows from checkpoints, runs the extraction concurrently, writes the
// partitions and commits manifests and checkpoints, in that order.
package jobs

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// ErrConfig marks a configuration error (exit code 2).
var ErrConfig = errors.New("invalid configuration")

// Config is everything a run needs. Build it with DefaultConfig and check it with
// Validate; main fills it from flags and the environment.
type Config struct {
	TenantID   string
	GraphURL   string                 // e.g. https://graph.microsoft.com
	Credential azcore.TokenCredential // Graph credential (never logged)
	Dest       string                 // s3://bucket/prefix, file:///abs/path or a plain path
	S3         load.S3Config
	// Store, when set, is used instead of opening Dest (embedding, fault injection).
	Store    load.Store
	Datasets []string
	// From and To set an explicit window (backfill, Airflow's data interval). Both
	// or neither. An explicit window never moves the scheduled watermark.
	From, To time.Time
	// Lookback is how far before the watermark a scheduled run re-lists, for records
	// published late and for later versions of records already stored.
	Lookback time.Duration
	// UsageLookback is how far before the watermark PSTN and Direct Routing
	// runs re-read: their rows arrive 24-48 h after the call.
	UsageLookback time.Duration
	// UsageHistory is how far back a first PSTN or Direct Routing run reads.
	UsageHistory time.Duration
	Concurrency  int     // parallel Graph detail requests
	MaxRPS       float64 // client-side pacing of Graph requests; 0 = off
	TempDir      string
	// SingleWriter skips the start-up check that the destination enforces
	// conditional writes, for stores that do not and have one writer only.
	SingleWriter bool
	// Progress, when set, is told each time a dataset commits a partition:
	// done of total partitions (for a progress bar on a terminal). It may be
	// called from several goroutines, never concurrently for one dataset.
	Progress func(dataset string, done, total int)
	// DryRun plans the windows, lists what Graph has and compares it with the
	// lake, and reports what a run would fetch and rewrite, writing nothing.
	DryRun bool
	// LockTTL is how long the tenant's lease outlives its last renewal (renewed
	// every third of it).
	LockTTL time.Duration
	RunID   string // default: derived from the start time
	Now     func() time.Time
	Logger  *slog.Logger
}

// DefaultConfig returns a Config with the documented defaults.
func DefaultConfig() Config {
	return Config{
		GraphURL:      "https://graph.microsoft.com",
		Datasets:      []string{schemas.DatasetCallRecords, schemas.DatasetPstn, schemas.DatasetDirectRouting},
		Lookback:      48 * time.Hour,
		UsageLookback: 72 * time.Hour,
		UsageHistory:  Retention,
		Concurrency:   8,
		MaxRPS:        75, // Graph's 1,500 requests / 20 s per app per tenant
		LockTTL:       DefaultLockTTL,
		Now:           time.Now,
		Logger:        slog.Default(),
	}
}

// clock is c.Now, or time.Now when unset.
func (c Config) clock() func() time.Time {
	if c.Now != nil {
		return c.Now
	}
	return time.Now
}

// KnownDatasets lists the datasets --datasets accepts.
var KnownDatasets = []string{schemas.DatasetCallRecords, schemas.DatasetPstn, schemas.DatasetDirectRouting, DatasetNotifications}

// DatasetNotifications drains the change-notification inbox only: a cheap run
// to schedule every few minutes. The callrecords dataset drains it too.
const DatasetNotifications = "notifications"

// Validate reports the first configuration error, wrapped in ErrConfig.
func (c Config) Validate() error { return c.validate(true) }

func (c Config) validate(needGraph bool) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case c.TenantID == "":
		return bad("--tenant-id is required")
	case needGraph && c.GraphURL == "":
		return bad("--graph-url is required")
	case c.Dest == "":
		return bad("--dest is required")
	case needGraph && c.Credential == nil:
		return bad("no Graph credential")
	case c.Concurrency < 1:
		return bad("--concurrency must be at least 1, got %d", c.Concurrency)
	case c.LockTTL < 3*time.Second:
		return bad("--lock-ttl must be at least 3s, got %s", c.LockTTL)
	case c.MaxRPS < 0:
		return bad("--graph-max-rps must not be negative")
	case c.Lookback < 0 || c.UsageLookback < 0:
		return bad("--lookback and --usage-lookback must not be negative")
	case c.UsageHistory <= 0 && (slices.Contains(c.Datasets, schemas.DatasetPstn) || slices.Contains(c.Datasets, schemas.DatasetDirectRouting)):
		return bad("--usage-history must be positive")
	case c.From.IsZero() != c.To.IsZero():
		return bad("--from and --to go together")
	case !c.From.IsZero() && !c.From.Before(c.To):
		return bad("--from %s is not before --to %s", c.From.Format(time.RFC3339), c.To.Format(time.RFC3339))
	case len(c.Datasets) == 0:
		return bad("--datasets is empty")
	}
	for _, d := range c.Datasets {
		if !slices.Contains(KnownDatasets, d) {
			return bad("unknown dataset %q (known: %v)", d, KnownDatasets)
		}
	}
	return nil
}
