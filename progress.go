package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"

	"golang.org/x/term"
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
