package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestTerminal keeps the progress line at the bottom: a log line clears it, is
// written whole, and the line is drawn again under it.
func TestTerminal(t *testing.T) {
	var out bytes.Buffer
	term := newTerminal(&out)
	term.Progress("pstn", 3, 30)
	term.Progress("callrecords", 31, 31)
	if _, err := term.Write([]byte("level=INFO msg=hello\n")); err != nil {
		t.Fatal(err)
	}
	term.Done()
	got := out.String()
	bar := "callrecords [####################] 31/31 days  pstn [##..................] 3/30 days"
	want := "\r\033[Kpstn [##..................] 3/30 days" + "\r\033[K" + bar + "\r\033[K" + "level=INFO msg=hello\n" + bar + "\n"
	if got != want {
		t.Errorf("terminal output\n got %q\nwant %q", got, want)
	}
	if strings.Count(got, "hello") != 1 {
		t.Error("log line written more than once")
	}
}

// TestIsTerminal: /dev/null is a character device but no terminal; output
// sent there (a CronJob's, a redirected run's) gets no progress line and JSON
// logs.
func TestIsTerminal(t *testing.T) {
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	if isTerminal(devNull) {
		t.Errorf("isTerminal(%s) = true, want false", os.DevNull)
	}
	if isTerminal(&bytes.Buffer{}) {
		t.Error("isTerminal(a buffer) = true, want false")
	}
}

// TestPrintNextSteps_QuotesTheLake: the demo's suggested queries run as
// printed, in a POSIX shell, whatever the lake's path holds (quotes, a
// dollar, a backquote, spaces): the shell hands DuckDB the SQL with the path
// in one string literal.
func TestPrintNextSteps_QuotesTheLake(t *testing.T) {
	bin := t.TempDir()
	got := filepath.Join(t.TempDir(), "sql")
	// A stand-in for the DuckDB CLI that keeps the SQL it is given.
	script := "#!/bin/sh\nprintf '%s\\n' \"$2\" >> '" + got + "'\n"
	if err := os.WriteFile(filepath.Join(bin, "duckdb"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	dest := "/srv/o'brien's \"lake\" $HOME `x` \\n"
	var out strings.Builder
	printNextSteps(&out, dest)
	var steps int
	for _, line := range strings.Split(out.String(), "\n") {
		if step := strings.TrimSpace(line); strings.HasPrefix(step, "duckdb -c ") {
			steps++
			if b, err := exec.Command("sh", "-c", step).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", step, err, b)
			}
		}
	}
	b, err := os.ReadFile(got)
	if err != nil || steps != 2 {
		t.Fatalf("%d steps run (%v), want 2:\n%s", steps, err, out.String())
	}
	literal := "'" + strings.ReplaceAll(dest, "'", "''") + "/"
	for i, sql := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if !strings.Contains(sql, "read_parquet("+literal) {
			t.Errorf("step %d gave DuckDB %q, want the lake as the literal %s…", i+1, sql, literal)
		}
	}
}
