package main

import (
	"bytes"
	"os"
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
