package jobs

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/callrecords-etl/callrecords-etl/extract"
)

// GetCallRecord fetches one whole call record (every session and participant page)
// as JSON, for `get --id`.
func GetCallRecord(ctx context.Context, cfg Config, id string) (json.RawMessage, error) {
	if cfg.Credential == nil {
		return nil, fmt.Errorf("%w: no Graph credential", ErrConfig)
	}
	graph, err := extract.New(extract.Config{BaseURL: cfg.GraphURL, Credential: cfg.Credential, MaxRPS: cfg.MaxRPS, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	raw, err := graph.GetCallRecord(ctx, id)
	if err != nil {
		return nil, err // extract names the record and the URL
	}
	return raw, nil
}
