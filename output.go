package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
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

// printNextSteps shows queries of the demo lake that run with what this
// machine has: the DuckDB CLI if it is on the PATH, else the query helper
// that make demo builds next to this binary (DuckDB through its Go driver),
// else the DuckDB CLI's commands with where to get it.
func printNextSteps(w io.Writer, dest string) {
	lake := strings.ReplaceAll(dest, "'", "''") // inside SQL string literals
	queries := []string{
		fmt.Sprintf("SELECT dt, count(*) AS calls, round(avg(duration_seconds)) AS avg_s FROM read_parquet('%s/call_records/*/*.parquet', hive_partitioning=true) GROUP BY dt ORDER BY dt", lake),
		fmt.Sprintf("SELECT stream_direction, round(avg(average_jitter_ms),1) AS jitter_ms, round(avg(average_packet_loss_rate),4) AS loss FROM read_parquet('%s/media_streams/*/*.parquet') GROUP BY 1", lake),
	}
	command, how := "duckdb -c", "with the DuckDB CLI"
	if _, err := exec.LookPath("duckdb"); err != nil {
		if helper := queryHelper(); helper != "" {
			command, how = shellWord(helper), "with DuckDB (the query helper make demo built)"
		} else {
			how = "with the DuckDB CLI (https://duckdb.org/docs/installation/; or run make demo, which builds bin/query)"
		}
	}
	fmt.Fprintf(w, "Query it %s:\n\n", how)
	for _, q := range queries {
		fmt.Fprintf(w, "  %s %s\n", command, shellQuoted(q))
	}
}

// shellWord is s as one word of a shell command line: as it is when it
// holds nothing the shell would read otherwise.
func shellWord(s string) string {
	if strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-") == "" {
		return s
	}
	return shellQuoted(s)
}

// shellQuoted is s as one word of a POSIX shell command line, in double
// quotes (the SQL's own single quotes stay readable).
func shellQuoted(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, `$`, `\$`, "`", "\\`").Replace(s) + `"`
}

// queryHelper is the path of the query helper beside this executable (as
// the shell would take it from the working directory), or "".
func queryHelper() string {
	self, err := os.Executable()
	if err != nil {
		return ""
	}
	helper := filepath.Join(filepath.Dir(self), "query")
	if _, err := os.Stat(helper); err != nil {
		return ""
	}
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, helper); err == nil && !strings.HasPrefix(rel, "..") {
			return "./" + rel
		}
	}
	return helper
}
