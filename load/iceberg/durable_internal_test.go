package iceberg

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	iceio "github.com/apache/iceberg-go/io"
)

// TestLocalIO_FsyncsWhatItWrites: the IO iceberg-go opens for a local
// table (file:// or a plain path: how the SQL catalog and the tables load
// theirs) is the durable one, and a metadata file written through it is
// fsynced, then its directory, before Close (or WriteFile) returns; a failed
// fsync is an error naming the file.
func TestLocalIO_FsyncsWhatItWrites(t *testing.T) {
	dir := t.TempDir()
	for _, loc := range []string{"file://" + dir + "/iceberg", dir + "/iceberg"} {
		fs, err := iceio.LoadFS(context.Background(), nil, loc)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := fs.(durableLocalFS); !ok {
			t.Errorf("LoadFS(%s) = %T, want durableLocalFS", loc, fs)
		}
	}

	var synced []string
	d := durableLocalFS{fsync: func(f *os.File) error {
		synced = append(synced, f.Name())
		return f.Sync()
	}}
	meta := filepath.Join(dir, "t", "metadata")
	w, err := d.Create("file://" + meta + "/00001.metadata.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(`{"format-version":2}`)); err != nil {
		t.Fatal(err)
	}
	if len(synced) != 0 {
		t.Errorf("fsynced %v before Close", synced)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteFile(meta+"/snap-1.avro", []byte("avro")); err != nil {
		t.Fatal(err)
	}
	want := []string{meta + "/00001.metadata.json", meta, meta + "/snap-1.avro", meta}
	if !slices.Equal(synced, want) {
		t.Errorf("fsynced %v, want %v", synced, want)
	}
	if b, err := os.ReadFile(meta + "/00001.metadata.json"); err != nil || string(b) != `{"format-version":2}` {
		t.Errorf("metadata file = %q, %v", b, err)
	}

	w, err = d.Create(meta + "/00002.metadata.json")
	if err != nil {
		t.Fatal(err)
	}
	w.(durableFile).File.Close() // its fsync fails
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "00002.metadata.json") {
		t.Errorf("Close after a failed fsync = %v, want an error naming the file", err)
	}
}
