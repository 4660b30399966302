package jobs_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// startPushgateway starts the Debian prometheus-pushgateway on a free loopback
// port. Missing binary: a loud skip, or a failure under CI.
func startPushgateway(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus-pushgateway")
	if err != nil {
		msg := "prometheus-pushgateway not installed (make test installs it with apt-get)"
		if os.Getenv("CI") == "true" || os.Getenv("CALLRECORDS_TEST_DISALLOW_SKIP") != "" {
			t.Fatal(msg)
		}
		t.Skip("SKIPPING: " + msg)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "--web.listen-address="+addr, "--log.level=error")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := "http://" + addr
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(url + "/-/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return url
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("pushgateway did not become ready")
		}
	}
}

// scrape reads the gateway's /metrics into "name{labels}" -> value.
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "callrecords_etl_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// TestPushMetrics: a run given a Pushgateway pushes its metrics there, and
// they read back from it; it writes its summary file too.
func TestPushMetrics(t *testing.T) {
	t.Parallel()
	gw := startPushgateway(t)
	f := newFixture(t, nil)
	summaryFile := filepath.Join(t.TempDir(), "summary.json")
	sum := f.MustRun(t, func(c *jobs.Config) {
		c.Datasets = []string{schemas.DatasetCallRecords, schemas.DatasetPstn, schemas.DatasetDirectRouting}
		c.PushgatewayURL, c.SummaryFile = gw, summaryFile
	})
	var written jobs.Summary
	if data, err := os.ReadFile(summaryFile); err != nil || json.Unmarshal(data, &written) != nil || written.RunID != sum.RunID || written.Tables["call_records"].Rows != sum.Tables["call_records"].Rows {
		t.Errorf("summary file: %v, run %q; want the run's summary (run %q)", err, written.RunID, sum.RunID)
	}
	states, err := jobs.ReadStatus(context.Background(), jobs.Config{Dest: f.dest}, tenant, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	// One run: the days in the lookback are not settled yet.
	incomplete := 0
	for _, s := range states {
		for _, d := range s.Days {
			if !d.Complete {
				incomplete++
			}
		}
	}
	if incomplete == 0 {
		t.Error("no incomplete day after one run: the ledger's check below proves nothing")
	}
	got := scrape(t, gw)
	// The gateway adds its grouping labels (and an empty instance) and sorts.
	key := func(name string, labels ...string) string {
		l := append([]string{`instance=""`, `job="callrecords_etl"`, fmt.Sprintf("tenant=%q", tenant)}, labels...)
		sort.Strings(l)
		return name + "{" + strings.Join(l, ",") + "}"
	}
	checks := map[string]float64{
		key("callrecords_etl_rows_written", `table="call_records"`):                      float64(sum.Tables["call_records"].Rows),
		key("callrecords_etl_rows_written", `table="pstn_calls"`):                        float64(sum.Tables["pstn_calls"].Rows),
		key("callrecords_etl_graph_requests", `endpoint="get"`):                          float64(sum.Graph.Requests["get"]),
		key("callrecords_etl_last_exit_code"):                                            0,
		key("callrecords_etl_retention_gaps_total", `dataset="callrecords"`):             0,
		key("callrecords_etl_seconds_until_expiry", `dataset="callrecords"`):             jobs.Retention.Seconds(),
		key("callrecords_etl_last_success_timestamp_seconds", `dataset="directrouting"`): float64(f.clock.Now().Unix()),
		key("callrecords_etl_records", `dataset="callrecords"`, `kind="new"`):            float64(sum.Datasets["callrecords"].New),
		key("callrecords_etl_invalid_values_total", `dataset="pstn"`):                    0,
		key("callrecords_etl_unknown_properties_total", `dataset="callrecords"`):         0,
		key("callrecords_etl_incomplete_days", `dataset="callrecords"`):                  float64(incomplete),
		key("callrecords_etl_incomplete_days_near_edge", `dataset="callrecords"`):        0,
		key("callrecords_etl_notified_not_listed", `dataset="callrecords"`):              0,
	}
	for k, want := range checks {
		v, ok := got[k]
		if !ok {
			t.Errorf("pushgateway has no %s", k)
			continue
		}
		if v != want {
			t.Errorf("%s = %v, want %v", k, v, want)
		}
	}
	if sum.Tables["call_records"].Rows == 0 {
		t.Error("the run wrote no rows: the check above proves nothing")
	}

	// A second push replaces the group: a failed run's exit code shows.
	if err := jobs.PushMetrics(context.Background(), gw, sum, states, 1, f.clock.Now(), nil); err != nil {
		t.Fatal(err)
	}
	if v := scrape(t, gw)[key("callrecords_etl_last_exit_code")]; v != 1 {
		t.Errorf("last_exit_code after second push = %v, want 1", v)
	}
	// A gateway that answers an error is reported.
	bad := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		http.Error(w, "nope", http.StatusBadRequest)
	})}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go bad.Serve(ln)
	defer bad.Close()
	if err := jobs.PushMetrics(context.Background(), "http://"+ln.Addr().String(), sum, states, 0, f.clock.Now(), nil); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("push to a failing gateway = %v, want the 400", err)
	}
}
