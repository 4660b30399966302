package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callrecords-etl/callrecords-etl/extract"
	"github.com/callrecords-etl/callrecords-etl/jobs"
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
		{"callrecords-etl", "run", "--dest", "/tmp/x", "--tenant-id", "t", "--from", "yesterday", "--to", "today"},
		{"callrecords-etl", "schema", "--format", "oracle"},
		{"callrecords-etl", "notifications", "serve", "--bogus"},
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

// TestStatus_MissingDestination: `status` on a destination that does not
// exist (a typo) says so and exits 2, creating nothing; on an existing lake
// without checkpoints it reports none.
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
}
