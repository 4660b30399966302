// Package lake is the lake's protocol: where every object lives, how a
// partition is committed so that a reader globbing the table folders sees
// whole commits only, the checkpoints, the tenant's lease, run summaries,
// the quarantine and the change-notification inbox. It moves bytes through a
// [load.Store] and knows nothing of Graph.
//
// Layout (every control object lives under _etl/, outside any table location,
// since Athena reads every object under one):
//
//	<table>/dt=YYYY-MM-DD/<tenant>.parquet         one object per table, day and tenant: the commit
//	raw/<dataset table>/dt=YYYY-MM-DD/<tenant>.parquet  the raw archive: what Graph sent, committed with the tables
//	call_record_ledger/dt=YYYY-MM-DD/<tenant>.parquet  the completeness ledger, committed after the day's tables
//	_etl/state/<tenant>/<dataset>.json             checkpoint (watermark, gaps)
//	_etl/locks/<tenant>.json                       lease: one run per tenant at a time
//	_etl/runs/<tenant>/<run>.json                  run summaries
//	_etl/quarantine/<tenant>/<dataset>/<hash>.json payloads that could not be processed
//	_etl/quarantine/<tenant>/<dataset>/<hash>.payload the bytes of one too long to hold in it
//	_etl/inbox/<tenant>/<id>.json                  notified call record ids
//	_etl/probe/                                    the start-up check of conditional writes
package lake

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/callrecords-etl/callrecords-etl/load"
)

// etlPrefix holds every control object.
const etlPrefix = "_etl/"

// Lake is one tenant's view of a lake: its partitions, checkpoints, lease,
// run summaries, quarantine and inbox. It is safe for concurrent use.
type Lake struct {
	store  load.Store
	tenant string
	tmp    string // local directory for copies of committed files
	now    func() time.Time

	legacyMu   sync.Mutex
	legacyKeys map[string]bool // manifests of an earlier version, listed once
}

// New returns the lake of tenant in store. Committed files that a partition
// rewrite reads are copied into tempDir ("" for the system's); now is the
// clock of leases and commits (nil for time.Now).
func New(store load.Store, tenant, tempDir string, now func() time.Time) *Lake {
	if now == nil {
		now = time.Now
	}
	return &Lake{store: store, tenant: tenant, tmp: tempDir, now: now}
}

// TableKey is the object that holds a table's rows of one day for one tenant.
func TableKey(table, date, tenant string) string {
	return fmt.Sprintf("%s/dt=%s/%s.parquet", table, date, tenant)
}

// Dates lists the days (YYYY-MM-DD, ascending) for which table holds an
// object of the tenant.
func (l *Lake) Dates(ctx context.Context, table string) ([]string, error) {
	var dates []string
	suffix := "/" + l.tenant + ".parquet"
	err := l.store.List(ctx, table+"/dt=", func(o load.Object) error {
		rest := strings.TrimPrefix(o.Key, table+"/dt=")
		if date, ok := strings.CutSuffix(rest, suffix); ok && !strings.Contains(date, "/") {
			dates = append(dates, date)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", table, err)
	}
	slices.Sort(dates)
	return dates, nil
}

func checkpointKey(tenant, dataset string) string {
	return fmt.Sprintf("%sstate/%s/%s.json", etlPrefix, tenant, dataset)
}

func lockKey(tenant string) string { return etlPrefix + "locks/" + tenant + ".json" }

func runKey(tenant, runID string) string {
	return fmt.Sprintf("%sruns/%s/%s.json", etlPrefix, tenant, runID)
}

// QuarantineKey is where the payload of a record or row that could not be
// processed is kept: named from a hash of its id, so that any id (a path, a
// dot name, 300 characters) makes a valid key; the id is inside the object.
func QuarantineKey(tenant, dataset, id string) string {
	sum := sha256.Sum256([]byte(id))
	return fmt.Sprintf("%squarantine/%s/%s/%s.json", etlPrefix, tenant, dataset, hex.EncodeToString(sum[:16]))
}

// QuarantinePayloadKey is where the bytes of a payload too long to hold in
// the quarantine's object are kept, next to it.
func QuarantinePayloadKey(tenant, dataset, id string) string {
	return strings.TrimSuffix(QuarantineKey(tenant, dataset, id), ".json") + ".payload"
}

// QuarantinePayload keeps the bytes r reads under QuarantinePayloadKey, as
// they are read (a payload too long to hold in memory), and returns the key.
func (l *Lake) QuarantinePayload(ctx context.Context, dataset, id string, r io.Reader) (string, error) {
	key := QuarantinePayloadKey(l.tenant, dataset, id)
	if err := l.store.Put(ctx, key, r); err != nil {
		return "", fmt.Errorf("quarantine %s: %w", id, err)
	}
	return key, nil
}

// WriteRun stores a run's summary (once: a run id is never reused).
func (l *Lake) WriteRun(ctx context.Context, runID string, summary any) error {
	data, err := json.MarshalIndent(summary, "", "  ")
	if err != nil {
		return fmt.Errorf("encode run summary: %w", err)
	}
	if _, err := l.store.PutIfAbsent(ctx, runKey(l.tenant, runID), bytes.NewReader(data)); err != nil {
		return fmt.Errorf("write run summary: %w", err)
	}
	return nil
}

// Quarantine keeps doc (which names the id and holds the payload) under
// QuarantineKey and returns the key. A later quarantine of the same id
// replaces it.
func (l *Lake) Quarantine(ctx context.Context, dataset, id string, doc []byte) (string, error) {
	key := QuarantineKey(l.tenant, dataset, id)
	if err := l.store.Put(ctx, key, bytes.NewReader(doc)); err != nil {
		return "", fmt.Errorf("quarantine %s: %w", id, err)
	}
	return key, nil
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
		etag, err = s.PutIfAbsent(ctx, key, bytes.NewReader(data))
	} else {
		etag, err = s.PutIfMatch(ctx, key, bytes.NewReader(data), etag)
	}
	if err != nil {
		return "", fmt.Errorf("write %s: %w", key, err)
	}
	return etag, nil
}
