package jobs

import (
	"context"
	"encoding/json"
)

// GetCallRecord fetches one whole call record (every session and participant page)
// as JSON, for `get --id`.
func GetCallRecord(ctx context.Context, cfg Config, id string) (json.RawMessage, error) {
	graph, err := graphClient(cfg)
	if err != nil {
		return nil, err
	}
	raw, err := graph.GetCallRecord(ctx, id)
	if err != nil {
		return nil, err // extract names the record and the URL
	}
	return raw, nil
}
