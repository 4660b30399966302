package load_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
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

// TestS3Store_Copy checks that Copy has the server copy an object (one
// CopyObject, the bytes never downloaded) without the source's metadata,
// reads and uploads an object over the CopyObject limit, or on a service
// without CopyObject, instead, and says when the source is missing.
func TestS3Store_Copy(t *testing.T) {
	cfg, _ := loadtest.StartS3(t)
	var copies atomic.Int32
	var refuseCopies atomic.Int32 // the fault answered to a copy, if not 0
	proxy := loadtest.StartFaultProxy(t, cfg.Endpoint, func(r *http.Request, _ int) loadtest.Fault {
		if r.Header.Get("X-Amz-Copy-Source") == "" {
			return loadtest.Pass
		}
		copies.Add(1)
		return loadtest.Fault(refuseCopies.Load())
	})
	cfg.Endpoint, cfg.Prefix = proxy.URL, "lake/"
	s := MustS3Store(t, cfg)
	ctx := context.Background()

	data := make([]byte, 3<<20)
	rand.NewChaCha8([32]byte{4}).Read(data)
	src, dst := "media/dt=2026-06-01/t 1+x.parquet", "iceberg/media/data/t/2026-06-01_1.parquet"
	if _, err := s.PutIfAbsent(ctx, src, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := s.Copy(ctx, src, dst, int64(len(data))); err != nil {
		t.Fatalf("Copy = %v", err)
	}
	if n := copies.Load(); n != 1 {
		t.Errorf("Copy sent %d CopyObject requests, want 1", n)
	}
	for _, key := range []string{src, dst} {
		got, _, err := s.Get(ctx, key)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("Get(%s) = %d bytes, %v; want the %d bytes put", key, len(got), err, len(data))
		}
	}
	head, err := rawClient(cfg).HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String("lake/" + dst)})
	if err != nil {
		t.Fatal(err)
	}
	if len(head.Metadata) != 0 {
		t.Errorf("the copy's user metadata = %v, want none (not the source's write token)", head.Metadata)
	}

	if err := s.Copy(ctx, "media/dt=2026-06-02/none.parquet", "iceberg/media/data/t/x.parquet", 10); !errors.Is(err, load.ErrNotExist) {
		t.Errorf("Copy of a missing object = %v, want ErrNotExist", err)
	}

	// Over the limit (lowered here from 5 GiB), with the server refusing
	// every copy: the bytes go through the store.
	refuseCopies.Store(int32(loadtest.Status403))
	copies.Store(0)
	load.SetMaxCopy(s, 1<<20)
	big := "iceberg/media/data/t/2026-06-01_2.parquet"
	if err := s.Copy(ctx, src, big, int64(len(data))); err != nil {
		t.Fatalf("Copy over the limit = %v", err)
	}
	if got, _, err := s.Get(ctx, big); err != nil || !bytes.Equal(got, data) {
		t.Errorf("Get(%s) = %d bytes, %v; want the %d bytes put", big, len(got), err, len(data))
	}
	if n := copies.Load(); n != 0 {
		t.Errorf("Copy over the limit sent %d CopyObject requests, want 0", n)
	}
	load.SetMaxCopy(s, 5<<30)
	if err := s.Copy(ctx, src, "iceberg/media/data/t/2026-06-01_3.parquet", int64(len(data))); !errors.Is(err, load.ErrDestination) {
		t.Errorf("Copy refused by the server = %v, want ErrDestination", err)
	}

	// A service without CopyObject: the bytes go through the store.
	refuseCopies.Store(int32(loadtest.Status501))
	copies.Store(0)
	other := "iceberg/media/data/t/2026-06-01_4.parquet"
	if err := s.Copy(ctx, src, other, int64(len(data))); err != nil {
		t.Fatalf("Copy on a service without CopyObject = %v", err)
	}
	if got, _, err := s.Get(ctx, other); err != nil || !bytes.Equal(got, data) || copies.Load() != 1 {
		t.Errorf("Get(%s) = %d bytes, %v after %d CopyObject requests; want the %d bytes put after 1", other, len(got), err, copies.Load(), len(data))
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
		{"endpoint without a scheme", load.S3Config{Bucket: "b", Endpoint: "localhost:9000"}, false},
		{"endpoint of another scheme", load.S3Config{Bucket: "b", Endpoint: "ftp://host"}, false},
		{"endpoint without a host", load.S3Config{Bucket: "b", Endpoint: "https://"}, false},
		{"endpoint not a URL", load.S3Config{Bucket: "b", Endpoint: "::bad"}, false},
		{"https endpoint with a path", load.S3Config{Bucket: "b", Endpoint: "https://storage.example.com/s3"}, true},
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

// faultyS3 starts versitygw behind a FaultProxy and returns a store that
// talks to it through the proxy.
func faultyS3(t *testing.T) (*load.S3Store, *loadtest.FaultProxy, load.S3Config) {
	t.Helper()
	cfg, _ := loadtest.StartS3(t)
	proxy := loadtest.StartFaultProxy(t, cfg.Endpoint, nil)
	cfg.Endpoint = proxy.URL
	return MustS3Store(t, cfg), proxy, cfg
}

// onceFor returns a decision function that gives fault to the first request
// matching method and the query parameter query (empty: any), then passes.
func onceFor(method, query string, fault loadtest.Fault) func(*http.Request, int) loadtest.Fault {
	var mu sync.Mutex
	done := false
	return func(r *http.Request, _ int) loadtest.Fault {
		mu.Lock()
		defer mu.Unlock()
		_, has := r.URL.Query()[query]
		if done || r.Method != method || (query != "" && !has) {
			return loadtest.Pass
		}
		done = true
		return fault
	}
}

// TestS3Store_LostResponses: a conditional write whose response is lost (the
// server applied it; the SDK retried and met its own write) is the caller's
// success, not a conflict — single requests and multipart uploads alike. A
// real conflict is still ErrPrecondition.
func TestS3Store_LostResponses(t *testing.T) {
	s, proxy, _ := faultyS3(t)
	ctx := context.Background()
	big := make([]byte, loadtest.LargeSize)
	rand.NewChaCha8([32]byte{7}).Read(big)
	body := func(large bool, v string) io.Reader {
		if large {
			b := bytes.Clone(big)
			copy(b, v)
			return bytes.NewReader(b)
		}
		return strings.NewReader(v)
	}
	for _, tc := range []struct {
		name  string
		large bool
		query string // the request whose response is lost: "" PutObject, "uploadId" CompleteMultipartUpload
	}{
		{"single", false, ""},
		{"multipart", true, "uploadId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "lost/" + tc.name
			method := http.MethodPut
			if tc.query != "" {
				method = http.MethodPost
			}
			proxy.SetFaults(onceFor(method, tc.query, loadtest.LostResponse))
			e1, err := s.PutIfAbsent(ctx, key, body(tc.large, "v1"))
			if err != nil {
				t.Fatalf("PutIfAbsent with its response lost = %v, want success", err)
			}
			if head, err := s.Head(ctx, key); err != nil || head != e1 {
				t.Errorf("Head = %q, %v; want the returned etag %q", head, err, e1)
			}
			proxy.SetFaults(onceFor(method, tc.query, loadtest.LostResponse))
			e2, err := s.PutIfMatch(ctx, key, body(tc.large, "v2"), e1)
			if err != nil {
				t.Fatalf("PutIfMatch with its response lost = %v, want success", err)
			}
			if got := loadtest.MustRead(t, s, key); string(got[:2]) != "v2" {
				t.Errorf("content after PutIfMatch = %q…, want v2", got[:2])
			}
			// A real conflict stays one, lost response or not.
			proxy.SetFaults(onceFor(method, tc.query, loadtest.LostResponse))
			if _, err := s.PutIfMatch(ctx, key, body(tc.large, "v3"), e1); !errors.Is(err, load.ErrPrecondition) {
				t.Errorf("PutIfMatch(stale etag) = %v, want ErrPrecondition", err)
			}
			if _, err := s.PutIfAbsent(ctx, key, body(tc.large, "v4")); !errors.Is(err, load.ErrPrecondition) {
				t.Errorf("PutIfAbsent(existing) = %v, want ErrPrecondition", err)
			}
			proxy.SetFaults(onceFor(http.MethodDelete, "", loadtest.LostResponse))
			if err := s.DeleteIfMatch(ctx, key, e2); err != nil {
				t.Errorf("DeleteIfMatch with its response lost = %v, want success", err)
			}
			if _, err := s.Head(ctx, key); !errors.Is(err, load.ErrNotExist) {
				t.Errorf("Head after DeleteIfMatch = %v, want ErrNotExist", err)
			}
			if n := proxy.Counts()[loadtest.LostResponse]; n < 3 {
				t.Errorf("%d responses lost, want each write's first", n)
			}
		})
	}
}

// TestS3Store_LostResponseThenAnotherWrite: a conditional write whose reply
// is lost, and which another writer replaces before the retry, is reported
// as a conflict of unknown outcome (ErrPrecondition and ErrOutcomeUnknown):
// not as the caller's success, and not as a plain conflict that a
// read-modify-write loop would apply a second time.
func TestS3Store_LostResponseThenAnotherWrite(t *testing.T) {
	cfg, _ := loadtest.StartS3(t)
	other := rawClient(cfg) // the other writer, around the proxy
	proxy := loadtest.StartFaultProxy(t, cfg.Endpoint, nil)
	proxied := cfg
	proxied.Endpoint = proxy.URL
	s := MustS3Store(t, proxied)
	ctx := context.Background()
	key := "race/counter"
	e1, err := s.PutIfAbsent(ctx, key, strings.NewReader("1"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	puts := 0
	proxy.SetFaults(func(r *http.Request, _ int) loadtest.Fault {
		mu.Lock()
		defer mu.Unlock()
		if r.Method != http.MethodPut {
			return loadtest.Pass
		}
		switch puts++; puts {
		case 1:
			return loadtest.LostResponse // applied: "2"
		case 2: // the SDK's retry: another writer got there first
			if _, err := other.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(cfg.Bucket), Key: aws.String(key), Body: strings.NewReader("3")}); err != nil {
				t.Errorf("the other writer's put: %v", err)
			}
		}
		return loadtest.Pass
	})
	_, err = s.PutIfMatch(ctx, key, strings.NewReader("2"), e1)
	if !errors.Is(err, load.ErrPrecondition) || !errors.Is(err, load.ErrOutcomeUnknown) {
		t.Errorf("PutIfMatch whose reply was lost before another write = %v, want ErrPrecondition and ErrOutcomeUnknown", err)
	}
	if puts != 2 {
		t.Errorf("%d PUTs through the proxy, want the write and its retry", puts)
	}
}

// TestS3Store_InterruptedReads: a body cut short or a connection reset in
// the middle of a GetObject is read on (Open, Get, Download), and a body that
// keeps breaking gives up with an error naming the key.
func TestS3Store_InterruptedReads(t *testing.T) {
	s, proxy, _ := faultyS3(t)
	loadtest.InterruptedReads(t, s, proxy, func(r *http.Request) bool {
		return r.Method == http.MethodGet && !r.URL.Query().Has("list-type")
	})
}

// TestS3Store_RandomFaults runs the conformance suite through a proxy that
// breaks one request in ten (500, 503, resets, lost responses, truncated
// bodies): every operation still keeps its contract.
func TestS3Store_RandomFaults(t *testing.T) {
	cfg, _ := loadtest.StartS3(t)
	proxy := loadtest.StartFaultProxy(t, cfg.Endpoint, loadtest.RandomFaults(11, 0.10))
	cfg.Endpoint = proxy.URL
	loadtest.RunStoreTests(t, func(t *testing.T) load.Store {
		c := cfg
		c.Prefix = strings.ReplaceAll(t.Name(), "/", "_")
		return MustS3Store(t, c)
	})
	t.Logf("faults injected: %v", proxy.Counts())
}
