package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// CallRecordID is id as Graph writes a call record's id, a GUID in lowercase
// (spaces around it dropped), or an error saying what a call record id looks
// like: anything else would only be refused by Graph, or with a slash or a
// dot-dot in it, asked of another URL.
func CallRecordID(id string) (string, error) {
	if norm := strings.ToLower(strings.TrimSpace(id)); tenantIDForm.MatchString(norm) {
		return norm, nil
	}
	return "", fmt.Errorf("%q is not a call record id: give its GUID, such as e523d2ed-2966-4b6b-925b-754a88034cc5 (the lake's call_record_id, a notification's resource)", id)
}

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
