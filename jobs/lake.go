package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/callrecords-etl/callrecords-etl/extract"
	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/lake"
	"github.com/callrecords-etl/callrecords-etl/schemas"
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
	sc, err := storeConfig(cfg)
	if err != nil {
		return nil, err
	}
	store, err := load.OpenStore(ctx, cfg.Dest, sc)
	if err != nil {
		return nil, fmt.Errorf("%w: destination %s: %v", ErrConfig, cfg.Dest, err)
	}
	return store, nil
}

// storeConfig returns the store settings for cfg.Dest. An abfss://
// destination with no key, SAS token, connection string or credential of its
// own gets a Microsoft Entra credential built like the Graph one (workload
// identity, managed identity, client secret or certificate, the default
// chain) — without a static Graph token, which storage does not accept.
func storeConfig(cfg Config) (load.StoreConfig, error) {
	sc := load.StoreConfig{S3: cfg.S3, Azure: cfg.Azure}
	az := cfg.Azure
	if !isAzureDest(cfg.Dest) || az.Credential != nil || az.ConnectionString != "" || az.AccountKey != "" || az.SASToken != "" {
		return sc, nil
	}
	auth := cfg.Auth
	auth.Token = ""
	if cfg.AzureTenantID != "" {
		auth.TenantID = cfg.AzureTenantID
	}
	if auth.AuthorityHost == "" {
		cloud, err := extract.LookupCloud(cfg.Cloud)
		if err != nil {
			return sc, configError(": "+err.Error(), "Cloud")
		}
		auth.AuthorityHost = cloud.AuthorityHost
	}
	cred, err := extract.NewCredential(auth)
	if err != nil {
		return sc, fmt.Errorf("%w: storage credential: %v", ErrConfig, err)
	}
	sc.Azure.Credential = cred
	cfg.logger().Info("storage credential", "identity", auth.Describe())
	return sc, nil
}

func isAzureDest(dest string) bool {
	scheme, _, ok := strings.Cut(dest, "://")
	return ok && strings.EqualFold(scheme, "abfss")
}

// ReadStatus reads every checkpoint under cfg.Dest (one tenant when tenant is
// set), writing nothing. A destination that does not exist is a configuration
// error.
func ReadStatus(ctx context.Context, cfg Config, tenant string, now time.Time) ([]lake.Status, error) {
	store, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	st, err := readStatus(ctx, store, tenant, cfg.TempDir, now)
	if errors.Is(err, load.ErrNoDestination) {
		return nil, fmt.Errorf("%w: destination %s: %v", ErrConfig, cfg.Dest, err)
	}
	return st, refusedDestination(cfg, err)
}

// readStatus reads the checkpoints, and the completeness ledger of each
// tenant's call records.
func readStatus(ctx context.Context, store load.Store, tenant, tempDir string, now time.Time) ([]lake.Status, error) {
	st, err := lake.ReadStatus(ctx, store, tenant, now)
	if err != nil {
		return nil, err
	}
	for i := range st {
		if st[i].Dataset != schemas.DatasetCallRecords {
			continue
		}
		if st[i].Days, err = lake.New(store, st[i].Tenant, tempDir, nil).Completeness(ctx, now); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// ReadCompleteness reads tenant's completeness ledger under cfg.Dest: one
// summary per UTC day still in Graph's retention, oldest first. It writes
// nothing.
func ReadCompleteness(ctx context.Context, cfg Config, tenant string, now time.Time) ([]lake.DayCompleteness, error) {
	store, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	days, err := lake.New(store, tenant, cfg.TempDir, nil).Completeness(ctx, now)
	return days, refusedDestination(cfg, err)
}

// PrintStatus writes st as ReadStatus's text report, one line per tenant and
// dataset and one per retention gap.
func PrintStatus(w io.Writer, st []lake.Status) {
	if len(st) == 0 {
		fmt.Fprintln(w, "no checkpoints yet")
		return
	}
	for _, s := range st {
		expiry := "unread data starts expiring in " + time.Duration(s.ExpiresInSeconds*float64(time.Second)).Round(time.Minute).String()
		if s.ExpiresInSeconds <= 0 {
			expiry = "UNREAD DATA EXPIRING for " + time.Duration(-s.ExpiresInSeconds*float64(time.Second)).Round(time.Minute).String() +
				" (30-day retention): run the job now"
		}
		fmt.Fprintf(w, "%s %s: watermark %s (lag %s), last success %s, %s\n",
			s.Tenant, s.Dataset, s.Watermark.Format(time.RFC3339), time.Duration(s.LagSeconds*float64(time.Second)).Round(time.Second),
			s.LastSuccess.Format(time.RFC3339), expiry)
		for _, g := range s.Gaps {
			fmt.Fprintf(w, "  RETENTION GAP %s .. %s (found by run %s)\n", g.From.Format(time.RFC3339), g.To.Format(time.RFC3339), g.RunID)
		}
		printCompleteness(w, s.Days)
	}
}

// printCompleteness writes the completeness ledger's days, one line each.
func printCompleteness(w io.Writer, days []lake.DayCompleteness) {
	for _, d := range days {
		state := "complete"
		if !d.Complete {
			state = "INCOMPLETE"
		}
		fmt.Fprintf(w, "  %s: %d ids, listed %d, fetched %d, committed %d, quarantined %d, notified not listed %d, settled %d: %s\n",
			d.Date, d.IDs, d.Listed, d.Fetched, d.Committed, d.Quarantined, d.NotifiedNotListed, d.Settled, state)
		if !d.Warning {
			continue
		}
		if d.ExpiresInSeconds <= 0 {
			fmt.Fprintf(w, "  WARNING %s is incomplete and Graph has begun deleting its records (30-day retention)\n", d.Date)
		} else {
			fmt.Fprintf(w, "  WARNING %s is incomplete and Graph starts deleting its records in %s (30-day retention)\n",
				d.Date, time.Duration(d.ExpiresInSeconds*float64(time.Second)).Round(time.Minute))
		}
	}
}
