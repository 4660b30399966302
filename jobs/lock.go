package jobs

import (
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

// ErrLocked: another run holds the tenant's lease (exit code 5).
var ErrLocked = errors.New("another run holds the lock")

// errLockLost cancels a run whose lease was taken over (it stopped renewing in
// time, e.g. a paused process): it must not commit anything more.
var errLockLost = errors.New("lock lost to another run")

// DefaultLockTTL is how long a lease outlives its last renewal: a run that
// crashed blocks the next one for at most this long.
const DefaultLockTTL = 60 * time.Second

// lease is the lock object of one tenant: _etl/locks/<tenant>.json. Acquired with
// If-None-Match, renewed and released with If-Match, so two runs (a CronJob
// overlap, a manual run, Airflow) never write the same tenant at once; a lease
// left by a crashed run expires within a minute.
type lease struct {
	store load.Conditional
	key   string
	doc   leaseDoc
	now   func() time.Time
	ttl   time.Duration

	mu   sync.Mutex
	etag string
}

type leaseDoc struct {
	RunID    string    `json:"run_id"`
	Host     string    `json:"host"`
	PID      int       `json:"pid"`
	Acquired time.Time `json:"acquired"`
	Expires  time.Time `json:"expires"`
}

func lockKey(tenant string) string { return etlPrefix + "locks/" + tenant + ".json" }

func acquireLease(ctx context.Context, s load.Conditional, tenant, runID string, ttl time.Duration, now func() time.Time) (*lease, error) {
	host, _ := os.Hostname()
	l := &lease{store: s, key: lockKey(tenant), now: now, ttl: ttl,
		doc: leaseDoc{RunID: runID, Host: host, PID: os.Getpid(), Acquired: now().UTC()}}
	l.doc.Expires = l.doc.Acquired.Add(ttl)
	data, _ := json.Marshal(l.doc)
	etag, err := s.PutIfAbsent(ctx, l.key, data)
	if err == nil {
		l.etag = etag
		return l, nil
	}
	if !errors.Is(err, load.ErrPrecondition) {
		return nil, fmt.Errorf("acquire lock %s: %w", l.key, err)
	}
	held, heldTag, err := s.Get(ctx, l.key)
	if errors.Is(err, load.ErrNotExist) {
		return acquireLease(ctx, s, tenant, runID, ttl, now) // released meanwhile
	}
	if err != nil {
		return nil, fmt.Errorf("read lock %s: %w", l.key, err)
	}
	var other leaseDoc
	if json.Unmarshal(held, &other) == nil && now().Before(other.Expires) {
		return nil, fmt.Errorf("%w: run %s on %s (pid %d) until %s", ErrLocked, other.RunID, other.Host, other.PID, other.Expires.Format(time.RFC3339))
	}
	// Expired (or unreadable): take it over, unless someone else is faster.
	etag, err = s.PutIfMatch(ctx, l.key, data, heldTag)
	if errors.Is(err, load.ErrPrecondition) || errors.Is(err, load.ErrNotExist) {
		return nil, fmt.Errorf("%w: another run took over the expired lock first", ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("take over lock %s: %w", l.key, err)
	}
	l.etag = etag
	return l, nil
}

// keepAlive renews the lease until ctx ends. If a renewal finds the lease taken
// over, it calls lost: the run must stop before its next commit.
func (l *lease) keepAlive(ctx context.Context, log *slog.Logger, lost func(error)) {
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		l.mu.Lock()
		doc := l.doc
		doc.Expires = l.now().UTC().Add(l.ttl)
		data, _ := json.Marshal(doc)
		etag, err := l.store.PutIfMatch(ctx, l.key, data, l.etag)
		if err == nil {
			l.etag, l.doc = etag, doc
		}
		l.mu.Unlock()
		switch {
		case err == nil:
		case errors.Is(err, load.ErrPrecondition), errors.Is(err, load.ErrNotExist):
			lost(fmt.Errorf("%w: %s", errLockLost, l.key))
			return
		case ctx.Err() == nil:
			// A failed renewal is retried at the next tick; the lease still has
			// two renewals' worth of time left.
			log.Warn("lock renewal failed", "key", l.key, "err", err)
		}
	}
}

// release deletes the lease if it is still ours.
func (l *lease) release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.store.DeleteIfMatch(ctx, l.key, l.etag)
	if err != nil && !errors.Is(err, load.ErrPrecondition) {
		return fmt.Errorf("release lock %s: %w", l.key, err)
	}
	return nil
}
