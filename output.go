package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/callrecords-etl/callrecords-etl/jobs"
)

// isTerminal reports whether w is an interactive terminal (not merely a
// character device: /dev/null is one too).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// terminal shares a terminal between log lines and a progress line kept at the
// bottom: each log line clears the progress line, is written, and the progress
// line is drawn again under it.
type terminal struct {
	mu    sync.Mutex
	w     io.Writer
	parts map[string][2]int // dataset -> done, total
	line  string
}

func newTerminal(w io.Writer) *terminal { return &terminal{w: w, parts: map[string][2]int{}} }

// Write writes log output above the progress line.
func (t *terminal) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.line != "" {
		io.WriteString(t.w, "\r\033[K")
	}
	n, err := t.w.Write(p)
	if t.line != "" {
		io.WriteString(t.w, t.line)
	}
	return n, err
}

// Progress is a jobs.Config.Progress that draws one bar per dataset.
func (t *terminal) Progress(dataset string, done, total int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.parts[dataset] = [2]int{done, total}
	names := make([]string, 0, len(t.parts))
	for n := range t.parts {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		p := t.parts[n]
		const width = 20
		filled := 0
		if p[1] > 0 {
			filled = min(width, p[0]*width/p[1])
		}
		fmt.Fprintf(&b, "%s [%s%s] %d/%d days  ", n, strings.Repeat("#", filled), strings.Repeat(".", width-filled), p[0], p[1])
	}
	t.line = strings.TrimSpace(b.String())
	io.WriteString(t.w, "\r\033[K"+t.line)
}

// Done ends the progress line.
func (t *terminal) Done() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.line != "" {
		io.WriteString(t.w, "\n")
		t.line = ""
	}
}

// newLogger is the logger --log-level and --log-format ask for, writing to w.
// Above progress bars (w is a *terminal) the default level is warn, so that
// the bars stay readable; --log-level info shows every line there too.
func newLogger(c *cli.Context, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if _, bars := w.(*terminal); bars && !c.IsSet("log-level") {
		level = slog.LevelWarn
	} else if v := c.String("log-level"); v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			return nil, usageError("--log-level %q: want debug, info, warn or error", v)
		}
	}
	opts := &slog.HandlerOptions{Level: level}
	format := c.String("log-format")
	if format == "auto" || format == "" {
		format = "json"
		if _, ok := w.(*terminal); ok || isTerminal(w) {
			format = "text"
		}
	}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageError("--log-format %q: want text, json or auto", format)
}

// configured is jobConfig with the logger (and, on a terminal, the progress
// line) the flags ask for; done ends the progress line.
func configured(c *cli.Context) (cfg jobs.Config, done func(), err error) {
	out, done := c.App.ErrWriter, func() {}
	var term *terminal
	if isTerminal(out) {
		term = newTerminal(out)
		out, done = term, term.Done
	}
	log, err := newLogger(c, out)
	if err != nil {
		return cfg, done, err
	}
	cfg, err = jobConfig(c, log)
	if term != nil {
		cfg.Progress = term.Progress
	}
	return cfg, done, err
}
