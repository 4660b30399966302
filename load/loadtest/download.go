package loadtest

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/callrecords-etl/callrecords-etl/load"
)

// DownloadAll copies every object of store into a fresh directory and
// returns it: what a reader listing the store sees, for the checks written
// for local lakes.
func DownloadAll(t testing.TB, store load.Store) string {
	t.Helper()
	dir := t.TempDir()
	err := store.List(context.Background(), "", func(o load.Object) error {
		path, _, err := load.Download(context.Background(), store, o.Key, t.TempDir())
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(o.Key))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.Rename(path, dst)
	})
	if err != nil {
		t.Fatalf("download the lake: %v", err)
	}
	return dir
}
