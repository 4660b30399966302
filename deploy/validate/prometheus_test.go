package validate_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
	"k8s.io/apimachinery/pkg/runtime"
	k8sjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"sigs.k8s.io/yaml"
)

// etlMetrics are the metrics callrecords-etl pushes, with their labels.
var etlMetrics = map[string][]string{
	"callrecords_etl_last_success_timestamp_seconds": {"tenant", "dataset"},
	"callrecords_etl_seconds_until_expiry":           {"tenant", "dataset"},
	"callrecords_etl_watermark_timestamp_seconds":    {"tenant", "dataset"},
	"callrecords_etl_rows_written":                   {"tenant", "table"},
	"callrecords_etl_bytes_written":                  {"tenant", "table"},
	"callrecords_etl_graph_requests":                 {"tenant", "endpoint"},
	"callrecords_etl_graph_throttled_total":          {"tenant"},
	"callrecords_etl_retention_gaps_total":           {"tenant", "dataset"},
	"callrecords_etl_quarantined_total":              {"tenant", "dataset"},
	"callrecords_etl_last_exit_code":                 {"tenant"},
	"callrecords_etl_incomplete_days":                {"tenant", "dataset"},
	"callrecords_etl_incomplete_days_near_edge":      {"tenant", "dataset"},
	"callrecords_etl_notified_not_listed":            {"tenant", "dataset"},
}

// readPrometheusRule decodes deploy/prometheus/alerts.yaml strictly into the
// Prometheus Operator's PrometheusRule type.
func readPrometheusRule(t *testing.T) *monitoringv1.PrometheusRule {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy", "prometheus", "alerts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	scheme := runtime.NewScheme()
	if err := monitoringv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	dec := k8sjson.NewSerializerWithOptions(k8sjson.DefaultMetaFactory, scheme, scheme, k8sjson.SerializerOptions{Yaml: true, Strict: true})
	obj, _, err := dec.Decode(data, nil, nil)
	if err != nil {
		t.Fatalf("decode alerts.yaml as a PrometheusRule: %v", err)
	}
	pr, ok := obj.(*monitoringv1.PrometheusRule)
	if !ok {
		t.Fatalf("alerts.yaml decodes to %T, want a PrometheusRule", obj)
	}
	return pr
}

// metricNames returns the metric names an expression selects.
func metricNames(expr parser.Expr) []string {
	var names []string
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			name := vs.Name
			for _, m := range vs.LabelMatchers {
				if m.Name == model.MetricNameLabel {
					name = m.Value
				}
			}
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
		return nil
	})
	return names
}

// TestAlertRules validates the rules as Prometheus does when it loads a rule
// file (promtool check rules: strict fields, PromQL, label and annotation
// templates), then checks that each expression uses only callrecords-etl's
// metrics and that the required alerts exist.
func TestAlertRules(t *testing.T) {
	pr := readPrometheusRule(t)
	groups, err := yaml.Marshal(pr.Spec)
	if err != nil {
		t.Fatal(err)
	}
	p := parser.NewParser(parser.Options{})
	if _, errs := rulefmt.Parse(groups, false, model.UTF8Validation, p, slog.New(slog.NewTextHandler(io.Discard, nil))); len(errs) > 0 {
		for _, err := range errs {
			t.Errorf("rulefmt: %v", err)
		}
	}
	used := map[string]bool{}
	rules := 0
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			rules++
			expr, err := p.ParseExpr(r.Expr.String())
			if err != nil {
				t.Errorf("alert %s: %v", r.Alert, err)
				continue
			}
			names := metricNames(expr)
			if len(names) == 0 {
				t.Errorf("alert %s: expression %q uses none of callrecords-etl's metrics", r.Alert, r.Expr.String())
			}
			for _, n := range names {
				if _, ok := etlMetrics[n]; !ok {
					t.Errorf("alert %s: metric %s is not one callrecords-etl pushes", r.Alert, n)
				}
				used[n] = true
			}
			if r.Alert == "" {
				continue
			}
			if r.Labels["severity"] == "" {
				t.Errorf("alert %s: no severity label", r.Alert)
			}
			if r.Annotations["summary"] == "" {
				t.Errorf("alert %s: no summary annotation", r.Alert)
			}
		}
	}
	if rules == 0 {
		t.Fatal("alerts.yaml has no rules")
	}
	for _, want := range []string{
		"callrecords_etl_last_success_timestamp_seconds",
		"callrecords_etl_seconds_until_expiry",
		"callrecords_etl_retention_gaps_total",
		"callrecords_etl_quarantined_total",
		"callrecords_etl_incomplete_days_near_edge",
	} {
		if !used[want] {
			t.Errorf("no alert on %s", want)
		}
	}
}

// alertCases say when each alert must fire: one series holding value, sampled
// every minute from the Unix epoch, evaluated at the epoch + at.
var alertCases = []struct {
	alert  string
	series string
	value  float64
	at     time.Duration
	fire   bool
}{
	{"CallRecordsETLNoRecentSuccess", `callrecords_etl_last_success_timestamp_seconds{tenant="t",dataset="callrecords"}`, 0, 2*time.Hour + time.Minute, true},
	{"CallRecordsETLNoRecentSuccess", `callrecords_etl_last_success_timestamp_seconds{tenant="t",dataset="callrecords"}`, 0, 2*time.Hour - time.Minute, false},
	{"CallRecordsETLNoRecentSuccess", `callrecords_etl_last_success_timestamp_seconds{tenant="t",dataset="pstn"}`, 3600, 3 * time.Hour, false},
	{"CallRecordsETLUnreadDataExpiringSoon", `callrecords_etl_seconds_until_expiry{tenant="t",dataset="callrecords"}`, 3*86400 - 60, 5 * time.Minute, true},
	{"CallRecordsETLUnreadDataExpiringSoon", `callrecords_etl_seconds_until_expiry{tenant="t",dataset="pstn"}`, 3*86400 + 60, 5 * time.Minute, false},
	{"CallRecordsETLRetentionGap", `callrecords_etl_retention_gaps_total{tenant="t",dataset="callrecords"}`, 1, 5 * time.Minute, true},
	{"CallRecordsETLRetentionGap", `callrecords_etl_retention_gaps_total{tenant="t",dataset="callrecords"}`, 0, 5 * time.Minute, false},
	{"CallRecordsETLQuarantinedRecords", `callrecords_etl_quarantined_total{tenant="t",dataset="callrecords"}`, 3, 5 * time.Minute, true},
	{"CallRecordsETLQuarantinedRecords", `callrecords_etl_quarantined_total{tenant="t",dataset="callrecords"}`, 0, 5 * time.Minute, false},
	{"CallRecordsETLIncompleteDayNearRetentionEdge", `callrecords_etl_incomplete_days_near_edge{tenant="t",dataset="callrecords"}`, 1, 5 * time.Minute, true},
	{"CallRecordsETLIncompleteDayNearRetentionEdge", `callrecords_etl_incomplete_days_near_edge{tenant="t",dataset="callrecords"}`, 0, 3 * time.Hour, false},
	{"CallRecordsETLConfigurationError", `callrecords_etl_last_exit_code{tenant="t"}`, 2, 5 * time.Minute, true},
	{"CallRecordsETLConfigurationError", `callrecords_etl_last_exit_code{tenant="t"}`, 1, 5 * time.Minute, false},
	{"CallRecordsETLFailing", `callrecords_etl_last_exit_code{tenant="t"}`, 1, 5 * time.Minute, true},
	{"CallRecordsETLFailing", `callrecords_etl_last_exit_code{tenant="t"}`, 130, 5 * time.Minute, true},
	{"CallRecordsETLFailing", `callrecords_etl_last_exit_code{tenant="t"}`, 5, 5 * time.Minute, false},
	{"CallRecordsETLFailing", `callrecords_etl_last_exit_code{tenant="t"}`, 0, 5 * time.Minute, false},
	{"CallRecordsETLFailing", `callrecords_etl_last_exit_code{tenant="t"}`, 3, 5 * time.Minute, false},
	{"CallRecordsETLGraphThrottled", `callrecords_etl_graph_throttled_total{tenant="t"}`, 500, 5 * time.Minute, true},
	{"CallRecordsETLGraphThrottled", `callrecords_etl_graph_throttled_total{tenant="t"}`, 10, 5 * time.Minute, false},
}

// floatSample is one sample of a float series.
type floatSample struct {
	t int64
	f float64
}

func (s floatSample) T() int64                      { return s.t }
func (s floatSample) ST() int64                     { return 0 }
func (s floatSample) F() float64                    { return s.f }
func (s floatSample) H() *histogram.Histogram       { return nil }
func (s floatSample) FH() *histogram.FloatHistogram { return nil }
func (s floatSample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s floatSample) Copy() chunks.Sample           { return s }

// seriesSet iterates a fixed list of series.
type seriesSet struct {
	series []storage.Series
	i      int
}

func (s *seriesSet) Next() bool                        { s.i++; return s.i <= len(s.series) }
func (s *seriesSet) At() storage.Series                { return s.series[s.i-1] }
func (s *seriesSet) Err() error                        { return nil }
func (s *seriesSet) Warnings() annotations.Annotations { return nil }

// oneSeries is an in-memory storage holding a single series.
func oneSeries(lset labels.Labels, samples []chunks.Sample) storage.Queryable {
	return storage.QueryableFunc(func(mint, maxt int64) (storage.Querier, error) {
		return &storage.MockQuerier{SelectMockFunction: func(_ bool, _ *storage.SelectHints, matchers ...*labels.Matcher) storage.SeriesSet {
			for _, m := range matchers {
				if !m.Matches(lset.Get(m.Name)) {
					return &seriesSet{}
				}
			}
			return &seriesSet{series: []storage.Series{storage.NewListSeries(lset, samples)}}
		}}, nil
	})
}

// TestAlertThresholds evaluates each alert's expression with Prometheus's
// engine on series just inside and just outside its threshold. Every alert in
// the file needs a case that fires and one that does not.
func TestAlertThresholds(t *testing.T) {
	pr := readPrometheusRule(t)
	exprs := map[string]string{}
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				exprs[r.Alert] = r.Expr.String()
			}
		}
	}
	p := parser.NewParser(parser.Options{})
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 10000, Timeout: 10 * time.Second, LookbackDelta: 5 * time.Minute, Parser: p})
	defer engine.Close()
	covered := map[string][2]bool{}
	for _, tc := range alertCases {
		expr, ok := exprs[tc.alert]
		if !ok {
			t.Errorf("alert %s: not in alerts.yaml", tc.alert)
			continue
		}
		c := covered[tc.alert]
		if tc.fire {
			c[0] = true
		} else {
			c[1] = true
		}
		covered[tc.alert] = c
		t.Run(fmt.Sprintf("%s/%s=%g@%s", tc.alert, tc.series, tc.value, tc.at), func(t *testing.T) {
			lset, err := p.ParseMetric(tc.series)
			if err != nil {
				t.Fatalf("parse series %s: %v", tc.series, err)
			}
			var samples []chunks.Sample
			for ts := time.Duration(0); ts <= tc.at; ts += time.Minute {
				samples = append(samples, floatSample{t: ts.Milliseconds(), f: tc.value})
			}
			q, err := engine.NewInstantQuery(context.Background(), oneSeries(lset, samples), nil, expr, time.Unix(0, 0).Add(tc.at))
			if err != nil {
				t.Fatalf("query %q: %v", expr, err)
			}
			defer q.Close()
			res := q.Exec(context.Background())
			if res.Err != nil {
				t.Fatalf("evaluate %q: %v", expr, res.Err)
			}
			vec, err := res.Vector()
			if err != nil {
				t.Fatalf("evaluate %q: %v", expr, err)
			}
			if fired := len(vec) > 0; fired != tc.fire {
				t.Errorf("%s = %v: fired %v, want %v", expr, vec, fired, tc.fire)
			}
			for _, s := range vec {
				if s.Metric.Get("tenant") != "t" {
					t.Errorf("%s: sample %v lost the tenant label the annotations use", expr, s)
				}
			}
		})
	}
	for alert := range exprs {
		if c := covered[alert]; !c[0] || !c[1] {
			t.Errorf("alert %s: needs a case that fires and a case that does not (have fire=%v, quiet=%v)", alert, c[0], c[1])
		}
	}
}
