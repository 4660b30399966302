package extract

import (
	"context"
	"math"
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
