package load

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The LocalStore's own files live under <root>/_etl/, beside the lake's
// control objects and outside every table folder; their leading dots keep
// them out of List and out of Hive-style readers.
const (
	// lockDirName holds the lock files.
	lockDirName = "_etl/.locks"
	// tempDirName holds the files being written, renamed into place once
	// complete. A file left by a process that died is removed by the next
	// store that writes, once older than staleTemp.
	tempDirName = "_etl/.tmp"
	staleTemp   = time.Hour
	// tempPrefix starts every temporary file's name: never ".parquet".
	tempPrefix = ".tmp-"
)

// lockStripes is the number of lock files; keys hash onto them.
const lockStripes = 64

// LocalStore is a [Store] backed by a directory: the object with key "a/b.c"
// is the file <root>/a/b.c.
//
// Put writes a temporary file under <root>/_etl/.tmp, fsyncs it and renames
// it into place, so readers never see a partial object and nothing partial is
// left in a table folder. Every write, delete and conditional operation
// commits while holding a lock file under <root>/_etl/.locks (flock(2), one of
// a fixed set of stripes chosen by key hash; plus an in-process mutex), so
// conditional operations are correct across goroutines and across processes
// sharing the directory (on a local filesystem: flock is not reliable on
// every network filesystem). ETags are the hex SHA-256 of the content.
//
// Nothing is created until the first write: reading a store whose directory
// does not exist finds no objects. Because keys map to files, a key cannot
// also be a "directory" of other keys ("a" and "a/b" cannot both exist).
// Empty directories left behind by Delete are not removed.
type LocalStore struct {
	root  string
	mu    [lockStripes]sync.Mutex
	sweep sync.Once // stale temporary files, once per store
	// now is the sweep's clock (time.Now when nil): a test cannot make a
	// file's status-change time old.
	now func() time.Time
}

var (
	_ Store  = (*LocalStore)(nil)
	_ Copier = (*LocalStore)(nil)
)

// NewLocalStore returns a LocalStore rooted at root. It creates nothing: the
// directory is made by the first write.
func NewLocalStore(root string) (*LocalStore, error) {
	if root == "" {
		return nil, errors.New("new local store: empty root")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("new local store %s: %w", root, err)
	}
	return &LocalStore{root: abs}, nil
}

// exists reports whether the root directory exists.
func (s *LocalStore) exists(context.Context) error {
	fi, err := os.Stat(s.root)
	switch {
	case isNotExist(err):
		return fmt.Errorf("%s: %w", s.root, ErrNoDestination)
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory", s.root)
	}
	return nil
}

// link hard-links key's file to a new name in tempDir and returns it.
func (s *LocalStore) link(key, tempDir string) (string, error) {
	src, err := s.path(key)
	if err != nil {
		return "", err
	}
	if tempDir == "" {
		tempDir = os.TempDir()
	}
	return linkNew(src, tempDir, "download-", ".parquet")
}

// linkNew hard-links src to a new name prefix<random>suffix in dir and
// returns it. Trying names, rather than creating a file to reserve one,
// spares the file system an inode made and freed for every link.
func linkNew(src, dir, prefix, suffix string) (string, error) {
	for try := 0; ; try++ {
		name := filepath.Join(dir, prefix+strconv.FormatUint(rand.Uint64(), 36)+suffix)
		err := os.Link(src, name)
		if errors.Is(err, fs.ErrExist) && try < 100 {
			continue
		}
		if err != nil {
			return "", err
		}
		return name, nil
	}
}

func (s *LocalStore) path(key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", err
	}
	return filepath.Join(s.root, filepath.FromSlash(key)), nil
}

// lock takes the lock stripe of key, in this process and across processes.
func (s *LocalStore) lock(key string) (unlock func(), err error) {
	h := fnv.New32a()
	h.Write([]byte(key))
	i := h.Sum32() % lockStripes
	s.mu[i].Lock()
	dir := filepath.Join(s.root, filepath.FromSlash(lockDirName))
	name := filepath.Join(dir, fmt.Sprintf("%02d.lock", i))
	err = os.MkdirAll(dir, 0o755)
	var unlockFile func()
	if err == nil {
		unlockFile, err = lockFile(name)
	}
	if err != nil {
		s.mu[i].Unlock()
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	return func() {
		unlockFile()
		s.mu[i].Unlock()
	}, nil
}

// Put implements [Sink].
func (s *LocalStore) Put(ctx context.Context, key string, r io.Reader) error {
	path, err := s.path(key)
	if err != nil {
		return fmt.Errorf("put: %w", err)
	}
	tmp, _, err := s.writeTemp(ctx, r)
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if err := s.commit(key, tmp, path, nil); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	return nil
}

// Link makes dst a new object with src's content, as a hard link: no byte
// is copied, and dst keeps that content when src is replaced (a write renames
// a new file over src) or deleted. dst must not exist (else ErrPrecondition):
// a link is made in one step, with no temporary name and no lock.
//
// The new name is durable once [LocalStore.SyncLinks] of dst has returned: a
// caller that links many objects into a few folders, and needs them durable
// only before it names them elsewhere, syncs each folder once. (src's
// content is durable already: every write fsyncs it.)
func (s *LocalStore) Link(ctx context.Context, src, dst string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	from, err := s.path(src)
	if err != nil {
		return fmt.Errorf("link: %w", err)
	}
	to, err := s.path(dst)
	if err != nil {
		return fmt.Errorf("link: %w", err)
	}
	err = os.Link(from, to)
	if isNotExist(err) {
		// The original is missing, or dst's folder is.
		if _, serr := os.Lstat(from); isNotExist(serr) {
			return fmt.Errorf("link %s: %w", src, ErrNotExist)
		}
		if err := mkdirs(filepath.Dir(to)); err != nil {
			return fmt.Errorf("link %s to %s: %w", src, dst, refused(err))
		}
		err = os.Link(from, to)
	}
	switch {
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("link %s to %s: %w", src, dst, ErrPrecondition)
	case isNotExist(err):
		return fmt.Errorf("link %s: %w", src, ErrNotExist)
	case err != nil:
		return fmt.Errorf("link %s to %s: %w", src, dst, refused(err))
	}
	return nil
}

// Copy implements [Copier] with Link: dst must not exist, and is durable
// once SyncLinks of it has returned.
func (s *LocalStore) Copy(ctx context.Context, src, dst string, _ int64) error {
	return s.Link(ctx, src, dst)
}

// SyncLinks makes the names Link gave keys durable: it fsyncs each of their
// folders once.
func (s *LocalStore) SyncLinks(ctx context.Context, keys ...string) error {
	synced := map[string]bool{}
	for _, key := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		path, err := s.path(key)
		if err != nil {
			return fmt.Errorf("sync links: %w", err)
		}
		if dir := filepath.Dir(path); !synced[dir] {
			if err := syncDir(dir); err != nil {
				return fmt.Errorf("sync links: %w", refused(err))
			}
			synced[dir] = true
		}
	}
	return nil
}

// makeDir makes dir, if it is missing, as mkdirs does: an object renamed
// or linked into a new folder is durable only once the folder is.
func makeDir(dir string) error {
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	return mkdirs(dir)
}

// mkdirs makes dir and the missing folders above it, each durable: the
// folder above a new one is fsynced once the new one is in it.
func mkdirs(dir string) error {
	err := os.Mkdir(dir, 0o755)
	if isNotExist(err) {
		if err = mkdirs(filepath.Dir(dir)); err == nil {
			err = os.Mkdir(dir, 0o755)
		}
	}
	if errors.Is(err, fs.ErrExist) {
		// Made meanwhile by another writer, whose fsync of the folder
		// above may not have happened yet: this one's too.
		if fi, serr := os.Stat(dir); serr != nil || !fi.IsDir() {
			return err
		}
	} else if err != nil {
		return err
	}
	return syncDir(filepath.Dir(dir))
}

// commit renames tmp to path under the key's lock after check (if not nil)
// agreed. tmp is removed whenever it is not renamed.
func (s *LocalStore) commit(key, tmp, path string, check func() error) (err error) {
	defer func() { err = refused(err) }()
	dir := filepath.Dir(path)
	if err := makeDir(dir); err != nil {
		os.Remove(tmp)
		return err
	}
	unlock, err := s.lock(key)
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if check != nil {
		if err := check(); err != nil {
			unlock()
			os.Remove(tmp)
			return err
		}
	}
	err = os.Rename(tmp, path)
	unlock()
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

// writeTemp streams r into a new temporary file and fsyncs it; it returns the
// file's name and the ETag of its content.
func (s *LocalStore) writeTemp(ctx context.Context, r io.Reader) (name, etag string, err error) {
	if err := ctx.Err(); err != nil {
		return "", "", err
	}
	defer func() { err = refused(err) }()
	dir := filepath.Join(s.root, filepath.FromSlash(tempDirName))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", err
	}
	s.sweep.Do(func() {
		now := time.Now
		if s.now != nil {
			now = s.now
		}
		removeStale(dir, now().Add(-staleTemp))
	})
	if h, ok := r.(HandOver); ok {
		if name, etag, linked, err := adopt(ctx, h.File, dir); linked || err != nil {
			return name, etag, err
		}
	}
	f, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return "", "", err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), ctxReader{ctx: ctx, r: r})
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", "", err
	}
	return f.Name(), hex.EncodeToString(h.Sum(nil)), nil
}

// adopt makes f's whole content a new temporary file in dir without
// copying it: a hard link, hashed and fsynced. linked is false, and f
// unread, if f cannot be linked there (another file system, or not read
// from its start).
func adopt(ctx context.Context, f *os.File, dir string) (name, etag string, linked bool, err error) {
	if off, err := f.Seek(0, io.SeekCurrent); err != nil || off != 0 {
		return "", "", false, nil
	}
	name, err = linkNew(f.Name(), dir, tempPrefix, "")
	if err != nil {
		return "", "", false, nil
	}
	h := sha256.New()
	_, err = io.Copy(h, ctxReader{ctx: ctx, r: f})
	if err == nil {
		err = os.Chmod(name, 0o644)
	}
	if err == nil {
		err = syncFile(name) // the caller wrote f without fsync
	}
	if err != nil {
		os.Remove(name)
		return "", "", true, err
	}
	return name, hex.EncodeToString(h.Sum(nil)), true, nil
}

// syncFile fsyncs the file at name (through a descriptor of its own: f may
// be open for reading only, which is not enough to sync on every system).
func syncFile(name string) error {
	f, err := os.OpenFile(name, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// refused marks err with ErrDestination when it says that the directory
// cannot be written as it is — no permission, a read-only file system, a
// path through a file — which retrying does not change.
func refused(err error) error {
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EEXIST) {
		return fmt.Errorf("%w: %w", ErrDestination, err)
	}
	return err
}

// removeStale removes the temporary files in dir last changed before
// cutoff: left by a process that died while writing. A link of an old
// object made just now (Link, Download) keeps the object's modification
// time, so the status-change time, which the link moved, counts too.
func removeStale(dir string, cutoff time.Time) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && strings.HasPrefix(e.Name(), tempPrefix) && lastChanged(fi).Before(cutoff) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// ctxReader stops a copy once its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// isNotExist reports whether err means that a path or one of its parents is
// missing (a parent that is a file counts as missing).
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// Open implements [Sink]. The returned reader is an *os.File.
func (s *LocalStore) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	path, err := s.path(key)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("open %s: %w", key, err)
	}
	f, err := os.Open(path)
	if isNotExist(err) {
		return nil, fmt.Errorf("open %s: %w", key, ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", key, err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", key, err)
		}
		return nil, fmt.Errorf("open %s: %w", key, ErrNotExist)
	}
	return f, nil
}

// List implements [Lister]. Hidden names (the store's temporary and lock
// files among them) are never reported.
func (s *LocalStore) List(ctx context.Context, prefix string, fn func(Object) error) error {
	dir := ""
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		dir = prefix[:i]
	}
	if err := s.walk(ctx, dir, prefix, fn); err != nil {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	return nil
}

// walk lists the directory with relative key dir, calling fn for files whose
// key starts with prefix in lexical key order. Directory names sort as if
// followed by "/", which is the order of the keys beneath them.
func (s *LocalStore) walk(ctx context.Context, dir, prefix string, fn func(Object) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	entries, err := os.ReadDir(filepath.Join(s.root, filepath.FromSlash(dir)))
	if isNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	type entry struct {
		name  string // key, with a trailing "/" for directories
		isDir bool
	}
	var list []entry
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		name := e.Name()
		if dir != "" {
			name = dir + "/" + name
		}
		isDir := e.IsDir()
		if e.Type()&fs.ModeSymlink != 0 {
			fi, err := os.Stat(filepath.Join(s.root, filepath.FromSlash(name)))
			if err != nil {
				continue
			}
			isDir = fi.IsDir()
		}
		if isDir {
			name += "/"
		}
		if !strings.HasPrefix(name, prefix) && !(isDir && strings.HasPrefix(prefix, name)) {
			continue
		}
		list = append(list, entry{name: name, isDir: isDir})
	}
	slices.SortFunc(list, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	for _, en := range list {
		if en.isDir {
			if err := s.walk(ctx, strings.TrimSuffix(en.name, "/"), prefix, fn); err != nil {
				return err
			}
			continue
		}
		fi, err := os.Stat(filepath.Join(s.root, filepath.FromSlash(en.name)))
		if isNotExist(err) {
			continue // deleted while listing
		}
		if err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		if err := fn(Object{Key: en.name, Size: fi.Size()}); err != nil {
			return err
		}
	}
	return nil
}

// Delete implements [Deleter].
func (s *LocalStore) Delete(ctx context.Context, key string) error {
	path, err := s.path(key)
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	unlock, err := s.lock(key)
	if err != nil {
		return fmt.Errorf("delete %s: %w", key, refused(err))
	}
	err = removeFile(path)
	unlock()
	if err != nil && !isNotExist(err) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// removeFile removes path unless it is a directory (keys are files only).
func removeFile(path string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fs.ErrNotExist
	}
	return os.Remove(path)
}

func localETag(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// readCurrent returns the content of path and its ETag.
func readCurrent(path string) ([]byte, string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if isNotExist(err) || errors.Is(err, syscall.EISDIR) {
			return nil, "", ErrNotExist
		}
		return nil, "", err
	}
	return data, localETag(data), nil
}

// currentETag returns the ETag of the file at path, reading it through.
func currentETag(path string) (string, error) {
	f, err := os.Open(path)
	if isNotExist(err) {
		return "", ErrNotExist
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		if errors.Is(err, syscall.EISDIR) {
			return "", ErrNotExist
		}
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Get implements [Conditional].
func (s *LocalStore) Get(ctx context.Context, key string) ([]byte, string, error) {
	path, err := s.path(key)
	if err != nil {
		return nil, "", fmt.Errorf("get: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, "", fmt.Errorf("get %s: %w", key, err)
	}
	data, etag, err := readCurrent(path)
	if err != nil {
		return nil, "", fmt.Errorf("get %s: %w", key, err)
	}
	return data, etag, nil
}

// Head implements [Conditional].
func (s *LocalStore) Head(ctx context.Context, key string) (string, error) {
	path, err := s.path(key)
	if err != nil {
		return "", fmt.Errorf("head: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("head %s: %w", key, err)
	}
	etag, err := currentETag(path)
	if err != nil {
		return "", fmt.Errorf("head %s: %w", key, err)
	}
	return etag, nil
}

// PutIfAbsent implements [Conditional].
func (s *LocalStore) PutIfAbsent(ctx context.Context, key string, r io.Reader) (string, error) {
	path, err := s.path(key)
	if err != nil {
		return "", fmt.Errorf("put if absent: %w", err)
	}
	tmp, etag, err := s.writeTemp(ctx, r)
	if err != nil {
		return "", fmt.Errorf("put if absent %s: %w", key, err)
	}
	err = s.commit(key, tmp, path, func() error {
		_, err := os.Lstat(path)
		if err == nil {
			return ErrPrecondition
		}
		if isNotExist(err) {
			return nil
		}
		return err
	})
	if err != nil {
		return "", fmt.Errorf("put if absent %s: %w", key, err)
	}
	return etag, nil
}

// PutIfMatch implements [Conditional].
func (s *LocalStore) PutIfMatch(ctx context.Context, key string, r io.Reader, etag string) (string, error) {
	path, err := s.path(key)
	if err != nil {
		return "", fmt.Errorf("put if match: %w", err)
	}
	tmp, newETag, err := s.writeTemp(ctx, r)
	if err != nil {
		return "", fmt.Errorf("put if match %s: %w", key, err)
	}
	err = s.commit(key, tmp, path, func() error {
		cur, err := currentETag(path)
		if err != nil {
			return err
		}
		if cur != strings.Trim(etag, `"`) {
			return ErrPrecondition
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("put if match %s: %w", key, err)
	}
	return newETag, nil
}

// DeleteIfMatch implements [Conditional].
func (s *LocalStore) DeleteIfMatch(ctx context.Context, key string, etag string) error {
	path, err := s.path(key)
	if err != nil {
		return fmt.Errorf("delete if match: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete if match %s: %w", key, err)
	}
	if _, err := os.Lstat(path); isNotExist(err) {
		return nil // nothing to lock for
	}
	unlock, err := s.lock(key)
	if err != nil {
		return fmt.Errorf("delete if match %s: %w", key, err)
	}
	defer unlock()
	cur, err := currentETag(path)
	if errors.Is(err, ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete if match %s: %w", key, err)
	}
	if cur != strings.Trim(etag, `"`) {
		return fmt.Errorf("delete if match %s: %w", key, ErrPrecondition)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("delete if match %s: %w", key, err)
	}
	return nil
}
