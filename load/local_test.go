package load_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/loadtest"
)

// Environment of the child processes of TestLocalStoreCrossProcess.
const (
	childRootEnv = "LOAD_TEST_CROSS_PROCESS_ROOT"
	childIDEnv   = "LOAD_TEST_CROSS_PROCESS_ID"
)

const (
	crossProcesses  = 3  // child processes
	crossIncrements = 15 // compare-and-swap increments per process
)

// TestLocalStoreCrossProcess runs compare-and-swap increments and a
// PutIfAbsent race from several processes on one directory: no increment may
// be lost and exactly one process may win the race.
func TestLocalStoreCrossProcess(t *testing.T) {
	if root := os.Getenv(childRootEnv); root != "" {
		crossProcessChild(t, root, os.Getenv(childIDEnv))
		return
	}
	root := t.TempDir()
	s := MustLocalStore(t, root)
	ctx := context.Background()
	if _, err := s.PutIfAbsent(ctx, "_etl/state/counter", strings.NewReader("0")); err != nil {
		t.Fatalf("PutIfAbsent(counter) = %v", err)
	}
	outs := make([]bytes.Buffer, crossProcesses)
	errs := make([]error, crossProcesses)
	var wg sync.WaitGroup
	for i := range crossProcesses {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLocalStoreCrossProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), childRootEnv+"="+root, childIDEnv+"="+strconv.Itoa(i))
		cmd.Stdout = &outs[i]
		cmd.Stderr = &outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatalf("start child %d: %v", i, err)
		}
		wg.Go(func() { errs[i] = cmd.Wait() })
	}
	wg.Wait()
	winners := 0
	for i, err := range errs {
		out := outs[i].String()
		if err != nil {
			t.Fatalf("child %d: %v\n%s", i, err, out)
		}
		switch {
		case strings.Contains(out, "race: won"):
			winners++
		case strings.Contains(out, "race: lost"):
		default:
			t.Fatalf("child %d did not report the race:\n%s", i, out)
		}
	}
	if winners != 1 {
		t.Errorf("PutIfAbsent race across %d processes: %d winners, want 1", crossProcesses, winners)
	}
	data, _, err := s.Get(ctx, "_etl/state/counter")
	if want := strconv.Itoa(crossProcesses * crossIncrements); err != nil || string(data) != want {
		t.Errorf("counter after %d processes × %d increments = %q, %v; want %s",
			crossProcesses, crossIncrements, data, err, want)
	}
}

func crossProcessChild(t *testing.T, root, id string) {
	s := MustLocalStore(t, root)
	ctx := context.Background()
	_, err := s.PutIfAbsent(ctx, "_etl/locks/race", strings.NewReader(id))
	switch {
	case err == nil:
		fmt.Println("race: won")
	case errors.Is(err, load.ErrPrecondition):
		fmt.Println("race: lost")
	default:
		t.Fatalf("PutIfAbsent = %v", err)
	}
	if _, err := loadtest.Increment(ctx, s, "_etl/state/counter", crossIncrements); err != nil {
		t.Fatal(err)
	}
}

// TestLocalStoreTempFilesHidden checks that a Put in progress is invisible:
// not listed, not openable, and its temporary file does not look like
// Parquet to a glob over the directory.
func TestLocalStoreTempFilesHidden(t *testing.T) {
	root := t.TempDir()
	s := MustLocalStore(t, root)
	ctx := context.Background()
	key := "calls/dt=2024-01-01/part-0.parquet"
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- s.Put(ctx, key, pr) }()
	if _, err := pw.Write([]byte("PAR1 partial")); err != nil { // returns once Put has read it
		t.Fatalf("write to pipe: %v", err)
	}

	var listed []string
	if err := s.List(ctx, "", func(o load.Object) error {
		listed = append(listed, o.Key)
		return nil
	}); err != nil {
		t.Fatalf("List = %v", err)
	}
	if len(listed) != 0 {
		t.Errorf("List during a Put = %q, want nothing", listed)
	}
	if _, err := s.Open(ctx, key); !errors.Is(err, load.ErrNotExist) {
		t.Errorf("Open(%s) during its Put = %v, want ErrNotExist", key, err)
	}
	var temps []string
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(path, ".lock") {
			temps = append(temps, path)
		}
		return nil
	})
	if len(temps) != 1 {
		t.Fatalf("files on disk during a Put = %q, want exactly one temporary file", temps)
	}
	if base := filepath.Base(temps[0]); !strings.HasPrefix(base, ".") || strings.HasSuffix(base, ".parquet") {
		t.Errorf("temporary file %s: want a hidden name not ending in .parquet", base)
	}

	pw.Close()
	if err := <-done; err != nil {
		t.Fatalf("Put = %v", err)
	}
	if got := loadtest.MustRead(t, s, key); string(got) != "PAR1 partial" {
		t.Errorf("Open(%s) = %q, want %q", key, got, "PAR1 partial")
	}
	if _, err := os.Stat(temps[0]); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temporary file %s still exists after Put: %v", temps[0], err)
	}
}

func TestLocalStoreFileLayout(t *testing.T) {
	root := t.TempDir()
	s := MustLocalStore(t, root)
	loadtest.MustPut(t, s, "a/b/c.txt", []byte("abc"))
	got, err := os.ReadFile(filepath.Join(root, "a", "b", "c.txt"))
	if err != nil || string(got) != "abc" {
		t.Errorf("file for key a/b/c.txt = %q, %v; want %q", got, err, "abc")
	}
	fi, err := os.Stat(filepath.Join(root, "a", "b", "c.txt"))
	if err == nil && fi.Mode().Perm() != 0o644 {
		t.Errorf("file mode = %v, want 0644", fi.Mode().Perm())
	}
}

// TestLocalStoreCreatesNothingUntilWritten: reading a store whose directory
// does not exist creates nothing (read-only commands leave no trace), and
// its own lock and temporary files live under _etl/, never at the root or in
// a table folder.
func TestLocalStoreCreatesNothingUntilWritten(t *testing.T) {
	root := filepath.Join(t.TempDir(), "lake")
	s := MustLocalStore(t, root)
	ctx := context.Background()
	if err := load.Exists(ctx, s); !errors.Is(err, load.ErrNoDestination) {
		t.Errorf("Exists(missing directory) = %v, want ErrNoDestination", err)
	}
	if _, _, err := s.Get(ctx, "_etl/state/x.json"); !errors.Is(err, load.ErrNotExist) {
		t.Errorf("Get = %v, want ErrNotExist", err)
	}
	if _, err := s.Head(ctx, "t/dt=2024-01-01/x.parquet"); !errors.Is(err, load.ErrNotExist) {
		t.Errorf("Head = %v, want ErrNotExist", err)
	}
	if err := s.List(ctx, "_etl/", func(load.Object) error { return nil }); err != nil {
		t.Errorf("List = %v", err)
	}
	if err := s.DeleteIfMatch(ctx, "_etl/locks/x.json", "etag"); err != nil {
		t.Errorf("DeleteIfMatch(missing) = %v", err)
	}
	if _, err := os.Stat(root); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("reading created %s: %v", root, err)
	}

	if _, err := s.PutIfAbsent(ctx, "t/dt=2024-01-01/x.parquet", strings.NewReader("PAR1")); err != nil {
		t.Fatal(err)
	}
	if err := load.Exists(ctx, s); err != nil {
		t.Errorf("Exists after a write = %v", err)
	}
	var files []string
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, path)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	for _, f := range files {
		if f != "t/dt=2024-01-01/x.parquet" && !strings.HasPrefix(f, "_etl/.locks/") {
			t.Errorf("file %s: want only the object and lock files under _etl/.locks/", f)
		}
	}
}

// TestLocalStoreTakesAHandedOverFile: a file handed over on the same file
// system becomes the object itself (no byte copied), with the ETag its
// content would have had; one not read from its start, or on another file
// system, is copied like any reader.
func TestLocalStoreTakesAHandedOverFile(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "lake")
	s := MustLocalStore(t, root)
	ctx := context.Background()
	content := []byte("PAR1 a whole file PAR1")
	putFile := func(key, src string, skip int) string {
		t.Helper()
		if err := os.WriteFile(src, content, 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(src)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.Seek(int64(skip), io.SeekStart); err != nil {
			t.Fatal(err)
		}
		etag, err := s.PutIfAbsent(ctx, key, load.HandOver{File: f})
		if err != nil {
			t.Fatalf("PutIfAbsent(%s, HandOver) = %v", key, err)
		}
		return etag
	}
	sameFile := func(src, key string) bool {
		a, err1 := os.Stat(src)
		b, err2 := os.Stat(filepath.Join(root, filepath.FromSlash(key)))
		return err1 == nil && err2 == nil && os.SameFile(a, b)
	}

	src := filepath.Join(dir, "part.parquet")
	etag := putFile("t/dt=2026-01-01/a.parquet", src, 0)
	if !sameFile(src, "t/dt=2026-01-01/a.parquet") {
		t.Errorf("the object is a copy of the handed-over file, want the file itself")
	}
	copied, err := s.PutIfAbsent(ctx, "t/dt=2026-01-01/b.parquet", bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	if etag != copied {
		t.Errorf("ETag of a handed-over file = %s, of the same bytes copied = %s", etag, copied)
	}
	if fi, err := os.Stat(filepath.Join(root, "t", "dt=2026-01-01", "a.parquet")); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("object's mode = %v, %v; want 0644", fi.Mode().Perm(), err)
	}
	if err := os.Remove(src); err != nil {
		t.Fatal(err)
	}
	if got := loadtest.MustRead(t, s, "t/dt=2026-01-01/a.parquet"); !bytes.Equal(got, content) {
		t.Errorf("object after its source was removed = %q, want %q", got, content)
	}

	// Read from offset 3: the rest is the object, and a copy.
	src = filepath.Join(dir, "later.parquet")
	putFile("t/dt=2026-01-01/c.parquet", src, 3)
	if got := loadtest.MustRead(t, s, "t/dt=2026-01-01/c.parquet"); !bytes.Equal(got, content[3:]) {
		t.Errorf("object of a file handed over at offset 3 = %q, want %q", got, content[3:])
	}
	if sameFile(src, "t/dt=2026-01-01/c.parquet") {
		t.Errorf("a file handed over at offset 3 became the object, want a copy of the rest")
	}

	// Another file system, where one is at hand (tmpfs): copied.
	if other, err := os.MkdirTemp("/dev/shm", "handover-"); err == nil && !sameDevice(other, dir) {
		defer os.RemoveAll(other)
		src = filepath.Join(other, "part.parquet")
		if got := putFile("t/dt=2026-01-01/d.parquet", src, 0); got != copied {
			t.Errorf("ETag of a file handed over from another file system = %s, want %s", got, copied)
		}
		if got := loadtest.MustRead(t, s, "t/dt=2026-01-01/d.parquet"); !bytes.Equal(got, content) {
			t.Errorf("object of a file from another file system = %q, want %q", got, content)
		}
	} else {
		t.Logf("no second file system at /dev/shm: the copy across file systems is not exercised")
	}

	temps, _ := os.ReadDir(filepath.Join(root, "_etl", ".tmp"))
	if len(temps) != 0 {
		t.Errorf("temporary files left: %d", len(temps))
	}
}

// TestLocalStoreLink: Link makes a new object of another's content without
// copying it (the same file, in folders it creates), which keeps that
// content when the original is replaced; an existing object is not replaced
// (ErrPrecondition); a missing original is ErrNotExist; SyncLinks syncs the
// links' folders.
func TestLocalStoreLink(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, err := load.NewLocalStore(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "t/dt=2026-12-06/a.parquet", strings.NewReader("one")); err != nil {
		t.Fatal(err)
	}
	const link = "iceberg/t/data/a/2026-12-06_1.parquet"
	if err := s.Link(ctx, "t/dt=2026-12-06/a.parquet", link); err != nil {
		t.Fatal(err)
	}
	src, err := os.Stat(filepath.Join(root, "t/dt=2026-12-06/a.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	dst, err := os.Stat(filepath.Join(root, link))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(src, dst) {
		t.Error("the link is a copy, not the same file")
	}
	if err := s.Put(ctx, "t/dt=2026-12-06/a.parquet", strings.NewReader("two")); err != nil {
		t.Fatal(err)
	}
	read := func(key string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(root, key))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := read(link); got != "one" {
		t.Errorf("the link after its original was replaced holds %q, want %q", got, "one")
	}
	if err := s.Link(ctx, "t/dt=2026-12-06/a.parquet", link); !errors.Is(err, load.ErrPrecondition) {
		t.Errorf("Link over an existing object = %v, want ErrPrecondition", err)
	}
	if got := read(link); got != "one" {
		t.Errorf("a refused link changed the object: it holds %q, want %q", got, "one")
	}
	if err := s.Link(ctx, "t/dt=2026-12-07/a.parquet", "iceberg/t/data/a/2026-12-07_1.parquet"); !errors.Is(err, load.ErrNotExist) {
		t.Errorf("Link of a missing original = %v, want ErrNotExist", err)
	}
	if err := s.Link(ctx, "t/dt=2026-12-06/a.parquet", "iceberg/t/data/a/2026-12-06_2.parquet"); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncLinks(ctx, link, "iceberg/t/data/a/2026-12-06_2.parquet"); err != nil {
		t.Errorf("SyncLinks = %v", err)
	}
	if err := s.SyncLinks(ctx, "iceberg/u/data/a/2026-12-06_1.parquet"); err == nil {
		t.Error("SyncLinks of a key in no folder = nil, want an error")
	}
}
