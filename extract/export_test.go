package extract

import (
	"context"
	"time"
)

// SetSleep replaces the sleep used for retries and pacing, so tests can
// record the delays instead of waiting them out.
func SetSleep(c *Client, fn func(ctx context.Context, d time.Duration) error) { c.sleep = fn }
