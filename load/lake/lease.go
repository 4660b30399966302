package lake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/callrecords-etl/callrecords-etl/load"
)

// ErrLocked: another run holds the tenant's lease.
var ErrLocked = errors.New("another run holds the lock")

// ErrLockLost: the lease was taken over (this run stopped renewing it in time,
// e.g. a paused process): the run must not commit anything more.
var ErrLockLost = errors.New("lock lost to another run")

// DefaultLockTTL is how long a lease outlives its last renewal: a run that
// crashed blocks the next one for at most this long.
const DefaultLockTTL = 60 * time.Second

// Lease is the lock object of one tenant, _etl/locks/<tenant>.json. Acquired
// with If-None-Match, renewed and released with If-Match, so two runs (a
// CronJob overlap, a manual run, Airflow) never write the same tenant at once;
// a lease left by a crashed run expires within its TTL.
type Lease struct {
	store load.Conditional
	key   string
	now   func() time.Time
	ttl   time.Duration

	mu   sync.Mutex
	doc  leaseDoc
	etag string
}

type leaseDoc struct {
	RunID    string    `json:"run_id"`
	Host     string    `json:"host"`
	PID      int       `json:"pid"`
	Acquired time.Time `json:"acquired"`
	Expires  time.Time `json:"expires"`
}

// Acquire takes the tenant's lease for run runID, for ttl after each
// renewal. A live lease of another run is ErrLocked, naming it; an expired one
// is taken over; one held by runID itself (a retried acquire whose reply was
// lost) is this run's.
func (l *Lake) Acquire(ctx context.Context, runID string, ttl time.Duration) (*Lease, error) {
	host, _ := os.Hostname()
	le := &Lease{store: l.store, key: lockKey(l.tenant), now: l.now, ttl: ttl,
		doc: leaseDoc{RunID: runID, Host: host, PID: os.Getpid(), Acquired: l.now().UTC()}}
	le.doc.Expires = le.doc.Acquired.Add(ttl)
	for attempt := 0; ; attempt++ {
		data, _ := json.Marshal(le.doc)
		etag, err := l.store.PutIfAbsent(ctx, le.key, bytes.NewReader(data))
		if err == nil {
			le.etag = etag
			return le, nil
		}
		if !errors.Is(err, load.ErrPrecondition) {
			return nil, fmt.Errorf("acquire lock %s: %w", le.key, err)
		}
		held, heldTag, err := l.store.Get(ctx, le.key)
		if errors.Is(err, load.ErrNotExist) && attempt < 3 {
			continue // released meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("read lock %s: %w", le.key, err)
		}
		var other leaseDoc
		readable := json.Unmarshal(held, &other) == nil
		if readable && other.RunID != runID && le.now().Before(other.Expires) {
			return nil, fmt.Errorf("%w: run %s on %s (pid %d) until %s", ErrLocked, other.RunID, other.Host, other.PID, other.Expires.Format(time.RFC3339))
		}
		// Ours, expired or unreadable: take it over, unless someone else is
		// faster.
		le.doc.Expires = le.now().UTC().Add(ttl)
		data, _ = json.Marshal(le.doc)
		etag, err = l.store.PutIfMatch(ctx, le.key, bytes.NewReader(data), heldTag)
		if errors.Is(err, load.ErrPrecondition) || errors.Is(err, load.ErrNotExist) {
			return nil, fmt.Errorf("%w: another run took over the expired lock first", ErrLocked)
		}
		if err != nil {
			return nil, fmt.Errorf("take over lock %s: %w", le.key, err)
		}
		le.etag = etag
		return le, nil
	}
}

// KeepAlive renews the lease every third of its TTL until ctx ends. If a
// renewal finds the lease taken over, it calls lost with an error matching
// ErrLockLost and returns: the run must stop before its next commit. A
// renewal that fails otherwise is retried at the next tick (the lease still
// has two renewals' worth of time), and logged.
func (le *Lease) KeepAlive(ctx context.Context, log *slog.Logger, lost func(error)) {
	t := time.NewTicker(le.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		le.mu.Lock()
		doc := le.doc
		doc.Expires = le.now().UTC().Add(le.ttl)
		data, _ := json.Marshal(doc)
		// A renewal under way when the run ends is finished, not cut off:
		// cut off after the store applied it (its reply lost, say), it would
		// leave Release the old ETag, and the lease would stay until it
		// expires.
		wctx, wcancel := context.WithTimeout(context.WithoutCancel(ctx), le.ttl)
		etag, err := le.store.PutIfMatch(wctx, le.key, bytes.NewReader(data), le.etag)
		wcancel()
		if err == nil {
			le.etag, le.doc = etag, doc
		}
		le.mu.Unlock()
		switch {
		case err == nil:
		case errors.Is(err, load.ErrPrecondition), errors.Is(err, load.ErrNotExist):
			lost(fmt.Errorf("%w: %s", ErrLockLost, le.key))
			return
		case ctx.Err() == nil:
			log.Warn("lock renewal failed; retrying at the next renewal", "key", le.key, "err", err)
		}
	}
}

// Release deletes the lease if it is still this run's.
func (le *Lease) Release(ctx context.Context) error {
	le.mu.Lock()
	defer le.mu.Unlock()
	err := le.store.DeleteIfMatch(ctx, le.key, le.etag)
	if err != nil && !errors.Is(err, load.ErrPrecondition) {
		return fmt.Errorf("release lock %s: %w", le.key, err)
	}
	return nil
}
