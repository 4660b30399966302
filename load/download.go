package load

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
)

// Download copies key from s into a new temporary file in tempDir (""
// means os.TempDir()) and returns its path and the ETag of the version it
// holds, for a conditional write that must replace exactly that version. The
// caller removes the file. On error no file is left behind. The error matches
// ErrNotExist if the key is absent.
func Download(ctx context.Context, s Store, key, tempDir string) (path, etag string, err error) {
	if ls, ok := s.(*LocalStore); ok {
		// Stored files are never changed in place (a new version is a new
		// file renamed over the key), so a hard link is a copy, without
		// the copying; across file systems it fails and the bytes are copied.
		if path, err := ls.link(key, tempDir); err == nil {
			etag, err := currentETag(path)
			if err != nil {
				os.Remove(path)
				return "", "", fmt.Errorf("download %s: %w", key, err)
			}
			return path, etag, nil
		}
	}
	rc, err := s.Open(ctx, key)
	if err != nil {
		return "", "", fmt.Errorf("download: %w", err)
	}
	defer rc.Close()
	f, err := os.CreateTemp(tempDir, "download-*.parquet")
	if err != nil {
		return "", "", fmt.Errorf("download %s: %w", key, err)
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), ctxReader{ctx: ctx, r: rc})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch body := rc.(type) {
	case *resumingBody:
		etag = body.etag
	case *os.File: // a LocalStore's, across file systems
		etag = hex.EncodeToString(h.Sum(nil))
	default:
		if err == nil {
			etag, err = s.Head(ctx, key)
		}
	}
	if err != nil {
		os.Remove(f.Name())
		return "", "", fmt.Errorf("download %s: %w", key, err)
	}
	return f.Name(), etag, nil
}
