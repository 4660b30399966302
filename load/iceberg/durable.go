package iceberg

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	iceio "github.com/apache/iceberg-go/io"
)

// iceberg-go's local file IO writes a table's metadata (its metadata JSON,
// manifest lists and manifests) without fsync. The SQL catalog's commit,
// which SQLite makes durable, then names a metadata file that a power loss
// can leave empty or missing: the table would not load, its previous
// snapshot included. A local lake's own objects are fsynced with their
// directory before they count (load.LocalStore); so are the tables'
// metadata files here, by replacing the IO iceberg-go opens for file:// (and
// plain paths) with one that does the same.
func init() {
	for _, scheme := range []string{"file", ""} {
		iceio.Unregister(scheme)
		iceio.Register(scheme, func(context.Context, *url.URL, map[string]string) (iceio.IO, error) {
			return durableLocalFS{}, nil
		})
	}
}

// durableLocalFS is iceberg-go's LocalFS whose written files are durable
// once closed: the file fsynced, then its directory.
type durableLocalFS struct {
	iceio.LocalFS
	fsync func(*os.File) error // nil: (*os.File).Sync; tests wrap it
}

func (d durableLocalFS) Create(name string) (iceio.FileWriter, error) {
	w, err := d.LocalFS.Create(name)
	if err != nil {
		return nil, err
	}
	f, ok := w.(*os.File)
	if !ok {
		w.Close()
		return nil, fmt.Errorf("iceberg local IO: create %s: a %T, not a file", name, w)
	}
	fsync := d.fsync
	if fsync == nil {
		fsync = (*os.File).Sync
	}
	return durableFile{File: f, fsync: fsync}, nil
}

func (d durableLocalFS) WriteFile(name string, p []byte) error {
	w, err := d.Create(name)
	if err != nil {
		return err
	}
	_, err = w.Write(p)
	return errors.Join(err, w.Close())
}

type durableFile struct {
	*os.File
	fsync func(*os.File) error
}

// Close fsyncs the file and its directory before it reports success.
func (f durableFile) Close() error {
	err := f.fsync(f.File)
	if cerr := f.File.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = f.syncDir(filepath.Dir(f.Name()))
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	return nil
}

func (f durableFile) syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.fsync(d)
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
