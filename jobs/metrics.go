package jobs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/callrecords-etl/callrecords-etl/load/lake"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// MetricsJob is the Pushgateway job label of every push; the tenant is the other
// grouping label, so a push replaces exactly that tenant's previous run.
const MetricsJob = "callrecords_etl"

// PushMetrics pushes the metrics of a finished run to a Prometheus Pushgateway
// (PUT: the group job=callrecords_etl,tenant=<tenant> is replaced). states are the
// tenant's checkpoints after the run (ReadStatus); exitCode is the process's.
func PushMetrics(ctx context.Context, gateway string, sum *Summary, states []lake.Status, exitCode int, now time.Time, client *http.Client) error {
	if client == nil {
		client = http.DefaultClient
	}
	body := renderMetrics(sum, states, exitCode, now)
	u := strings.TrimRight(gateway, "/") + "/metrics/job/" + url.PathEscape(MetricsJob) + "/tenant/" + url.PathEscape(sum.Tenant)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("push metrics: %w", err)
	}
	req.Header.Set("Content-Type", "text/plain; version=0.0.4")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("push metrics to %s: %w", gateway, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("push metrics to %s: %s: %s", gateway, resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// renderMetrics writes the Prometheus text exposition format (0.0.4).
func renderMetrics(sum *Summary, states []lake.Status, exitCode int, now time.Time) []byte {
	sum.mu.Lock()
	defer sum.mu.Unlock()
	var b bytes.Buffer
	family := func(name, typ, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	sample := func(name string, labels map[string]string, v float64) {
		fmt.Fprintf(&b, "%s%s %v\n", name, renderLabels(labels), v)
	}

	family("callrecords_etl_last_run_timestamp_seconds", "gauge", "When the last run finished.")
	sample("callrecords_etl_last_run_timestamp_seconds", nil, float64(sum.Finished.Unix()))
	family("callrecords_etl_last_run_duration_seconds", "gauge", "How long the last run took.")
	sample("callrecords_etl_last_run_duration_seconds", nil, sum.Seconds)
	family("callrecords_etl_last_exit_code", "gauge", "Exit code of the last run (see README).")
	sample("callrecords_etl_last_exit_code", nil, float64(exitCode))

	family("callrecords_etl_rows_written", "gauge", "Rows written by the last run, carried-over rows of rewritten partitions included.")
	for _, t := range sortedKeys(sum.Tables) {
		sample("callrecords_etl_rows_written", map[string]string{"table": t}, float64(sum.Tables[t].Rows))
	}
	family("callrecords_etl_files_written", "gauge", "Parquet files written by the last run.")
	for _, t := range sortedKeys(sum.Tables) {
		sample("callrecords_etl_files_written", map[string]string{"table": t}, float64(sum.Tables[t].Files))
	}
	family("callrecords_etl_bytes_written", "gauge", "Parquet bytes written by the last run.")
	for _, t := range sortedKeys(sum.Tables) {
		sample("callrecords_etl_bytes_written", map[string]string{"table": t}, float64(sum.Tables[t].Bytes))
	}
	family("callrecords_etl_records", "gauge", "Records or rows the last run listed, added, updated, left unchanged, did not find, or quarantined.")
	for _, d := range sortedKeys(sum.Datasets) {
		ds := sum.Datasets[d]
		for _, kv := range []struct {
			kind string
			n    int
		}{{"listed", ds.Listed}, {"new", ds.New}, {"updated", ds.Updated}, {"unchanged", ds.Unchanged}, {"not_found", ds.NotFound}} {
			sample("callrecords_etl_records", map[string]string{"dataset": d, "kind": kv.kind}, float64(kv.n))
		}
	}
	family("callrecords_etl_quarantined_total", "gauge", "Records the last run could not process (kept under _etl/quarantine/).")
	for _, d := range sortedKeys(sum.Datasets) {
		sample("callrecords_etl_quarantined_total", map[string]string{"dataset": d}, float64(sum.Datasets[d].Failed))
	}
	// Totals per dataset: the paths are in the summary and the log; as labels
	// they would grow with whatever Graph sends.
	family("callrecords_etl_invalid_values_total", "gauge", "Values the last run stored as NULL because they did not convert.")
	for _, d := range sortedKeys(sum.Datasets) {
		sample("callrecords_etl_invalid_values_total", map[string]string{"dataset": d}, float64(total(sum.Datasets[d].InvalidValues)))
	}
	family("callrecords_etl_unknown_properties_total", "gauge", "Properties Graph sent in the last run that the schema does not know.")
	for _, d := range sortedKeys(sum.Datasets) {
		sample("callrecords_etl_unknown_properties_total", map[string]string{"dataset": d}, float64(total(sum.Datasets[d].UnknownProperties)))
	}
	family("callrecords_etl_graph_requests", "gauge", "Graph requests of the last run by endpoint.")
	for _, e := range sortedKeys(sum.Graph.Requests) {
		sample("callrecords_etl_graph_requests", map[string]string{"endpoint": e}, float64(sum.Graph.Requests[e]))
	}
	family("callrecords_etl_graph_retries_total", "gauge", "Graph requests retried by the last run.")
	sample("callrecords_etl_graph_retries_total", nil, float64(sum.Graph.Retries))
	family("callrecords_etl_graph_throttled_total", "gauge", "Graph 429 answers received by the last run.")
	sample("callrecords_etl_graph_throttled_total", nil, float64(sum.Graph.Throttled))

	sort.Slice(states, func(i, j int) bool { return states[i].Dataset < states[j].Dataset })
	family("callrecords_etl_watermark_timestamp_seconds", "gauge", "Checkpoint watermark: everything that started before it has been read.")
	for _, s := range states {
		sample("callrecords_etl_watermark_timestamp_seconds", map[string]string{"dataset": s.Dataset}, float64(s.Watermark.Unix()))
	}
	family("callrecords_etl_last_success_timestamp_seconds", "gauge", "When a scheduled run last completed this dataset.")
	for _, s := range states {
		sample("callrecords_etl_last_success_timestamp_seconds", map[string]string{"dataset": s.Dataset}, float64(s.LastSuccess.Unix()))
	}
	family("callrecords_etl_seconds_until_expiry", "gauge", "Seconds until the oldest unread call records start to expire from Graph (30 days after the watermark).")
	for _, s := range states {
		sample("callrecords_etl_seconds_until_expiry", map[string]string{"dataset": s.Dataset}, s.Watermark.Add(Retention).Sub(now).Seconds())
	}
	family("callrecords_etl_retention_gaps_total", "gauge", "Windows that expired before they were read, as recorded in the checkpoint.")
	for _, s := range states {
		sample("callrecords_etl_retention_gaps_total", map[string]string{"dataset": s.Dataset}, float64(len(s.Gaps)))
	}
	// The completeness ledger, over the days still in Graph's retention.
	family("callrecords_etl_incomplete_days", "gauge", "Days still in Graph's retention whose completeness ledger is not complete (an id not listed, committed and settled).")
	family("callrecords_etl_incomplete_days_near_edge", "gauge", "Incomplete days whose records Graph starts deleting within 5 days (or has begun to).")
	family("callrecords_etl_notified_not_listed", "gauge", "Call record ids notified but never listed by Graph, over the days still in retention.")
	for _, s := range states {
		if s.Dataset != schemas.DatasetCallRecords {
			continue
		}
		var incomplete, nearEdge, notified int
		for _, d := range s.Days {
			incomplete += count(!d.Complete)
			nearEdge += count(d.Warning)
			notified += d.NotifiedNotListed
		}
		labels := map[string]string{"dataset": s.Dataset}
		sample("callrecords_etl_incomplete_days", labels, float64(incomplete))
		sample("callrecords_etl_incomplete_days_near_edge", labels, float64(nearEdge))
		sample("callrecords_etl_notified_not_listed", labels, float64(notified))
	}
	return b.Bytes()
}

func renderLabels(l map[string]string) string {
	if len(l) == 0 {
		return ""
	}
	var parts []string
	for _, k := range sortedKeys(l) {
		parts = append(parts, fmt.Sprintf("%s=%q", k, l[k])) // %q escapes \, " and newlines as the format wants
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// total adds the counts of a per-path map.
func total(counts map[string]int) int {
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}

func count(b bool) int {
	if b {
		return 1
	}
	return 0
}
