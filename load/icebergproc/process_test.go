package icebergproc_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/icebergproc"
)

// The test binary is also the child: started with childEnv set, it serves
// a fakeCatalog, as the Iceberg binary serves package iceberg's.
const childEnv = "ICEBERGPROC_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		if err := icebergproc.Serve(context.Background(), os.Stdin, os.Stdout, openFake); err != nil {
			fmt.Fprintln(os.Stderr, "serve:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type fakeSetup struct {
	Dir      string // where the child leaves what the test checks
	FailOpen string
	Secret   string
}

type fakeCatalog struct{ setup fakeSetup }

func openFake(_ context.Context, raw json.RawMessage) (icebergproc.Catalog, error) {
	var s fakeSetup
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	if s.FailOpen != "" {
		return nil, errors.New(s.FailOpen)
	}
	return fakeCatalog{s}, nil
}

func (f fakeCatalog) mark(name string) {
	os.WriteFile(filepath.Join(f.setup.Dir, name), nil, 0o644)
}

// Stage reads the local file, as the real one does.
func (f fakeCatalog) Stage(_ context.Context, table, day, tenant, runID string, local load.LocalFile) error {
	data, err := os.ReadFile(local.Path)
	if err != nil {
		return err
	}
	if int64(len(data)) != local.Bytes {
		return fmt.Errorf("stage %s/%s: %d bytes, told %d", table, day, len(data), local.Bytes)
	}
	f.mark("staged-" + table + "-" + day + "-" + tenant + "-" + runID)
	return nil
}

func (f fakeCatalog) Publish(ctx context.Context, table, tenant, runID string) (icebergproc.Published, error) {
	switch table {
	case "fail":
		return icebergproc.Published{}, fmt.Errorf("publish %s: boom for %s", table, tenant)
	case "block":
		<-ctx.Done()
		f.mark("cancelled-" + runID)
		return icebergproc.Published{}, ctx.Err()
	case "shout": // a line longer than the parent reads as one, then more
		fmt.Fprintln(os.Stderr, strings.Repeat("x", 2<<20))
		fmt.Fprintln(os.Stderr, strings.Repeat("y", 256<<10))
	case "die":
		fmt.Fprintln(os.Stderr, "dying on purpose")
		os.Exit(3)
	}
	return icebergproc.Published{Snapshot: int64(len(table) * 1000), Days: len(tenant), Rows: int64(len(runID))}, nil
}

func (f fakeCatalog) Maintain(_ context.Context, table string, m icebergproc.Maintenance) (icebergproc.Maintained, error) {
	return icebergproc.Maintained{Table: table, SnapshotsExpired: m.RetainLast, OrphansDeleted: int(m.OrphansOlderThan / time.Hour)}, nil
}

func (f fakeCatalog) Close() error {
	f.mark("closed")
	return nil
}

func start(t *testing.T, s fakeSetup) (*icebergproc.Process, error) {
	t.Helper()
	t.Setenv(childEnv, "1") // the child inherits the environment
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return icebergproc.Start(context.Background(), exe, s, nil)
}

func exists(dir, name string) bool {
	_, err := os.Stat(filepath.Join(dir, name))
	return err == nil
}

// TestProcess_Calls: every operation's answer comes back to its caller,
// 40 calls in flight at once; an operation's error is its caller's; Close
// closes the catalog in the child.
func TestProcess_Calls(t *testing.T) {
	dir := t.TempDir()
	p, err := start(t, fakeSetup{Dir: dir})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	local := filepath.Join(dir, "part.parquet")
	if err := os.WriteFile(local, []byte("PAR1 1234 PAR1"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Go(func() {
			table, tenant, run := strings.Repeat("t", i+1), strings.Repeat("x", i%7), fmt.Sprintf("run-%d", i)
			pub, err := p.Publish(ctx, table, tenant, run)
			want := icebergproc.Published{Snapshot: int64(len(table) * 1000), Days: len(tenant), Rows: int64(len(run))}
			if err != nil || pub != want {
				errs <- fmt.Errorf("Publish %d = %+v, %v; want %+v", i, pub, err, want)
			}
			m, err := p.Maintain(ctx, table, icebergproc.Maintenance{RetainLast: i, OrphansOlderThan: time.Duration(i) * time.Hour})
			if want := (icebergproc.Maintained{Table: table, SnapshotsExpired: i, OrphansDeleted: i}); err != nil || m != want {
				errs <- fmt.Errorf("Maintain %d = %+v, %v; want %+v", i, m, err, want)
			}
			if err := p.Stage(ctx, "calls", "2026-12-01", tenant, run, load.LocalFile{Path: local, Rows: 1, Bytes: 14}); err != nil {
				errs <- fmt.Errorf("Stage %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if !exists(dir, "staged-calls-2026-12-01-xx-run-2") {
		t.Error("the child did not stage run-2's file")
	}
	if _, err := p.Publish(ctx, "fail", "tenant-a", "r"); err == nil || !strings.Contains(err.Error(), "boom for tenant-a") {
		t.Errorf("a failed publish: %v, want its error", err)
	}
	if err := p.Stage(ctx, "calls", "d", "t", "r", load.LocalFile{Path: local, Bytes: 99}); err == nil || !strings.Contains(err.Error(), "told 99") {
		t.Errorf("a failed stage: %v, want its error", err)
	}
	if pub, err := p.Publish(ctx, "ok", "t", "r"); err != nil || pub.Snapshot != 2000 {
		t.Errorf("a publish after failures: %+v, %v", pub, err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if !exists(dir, "closed") {
		t.Error("Close did not close the child's catalog")
	}
	if _, err := p.Publish(ctx, "ok", "t", "r"); err == nil {
		t.Error("a publish after Close succeeded")
	}
}

// TestProcess_OpenFails: the catalog's error when it cannot open is
// Start's.
func TestProcess_OpenFails(t *testing.T) {
	_, err := start(t, fakeSetup{Dir: t.TempDir(), FailOpen: "iceberg catalog x: no such catalog"})
	if err == nil || !strings.Contains(err.Error(), "no such catalog") {
		t.Fatalf("Start = %v, want the open error", err)
	}
}

// TestProcess_Cancel: a caller's cancelled context returns at once and
// cancels the operation in the child.
func TestProcess_Cancel(t *testing.T) {
	dir := t.TempDir()
	p, err := start(t, fakeSetup{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := p.Publish(ctx, "block", "t", "run-1"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Publish = %v, want the context's error", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !exists(dir, "cancelled-run-1") {
		if time.Now().After(deadline) {
			t.Fatal("the child's operation was not cancelled")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if pub, err := p.Publish(context.Background(), "ok", "t", "r"); err != nil || pub.Snapshot != 2000 {
		t.Errorf("a publish after a cancelled one: %+v, %v", pub, err)
	}
}

// TestProcess_Dies: a child that dies fails the call in flight and every
// later one, with its exit and its last words, instead of hanging.
func TestProcess_Dies(t *testing.T) {
	p, err := start(t, fakeSetup{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_, err = p.Publish(context.Background(), "die", "t", "r")
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "dying on purpose") {
		t.Fatalf("Publish in a dying child = %v, want its exit and stderr", err)
	}
	if _, err := p.Maintain(context.Background(), "ok", icebergproc.Maintenance{}); err == nil {
		t.Error("a call after the child died succeeded")
	}
	if err := p.Close(); err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("Close after the child died = %v, want its exit", err)
	}
}

// TestProcess_SetupNotInArgsOrEnv: the setup's secrets go over the pipe,
// not where other users of the machine can read them (/proc/<pid>/cmdline,
// environ).
func TestProcess_SetupNotInArgsOrEnv(t *testing.T) {
	dir := t.TempDir()
	const secret = "s3cret-value-7f9a"
	p, err := start(t, fakeSetup{Dir: dir, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	pid := p.Pid()
	for _, f := range []string{"cmdline", "environ"} {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, f))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(data), secret) {
			t.Errorf("the setup's secret is in the child's %s", f)
		}
	}
}

// TestProcess_FastAnswers: answers that come back before their caller
// starts waiting for them reach it (many small calls, from several
// goroutines); none may hang.
func TestProcess_FastAnswers(t *testing.T) {
	p, err := start(t, fakeSetup{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				m, err := p.Maintain(ctx, "t", icebergproc.Maintenance{RetainLast: g*1000 + i})
				cancel()
				if err != nil || m.SnapshotsExpired != g*1000+i {
					t.Errorf("call %d of goroutine %d: %+v, %v", i, g, m, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestProcess_LongStderr: a child that writes a stderr line too long to log
// is still drained, so it neither blocks on a full pipe nor stops answering.
func TestProcess_LongStderr(t *testing.T) {
	p, err := start(t, fakeSetup{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if pub, err := p.Publish(ctx, "shout", "t", "r"); err != nil || pub.Snapshot != 5000 {
		t.Fatalf("Publish after a long stderr line = %+v, %v", pub, err)
	}
	if pub, err := p.Publish(ctx, "ok", "t", "r"); err != nil || pub.Snapshot != 2000 {
		t.Fatalf("the next Publish = %+v, %v", pub, err)
	}
}

func TestSQLiteFile(t *testing.T) {
	for _, c := range []struct {
		uri, path string
		ok        bool
	}{
		{"/data/lake/_etl/iceberg.db", "/data/lake/_etl/iceberg.db", true},
		{"catalog.db", "catalog.db", true},
		{"sqlite:///data/catalog.db", "/data/catalog.db", true},
		{"sqlite://", "", true},
		{"ftp://host/catalog.db", "", true},
		{"glue", "", false},
		{"glue://?region=eu-west-1", "", false},
		{"https://catalog.example.com/api/catalog", "", false},
		{"http://127.0.0.1:8181", "", false},
		{"rest://catalog.example.com", "", false},
	} {
		if path, ok := icebergproc.SQLiteFile(c.uri); path != c.path || ok != c.ok {
			t.Errorf("SQLiteFile(%q) = %q, %v; want %q, %v", c.uri, path, ok, c.path, c.ok)
		}
	}
}
