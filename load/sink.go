// Package load moves bytes into the lake and writes Parquet.
//
// It offers a narrow object-store contract ([Sink], plus the optional
// [Lister], [Deleter] and [Conditional] interfaces, bundled as [Store]) with
// two real implementations, [LocalStore] (a directory) and [S3Store] (any
// S3-compatible service), and a Parquet writer ([FileWriter]) and reader
// ([ReadParquet]) built on parquet-go.
//
// The caller decides keys and layout; load only moves bytes. Keys are
// slash-separated and relative to the store's root (see [CheckKey]).
package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// ErrNotExist is returned (wrapped, with the key) when an operation needs an
// object that does not exist.
var ErrNotExist = errors.New("object does not exist")

// ErrPrecondition is returned (wrapped, with the key) when a conditional write
// or delete lost: the object exists for PutIfAbsent, or its ETag differs for
// PutIfMatch and DeleteIfMatch.
var ErrPrecondition = errors.New("precondition failed")

// ErrOutcomeUnknown is returned (wrapped, with ErrPrecondition) by a
// conditional write that found another writer's content after its own reply
// was lost: the write may have been applied before the other one replaced
// it. Callers that read, modify and write again must not assume it was not.
var ErrOutcomeUnknown = errors.New("outcome unknown: the reply was lost and another write followed")

// ErrInvalidKey is returned (wrapped, with the key) for a key that no store
// accepts; see [CheckKey].
var ErrInvalidKey = errors.New("invalid key")

// ErrConditionalUnsupported is returned by [ProbeConditional] when a store
// accepts conditional writes but does not enforce them, so locks and
// compare-and-swap checkpoints built on it would silently always succeed.
var ErrConditionalUnsupported = errors.New("store does not enforce conditional writes")

// Sink is the narrow storage contract: stream an object in, read it back.
//
// Implementations are safe for concurrent use by multiple goroutines.
// Put on an existing key replaces the object atomically: readers see the old
// or the new content, never a partial one. A Put that fails (the reader
// returns an error, the context is cancelled, the upload is rejected) leaves
// no visible object at key and leaves an existing object untouched.
type Sink interface {
	// Put stores everything read from r under key, replacing any existing
	// object. It returns only after the object is durable and visible.
	Put(ctx context.Context, key string, r io.Reader) error
	// Open returns the content of key. The error matches ErrNotExist when
	// the key is absent. The caller closes the reader.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
}

// Object describes one stored object as reported by [Lister].
type Object struct {
	// Key is relative to the store's root (the store prefix is not part of it).
	Key string
	// Size is the object's length in bytes.
	Size int64
}

// Lister enumerates objects.
type Lister interface {
	// List calls fn for every object whose key starts with prefix, in
	// lexical (byte-wise) key order, descending into "subdirectories"
	// (there are none: keys are flat strings). Keys passed to fn are relative
	// to the store root. An error from fn stops the listing and is returned
	// as is. Objects written or deleted during the listing may or may not be
	// reported.
	List(ctx context.Context, prefix string, fn func(Object) error) error
}

// Deleter removes objects.
type Deleter interface {
	// Delete removes key. Deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// Conditional is compare-and-swap on ETags, for the objects whose writers
// must not overwrite each other's work: partition files, checkpoints, the
// lease. ETags are opaque strings; only compare them with ETags returned by
// the same store. Get holds the whole object in memory; the conditional
// writes stream, like Put, and a failed one leaves the object as it was.
//
// The conditional operations are atomic with respect to each other and to
// Put and Delete on the same key. A conditional write whose reply was lost is
// still recognised as the caller's own: a store that retries a request
// checks, after a failure, whether the object now holds this very write (S3Store
// tags each write), so ErrPrecondition always means another writer's
// content is there, never the caller's own retried write. If another write
// followed the caller's lost one, the error also matches ErrOutcomeUnknown.
type Conditional interface {
	// Get returns the content of key and its ETag. The error matches
	// ErrNotExist when the key is absent.
	Get(ctx context.Context, key string) (data []byte, etag string, err error)
	// Head returns the ETag of key without its content. The error matches
	// ErrNotExist when the key is absent.
	Head(ctx context.Context, key string) (etag string, err error)
	// PutIfAbsent creates key with what r yields only if no object exists
	// there. The error matches ErrPrecondition if the key exists.
	PutIfAbsent(ctx context.Context, key string, r io.Reader) (etag string, err error)
	// PutIfMatch replaces key with what r yields only if its current ETag
	// is etag. The error matches ErrPrecondition on a mismatch and
	// ErrNotExist if the key is missing.
	PutIfMatch(ctx context.Context, key string, r io.Reader, etag string) (string, error)
	// DeleteIfMatch removes key only if its current ETag is etag. The error
	// matches ErrPrecondition on a mismatch. Like Delete, a missing key is not
	// an error (S3-compatible services differ on it, so every store reports
	// success).
	DeleteIfMatch(ctx context.Context, key string, etag string) error
}

// Copier is a store that copies an object to a new key itself, without its
// bytes passing through this process: S3's CopyObject ([S3Store]), Azure's
// Copy Blob ([AzureStore]), a hard link ([LocalStore], durable once synced).
type Copier interface {
	// Copy copies src, of size bytes, to dst, a new key: the object stores
	// replace an object already there, a local store refuses it
	// (ErrPrecondition). The error matches ErrNotExist when src is absent.
	Copy(ctx context.Context, src, dst string, size int64) error
}

// copyThrough copies src to dst through this process: read, then stored;
// what a Copier does when the service will not copy.
func copyThrough(ctx context.Context, s Sink, src, dst string) error {
	r, err := s.Open(ctx, src)
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	defer r.Close()
	if err := s.Put(ctx, dst, r); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return nil
}

// Store is everything the lake needs: a Sink that can also list, delete and
// compare-and-swap. Both real stores implement it.
type Store interface {
	Sink
	Lister
	Deleter
	Conditional
}

// HandOver is a local file whose whole content the caller gives to a
// store's Put, PutIfAbsent or PutIfMatch, read from its start. A
// [LocalStore] on the same file system makes the file itself the new object
// (a hard link: not a byte copied), so the caller must not write to the file
// afterwards; removing its name is fine. Every other store reads it as the
// *os.File it is.
type HandOver struct{ *os.File }

// maxSegment is the longest name most file systems take.
const maxSegment = 255

// ErrNoDestination is returned (wrapped) when a destination that must exist
// does not: a local directory or an S3 bucket. See [Exists].
var ErrNoDestination = errors.New("destination does not exist")

// ErrDestination is returned (wrapped) when the destination refuses the job
// as it is configured — no permission, a read-only file system, a path
// through a file, credentials S3 does not accept — which retrying does not
// change.
var ErrDestination = errors.New("destination refused")

// Exists reports whether the store's location exists (a local root
// directory, an S3 bucket): nil if it does, an error matching
// ErrNoDestination if not. Read-only commands check it rather than report an
// empty lake for a mistyped destination.
func Exists(ctx context.Context, s Store) error {
	if e, ok := s.(interface{ exists(context.Context) error }); ok {
		return e.exists(ctx)
	}
	return nil
}

// CheckKey reports whether key is acceptable to every store. A key is a
// non-empty, slash-separated relative path: no leading or trailing slash, no
// empty segment, no "." or ".." segment, no segment starting with "." (hidden
// names are ignored by Hive-style readers and are used by [LocalStore] for its
// temporary and lock files), no segment longer than 255 bytes (a file name on
// most file systems), no backslash and no NUL or other control character.
// The error matches ErrInvalidKey.
func CheckKey(key string) error {
	if key == "" {
		return fmt.Errorf("key %q: %w: empty", key, ErrInvalidKey)
	}
	for _, c := range key {
		if c < 0x20 || c == 0x7f || c == '\\' {
			return fmt.Errorf("key %q: %w: contains %q", key, ErrInvalidKey, c)
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch {
		case seg == "":
			return fmt.Errorf("key %q: %w: empty segment", key, ErrInvalidKey)
		case strings.HasPrefix(seg, "."):
			return fmt.Errorf("key %q: %w: segment %q starts with a dot", key, ErrInvalidKey, seg)
		case len(seg) > maxSegment:
			return fmt.Errorf("key %q: %w: a segment is longer than %d bytes", key, ErrInvalidKey, maxSegment)
		}
	}
	return nil
}
