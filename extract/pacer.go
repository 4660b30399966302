package extract

import (
	"context"
	"math"
	"sync"
	"time"
)

// tokenBucket paces requests to a rate with a small burst. It is a
// reservation scheduler (GCRA): each call to reserve books the next free slot
// and says how long the caller must wait for it, so concurrent callers are
// spread evenly instead of racing for a token.
type tokenBucket struct {
	mu       sync.Mutex
	interval time.Duration // 1 / rate
	burst    int
	tat      time.Time // theoretical arrival time of the next request
	now      func() time.Time
}

// newTokenBucket returns a bucket for rps requests per second with the given
// burst (at least 1), reading time from now. rps must be > 0.
func newTokenBucket(rps float64, burst int, now func() time.Time) *tokenBucket {
	if burst < 1 {
		burst = 1
	}
	interval := time.Duration(math.Ceil(float64(time.Second) / rps))
	if interval <= 0 {
		interval = 1
	}
	return &tokenBucket{interval: interval, burst: burst, now: now}
}

// reserve books one request and returns how long to wait before sending it.
// Over any span d, at most burst + d/interval requests get a zero or elapsed wait.
func (b *tokenBucket) reserve() time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	tat := b.tat
	if tat.Before(now) {
		tat = now
	}
	allowAt := tat.Add(-time.Duration(b.burst-1) * b.interval)
	b.tat = tat.Add(b.interval)
	if wait := allowAt.Sub(now); wait > 0 {
		return wait
	}
	return 0
}

// wait blocks until the caller may send one request, or ctx is done.
func (b *tokenBucket) wait(ctx context.Context, sleep func(context.Context, time.Duration) error) error {
	d := b.reserve()
	if d <= 0 {
		return ctx.Err()
	}
	return sleep(ctx, d)
}

// sleepCtx sleeps for d or until ctx is done, returning ctx.Err() in the latter case.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
