package jobs

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/callrecords-etl/callrecords-etl/load"
)

// Status is the state of one (tenant, dataset), for `status` and for alerting.
type Status struct {
	Checkpoint
	// LagSeconds is how far the watermark trails now.
	LagSeconds float64 `json:"lag_seconds"`
	// ExpiresInSeconds is how long until the oldest unread data (just after the
	// watermark) starts to expire from Graph. Negative: it is already expiring.
	ExpiresInSeconds float64   `json:"expires_in_seconds"`
	ExpiresAt        time.Time `json:"expires_at"`
}

// ReadStatus reads every checkpoint under dest (one tenant when tenant is set).
func ReadStatus(ctx context.Context, dest string, s3 load.S3Config, tenant string, now time.Time) ([]Status, error) {
	store, err := load.OpenStore(ctx, dest, s3)
	if err != nil {
		return nil, fmt.Errorf("open destination %s: %w", dest, err)
	}
	prefix := etlPrefix + "state/"
	if tenant != "" {
		prefix += tenant + "/"
	}
	var keys []string
	err = store.List(ctx, prefix, func(o load.Object) error {
		if strings.HasSuffix(o.Key, ".json") {
			keys = append(keys, o.Key)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list checkpoints: %w", err)
	}
	var out []Status
	for _, key := range keys {
		var cp Checkpoint
		if _, _, err := readJSON(ctx, store, key, &cp); err != nil {
			return nil, err
		}
		expires := cp.Watermark.Add(Retention)
		out = append(out, Status{
			Checkpoint:       cp,
			LagSeconds:       now.Sub(cp.Watermark).Seconds(),
			ExpiresInSeconds: expires.Sub(now).Seconds(),
			ExpiresAt:        expires,
		})
	}
	return out, nil
}
