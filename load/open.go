package load

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// StoreConfig holds what a destination URL does not say: the S3 and Azure
// settings. Only the one the URL's scheme selects is used.
type StoreConfig struct {
	S3    S3Config
	Azure AzureConfig
}

// OpenStore returns the store for a destination:
//
//   - "s3://bucket/prefix": an [S3Store]; the bucket and prefix from the URL
//     replace cfg.S3.Bucket and cfg.S3.Prefix, the other fields of cfg.S3 apply;
//   - "abfss://container@account.dfs.core.windows.net/prefix" (ADLS Gen2)
//     or "abfss://workspace@onelake.dfs.fabric.microsoft.com/item/Files/…"
//     (OneLake): an [AzureStore] (see [ParseAzureURL]) with cfg.Azure;
//   - "file:///abs/path": a [LocalStore] at that absolute path;
//   - anything without a scheme: a [LocalStore] at that path, relative to the
//     working directory.
//
// A local directory is created if it is missing. The S3 or Azure service is
// not contacted.
func OpenStore(ctx context.Context, dest string, cfg StoreConfig) (Store, error) {
	if dest == "" {
		return nil, errors.New("open store: empty destination")
	}
	scheme, _, hasScheme := strings.Cut(dest, "://")
	if !hasScheme {
		s, err := NewLocalStore(dest)
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		return s, nil
	}
	u, err := url.Parse(dest)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", dest, err)
	}
	if !strings.EqualFold(scheme, "abfss") && (u.RawQuery != "" || u.Fragment != "" || u.User != nil) {
		return nil, fmt.Errorf("open store %s: query, fragment or user info in a destination URL", dest)
	}
	switch strings.ToLower(scheme) {
	case "s3":
		if u.Host == "" {
			return nil, fmt.Errorf("open store %s: no bucket", dest)
		}
		s3cfg := cfg.S3
		s3cfg.Bucket = u.Host
		s3cfg.Prefix = strings.Trim(u.Path, "/")
		s, err := NewS3Store(ctx, s3cfg)
		if err != nil {
			return nil, fmt.Errorf("open store %s: %w", dest, err)
		}
		return s, nil
	case "abfss":
		loc, err := ParseAzureURL(dest)
		if err != nil {
			return nil, fmt.Errorf("open store %s: %w", dest, err)
		}
		s, err := NewAzureStore(loc, cfg.Azure)
		if err != nil {
			return nil, fmt.Errorf("open store %s: %w", dest, err)
		}
		return s, nil
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("open store %s: file URL with host %q (want file:///abs/path)", dest, u.Host)
		}
		if !filepath.IsAbs(u.Path) {
			return nil, fmt.Errorf("open store %s: file URL path is not absolute", dest)
		}
		s, err := NewLocalStore(u.Path)
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		return s, nil
	default:
		return nil, fmt.Errorf("open store %s: unsupported scheme %q (want s3://, abfss://, file:// or a path)", dest, scheme)
	}
}

// probePrefix is where ProbeConditional writes its temporary object.
const probePrefix = "_etl/probe/"

// ProbeConditional checks that s really enforces conditional writes: it
// creates a fresh key under _etl/probe/ with PutIfAbsent, then expects a
// second PutIfAbsent and a PutIfMatch with a wrong ETag on that key to fail
// with ErrPrecondition. It deletes the key afterwards. A store that accepts
// the second write gets an error matching ErrConditionalUnsupported: locks and
// checkpoints built on it would not protect anything.
func ProbeConditional(ctx context.Context, s Store) (err error) {
	var b [16]byte
	rand.Read(b[:])
	key := probePrefix + hex.EncodeToString(b[:])
	etag, err := s.PutIfAbsent(ctx, key, strings.NewReader("probe 1\n"))
	if err != nil {
		return fmt.Errorf("probe conditional writes: %w", err)
	}
	defer func() {
		if derr := s.Delete(context.WithoutCancel(ctx), key); derr != nil && err == nil {
			err = fmt.Errorf("probe conditional writes: clean up: %w", derr)
		}
	}()
	_, err = s.PutIfAbsent(ctx, key, strings.NewReader("probe 2\n"))
	switch {
	case err == nil:
		return fmt.Errorf("probe conditional writes: second If-None-Match put on %s succeeded: %w", key, ErrConditionalUnsupported)
	case !errors.Is(err, ErrPrecondition):
		return fmt.Errorf("probe conditional writes: %w", err)
	}
	wrong := "0" + strings.Trim(etag, `"`)
	_, err = s.PutIfMatch(ctx, key, strings.NewReader("probe 3\n"), `"`+wrong+`"`)
	switch {
	case err == nil:
		return fmt.Errorf("probe conditional writes: If-Match put with a wrong etag on %s succeeded: %w", key, ErrConditionalUnsupported)
	case !errors.Is(err, ErrPrecondition):
		return fmt.Errorf("probe conditional writes: %w", err)
	}
	return nil
}
