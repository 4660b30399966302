package jobs

import (
	"fmt"
	"io"
	"iter"
	"log/slog"
	"sort"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/callrecords-etl/callrecords-etl/extract"
	"github.com/callrecords-etl/callrecords-etl/load/lake"
	"github.com/callrecords-etl/callrecords-etl/transform"
)

// Summary is what a run did. It is printed at the end and written under
// _etl/runs/ so that a scheduler or a person can see it afterwards.
type Summary struct {
	mu sync.Mutex

	RunID    string    `json:"run_id"`
	Tenant   string    `json:"tenant_id"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Seconds  float64   `json:"duration_seconds"`
	Explicit bool      `json:"explicit_window"`
	// DryRun: nothing was written; the counts are what a run would fetch
	// and rewrite.
	DryRun bool `json:"dry_run,omitempty"`
	// PrivacyPolicy is the digest of the privacy policy the run wrote
	// under (transform.Policy.Digest), never its key.
	PrivacyPolicy string                     `json:"privacy_policy"`
	Datasets      map[string]*DatasetSummary `json:"datasets"`
	Tables        map[string]*TableSummary   `json:"tables"`
	Graph         extract.Stats              `json:"graph"`
	Gaps          []lake.Gap                 `json:"retention_gaps,omitempty"`
	Quarantined   []string                   `json:"quarantined,omitempty"`
	// IcebergSnapshots: in the Iceberg table format, the snapshots the run
	// committed (one per table that changed).
	IcebergSnapshots int    `json:"iceberg_snapshots,omitempty"`
	Error            string `json:"error,omitempty"`
}

// DatasetSummary counts what a dataset's part of the run did.
type DatasetSummary struct {
	From       time.Time `json:"from"`
	To         time.Time `json:"to"`
	Partitions int       `json:"partitions_rewritten"`
	Listed     int       `json:"listed"`
	New        int       `json:"new"`
	Updated    int       `json:"updated"`
	Unchanged  int       `json:"unchanged"`
	NotFound   int       `json:"not_found"`
	Failed     int       `json:"quarantined"`
	// InvalidValues counts, per JSON path, the values that did not convert
	// to their column's type: their records were stored with the column NULL.
	InvalidValues map[string]int `json:"invalid_values,omitempty"`
	// UnknownProperties counts, per JSON path, the properties Graph sent
	// that the schema does not know: in the payload, not in the tables.
	UnknownProperties map[string]int `json:"unknown_properties,omitempty"`
}

// addReport counts what decoding one stored record of dataset ds could not
// carry into the tables, and warns of each path the first time the run
// meets it (a drift repeats on every record: once is enough).
func (r *runner) addReport(ds string, rep transform.Report, log *slog.Logger) {
	if rep.Empty() {
		return
	}
	stats := r.sum.dataset(ds)
	var newInvalid, newUnknown []string
	r.sum.update(func() {
		newInvalid = addCounts(&stats.InvalidValues, rep.Invalid)
		newUnknown = addCounts(&stats.UnknownProperties, rep.Unknown)
	})
	kept := "kept in the raw archive (replay after an upgrade recovers it), not in the tables"
	if r.cfg.NoRawArchive {
		kept = "not kept: the raw archive is off"
	}
	for _, p := range newUnknown {
		log.Warn("unknown property in what Graph sent; "+kept, "path", p)
	}
	for _, p := range newInvalid {
		log.Warn("value could not be converted; stored as NULL", "path", p)
	}
}

// addCounts adds src to *dst and returns the paths new to it, sorted.
func addCounts(dst *map[string]int, src map[string]int) (added []string) {
	for p, n := range src {
		if *dst == nil {
			*dst = map[string]int{}
		}
		if _, ok := (*dst)[p]; !ok {
			added = append(added, p)
		}
		(*dst)[p] += n
	}
	sort.Strings(added)
	return added
}

// TableSummary counts the files a run wrote for one table. Rows include the rows
// carried over unchanged into a rewritten partition.
type TableSummary struct {
	Rows  int64 `json:"rows"`
	Files int64 `json:"files"`
	Bytes int64 `json:"bytes"`
}

// countNewOrUpdated counts ids as updated when the lake held them, else new.
// Call it under Summary.update.
func (d *DatasetSummary) countNewOrUpdated(ids iter.Seq[string], stored map[string]int64) {
	for id := range ids {
		if _, ok := stored[id]; ok {
			d.Updated++
		} else {
			d.New++
		}
	}
}

func (s *Summary) dataset(name string) *DatasetSummary {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Datasets == nil {
		s.Datasets = map[string]*DatasetSummary{}
	}
	d, ok := s.Datasets[name]
	if !ok {
		d = &DatasetSummary{}
		s.Datasets[name] = d
	}
	return d
}

func (s *Summary) update(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn()
}

func (s *Summary) addFile(table string, rows, bytes int64) {
	s.update(func() {
		if s.Tables == nil {
			s.Tables = map[string]*TableSummary{}
		}
		t, ok := s.Tables[table]
		if !ok {
			t = &TableSummary{}
			s.Tables[table] = t
		}
		t.Rows += rows
		t.Files++
		t.Bytes += bytes
	})
}

// Print writes a human-readable summary.
func (s *Summary) Print(w io.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.RunID == "" { // a drain that found the inbox empty: no run
		fmt.Fprintf(w, "tenant %s: the change-notification inbox is empty, nothing to drain\n", s.Tenant)
		return
	}
	fmt.Fprintf(w, "run %s for tenant %s: %.1fs\n", s.RunID, s.Tenant, s.Seconds)
	partitions := "partitions"
	if s.DryRun {
		fmt.Fprintln(w, "DRY RUN: nothing was written; new, updated and partitions are what a run would fetch and rewrite")
		partitions = "partitions to rewrite"
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "dataset\twindow\tlisted\tnew\tupdated\tunchanged\tnot found\tquarantined\t"+partitions)
	for _, name := range sortedKeys(s.Datasets) {
		d := s.Datasets[name]
		win := "(import)"
		if !d.From.IsZero() {
			win = d.From.Format(time.RFC3339) + " .. " + d.To.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", name, win,
			d.Listed, d.New, d.Updated, d.Unchanged, d.NotFound, d.Failed, d.Partitions)
	}
	fmt.Fprintln(tw)
	if !s.DryRun {
		fmt.Fprintln(tw, "table\trows\tfiles\tbytes")
		for _, name := range sortedKeys(s.Tables) {
			t := s.Tables[name]
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", name, t.Rows, t.Files, t.Bytes)
		}
		fmt.Fprintln(tw)
	}
	if s.Graph.Requests != nil { // not for import and replay, which do not call Graph
		fmt.Fprintln(tw, "graph endpoint\trequests")
		for _, name := range sortedKeys(s.Graph.Requests) {
			fmt.Fprintf(tw, "%s\t%d\n", name, s.Graph.Requests[name])
		}
	}
	tw.Flush()
	if s.Graph.Requests != nil {
		fmt.Fprintf(w, "graph retries %d, throttled (429) %d, server errors %d\n", s.Graph.Retries, s.Graph.Throttled, s.Graph.ServerErrors)
	}
	for _, g := range s.Gaps {
		fmt.Fprintf(w, "RETENTION GAP: records that started %s .. %s expired before they were read\n", g.From.Format(time.RFC3339), g.To.Format(time.RFC3339))
	}
	for _, id := range s.Quarantined {
		fmt.Fprintf(w, "QUARANTINED: %s could not be processed; its payload is kept under _etl/quarantine/\n", id)
	}
	for _, name := range sortedKeys(s.Datasets) {
		d := s.Datasets[name]
		for _, p := range sortedKeys(d.UnknownProperties) {
			fmt.Fprintf(w, "UNKNOWN PROPERTY: %s %s, %d times; kept in the raw archive, not in the tables\n", name, p, d.UnknownProperties[p])
		}
		for _, p := range sortedKeys(d.InvalidValues) {
			fmt.Fprintf(w, "INVALID VALUE: %s %s, %d times; stored as NULL\n", name, p, d.InvalidValues[p])
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
