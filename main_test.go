package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/extract"
	"github.com/callrecords-etl/callrecords-etl/graphsim"
	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/load/loadtest"
)

// TestExitCode pins the documented exit codes: schedulers key retries on them.
func TestExitCode(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, 0},
		{errors.New("graph unreachable"), 1},
		{fmt.Errorf("x: %w", jobs.ErrConfig), 2},
		{usageError("bad"), 2},
		{fmt.Errorf("x: %w", jobs.ErrRetentionGap), 3},
		{fmt.Errorf("x: %w", jobs.ErrQuarantined), 4},
		{errors.Join(jobs.ErrRetentionGap, jobs.ErrQuarantined), 3},
		{fmt.Errorf("x: %w", jobs.ErrLocked), 5},
		{fmt.Errorf("x: %w", context.Canceled), 130},
		{fmt.Errorf("list: %w", &extract.AuthError{Fix: "grant consent", Err: errors.New("AADSTS65001")}), 2},
	}
	for _, tt := range tests {
		if got := exitCode(tt.err); got != tt.want {
			t.Errorf("exitCode(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

// TestRun_UsageErrors: an unknown command or flag is a usage error (exit 2), not
// a retryable failure nor urfave's own code 3 (which is our retention gap).
func TestRun_UsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"callrecords-etl", "nosuch"},
		{"callrecords-etl", "run", "--nosuch"},
		{"callrecords-etl", "run", "--dest", "/tmp/x", "--tenant-id", "5b8f1d2e-3c4a-4b6d-8e9f-0a1b2c3d4e5f", "--from", "yesterday", "--to", "today"},
		{"callrecords-etl", "schema", "--format", "oracle"},
		{"callrecords-etl", "schema", "--database", "my-lake"},
		{"callrecords-etl", "notifications", "serve", "--bogus"},
		{"callrecords-etl", "get"},
	} {
		t.Setenv("CALLRECORDS_GRAPH_TOKEN", "x")
		err := runQuiet(args)
		if got := exitCode(err); got != 2 {
			t.Errorf("%v: exit %d (%v), want 2", args[1:], got, err)
		}
	}
}

func runQuiet(args []string) error {
	return run(context.Background(), args, io.Discard)
}

// TestGet_WithoutID: `get` without --id says so in one line (exit 2), and
// prints no help.
func TestGet_WithoutID(t *testing.T) {
	var out strings.Builder
	err := run(context.Background(), []string{"callrecords-etl", "get", "--graph-url", "http://127.0.0.1:1"}, &out)
	if exitCode(err) != 2 || !strings.Contains(fmt.Sprint(err), "--id is required") || strings.Contains(fmt.Sprint(err), "\n") {
		t.Errorf("get without --id = exit %d, %q; want 2 and one line naming --id", exitCode(err), err)
	}
	if out.Len() != 0 {
		t.Errorf("get without --id printed %q on stdout, want nothing", out.String())
	}
}

// TestGet_ID: `get --id` takes a call record's GUID in any case, with spaces
// around it (pasted), and asks Graph for it in lowercase; anything else is a
// usage error naming --id, and no request is made (an id with a slash or a
// dot-dot would otherwise be asked of another URL).
func TestGet_ID(t *testing.T) {
	now := time.Date(2026, 11, 20, 15, 0, 0, 0, time.UTC)
	sim := graphsim.New(graphsim.Config{Seed: 2, TenantID: "5b8f1d2e-3c4a-4b6d-8e9f-0a1b2c3d4e5f", Now: func() time.Time { return now }, RecordsPerDay: 2, Token: "tok"})
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		sim.ServeHTTP(w, r)
	}))
	defer srv.Close()
	t.Setenv("CALLRECORDS_GRAPH_TOKEN", "tok")
	get := func(id string) (string, error) {
		var out strings.Builder
		err := run(context.Background(), []string{"callrecords-etl", "get", "--id", id, "--tenant-id", "5b8f1d2e-3c4a-4b6d-8e9f-0a1b2c3d4e5f",
			"--graph-url", srv.URL, "--log-level", "error"}, &out)
		return out.String(), err
	}

	id := sim.Truth(now.Add(-48*time.Hour), now).IDs[0]
	out, err := get("  " + strings.ToUpper(id) + "\n")
	if err != nil || !strings.Contains(out, `"id": "`+id+`"`) {
		t.Errorf("get --id %q (its id in capitals, pasted): %v; printed %.200q, want the record", strings.ToUpper(id), err, out)
	}
	for _, bad := range []string{"..", "../../subscriptions", id + "/sessions", id[:35], "e523d2ed-2966-4b6b-925b-754a88034cgg", id + "?$select=id"} {
		requests.Store(0)
		out, err := get(bad)
		if exitCode(err) != 2 || !strings.Contains(fmt.Sprint(err), "--id") || !strings.Contains(fmt.Sprint(err), "not a call record id") {
			t.Errorf("get --id %q = exit %d, %v; want 2 and an error naming --id", bad, exitCode(err), err)
		}
		if n := requests.Load(); n != 0 || out != "" {
			t.Errorf("get --id %q: %d requests to Graph, printed %q; want none and nothing", bad, n, out)
		}
	}
}

// TestStatus_MissingDestination: `status` on a destination that does not
// exist (a typo) says so and exits 2, creating nothing; on an existing lake
// without checkpoints it reports none (an empty list in JSON).
func TestStatus_MissingDestination(t *testing.T) {
	typo := filepath.Join(t.TempDir(), "lakke")
	err := runQuiet([]string{"callrecords-etl", "status", "--dest", typo})
	if got := exitCode(err); got != 2 || !strings.Contains(fmt.Sprint(err), "does not exist") {
		t.Errorf("status --dest <missing> = exit %d (%v), want 2 saying it does not exist", got, err)
	}
	if _, err := os.Stat(typo); !os.IsNotExist(err) {
		t.Errorf("status created %s (%v)", typo, err)
	}
	var out strings.Builder
	if err := run(context.Background(), []string{"callrecords-etl", "status", "--dest", t.TempDir()}, &out); err != nil || !strings.Contains(out.String(), "no checkpoints yet") {
		t.Errorf("status on an empty lake = %v, %q", err, out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"callrecords-etl", "status", "--dest", t.TempDir(), "--json"}, &out); err != nil || strings.TrimSpace(out.String()) != "[]" {
		t.Errorf("status --json on an empty lake = %v, %q; want an empty list, []", err, out.String())
	}
}

// TestRun_DestinationRefusedExits2: a destination the job cannot use as it is
// — a path through a file, a bucket that does not exist, S3 credentials the
// server refuses — is a configuration error (exit 2, fix before retrying),
// not a transient failure (exit 1).
func TestRun_DestinationRefusedExits2(t *testing.T) {
	file := filepath.Join(t.TempDir(), "a-file")
	os.WriteFile(file, []byte("x"), 0o644)
	s3cfg, _ := loadtest.StartS3(t)
	cases := []struct {
		name string
		dest string
		env  []string
	}{
		{"a file", file, nil},
		{"a path through a file", filepath.Join(file, "lake"), nil},
		{"no such bucket", "s3://no-such-bucket/lake", nil},
		{"wrong S3 secret", "s3://" + s3cfg.Bucket + "/lake", []string{"AWS_SECRET_ACCESS_KEY", "wrong"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CALLRECORDS_GRAPH_TOKEN", "x")
			for i := 0; i+1 < len(tc.env); i += 2 {
				t.Setenv(tc.env[i], tc.env[i+1])
			}
			err := runQuiet([]string{"callrecords-etl", "run", "--tenant-id", "5b8f1d2e-3c4a-4b6d-8e9f-0a1b2c3d4e5f", "--graph-url", "http://127.0.0.1:1",
				"--dest", tc.dest, "--s3-endpoint", s3cfg.Endpoint, "--s3-path-style", "--s3-region", s3cfg.Region, "--log-level", "error"})
			if got := exitCode(err); got != 2 || !strings.Contains(fmt.Sprint(err), "cannot be used as it is") {
				t.Errorf("run --dest %s = exit %d (%v), want 2 saying the destination cannot be used", tc.dest, got, err)
			}
		})
	}
}

// TestRun_BadValuesShowAnExample: a value of the wrong type, on the command
// line or in the environment, exits 2 with an example of a good one.
func TestRun_BadValuesShowAnExample(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		env     string // NAME=value, or ""
		example string
	}{
		{[]string{"run", "--lookback", "2d"}, "", "48h"},
		{[]string{"run"}, "CALLRECORDS_USAGE_HISTORY=30d", "48h"},
		{[]string{"run", "--concurrency", "eight"}, "", "such as 8"},
		{[]string{"simulate"}, "CALLRECORDS_RECORDS_PER_DAY=many", "such as 8"},
		{[]string{"run", "--graph-max-rps", "fast"}, "", "such as 2.5"},
		{[]string{"status"}, "CALLRECORDS_JSON=yes please", "true or false"},
		{[]string{"run", "--from", "yesterday", "--to", "today"}, "", "2026-01-01T00:00:00Z"},
		{[]string{"simulate", "--dump", "--bad-network-day", "friday"}, "", "YYYY-MM-DD"},
	} {
		t.Run(strings.Join(tc.args, " ")+" "+tc.env, func(t *testing.T) {
			if name, value, ok := strings.Cut(tc.env, "="); ok {
				t.Setenv(name, value)
			}
			err := runQuiet(append([]string{"callrecords-etl"}, tc.args...))
			if exitCode(err) != 2 || !strings.Contains(fmt.Sprint(err), tc.example) {
				t.Errorf("exit %d, %v; want exit 2 and an example with %q", exitCode(err), err, tc.example)
			}
		})
	}
}

// TestRun_PrivacyKeyMissing: a policy that hashes, with no key in
// CALLRECORDS_PRIVACY_KEY or --privacy-key-file, exits 2 naming where the
// key goes, before it reads anything.
func TestRun_PrivacyKeyMissing(t *testing.T) {
	t.Setenv("CALLRECORDS_GRAPH_TOKEN", "x")
	t.Setenv(privacyKeyEnv, "")
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(policy, []byte("default: hash\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := runQuiet([]string{"callrecords-etl", "run", "--dest", t.TempDir(), "--tenant-id", "5b8f1d2e-3c4a-4b6d-8e9f-0a1b2c3d4e5f", "--graph-url", "http://127.0.0.1:1", "--privacy-policy", policy})
	msg := strings.Join(explain(err), "\n")
	if got := exitCode(err); got != 2 || !strings.Contains(msg, privacyKeyEnv+" and --privacy-key-file") {
		t.Errorf("run with a hash policy and no key = exit %d, %q; want 2 naming %s and --privacy-key-file", got, msg, privacyKeyEnv)
	}
}

// TestRun_IcebergRESTSettingsWithoutRESTCatalog: a REST catalog's settings
// (a flag, or a secret's environment variable) with the SQLite catalog exit
// 2 naming the setting as the user set it, before the run starts.
func TestRun_IcebergRESTSettingsWithoutRESTCatalog(t *testing.T) {
	t.Setenv("CALLRECORDS_GRAPH_TOKEN", "x")
	for _, c := range []struct {
		flags []string
		env   string
		want  string
	}{
		{[]string{"--iceberg-warehouse", "lake"}, "", "--iceberg-warehouse"},
		{nil, icebergTokenEnv, icebergTokenEnv},
	} {
		t.Setenv(icebergTokenEnv, "")
		if c.env != "" {
			t.Setenv(c.env, "a-token")
		}
		args := append([]string{"callrecords-etl", "run", "--dest", t.TempDir(), "--tenant-id", "5b8f1d2e-3c4a-4b6d-8e9f-0a1b2c3d4e5f", "--graph-url", "http://127.0.0.1:1", "--table-format", "iceberg"}, c.flags...)
		err := runQuiet(args)
		msg := strings.Join(explain(err), "\n")
		if got := exitCode(err); got != 2 || !strings.Contains(msg, c.want+" is only for a REST catalog") || strings.Contains(msg, "a-token") {
			t.Errorf("%v with %s: exit %d, %q; want 2 naming %s, not the token", c.flags, c.env, got, msg, c.want)
		}
	}
}
