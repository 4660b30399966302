package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"
)

// Backoff between retries: full jitter over an exponentially growing window.
// Variables so that white-box tests can shrink them.
var (
	retryBaseDelay = 200 * time.Millisecond
	retryMaxDelay  = 10 * time.Second
)

// WithRetry returns a Store that retries each operation of s up to attempts
// times in all (attempts < 1 counts as 1) with jittered exponential backoff,
// when the error may be transient.
//
// Not retried: errors matching ErrNotExist, ErrPrecondition, ErrInvalidKey or
// ErrConditionalUnsupported, context cancellation, and errors a store knows to
// be permanent (an S3 4xx other than 408 and 429, such as AccessDenied).
// Put is retried only when its body implements io.Seeker (it is rewound to
// where it started); List only until fn has been called once; a reader
// returned by Open is not resumed. See [Conditional] for what a retried
// conditional write can report.
func WithRetry(s Store, attempts int) Store {
	if attempts < 1 {
		attempts = 1
	}
	return &retryStore{s: s, attempts: attempts}
}

type retryStore struct {
	s        Store
	attempts int
}

// retryable reports whether err is worth another attempt.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var perm *permanentError
	switch {
	case errors.Is(err, ErrNotExist), errors.Is(err, ErrPrecondition),
		errors.Is(err, ErrInvalidKey), errors.Is(err, ErrConditionalUnsupported),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &perm):
		return false
	}
	return true
}

// do calls op until it succeeds, fails permanently, may not be retried
// (again reports false) or runs out of attempts.
func (r *retryStore) do(ctx context.Context, again func() bool, op func() error) error {
	var err error
	for i := range r.attempts {
		if i > 0 {
			window := min(retryBaseDelay<<(i-1), retryMaxDelay)
			t := time.NewTimer(rand.N(window) + 1)
			select {
			case <-ctx.Done():
				t.Stop()
				return fmt.Errorf("%w (retry interrupted: %w)", err, ctx.Err())
			case <-t.C:
			}
		}
		err = op()
		if err == nil || !retryable(ctx, err) || (again != nil && !again()) {
			return err
		}
	}
	return err
}

func (r *retryStore) Put(ctx context.Context, key string, body io.Reader) error {
	sk, ok := body.(io.Seeker)
	if !ok {
		return r.s.Put(ctx, key, body)
	}
	start, err := sk.Seek(0, io.SeekCurrent)
	if err != nil {
		return r.s.Put(ctx, key, body)
	}
	first := true
	return r.do(ctx, nil, func() error {
		if !first {
			if _, err := sk.Seek(start, io.SeekStart); err != nil {
				return fmt.Errorf("put %s: rewind body: %w", key, &permanentError{err})
			}
		}
		first = false
		return r.s.Put(ctx, key, body)
	})
}

func (r *retryStore) Open(ctx context.Context, key string) (rc io.ReadCloser, err error) {
	err = r.do(ctx, nil, func() error {
		rc, err = r.s.Open(ctx, key)
		return err
	})
	return rc, err
}

func (r *retryStore) List(ctx context.Context, prefix string, fn func(Object) error) error {
	called := false
	var fnErr error
	err := r.do(ctx, func() bool { return !called && fnErr == nil }, func() error {
		return r.s.List(ctx, prefix, func(o Object) error {
			called = true
			fnErr = fn(o)
			return fnErr
		})
	})
	return err
}

func (r *retryStore) Delete(ctx context.Context, key string) error {
	return r.do(ctx, nil, func() error { return r.s.Delete(ctx, key) })
}

func (r *retryStore) Get(ctx context.Context, key string) (data []byte, etag string, err error) {
	err = r.do(ctx, nil, func() error {
		data, etag, err = r.s.Get(ctx, key)
		return err
	})
	return data, etag, err
}

func (r *retryStore) PutIfAbsent(ctx context.Context, key string, data []byte) (etag string, err error) {
	err = r.do(ctx, nil, func() error {
		etag, err = r.s.PutIfAbsent(ctx, key, data)
		return err
	})
	return etag, err
}

func (r *retryStore) PutIfMatch(ctx context.Context, key string, data []byte, match string) (etag string, err error) {
	err = r.do(ctx, nil, func() error {
		etag, err = r.s.PutIfMatch(ctx, key, data, match)
		return err
	})
	return etag, err
}

func (r *retryStore) DeleteIfMatch(ctx context.Context, key string, etag string) error {
	return r.do(ctx, nil, func() error { return r.s.DeleteIfMatch(ctx, key, etag) })
}
