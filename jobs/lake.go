package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/callrecords-etl/callrecords-etl/load"
)

// Lake layout. Data files live under <table>/dt=<date>/; every control object lives
// under _etl/, outside any table location (Athena reads every object under one).
//
//	<table>/dt=YYYY-MM-DD/<tenant>_<run>_<part>.parquet   data
//	_etl/manifests/<tenant>/<dataset>/<date>.json          which files make up a partition (the commit point)
//	_etl/state/<tenant>/<dataset>.json                     checkpoint (watermark)
//	_etl/runs/<tenant>/<run>.json                          run summaries
//	_etl/quarantine/<tenant>/<dataset>/<id>.json           payloads that could not be processed
const etlPrefix = "_etl/"

func dataKey(table, date, tenant, runID string, part int) string {
	return fmt.Sprintf("%s/dt=%s/%s_%s_%04d.parquet", table, date, tenant, runID, part)
}

func partitionPrefix(table, date string) string {
	return fmt.Sprintf("%s/dt=%s/", table, date)
}

// ownedBy reports whether a data file in a partition belongs to tenant.
func ownedBy(key, tenant string) bool {
	return strings.HasPrefix(path.Base(key), tenant+"_") && strings.HasSuffix(key, ".parquet")
}

func manifestKey(tenant, dataset, date string) string {
	return fmt.Sprintf("%smanifests/%s/%s/%s.json", etlPrefix, tenant, dataset, date)
}

func checkpointKey(tenant, dataset string) string {
	return fmt.Sprintf("%sstate/%s/%s.json", etlPrefix, tenant, dataset)
}

func runKey(tenant, runID string) string {
	return fmt.Sprintf("%sruns/%s/%s.json", etlPrefix, tenant, runID)
}

func quarantineKey(tenant, dataset, id string) string {
	safe := strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r < ' ' {
			return '_'
		}
		return r
	}, id)
	return fmt.Sprintf("%squarantine/%s/%s/%s.json", etlPrefix, tenant, dataset, safe)
}

// Manifest lists the files that make up one partition (date) of one dataset for
// one tenant. Writing it is the commit point of that partition: files not named by
// the newest manifest are leftovers of an interrupted run and are deleted.
type Manifest struct {
	Tenant      string                    `json:"tenant_id"`
	Dataset     string                    `json:"dataset"`
	Date        string                    `json:"dt"`
	RunID       string                    `json:"run_id"`
	CommittedAt time.Time                 `json:"committed_at"`
	Records     int64                     `json:"records"`
	Tables      map[string][]ManifestFile `json:"tables"`
}

// ManifestFile is one data file of a manifest.
type ManifestFile struct {
	Key   string `json:"key"`
	Rows  int64  `json:"rows"`
	Bytes int64  `json:"bytes"`
}

// Checkpoint is the durable progress of one (tenant, dataset).
type Checkpoint struct {
	Tenant  string `json:"tenant_id"`
	Dataset string `json:"dataset"`
	// Watermark: every record that started before it has been read at least once
	// (later versions are caught by the lookback).
	Watermark   time.Time `json:"watermark"`
	LastSuccess time.Time `json:"last_success"`
	LastRunID   string    `json:"last_run_id"`
	// Gaps are windows whose data had already expired from Graph when a run got to
	// them: lost for good, and recorded so that nobody has to guess.
	Gaps []Gap `json:"retention_gaps,omitempty"`
}

// Gap is a window that expired before it was read.
type Gap struct {
	From       time.Time `json:"from"`
	To         time.Time `json:"to"`
	DetectedAt time.Time `json:"detected_at"`
	RunID      string    `json:"run_id"`
}

// readJSON reads a small control object; found=false when it does not exist.
func readJSON(ctx context.Context, s load.Conditional, key string, v any) (etag string, found bool, err error) {
	data, etag, err := s.Get(ctx, key)
	if errors.Is(err, load.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read %s: %w", key, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return "", false, fmt.Errorf("read %s: %w", key, err)
	}
	return etag, true, nil
}

// writeJSON writes a control object with compare-and-swap: create-only when etag
// is empty, else only over the version read. Losing the race is ErrPrecondition.
func writeJSON(ctx context.Context, s load.Conditional, key, etag string, v any) (string, error) {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encode %s: %w", key, err)
	}
	if etag == "" {
		etag, err = s.PutIfAbsent(ctx, key, data)
	} else {
		etag, err = s.PutIfMatch(ctx, key, data, etag)
	}
	if err != nil {
		return "", fmt.Errorf("write %s: %w", key, err)
	}
	return etag, nil
}
