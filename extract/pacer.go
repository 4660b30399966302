package extract

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// newPacer returns the client-side pacing of Graph requests: rps requests per
// second with a burst of a tenth of a second's worth (at least 1), so that
// concurrent callers are spread evenly rather than racing for the quota.
// A Wait cut short by its context gives its slot back.
func newPacer(rps float64) *rate.Limiter {
	return rate.NewLimiter(rate.Limit(rps), max(1, int(math.Ceil(rps/10))))
}

// newGraphWindow returns Graph's documented limit on listing call records,
// and on the requests for one call record (40 in any 20 s each, reference
// §4.1), with half a second more for the requests' different latencies
// (Graph counts them as they arrive). A run of small days lists faster than
// that while it fetches; a meeting with thousands of participants needs more
// than 40 pages; and a Retry-After from Graph can be 10 s.
func newGraphWindow() *slidingWindow {
	return &slidingWindow{n: 40, window: 20*time.Second + 500*time.Millisecond}
}

// slidingWindow admits at most n requests in any window of its length: the
// shape of Graph's own limits, which a token bucket at the average rate
// exceeds by its burst.
type slidingWindow struct {
	n      int
	window time.Duration

	mu   sync.Mutex
	sent []time.Time // admissions within the window, oldest first
}

// wait blocks until one more request fits in the window, or ctx is done.
func (w *slidingWindow) wait(ctx context.Context) error {
	for {
		w.mu.Lock()
		now := time.Now()
		for len(w.sent) > 0 && now.Sub(w.sent[0]) >= w.window {
			w.sent = w.sent[1:]
		}
		if len(w.sent) < w.n {
			w.sent = append(w.sent, now)
			w.mu.Unlock()
			return nil
		}
		d := w.window - now.Sub(w.sent[0])
		w.mu.Unlock()
		if err := sleepCtx(ctx, d); err != nil {
			return err
		}
	}
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
