package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReport_BadInput: the report command names the flag to fix and exits 2
// for a missing --out, a destination that does not exist (creating nothing)
// and a tenant the lake holds nothing of; no file is written.
func TestReport_BadInput(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "report.html")
	typo := filepath.Join(dir, "lakke")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"report", "--dest", dir, "--tenant-id", "5b8f1d2e-3c4a-4b6d-8e9f-0a1b2c3d4e5f"}, "--out is required"},
		{[]string{"report", "--dest", typo, "--tenant-id", "5b8f1d2e-3c4a-4b6d-8e9f-0a1b2c3d4e5f", "--out", out}, "does not exist"},
		{[]string{"report", "--dest", dir, "--tenant-id", "5b8f1d2e-3c4a-4b6d-8e9f-0a1b2c3d4e5f", "--out", out}, "--tenant-id"},
		{[]string{"report", "--dest", dir, "--tenant-id", "5b8f1d2e-3c4a-4b6d-8e9f-0a1b2c3d4e5f", "--from", "2026-11-01", "--out", out}, "--to"},
	} {
		err := runQuiet(append([]string{"callrecords-etl"}, tc.args...))
		if got, msg := exitCode(err), strings.Join(explain(err), "\n"); got != 2 || !strings.Contains(msg, tc.want) {
			t.Errorf("%v: exit %d, %q; want 2 and a message with %q", tc.args, got, msg, tc.want)
		}
	}
	if _, err := os.Stat(typo); !os.IsNotExist(err) {
		t.Errorf("report created %s (%v)", typo, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("report left %v in %s, want nothing", entries, dir)
	}
}
