package jobs_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
)

// testLogger is the tests' logger: every line, debug included, is checked
// for a key it carries twice (see repeatedKeys); written to standard error
// with CALLRECORDS_TEST_LOG set, else dropped.
func testLogger() *slog.Logger {
	var out slog.Handler = discard{}
	if os.Getenv("CALLRECORDS_TEST_LOG") != "" {
		out = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	return slog.New(keyCheck{out: out})
}

// repeatedKeys are the log lines that carried a key twice: the JSON logs
// off a terminal would hold it twice, which log pipelines reject or read as
// either value. TestMain fails the tests if there is any.
var repeatedKeys struct {
	sync.Mutex
	lines []string
}

type keyCheck struct {
	out   slog.Handler
	keys  []string // of the logger's attributes, with their groups
	group string
}

func (h keyCheck) Enabled(context.Context, slog.Level) bool { return true }

func (h keyCheck) WithAttrs(as []slog.Attr) slog.Handler {
	h.keys = slices.Clone(h.keys)
	for _, a := range as {
		h.keys = append(h.keys, h.group+a.Key)
	}
	h.out = h.out.WithAttrs(as)
	return h
}

func (h keyCheck) WithGroup(name string) slog.Handler {
	h.group += name + "."
	h.out = h.out.WithGroup(name)
	return h
}

func (h keyCheck) Handle(ctx context.Context, r slog.Record) error {
	keys := slices.Clone(h.keys)
	r.Attrs(func(a slog.Attr) bool {
		keys = append(keys, h.group+a.Key)
		return true
	})
	slices.Sort(keys)
	for i := 1; i < len(keys); i++ {
		if keys[i] == keys[i-1] {
			repeatedKeys.Lock()
			repeatedKeys.lines = append(repeatedKeys.lines, fmt.Sprintf("%q carries %q twice", r.Message, keys[i]))
			repeatedKeys.Unlock()
		}
	}
	if !h.out.Enabled(ctx, r.Level) {
		return nil
	}
	return h.out.Handle(ctx, r)
}

// discard drops every line without formatting it.
type discard struct{}

func (discard) Enabled(context.Context, slog.Level) bool  { return false }
func (discard) Handle(context.Context, slog.Record) error { return nil }
func (d discard) WithAttrs([]slog.Attr) slog.Handler      { return d }
func (d discard) WithGroup(string) slog.Handler           { return d }
