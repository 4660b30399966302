package load_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/loadtest"
)

func TestOpenStoreLocal(t *testing.T) {
	base := t.TempDir()
	t.Chdir(base)
	tests := []struct {
		dest string
		dir  string // where key "k" must land
	}{
		{filepath.Join(base, "plain", "new"), filepath.Join(base, "plain", "new")},
		{"relative/lake", filepath.Join(base, "relative", "lake")},
		{"file://" + filepath.Join(base, "url"), filepath.Join(base, "url")},
	}
	for _, tt := range tests {
		s, err := load.OpenStore(context.Background(), tt.dest, load.StoreConfig{})
		if err != nil {
			t.Errorf("OpenStore(%s) = %v", tt.dest, err)
			continue
		}
		if _, ok := s.(*load.LocalStore); !ok {
			t.Errorf("OpenStore(%s) = %T, want *load.LocalStore", tt.dest, s)
		}
		loadtest.MustPut(t, s, "k", []byte(tt.dest))
		if got, err := os.ReadFile(filepath.Join(tt.dir, "k")); err != nil || string(got) != tt.dest {
			t.Errorf("OpenStore(%s): key k at %s = %q, %v; want %q", tt.dest, tt.dir, got, err, tt.dest)
		}
	}
}

func TestOpenStoreErrors(t *testing.T) {
	for _, dest := range []string{"", "s3://", "file://relative/path", "file://host/abs", "gs://bucket/x", "s3://bucket/p?x=1", "s3://user@bucket/p", "file:///abs#frag"} {
		if _, err := load.OpenStore(context.Background(), dest, load.StoreConfig{}); err == nil {
			t.Errorf("OpenStore(%q) = nil error, want an error", dest)
		}
	}
}

func TestOpenStoreS3(t *testing.T) {
	cfg, root := loadtest.StartS3(t)
	cfg.Bucket, cfg.Prefix = "ignored", "ignored/too"
	s, err := load.OpenStore(context.Background(), "s3://"+loadtest.S3Bucket+"/lake/v1/", load.StoreConfig{S3: cfg})
	if err != nil {
		t.Fatalf("OpenStore = %v", err)
	}
	if _, ok := s.(*load.S3Store); !ok {
		t.Fatalf("OpenStore(s3://...) = %T, want *load.S3Store", s)
	}
	loadtest.MustPut(t, s, "t/k", []byte("v"))
	got, err := os.ReadFile(filepath.Join(root, loadtest.S3Bucket, "lake", "v1", "t", "k"))
	if err != nil || string(got) != "v" {
		t.Errorf("object for s3://%s/lake/v1/ key t/k = %q, %v; want %q", loadtest.S3Bucket, got, err, "v")
	}
	if err := load.ProbeConditional(context.Background(), s); err != nil {
		t.Errorf("ProbeConditional = %v", err)
	}
}
