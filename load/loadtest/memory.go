// Package loadtest holds test helpers for package load: an in-memory
// [load.Store], a conformance suite every store must pass, and a launcher
// for a real S3-compatible server (versitygw) on loopback.
package loadtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/callrecords-etl/callrecords-etl/load"
)

// Memory returns an empty map-backed [load.Store] with the same semantics
// and errors as the real stores: keys are checked with [load.CheckKey], a
// Put whose reader fails stores nothing, and ETags are the quoted hex
// SHA-256 of the content.
func Memory() load.Store {
	return &memory{objects: make(map[string][]byte)}
}

type memory struct {
	mu      sync.Mutex
	objects map[string][]byte
}

func memETag(data []byte) string {
	sum := sha256.Sum256(data)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

func (m *memory) Put(ctx context.Context, key string, r io.Reader) error {
	if err := load.CheckKey(key); err != nil {
		return fmt.Errorf("put: %w", err)
	}
	data, err := io.ReadAll(r)
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	m.mu.Lock()
	m.objects[key] = data
	m.mu.Unlock()
	return nil
}

func (m *memory) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	data, _, err := m.get(ctx, "open", key)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

func (m *memory) get(ctx context.Context, op, key string) ([]byte, string, error) {
	if err := load.CheckKey(key); err != nil {
		return nil, "", fmt.Errorf("%s: %w", op, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, "", fmt.Errorf("%s %s: %w", op, key, err)
	}
	m.mu.Lock()
	data, ok := m.objects[key]
	m.mu.Unlock()
	if !ok {
		return nil, "", fmt.Errorf("%s %s: %w", op, key, load.ErrNotExist)
	}
	return data, memETag(data), nil // stored slices are never modified
}

func (m *memory) List(ctx context.Context, prefix string, fn func(load.Object) error) error {
	m.mu.Lock()
	var objs []load.Object
	for k, v := range m.objects {
		if strings.HasPrefix(k, prefix) {
			objs = append(objs, load.Object{Key: k, Size: int64(len(v))})
		}
	}
	m.mu.Unlock()
	slices.SortFunc(objs, func(a, b load.Object) int { return strings.Compare(a.Key, b.Key) })
	for _, o := range objs {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("list %s: %w", prefix, err)
		}
		if err := fn(o); err != nil {
			return err
		}
	}
	return nil
}

func (m *memory) Delete(ctx context.Context, key string) error {
	if err := load.CheckKey(key); err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	m.mu.Lock()
	delete(m.objects, key)
	m.mu.Unlock()
	return nil
}

func (m *memory) Get(ctx context.Context, key string) ([]byte, string, error) {
	data, etag, err := m.get(ctx, "get", key)
	if err != nil {
		return nil, "", err
	}
	return bytes.Clone(data), etag, nil
}

// cas runs check and then apply under the lock, after the common checks.
func (m *memory) cas(ctx context.Context, op, key string, check func(cur []byte, ok bool) error, apply func()) error {
	if err := load.CheckKey(key); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s %s: %w", op, key, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.objects[key]
	if err := check(cur, ok); err != nil {
		return fmt.Errorf("%s %s: %w", op, key, err)
	}
	apply()
	return nil
}

func (m *memory) Head(ctx context.Context, key string) (string, error) {
	_, etag, err := m.get(ctx, "head", key)
	return etag, err
}

func (m *memory) PutIfAbsent(ctx context.Context, key string, r io.Reader) (string, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return "", fmt.Errorf("put if absent %s: %w", key, err)
	}
	err = m.cas(ctx, "put if absent", key, func(_ []byte, ok bool) error {
		if ok {
			return load.ErrPrecondition
		}
		return nil
	}, func() { m.objects[key] = data })
	if err != nil {
		return "", err
	}
	return memETag(data), nil
}

func matchETag(cur []byte, ok bool, etag string) error {
	if !ok {
		return load.ErrNotExist
	}
	if memETag(cur) != etag {
		return load.ErrPrecondition
	}
	return nil
}

func (m *memory) PutIfMatch(ctx context.Context, key string, r io.Reader, etag string) (string, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return "", fmt.Errorf("put if match %s: %w", key, err)
	}
	err = m.cas(ctx, "put if match", key, func(cur []byte, ok bool) error {
		return matchETag(cur, ok, etag)
	}, func() { m.objects[key] = data })
	if err != nil {
		return "", err
	}
	return memETag(data), nil
}

func (m *memory) DeleteIfMatch(ctx context.Context, key string, etag string) error {
	return m.cas(ctx, "delete if match", key, func(cur []byte, ok bool) error {
		if !ok {
			return nil
		}
		return matchETag(cur, ok, etag)
	}, func() { delete(m.objects, key) })
}
