package e2e_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/creack/pty"
)

// TestDemo_OnATerminal runs `callrecords-etl demo`, as make demo builds it
// (with the query helper beside it), in a pseudo-terminal and reads the final
// screen as a person would: the progress bars full, the summary, next steps
// that run (each one is run here and returns rows), the report's path last,
// and no log flood.
func TestDemo_OnATerminal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	for _, b := range []struct{ dir, pkg, out string }{
		{"..", ".", "callrecords-etl"},
		{".", "./cmd/query", "query"},
	} {
		build := exec.Command("go", "build", "-o", filepath.Join(bin, b.out), b.pkg)
		build.Dir = b.dir
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	cmd := exec.Command(filepath.Join(bin, "callrecords-etl"), "demo", "--dest", "lake", "--now", now.Format("2006-01-02T15:04:05Z"))
	cmd.Dir = dir
	for _, kv := range os.Environ() { // the defaults a new user gets
		if !strings.HasPrefix(kv, "CALLRECORDS_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "TERM=xterm")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 50, Cols: 250})
	if err != nil {
		t.Fatal(err)
	}
	var raw bytes.Buffer
	_, err = io.Copy(&raw, tty) // until the demo exits (EIO on Linux)
	if err != nil && !errors.Is(err, syscall.EIO) {
		t.Fatalf("read the terminal: %v", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("demo: %v\n%s", err, raw.String())
	}
	screen := render(raw.Bytes())
	last := screen[max(0, len(screen)-50):]
	text := strings.Join(last, "\n")

	var logLines []string
	for _, l := range screen {
		if strings.Contains(l, "level=") || strings.Contains(l, `"level"`) {
			logLines = append(logLines, l)
		}
	}
	if len(logLines) > 0 {
		t.Errorf("%d log lines on the terminal (want none at the default level), first: %q", len(logLines), logLines[0])
	}
	for _, ds := range []string{"callrecords", "pstn", "directrouting"} {
		if !regexp.MustCompile(ds + ` \[#{20}\] (\d+)/(\d+) days`).MatchString(text) {
			t.Errorf("final screen has no full progress bar for %s:\n%s", ds, text)
		}
	}
	for _, want := range []string{"dataset", "call_records", "wrote the lake to", "Query it"} {
		if !strings.Contains(text, want) {
			t.Errorf("final screen does not show %q:\n%s", want, text)
		}
	}
	var steps []string
	for _, l := range last {
		if strings.HasPrefix(strings.TrimSpace(l), "./bin/query ") {
			steps = append(steps, strings.TrimSpace(l))
		}
	}
	if len(steps) < 2 {
		t.Fatalf("next steps on the final screen: %q, want the query commands:\n%s", steps, text)
	}
	// The last line says where the report is, and it is there.
	if m := regexp.MustCompile(`Open the report in a browser: (\S+)\s*$`).FindStringSubmatch(strings.TrimSpace(text)); m == nil {
		t.Errorf("final screen does not end with the report's path:\n%s", text)
	} else if b, err := os.ReadFile(m[1]); err != nil || !bytes.Contains(b, []byte(`<svg class="chart"`)) {
		t.Errorf("report %s: %v, %d bytes without a chart", m[1], err, len(b))
	}
	for _, step := range steps {
		run := exec.Command("sh", "-c", step)
		run.Dir = dir
		out, err := run.CombinedOutput()
		if err != nil || !regexp.MustCompile(`\(([1-9]\d*) rows\)`).Match(out) {
			t.Errorf("next step %s: %v\n%s", step, err, out)
		}
	}
}

// render replays terminal output onto lines as a terminal shows them:
// carriage return, erase to the end of the line (ESC [ K), newline.
func render(b []byte) []string {
	lines := []string{""}
	col := 0
	for i := 0; i < len(b); i++ {
		cur := []rune(lines[len(lines)-1])
		switch c := b[i]; {
		case c == '\r':
			col = 0
			continue
		case c == '\n':
			lines = append(lines, "")
			col = 0
			continue
		case c == 0x1b && i+2 < len(b) && b[i+1] == '[' && b[i+2] == 'K':
			i += 2
			if col < len(cur) {
				cur = cur[:col]
			}
		default:
			r := rune(c)
			for len(cur) < col {
				cur = append(cur, ' ')
			}
			if col < len(cur) {
				cur[col] = r
			} else {
				cur = append(cur, r)
			}
			col++
		}
		lines[len(lines)-1] = string(cur)
	}
	return lines
}
