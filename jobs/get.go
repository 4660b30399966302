package jobs

import (
	"context"
	"encoding/json"
	"fmt"
)

// GetCallRecord fetches one whole call record (every session and participant page)
// as JSON, for `get --id`, under cfg's privacy policy like everything the job
// writes: a lookup prints no personal value the lake would not hold.
func GetCallRecord(ctx context.Context, cfg Config, id string) (json.RawMessage, error) {
	priv, err := cfg.privacyOf()
	if err != nil {
		return nil, err
	}
	graph, err := graphClient(cfg)
	if err != nil {
		return nil, err
	}
	raw, err := graph.GetCallRecord(ctx, id)
	if err != nil {
		return nil, err // extract names the record and the URL
	}
	out, err := priv.pseudonymiser.JSON(raw)
	if err != nil {
		return nil, fmt.Errorf("call record %s: %w", id, err)
	}
	return out, nil
}
