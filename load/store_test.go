package load_test

import (
	"context"
	"strings"
	"testing"

	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/loadtest"
)

func TestLocalStore(t *testing.T) {
	loadtest.RunStoreTests(t, func(t *testing.T) load.Store {
		return MustLocalStore(t, t.TempDir())
	})
}

func TestS3Store(t *testing.T) {
	cfg, _ := loadtest.StartS3(t)
	loadtest.RunStoreTests(t, func(t *testing.T) load.Store {
		c := cfg
		c.Prefix = "runs/" + strings.ReplaceAll(t.Name(), "/", "_")
		return MustS3Store(t, c)
	})
}

// MustLocalStore returns a LocalStore at root or fails the test.
func MustLocalStore(tb testing.TB, root string) *load.LocalStore {
	tb.Helper()
	s, err := load.NewLocalStore(root)
	if err != nil {
		tb.Fatalf("NewLocalStore(%s) = %v", root, err)
	}
	return s
}

// MustS3Store returns an S3Store for cfg or fails the test.
func MustS3Store(tb testing.TB, cfg load.S3Config) *load.S3Store {
	tb.Helper()
	s, err := load.NewS3Store(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("NewS3Store(%+v) = %v", cfg, err)
	}
	return s
}
