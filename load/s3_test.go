package load_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/loadtest"
)

// rawClient is an SDK client on the test server, independent of S3Store.
func rawClient(cfg load.S3Config) *s3.Client {
	return s3.New(s3.Options{
		Region:       cfg.Region,
		BaseEndpoint: aws.String(cfg.Endpoint),
		UsePathStyle: true,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: loadtest.S3AccessKey, SecretAccessKey: loadtest.S3SecretKey}, nil
		}),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// TestS3StoreLayout checks where objects land on the server and that large
// bodies really go up in parts.
func TestS3StoreLayout(t *testing.T) {
	cfg, root := loadtest.StartS3(t)
	cfg.Prefix = "/lake/prefix/"
	s := MustS3Store(t, cfg)
	ctx := context.Background()

	data := make([]byte, loadtest.LargeSize)
	rand.NewChaCha8([32]byte{9}).Read(data)
	key := "call_records/dt=2024-05-06/part-0.parquet"
	if err := s.Put(ctx, key, struct{ io.Reader }{bytes.NewReader(data)}); err != nil {
		t.Fatalf("Put(%s) = %v", key, err)
	}
	onDisk, err := os.ReadFile(filepath.Join(root, cfg.Bucket, "lake", "prefix", filepath.FromSlash(key)))
	if err != nil {
		t.Fatalf("object not stored under bucket/prefix/key on the server: %v", err)
	}
	if !bytes.Equal(onDisk, data) {
		t.Errorf("server file has %d bytes, differs from the %d bytes put", len(onDisk), len(data))
	}
	head, err := rawClient(cfg).HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(cfg.Bucket), Key: aws.String("lake/prefix/" + key),
	})
	if err != nil {
		t.Fatalf("HeadObject = %v", err)
	}
	// A multipart object's ETag is "<md5 of part md5s>-<number of parts>".
	if etag := aws.ToString(head.ETag); !strings.Contains(etag, "-") {
		t.Errorf("ETag of a %d-byte object = %s, want a multipart ETag (with -N)", len(data), etag)
	}
	var got []string
	if err := s.List(ctx, "call_records/", func(o load.Object) error {
		got = append(got, o.Key)
		return nil
	}); err != nil {
		t.Fatalf("List = %v", err)
	}
	if len(got) != 1 || got[0] != key {
		t.Errorf("List(call_records/) = %q, want [%s] (relative to the prefix)", got, key)
	}
}

// TestS3StoreFailedMultipartAborted checks that a multipart upload whose
// reader fails is aborted on the server, not left to accumulate.
func TestS3StoreFailedMultipartAborted(t *testing.T) {
	cfg, _ := loadtest.StartS3(t)
	s := MustS3Store(t, cfg)
	ctx := context.Background()
	boom := errors.New("reader broke")
	r := io.MultiReader(bytes.NewReader(make([]byte, loadtest.LargeSize+(8<<20))), errReader{boom})
	if err := s.Put(ctx, "big", r); !errors.Is(err, boom) {
		t.Fatalf("Put(failing reader) = %v, want %v", err, boom)
	}
	out, err := rawClient(cfg).ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(cfg.Bucket)})
	if err != nil {
		t.Fatalf("ListMultipartUploads = %v", err)
	}
	if len(out.Uploads) != 0 {
		t.Errorf("ListMultipartUploads after a failed Put = %d uploads, want 0 (aborted)", len(out.Uploads))
	}
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func TestS3StoreErrors(t *testing.T) {
	cfg, _ := loadtest.StartS3(t)
	ctx := context.Background()

	noBucket := cfg
	noBucket.Bucket = "no-such-bucket"
	s := MustS3Store(t, noBucket)
	if _, err := s.Open(ctx, "k"); err == nil || errors.Is(err, load.ErrNotExist) {
		t.Errorf("Open on a missing bucket = %v, want an error that is not ErrNotExist", err)
	}
	if err := s.Put(ctx, "k", strings.NewReader("x")); err == nil {
		t.Errorf("Put on a missing bucket = nil, want an error")
	}

	badKey := cfg
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
	s = MustS3Store(t, badKey)
	if _, err := s.Open(ctx, "k"); err == nil || errors.Is(err, load.ErrNotExist) {
		t.Errorf("Open with a wrong secret = %v, want an error that is not ErrNotExist", err)
	}
}

func TestS3ConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  load.S3Config
		ok   bool
	}{
		{"minimal", load.S3Config{Bucket: "b"}, true},
		{"full", load.S3Config{Bucket: "b", Prefix: "p", Endpoint: "http://127.0.0.1:1", Region: "r", ForcePathStyle: true, PartSize: 5 << 20}, true},
		{"no bucket", load.S3Config{}, false},
		{"slash in bucket", load.S3Config{Bucket: "b/p"}, false},
		{"tiny parts", load.S3Config{Bucket: "b", PartSize: 1 << 20}, false},
	}
	for _, tt := range tests {
		if err := tt.cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("Validate(%s) = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestS3Store_IdentityNamesSourceNotSecret(t *testing.T) {
	cfg, _ := loadtest.StartS3(t)
	s, err := load.NewS3Store(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.Identity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(id, "EnvConfigCredentials") || strings.Contains(id, loadtest.S3SecretKey) || strings.Contains(id, loadtest.S3AccessKey) {
		t.Errorf("Identity = %q, want the provider named and neither key in full", id)
	}
}
