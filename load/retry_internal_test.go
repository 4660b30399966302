package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// flaky wraps a Store and fails the first failures calls of every method
// with err.
type flaky struct {
	Store
	failures int
	err      error
	calls    map[string]int
}

func (f *flaky) fail(op string) error {
	f.calls[op]++
	if f.calls[op] <= f.failures {
		return fmt.Errorf("%s: %w", op, f.err)
	}
	return nil
}

func (f *flaky) Put(ctx context.Context, key string, r io.Reader) error {
	if err := f.fail("put"); err != nil {
		io.CopyN(io.Discard, r, 3) // consume part of the body, as a failed upload does
		return err
	}
	return f.Store.Put(ctx, key, r)
}

func (f *flaky) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := f.fail("open"); err != nil {
		return nil, err
	}
	return f.Store.Open(ctx, key)
}

func (f *flaky) List(ctx context.Context, prefix string, fn func(Object) error) error {
	if err := f.fail("list"); err != nil {
		return err
	}
	return f.Store.List(ctx, prefix, fn)
}

func (f *flaky) PutIfMatch(ctx context.Context, key string, data []byte, etag string) (string, error) {
	if err := f.fail("putifmatch"); err != nil {
		return "", err
	}
	return f.Store.PutIfMatch(ctx, key, data, etag)
}

func newFlaky(t *testing.T, failures int, err error) *flaky {
	s, serr := NewLocalStore(t.TempDir())
	if serr != nil {
		t.Fatal(serr)
	}
	return &flaky{Store: s, failures: failures, err: err, calls: map[string]int{}}
}

func fastRetries(t *testing.T) {
	base, maxDelay := retryBaseDelay, retryMaxDelay
	retryBaseDelay, retryMaxDelay = time.Microsecond, time.Millisecond
	t.Cleanup(func() { retryBaseDelay, retryMaxDelay = base, maxDelay })
}

var errTransient = errors.New("connection reset")

func TestWithRetryPut(t *testing.T) {
	fastRetries(t)
	ctx := context.Background()
	tests := []struct {
		name      string
		failures  int
		err       error
		body      func() io.Reader
		wantCalls int
		wantErr   error
	}{
		{"seekable body retried", 2, errTransient, func() io.Reader { return strings.NewReader("payload") }, 3, nil},
		{"streamed body not retried", 2, errTransient, func() io.Reader { return struct{ io.Reader }{strings.NewReader("payload")} }, 1, errTransient},
		{"gives up after attempts", 5, errTransient, func() io.Reader { return strings.NewReader("payload") }, 3, errTransient},
		{"precondition not retried", 2, ErrPrecondition, func() io.Reader { return strings.NewReader("payload") }, 1, ErrPrecondition},
		{"permanent not retried", 2, &permanentError{errors.New("AccessDenied")}, func() io.Reader { return strings.NewReader("payload") }, 1, nil},
	}
	for _, tt := range tests {
		f := newFlaky(t, tt.failures, tt.err)
		err := WithRetry(f, 3).Put(ctx, "k", tt.body())
		if got := f.calls["put"]; got != tt.wantCalls {
			t.Errorf("%s: Put made %d calls, want %d", tt.name, got, tt.wantCalls)
		}
		if tt.wantCalls <= tt.failures {
			if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Errorf("%s: Put = %v, want %v", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: Put = %v, want nil", tt.name, err)
			continue
		}
		data, _, err := f.Get(ctx, "k")
		if err != nil || string(data) != "payload" {
			t.Errorf("%s: stored %q, %v; want the whole body %q", tt.name, data, err, "payload")
		}
	}
}

func TestWithRetryOpenNotExist(t *testing.T) {
	fastRetries(t)
	f := newFlaky(t, 0, nil)
	_, err := WithRetry(f, 5).Open(context.Background(), "missing")
	if !errors.Is(err, ErrNotExist) || f.calls["open"] != 1 {
		t.Errorf("Open(missing) = %v after %d calls, want ErrNotExist after 1", err, f.calls["open"])
	}
}

func TestWithRetryList(t *testing.T) {
	fastRetries(t)
	ctx := context.Background()
	f := newFlaky(t, 1, errTransient)
	f.Store.Put(ctx, "a", bytes.NewReader(nil))
	var got []string
	err := WithRetry(f, 3).List(ctx, "", func(o Object) error {
		got = append(got, o.Key)
		return nil
	})
	if err != nil || len(got) != 1 || f.calls["list"] != 2 {
		t.Errorf("List = %v, %q after %d calls; want nil, [a] after 2", err, got, f.calls["list"])
	}
}

// failsAfterFirst lists one object and then fails: a retry would report the
// object twice, so it must not happen.
type failsAfterFirst struct {
	Store
	calls int
}

func (f *failsAfterFirst) List(ctx context.Context, prefix string, fn func(Object) error) error {
	f.calls++
	if err := fn(Object{Key: "a"}); err != nil {
		return err
	}
	return errTransient
}

func TestWithRetryListAfterProgress(t *testing.T) {
	fastRetries(t)
	f := &failsAfterFirst{}
	n := 0
	err := WithRetry(f, 3).List(context.Background(), "", func(Object) error { n++; return nil })
	if !errors.Is(err, errTransient) || f.calls != 1 || n != 1 {
		t.Errorf("List failing after one object = %v after %d calls, fn called %d times; want the error, 1 call, 1 object", err, f.calls, n)
	}
}

func TestWithRetryCancelled(t *testing.T) {
	base, maxDelay := retryBaseDelay, retryMaxDelay
	retryBaseDelay, retryMaxDelay = time.Hour, time.Hour // a retry would wait forever
	t.Cleanup(func() { retryBaseDelay, retryMaxDelay = base, maxDelay })
	f := newFlaky(t, 1, errTransient)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := WithRetry(f, 3).PutIfMatch(ctx, "k", nil, "etag")
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) && !errors.Is(err, errTransient) {
		t.Errorf("PutIfMatch with a cancelled context = %v, want the transient error or context.Canceled", err)
	}
}

func apiError(status int, code string) error {
	return &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
		Err:      &smithy.GenericAPIError{Code: code, Message: "test"},
	}
}

func TestTranslate(t *testing.T) {
	tests := []struct {
		err       error
		want      error // sentinel, or nil for "unchanged"
		permanent bool
	}{
		{apiError(404, "NoSuchKey"), ErrNotExist, false},
		{apiError(404, "NotFound"), ErrNotExist, false},
		{apiError(404, ""), ErrNotExist, false},
		{apiError(404, "NoSuchBucket"), nil, true},
		{apiError(412, "PreconditionFailed"), ErrPrecondition, false},
		{apiError(409, "ConditionalRequestConflict"), ErrPrecondition, false},
		{apiError(403, "AccessDenied"), nil, true},
		{apiError(400, "InvalidArgument"), nil, true},
		{apiError(429, "SlowDown"), nil, false},
		{apiError(503, "SlowDown"), nil, false},
		{apiError(500, "InternalError"), nil, false},
		{errTransient, nil, false},
	}
	for _, tt := range tests {
		got := translate(tt.err)
		if tt.want != nil && !errors.Is(got, tt.want) {
			t.Errorf("translate(%v) = %v, want %v", tt.err, got, tt.want)
		}
		var perm *permanentError
		if isPerm := errors.As(got, &perm); isPerm != tt.permanent {
			t.Errorf("translate(%v) permanent = %v, want %v", tt.err, isPerm, tt.permanent)
		}
		if retryable(context.Background(), got) == (tt.want != nil || tt.permanent) {
			t.Errorf("retryable(translate(%v)) = %v", tt.err, !(tt.want != nil || tt.permanent))
		}
	}
}
