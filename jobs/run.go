package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callrecords-etl/callrecords-etl/extract"
	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/icebergproc"
	"github.com/callrecords-etl/callrecords-etl/load/lake"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// Sentinels a caller maps to exit codes. A run that returns one of them has
// otherwise completed and committed everything it could.
var (
	// ErrRetentionGap: some data had expired from Graph before it was read.
	ErrRetentionGap = errors.New("retention gap: data expired before it was read")
	// ErrQuarantined: some records could not be processed; their payloads are kept.
	ErrQuarantined = errors.New("some records could not be processed")
)

type runner struct {
	cfg   Config
	done  sync.Map // dataset -> *atomic.Int64, partitions committed (Progress)
	lake  *lake.Lake
	graph *extract.Client
	tmp   string
	sum   *Summary
	// ledger: carried from day to day (one goroutine at a time).
	ledger ledgerRun
	// privacy is the policy everything written follows.
	privacy privacy
	// ice: the Iceberg catalog, in the Iceberg table format, once
	// iceOpened is closed (else iceErr says why it could not be opened).
	ice       icebergproc.Catalog
	iceErr    error
	iceOpened chan struct{}
}

// Run runs the job once: for every enabled dataset, from its checkpoint (or the
// explicit window) to now. Partitions are committed before the checkpoint
// moves, so an interrupted run loses nothing and the next one repairs. It
// also writes cfg.SummaryFile and pushes the metrics to cfg.PushgatewayURL,
// when set.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// Opened once: the run, its drain check and its metrics share it.
	store, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	cfg.Store = store
	sum, err := runDatasets(ctx, cfg)
	if sum != nil {
		cfg.report(ctx, sum, err)
	}
	return sum, err
}

func runDatasets(ctx context.Context, cfg Config) (*Summary, error) {
	if len(cfg.Datasets) == 1 && cfg.Datasets[0] == DatasetNotifications {
		// A drain runs every few minutes, all day: an empty inbox costs one
		// listing, and no probe, lease or run summary.
		if empty, err := inboxEmpty(ctx, cfg); err != nil || empty {
			now := cfg.clock()()
			return &Summary{RunID: cfg.RunID, Tenant: cfg.TenantID, Started: now.UTC(), Finished: now.UTC()}, err
		}
	}
	return execute(ctx, cfg, true, func(ctx context.Context, r *runner) error {
		if err := r.openIceberg(ctx); err != nil {
			return err
		}
		// The datasets run at once and independently: one that fails does
		// not stop the others from committing (a cancelled run or a lost
		// lease stops them all, through ctx).
		var wg sync.WaitGroup
		errs := make([]error, len(cfg.Datasets))
		for i, ds := range cfg.Datasets {
			var run func(context.Context) error
			switch ds {
			case schemas.DatasetCallRecords:
				run = r.callRecords
			case DatasetNotifications:
				if !slices.Contains(cfg.Datasets, schemas.DatasetCallRecords) {
					run = r.drainInbox
				}
			case schemas.DatasetPstn:
				run = func(ctx context.Context) error { return runUsage(ctx, r, r.pstnDataset()) }
			case schemas.DatasetDirectRouting:
				run = func(ctx context.Context) error { return runUsage(ctx, r, r.directRoutingDataset()) }
			}
			if run != nil {
				wg.Go(func() { errs[i] = run(ctx) })
			}
		}
		wg.Wait()
		return errors.Join(append(errs, r.publishIceberg(ctx, cfg.Datasets))...)
	})
}

// report writes the summary file and pushes the metrics cfg asks for. Both
// are best effort: a failure is logged, never the run's result.
func (cfg Config) report(ctx context.Context, sum *Summary, runErr error) {
	log := cfg.logger()
	if path := cfg.SummaryFile; path != "" {
		data, err := json.MarshalIndent(sum, "", "  ")
		if err == nil {
			err = os.WriteFile(path, append(data, '\n'), 0o644)
		}
		if err != nil {
			log.Error("summary file not written", "path", path, "err", err)
		}
	}
	if gw := cfg.PushgatewayURL; gw != "" && !cfg.DryRun {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		now := cfg.clock()().UTC()
		states, err := readStatus(ctx, cfg.Store, cfg.TenantID, cfg.TempDir, now)
		if err == nil {
			err = PushMetrics(ctx, gw, sum, states, ExitCode(runErr), now, nil)
		}
		if err != nil {
			log.Error("metrics not pushed", "gateway", gw, "err", err)
		}
	}
}

// execute sets a run up (Graph client when withGraph, store, conditional-write
// probe, tenant lease), does work, and writes the run summary.
func execute(ctx context.Context, cfg Config, withGraph bool, work func(context.Context, *runner) error) (*Summary, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = DefaultConfig().Logger
	}
	started := cfg.Now().UTC()
	if cfg.RunID == "" {
		cfg.RunID = newRunID(started)
	}
	cfg.Logger = cfg.Logger.With("run", cfg.RunID, "tenant", cfg.TenantID)
	priv, err := cfg.privacyOf()
	if err != nil {
		return nil, err
	}
	if priv.pseudonymiser != nil {
		cfg.Logger.Info("privacy policy", "file", cfg.PrivacyPolicyFile, "digest", priv.digest)
	} else if cfg.PrivacyPolicyFile != "" {
		// An empty file (a ConfigMap key mounted empty) is such a policy:
		// whoever gave one expects something of it.
		cfg.Logger.Warn("the privacy policy keeps every class of personal data in clear (no class is hashed or dropped)", "file", cfg.PrivacyPolicyFile)
	}

	var graph *extract.Client
	if withGraph {
		var err error
		if graph, err = graphClient(cfg); err != nil {
			return nil, err
		}
	}
	store, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if who, ok := store.(interface {
		Identity(context.Context) (string, error)
	}); ok {
		id, err := who.Identity(ctx)
		if err != nil {
			return nil, fmt.Errorf("destination %s: %w", cfg.Dest, err)
		}
		cfg.Logger.Info("storage identity", "dest", cfg.Dest, "aws", id)
	}
	tmp, err := os.MkdirTemp(cfg.TempDir, "callrecords-etl-")
	if err != nil && cfg.TempDir != "" { // a folder that is not there, or not ours: fix, not retry
		return nil, configError(fmt.Sprintf(": %v", err), "TempDir")
	} else if err != nil {
		return nil, fmt.Errorf("create temp dir: %w", err)
	}
	defer os.RemoveAll(tmp)

	lk := lake.New(store, cfg.TenantID, tmp, cfg.Now)
	if cfg.DryRun {
		cfg.Logger.Info("dry run: nothing will be written")
	} else if cfg.SingleWriter {
		cfg.Logger.Warn("not checking that the destination enforces conditional writes (single writer)")
	} else if err := load.ProbeConditional(ctx, store); err != nil {
		if errors.Is(err, load.ErrConditionalUnsupported) {
			return nil, configError(fmt.Sprintf(": %s does not enforce conditional writes, so locks and checkpoints are unsafe; only if one run ever writes there, say so (single writer): %v", cfg.Dest, err), "SingleWriter")
		}
		return nil, refusedDestination(cfg, fmt.Errorf("probe %s: %w", cfg.Dest, err))
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if !cfg.DryRun {
		lease, err := lk.Acquire(ctx, cfg.RunID, cfg.LockTTL)
		if err != nil {
			return nil, refusedDestination(cfg, err)
		}
		renewDone := make(chan struct{})
		go func() {
			defer close(renewDone)
			lease.KeepAlive(ctx, cfg.Logger, cancel)
		}()
		defer func() {
			cancel(nil)
			<-renewDone
			rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
			defer rcancel()
			if err := lease.Release(rctx); err != nil {
				cfg.Logger.Warn("lock not released; it expires by itself", "err", err)
			}
		}()
	}

	r := &runner{cfg: cfg, lake: lk, graph: graph, tmp: tmp, privacy: priv,
		sum: &Summary{RunID: cfg.RunID, Tenant: cfg.TenantID, Started: started, Explicit: !cfg.From.IsZero(), DryRun: cfg.DryRun, PrivacyPolicy: priv.digest}}

	runErr := work(ctx, r)
	if cause := context.Cause(ctx); errors.Is(cause, lake.ErrLockLost) {
		runErr = cause
	}

	if graph != nil {
		r.sum.Graph = graph.Stats()
	}
	r.sum.Finished = cfg.Now().UTC()
	r.sum.Seconds = r.sum.Finished.Sub(started).Seconds()
	if runErr != nil {
		r.sum.Error = runErr.Error()
	}
	if !cfg.DryRun {
		if err := r.writeSummary(ctx); err != nil && runErr == nil {
			runErr = err
		}
	}
	if runErr != nil {
		return r.sum, refusedDestination(cfg, runErr)
	}
	var errs []error
	if len(r.sum.Gaps) > 0 {
		errs = append(errs, ErrRetentionGap)
	}
	if len(r.sum.Quarantined) > 0 {
		errs = append(errs, fmt.Errorf("%w: %d quarantined under _etl/quarantine/", ErrQuarantined, len(r.sum.Quarantined)))
	}
	return r.sum, errors.Join(errs...)
}

func (r *runner) writeSummary(ctx context.Context) error {
	r.sum.mu.Lock()
	defer r.sum.mu.Unlock()
	// A fresh context: the summary of a cancelled run is still worth keeping.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return r.lake.WriteRun(ctx, r.cfg.RunID, r.sum)
}

// refusedDestination makes a destination that refuses the job (no such
// bucket or directory, no permission, read-only) a configuration error: a
// retry cannot help.
func refusedDestination(cfg Config, err error) error {
	if errors.Is(err, load.ErrDestination) || errors.Is(err, load.ErrNoDestination) {
		return fmt.Errorf("%w: the destination %s cannot be used as it is (check the path or bucket, its permissions and the credentials); retrying will not help: %w", ErrConfig, cfg.Dest, err)
	}
	return err
}

func newRunID(t time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return t.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// progress counts a committed partition of dataset and tells cfg.Progress.
func (r *runner) progress(dataset string, total int) {
	if r.cfg.Progress == nil {
		return
	}
	n, _ := r.done.LoadOrStore(dataset, new(atomic.Int64))
	r.cfg.Progress(dataset, int(n.(*atomic.Int64).Add(1)), total)
}

// window is a half-open interval [From, To).
type window struct{ From, To time.Time }

func (w window) String() string {
	return w.From.Format(time.RFC3339) + "/" + w.To.Format(time.RFC3339)
}

// days splits w at UTC midnights: a partition is one UTC day.
func (w window) days() []window {
	var out []window
	for from := w.From; from.Before(w.To); {
		next := time.Date(from.Year(), from.Month(), from.Day()+1, 0, 0, 0, 0, time.UTC)
		to := next
		if w.To.Before(to) {
			to = w.To
		}
		out = append(out, window{from, to})
		from = to
	}
	return out
}

// plan decides the window of a dataset: the explicit one, or from the checkpoint
// (less the lookback) to now, never starting before what Graph still retains. A
// watermark older than the retention means a gap, which is returned.
func (r *runner) plan(cp lake.Checkpoint, now time.Time, retention time.Duration) (window, *lake.Gap) {
	if !r.cfg.From.IsZero() {
		return window{r.cfg.From.UTC(), r.cfg.To.UTC()}, nil
	}
	oldest := now.Add(-retention)
	w := window{oldest, now}
	if !cp.Found() {
		return w, nil
	}
	if cp.Watermark.Before(oldest) {
		return w, &lake.Gap{From: cp.Watermark, To: oldest, DetectedAt: now, RunID: r.cfg.RunID}
	}
	if from := cp.Watermark.Add(-r.cfg.Lookback); from.After(oldest) {
		w.From = from
	}
	return w, nil
}
