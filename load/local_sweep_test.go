package load

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestLocalStoreRemovesStaleTemps: a temporary file left by a process that
// died is removed by the next writer once it is old; a fresh one (another
// writer's, in progress) is left alone, and so is a link just made of an
// old object (Link staging it, Download reading it), which carries the
// object's old modification time.
func TestLocalStoreRemovesStaleTemps(t *testing.T) {
	root := t.TempDir()
	tmp := filepath.Join(root, filepath.FromSlash(tempDirName))
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	dead := filepath.Join(tmp, tempPrefix+"dead")
	if err := os.WriteFile(dead, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	deadAt := changedAt(t, dead)

	object := filepath.Join(root, "calls", "dt=2026-01-01", "t.parquet")
	if err := os.MkdirAll(filepath.Dir(object), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(object, []byte("committed long ago"), 0o644); err != nil {
		t.Fatal(err)
	}
	then := deadAt.Add(-2 * staleTemp)
	if err := os.Chtimes(object, then, then); err != nil {
		t.Fatal(err)
	}
	// The later files must change after the dead one, by the file
	// system's clock (some keep coarse times).
	busy, linked := filepath.Join(tmp, tempPrefix+"busy"), filepath.Join(tmp, tempPrefix+"linked")
	for deadline := time.Now().Add(5 * time.Second); ; {
		os.Remove(busy)
		os.Remove(linked)
		if err := os.WriteFile(busy, []byte("in progress"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Link(object, linked); err != nil {
			t.Fatal(err)
		}
		if changedAt(t, busy).After(deadAt) && changedAt(t, linked).After(deadAt) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the file system's times do not move")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if fi, _ := os.Stat(linked); !fi.ModTime().Before(deadAt) {
		t.Fatalf("the link's modification time %v is not its object's (%v)", fi.ModTime(), then)
	}

	s, err := NewLocalStore(root)
	if err != nil {
		t.Fatal(err)
	}
	// The sweep's clock: the dead file just over staleTemp old, the
	// others younger.
	s.now = func() time.Time { return deadAt.Add(staleTemp + time.Nanosecond) }
	if _, err := s.PutIfAbsent(context.Background(), "k", bytes.NewReader([]byte("v"))); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dead); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale temporary file still there: %v", err)
	}
	for _, f := range []string{busy, linked} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("%s removed: %v", filepath.Base(f), err)
		}
	}
	if _, err := os.Stat(object); err != nil {
		t.Errorf("the object: %v", err)
	}
}

func changedAt(t *testing.T, name string) time.Time {
	t.Helper()
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return lastChanged(fi)
}
