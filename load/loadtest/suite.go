package loadtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/callrecords-etl/callrecords-etl/load"
)

// LargeSize is the size of the large bodies in RunStoreTests: above the
// 16 MiB at which S3Store switches to multipart uploads with its default
// part size, and not a multiple of the part size.
const LargeSize = 17<<20 + 12345

// RunStoreTests is the conformance suite for [load.Store] implementations.
// newStore is called once per subtest and must return an empty store (for a
// shared server, use a fresh prefix per t.Name()).
func RunStoreTests(t *testing.T, newStore func(t *testing.T) load.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s load.Store)
	}{
		{"PutOpen", testPutOpen},
		{"PutLarge", testPutLarge},
		{"Overwrite", testOverwrite},
		{"OpenMissing", testOpenMissing},
		{"List", testList},
		{"ListStops", testListStops},
		{"Delete", testDelete},
		{"InvalidKey", testInvalidKey},
		{"PutIfAbsent", testPutIfAbsent},
		{"PutIfMatch", testPutIfMatch},
		{"DeleteIfMatch", testDeleteIfMatch},
		{"Head", testHead},
		{"ConditionalLarge", testConditionalLarge},
		{"FailedConditionalPut", testFailedConditionalPut},
		{"ConcurrentPutIfAbsent", testConcurrentPutIfAbsent},
		{"ConcurrentPutIfMatch", testConcurrentPutIfMatch},
		{"FailedPut", testFailedPut},
		{"FailedLargePut", testFailedLargePut},
		{"CancelledPut", testCancelledPut},
		{"ProbeConditional", testProbeConditional},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
}

// MustPut stores data under key or fails the test.
func MustPut(tb testing.TB, s load.Sink, key string, data []byte) {
	tb.Helper()
	if err := s.Put(context.Background(), key, bytes.NewReader(data)); err != nil {
		tb.Fatalf("Put(%s) = %v", key, err)
	}
}

// MustRead returns the content of key or fails the test.
func MustRead(tb testing.TB, s load.Sink, key string) []byte {
	tb.Helper()
	rc, err := s.Open(context.Background(), key)
	if err != nil {
		tb.Fatalf("Open(%s) = %v", key, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		tb.Fatalf("read %s: %v", key, err)
	}
	return data
}

// keys lists prefix and returns the keys and sizes reported.
func keys(tb testing.TB, s load.Lister, prefix string) ([]string, []int64) {
	tb.Helper()
	var ks []string
	var sizes []int64
	err := s.List(context.Background(), prefix, func(o load.Object) error {
		ks = append(ks, o.Key)
		sizes = append(sizes, o.Size)
		return nil
	})
	if err != nil {
		tb.Fatalf("List(%q) = %v", prefix, err)
	}
	return ks, sizes
}

func wantNotExist(tb testing.TB, s load.Store, key string) {
	tb.Helper()
	rc, err := s.Open(context.Background(), key)
	if err == nil {
		rc.Close()
		tb.Fatalf("Open(%s) = nil error, want ErrNotExist", key)
	}
	if !errors.Is(err, load.ErrNotExist) {
		tb.Fatalf("Open(%s) = %v, want ErrNotExist", key, err)
	}
}

func testPutOpen(t *testing.T, s load.Store) {
	for _, tc := range []struct {
		key  string
		data []byte
	}{
		{"a.txt", []byte("hello")},
		{"table=x/dt=2024-01-02/part-0.parquet", []byte("PAR1 data PAR1")},
		{"empty", nil},
		{"_etl/state/tenant 1/callrecords.json", []byte(`{"watermark":"2024-01-02T03:04:05Z"}`)},
	} {
		MustPut(t, s, tc.key, tc.data)
		if got := MustRead(t, s, tc.key); !bytes.Equal(got, tc.data) {
			t.Errorf("Open(%s) = %q, want %q", tc.key, got, tc.data)
		}
	}
}

// hideSeek hides every method but Read, so stores must stream.
type hideSeek struct{ r io.Reader }

func (h hideSeek) Read(p []byte) (int, error) { return h.r.Read(p) }

func testPutLarge(t *testing.T, s load.Store) {
	data := make([]byte, LargeSize)
	rand.NewChaCha8([32]byte{1}).Read(data)
	want := sha256.Sum256(data)
	for _, tc := range []struct {
		name string
		r    io.Reader
	}{
		{"stream", hideSeek{bytes.NewReader(data)}},
		{"seekable", bytes.NewReader(data)},
	} {
		key := "large/" + tc.name + ".bin"
		if err := s.Put(context.Background(), key, tc.r); err != nil {
			t.Fatalf("Put(%s, %d bytes) = %v", key, len(data), err)
		}
		got := MustRead(t, s, key)
		if len(got) != len(data) || sha256.Sum256(got) != want {
			t.Errorf("Open(%s) returned %d bytes (sha256 %x), want %d bytes (sha256 %x)",
				key, len(got), sha256.Sum256(got), len(data), want)
		}
		ks, sizes := keys(t, s, key)
		if !slices.Equal(ks, []string{key}) || sizes[0] != int64(len(data)) {
			t.Errorf("List(%s) = %v sizes %v, want [%s] size %d", key, ks, sizes, key, len(data))
		}
	}
}

func testOverwrite(t *testing.T, s load.Store) {
	MustPut(t, s, "k", []byte("first version, longer"))
	MustPut(t, s, "k", []byte("second"))
	if got := MustRead(t, s, "k"); string(got) != "second" {
		t.Errorf("Open(k) after overwrite = %q, want %q", got, "second")
	}
	ks, sizes := keys(t, s, "")
	if !slices.Equal(ks, []string{"k"}) || !slices.Equal(sizes, []int64{6}) {
		t.Errorf("List() = %v sizes %v, want [k] sizes [6]", ks, sizes)
	}
}

func testOpenMissing(t *testing.T, s load.Store) {
	wantNotExist(t, s, "missing")
	wantNotExist(t, s, "no/such/dir/missing.parquet")
	MustPut(t, s, "dir/file", []byte("x"))
	wantNotExist(t, s, "dir") // a "directory" is not an object
	if _, _, err := s.Get(context.Background(), "missing"); !errors.Is(err, load.ErrNotExist) {
		t.Errorf("Get(missing) = %v, want ErrNotExist", err)
	}
}

func testList(t *testing.T, s load.Store) {
	all := []string{
		"t/a", "t/ab", "t/b.x", "t/b/1", "t/b/2/z", "t/b0", "tt", "u/x",
		"_etl/state/s.json",
	}
	shuffled := slices.Clone(all)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) {
		shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
	})
	for _, k := range shuffled {
		MustPut(t, s, k, []byte(k+"!"))
	}
	sorted := slices.Sorted(slices.Values(all))
	tests := []struct {
		prefix string
		want   []string
	}{
		{"", sorted},
		{"t/", []string{"t/a", "t/ab", "t/b.x", "t/b/1", "t/b/2/z", "t/b0"}},
		{"t/b", []string{"t/b.x", "t/b/1", "t/b/2/z", "t/b0"}},
		{"t/b/", []string{"t/b/1", "t/b/2/z"}},
		{"t/a", []string{"t/a", "t/ab"}},
		{"t", []string{"t/a", "t/ab", "t/b.x", "t/b/1", "t/b/2/z", "t/b0", "tt"}},
		{"_etl/", []string{"_etl/state/s.json"}},
		{"nope/", nil},
		{"t/b/2/z", []string{"t/b/2/z"}},
	}
	for _, tc := range tests {
		got, sizes := keys(t, s, tc.prefix)
		if !slices.Equal(got, tc.want) {
			t.Errorf("List(%q) = %q, want %q", tc.prefix, got, tc.want)
			continue
		}
		for i, k := range got {
			if want := int64(len(k) + 1); sizes[i] != want {
				t.Errorf("List(%q): %s has size %d, want %d", tc.prefix, k, sizes[i], want)
			}
		}
	}
}

func testListStops(t *testing.T, s load.Store) {
	for i := range 5 {
		MustPut(t, s, "p/"+strconv.Itoa(i), []byte("x"))
	}
	stop := errors.New("stop here")
	n := 0
	err := s.List(context.Background(), "p/", func(load.Object) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 2 {
		t.Errorf("List with fn failing on the 2nd object = %v after %d calls, want %v after 2", err, n, stop)
	}
}

func testDelete(t *testing.T, s load.Store) {
	ctx := context.Background()
	MustPut(t, s, "d/x", []byte("x"))
	MustPut(t, s, "d/y", []byte("y"))
	if err := s.Delete(ctx, "d/x"); err != nil {
		t.Fatalf("Delete(d/x) = %v", err)
	}
	wantNotExist(t, s, "d/x")
	if got := MustRead(t, s, "d/y"); string(got) != "y" {
		t.Errorf("Open(d/y) after deleting d/x = %q, want %q", got, "y")
	}
	if ks, _ := keys(t, s, "d/"); !slices.Equal(ks, []string{"d/y"}) {
		t.Errorf("List(d/) after delete = %q, want [d/y]", ks)
	}
	if err := s.Delete(ctx, "d/x"); err != nil {
		t.Errorf("Delete(d/x) twice = %v, want nil", err)
	}
	if err := s.Delete(ctx, "never/was"); err != nil {
		t.Errorf("Delete(never/was) = %v, want nil", err)
	}
}

func testInvalidKey(t *testing.T, s load.Store) {
	ctx := context.Background()
	for _, key := range []string{"", "/abs", "dir/", "a//b", "../up", "a/../b", "a/./b", ".hidden", "a/.tmp-x", "a\\b", "nul\x00"} {
		if err := s.Put(ctx, key, bytes.NewReader([]byte("x"))); !errors.Is(err, load.ErrInvalidKey) {
			t.Errorf("Put(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.Open(ctx, key); !errors.Is(err, load.ErrInvalidKey) {
			t.Errorf("Open(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, err := s.PutIfAbsent(ctx, key, strings.NewReader("x")); !errors.Is(err, load.ErrInvalidKey) {
			t.Errorf("PutIfAbsent(%q) = %v, want ErrInvalidKey", key, err)
		}
	}
	if ks, _ := keys(t, s, ""); len(ks) != 0 {
		t.Errorf("List() after invalid puts = %q, want nothing", ks)
	}
}

func testPutIfAbsent(t *testing.T, s load.Store) {
	ctx := context.Background()
	etag, err := s.PutIfAbsent(ctx, "_etl/locks/l.json", strings.NewReader("one"))
	if err != nil {
		t.Fatalf("PutIfAbsent(new key) = %v", err)
	}
	if etag == "" {
		t.Errorf("PutIfAbsent(new key) returned an empty etag")
	}
	if _, err := s.PutIfAbsent(ctx, "_etl/locks/l.json", strings.NewReader("two")); !errors.Is(err, load.ErrPrecondition) {
		t.Errorf("PutIfAbsent(existing key) = %v, want ErrPrecondition", err)
	}
	data, got, err := s.Get(ctx, "_etl/locks/l.json")
	if err != nil || string(data) != "one" || got != etag {
		t.Errorf("Get = %q, %q, %v; want %q, %q, nil", data, got, err, "one", etag)
	}
	// An object written by Put also blocks PutIfAbsent.
	MustPut(t, s, "plain", []byte("p"))
	if _, err := s.PutIfAbsent(ctx, "plain", strings.NewReader("q")); !errors.Is(err, load.ErrPrecondition) {
		t.Errorf("PutIfAbsent(key written by Put) = %v, want ErrPrecondition", err)
	}
}

func testPutIfMatch(t *testing.T, s load.Store) {
	ctx := context.Background()
	key := "_etl/state/cp.json"
	e1, err := s.PutIfAbsent(ctx, key, strings.NewReader("v1"))
	if err != nil {
		t.Fatalf("PutIfAbsent = %v", err)
	}
	e2, err := s.PutIfMatch(ctx, key, strings.NewReader("v2"), e1)
	if err != nil {
		t.Fatalf("PutIfMatch(current etag) = %v", err)
	}
	if e2 == e1 {
		t.Errorf("PutIfMatch returned the old etag %q for new content", e2)
	}
	if _, err := s.PutIfMatch(ctx, key, strings.NewReader("v3"), e1); !errors.Is(err, load.ErrPrecondition) {
		t.Errorf("PutIfMatch(stale etag) = %v, want ErrPrecondition", err)
	}
	data, etag, err := s.Get(ctx, key)
	if err != nil || string(data) != "v2" || etag != e2 {
		t.Errorf("Get = %q, %q, %v; want %q, %q, nil", data, etag, err, "v2", e2)
	}
	if _, err := s.PutIfMatch(ctx, "_etl/state/missing.json", strings.NewReader("x"), e2); !errors.Is(err, load.ErrNotExist) {
		t.Errorf("PutIfMatch(missing key) = %v, want ErrNotExist", err)
	}
	// The etag from Get of an object written by Put is usable.
	MustPut(t, s, "plain", []byte("p1"))
	_, pe, err := s.Get(ctx, "plain")
	if err != nil {
		t.Fatalf("Get(plain) = %v", err)
	}
	if _, err := s.PutIfMatch(ctx, "plain", strings.NewReader("p2"), pe); err != nil {
		t.Errorf("PutIfMatch(etag from Get after Put) = %v", err)
	}
	if got := MustRead(t, s, "plain"); string(got) != "p2" {
		t.Errorf("Open(plain) = %q, want %q", got, "p2")
	}
}

func testDeleteIfMatch(t *testing.T, s load.Store) {
	ctx := context.Background()
	key := "_etl/locks/x.json"
	e1, err := s.PutIfAbsent(ctx, key, strings.NewReader("v1"))
	if err != nil {
		t.Fatalf("PutIfAbsent = %v", err)
	}
	e2, err := s.PutIfMatch(ctx, key, strings.NewReader("v2"), e1)
	if err != nil {
		t.Fatalf("PutIfMatch = %v", err)
	}
	if err := s.DeleteIfMatch(ctx, key, e1); !errors.Is(err, load.ErrPrecondition) {
		t.Errorf("DeleteIfMatch(stale etag) = %v, want ErrPrecondition", err)
	}
	if got := MustRead(t, s, key); string(got) != "v2" {
		t.Errorf("Open after failed DeleteIfMatch = %q, want %q", got, "v2")
	}
	if err := s.DeleteIfMatch(ctx, key, e2); err != nil {
		t.Errorf("DeleteIfMatch(current etag) = %v", err)
	}
	wantNotExist(t, s, key)
	if err := s.DeleteIfMatch(ctx, key, e2); err != nil {
		t.Errorf("DeleteIfMatch(missing key) = %v, want nil", err)
	}
}

func testHead(t *testing.T, s load.Store) {
	ctx := context.Background()
	if _, err := s.Head(ctx, "missing"); !errors.Is(err, load.ErrNotExist) {
		t.Errorf("Head(missing) = %v, want ErrNotExist", err)
	}
	etag, err := s.PutIfAbsent(ctx, "h/cond", strings.NewReader("c"))
	if err != nil {
		t.Fatalf("PutIfAbsent = %v", err)
	}
	if got, err := s.Head(ctx, "h/cond"); err != nil || got != etag {
		t.Errorf("Head(h/cond) = %q, %v; want the PutIfAbsent etag %q", got, err, etag)
	}
	MustPut(t, s, "h/plain", []byte("p"))
	_, getTag, err := s.Get(ctx, "h/plain")
	if err != nil {
		t.Fatalf("Get = %v", err)
	}
	if got, err := s.Head(ctx, "h/plain"); err != nil || got != getTag {
		t.Errorf("Head(h/plain) = %q, %v; want Get's etag %q", got, err, getTag)
	}
	if _, err := s.Head(ctx, "h"); !errors.Is(err, load.ErrNotExist) {
		t.Errorf("Head(h) (a \"directory\") = %v, want ErrNotExist", err)
	}
}

// testConditionalLarge: conditional writes of bodies large enough for
// multipart uploads, streamed and seekable, hold their conditions.
func testConditionalLarge(t *testing.T, s load.Store) {
	ctx := context.Background()
	data := make([]byte, LargeSize)
	rand.NewChaCha8([32]byte{4}).Read(data)
	key := "big/part.parquet"
	e1, err := s.PutIfAbsent(ctx, key, hideSeek{bytes.NewReader(data)})
	if err != nil {
		t.Fatalf("PutIfAbsent(large, streamed) = %v", err)
	}
	if _, err := s.PutIfAbsent(ctx, key, bytes.NewReader(data)); !errors.Is(err, load.ErrPrecondition) {
		t.Errorf("PutIfAbsent(large, existing key) = %v, want ErrPrecondition", err)
	}
	data2 := bytes.Clone(data)
	data2[0] ^= 1
	e2, err := s.PutIfMatch(ctx, key, bytes.NewReader(data2), e1)
	if err != nil {
		t.Fatalf("PutIfMatch(large, current etag) = %v", err)
	}
	if _, err := s.PutIfMatch(ctx, key, hideSeek{bytes.NewReader(data)}, e1); !errors.Is(err, load.ErrPrecondition) {
		t.Errorf("PutIfMatch(large, stale etag) = %v, want ErrPrecondition", err)
	}
	if got := MustRead(t, s, key); !bytes.Equal(got, data2) {
		t.Errorf("Open(%s) = %d bytes, want the second version", key, len(got))
	}
	if got, err := s.Head(ctx, key); err != nil || got != e2 {
		t.Errorf("Head(%s) = %q, %v; want %q", key, got, err, e2)
	}
	if ks, _ := keys(t, s, ""); !slices.Equal(ks, []string{key}) {
		t.Errorf("List() = %q, want [%s]", ks, key)
	}
}

// testFailedConditionalPut: a conditional write whose reader fails changes
// nothing, small or large.
func testFailedConditionalPut(t *testing.T, s load.Store) {
	ctx := context.Background()
	boom := errors.New("reader broke")
	for _, size := range []int{1000, LargeSize} {
		fresh := &failingReader{n: size, err: boom, rnd: rand.NewChaCha8([32]byte{5})}
		if _, err := s.PutIfAbsent(ctx, "fc/new", fresh); !errors.Is(err, boom) {
			t.Errorf("PutIfAbsent(reader failing after %d bytes) = %v, want the reader's error", size, err)
		}
		wantNotExist(t, s, "fc/new")
		etag, err := s.PutIfAbsent(ctx, "fc/old", strings.NewReader("old"))
		if err != nil {
			t.Fatalf("PutIfAbsent = %v", err)
		}
		again := &failingReader{n: size, err: boom, rnd: rand.NewChaCha8([32]byte{6})}
		if _, err := s.PutIfMatch(ctx, "fc/old", again, etag); !errors.Is(err, boom) {
			t.Errorf("PutIfMatch(reader failing after %d bytes) = %v, want the reader's error", size, err)
		}
		if data, got, err := s.Get(ctx, "fc/old"); err != nil || string(data) != "old" || got != etag {
			t.Errorf("Get(fc/old) after a failed PutIfMatch = %q, %q, %v; want the old object", data, got, err)
		}
		if err := s.Delete(ctx, "fc/old"); err != nil {
			t.Fatal(err)
		}
	}
}

func testConcurrentPutIfAbsent(t *testing.T, s load.Store) {
	const n = 8
	ctx := context.Background()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.PutIfAbsent(ctx, "_etl/locks/race.json", strings.NewReader("writer "+strconv.Itoa(i)))
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("PutIfAbsent: writers %d and %d both won", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, load.ErrPrecondition):
			t.Errorf("PutIfAbsent by writer %d = %v, want nil or ErrPrecondition", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("PutIfAbsent: no writer won")
	}
	data, _, err := s.Get(ctx, "_etl/locks/race.json")
	if want := "writer " + strconv.Itoa(winner); err != nil || string(data) != want {
		t.Errorf("Get = %q, %v; want the winner's %q", data, err, want)
	}
}

// testConcurrentPutIfMatch increments a counter with compare-and-swap from
// several goroutines: no increment may be lost, and none applied twice but
// those whose outcome the store reported unknown (a lost reply followed by
// another writer's write, ErrOutcomeUnknown) may or may not have been applied.
func testConcurrentPutIfMatch(t *testing.T, s load.Store) {
	const workers, each = 4, 5
	ctx := context.Background()
	key := "_etl/state/counter"
	if _, err := s.PutIfAbsent(ctx, key, strings.NewReader("0")); err != nil {
		t.Fatalf("PutIfAbsent = %v", err)
	}
	var wg sync.WaitGroup
	var uncertain atomic.Int64
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			u, err := Increment(ctx, s, key, each)
			uncertain.Add(int64(u))
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	data, _, err := s.Get(ctx, key)
	got, cerr := strconv.Atoi(string(data))
	if want := workers * each; err != nil || cerr != nil || got > want || got < want-int(uncertain.Load()) {
		t.Errorf("counter = %q, %v; want %d (%d increments of unknown outcome)", data, err, want, uncertain.Load())
	}
}

// Increment adds n to the decimal counter at key, one compare-and-swap at a
// time, retrying each step that loses a race. A step whose outcome the store
// reports unknown (ErrOutcomeUnknown) is not retried, since it may have been
// applied: uncertain counts them.
func Increment(ctx context.Context, s load.Conditional, key string, n int) (uncertain int, err error) {
	for done := 0; done < n; {
		data, etag, err := s.Get(ctx, key)
		if err != nil {
			return uncertain, fmt.Errorf("increment %s: %w", key, err)
		}
		v, err := strconv.Atoi(string(data))
		if err != nil {
			return uncertain, fmt.Errorf("increment %s: %w", key, err)
		}
		_, err = s.PutIfMatch(ctx, key, strings.NewReader(strconv.Itoa(v+1)), etag)
		switch {
		case err == nil:
			done++
		case errors.Is(err, load.ErrOutcomeUnknown):
			done++
			uncertain++
		case !errors.Is(err, load.ErrPrecondition):
			return uncertain, fmt.Errorf("increment %s: %w", key, err)
		}
	}
	return uncertain, nil
}

// failingReader yields n bytes of data and then fails.
type failingReader struct {
	n   int
	err error
	rnd *rand.ChaCha8
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	p = p[:min(len(p), f.n)]
	f.rnd.Read(p)
	f.n -= len(p)
	return len(p), nil
}

func checkFailedPut(t *testing.T, s load.Store, size int) {
	t.Helper()
	ctx := context.Background()
	boom := errors.New("reader broke")
	fresh := &failingReader{n: size, err: boom, rnd: rand.NewChaCha8([32]byte{2})}
	if err := s.Put(ctx, "f/new", fresh); !errors.Is(err, boom) {
		t.Errorf("Put(reader failing after %d bytes) = %v, want the reader's error", size, err)
	}
	wantNotExist(t, s, "f/new")
	MustPut(t, s, "f/old", []byte("old content"))
	again := &failingReader{n: size, err: boom, rnd: rand.NewChaCha8([32]byte{3})}
	if err := s.Put(ctx, "f/old", again); !errors.Is(err, boom) {
		t.Errorf("Put(existing key, reader failing after %d bytes) = %v, want the reader's error", size, err)
	}
	if got := MustRead(t, s, "f/old"); string(got) != "old content" {
		t.Errorf("Open(f/old) after failed overwrite = %d bytes, want the old content", len(got))
	}
	if ks, _ := keys(t, s, ""); !slices.Equal(ks, []string{"f/old"}) {
		t.Errorf("List() after failed puts = %q, want [f/old]", ks)
	}
}

func testFailedPut(t *testing.T, s load.Store) { checkFailedPut(t, s, 1000) }

func testFailedLargePut(t *testing.T, s load.Store) { checkFailedPut(t, s, LargeSize) }

func testCancelledPut(t *testing.T, s load.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Put(ctx, "c/x", bytes.NewReader([]byte("x"))); !errors.Is(err, context.Canceled) {
		t.Errorf("Put(cancelled context) = %v, want context.Canceled", err)
	}
	wantNotExist(t, s, "c/x")
}

func testProbeConditional(t *testing.T, s load.Store) {
	if err := load.ProbeConditional(context.Background(), s); err != nil {
		t.Fatalf("ProbeConditional = %v", err)
	}
	if ks, _ := keys(t, s, ""); len(ks) != 0 {
		t.Errorf("List() after ProbeConditional = %q, want nothing left", ks)
	}
}
