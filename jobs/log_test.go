package jobs_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"os"
)

func testLogger() *slog.Logger {
	if os.Getenv("CALLRECORDS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func readJSONFile(t interface {
	Helper()
	Fatal(...any)
}, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}
