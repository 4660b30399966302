package load

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// minPartSize is the smallest part S3 accepts in a multipart upload (all but
// the last part).
const minPartSize = 5 << 20

// DefaultPartSize is the multipart part size used when S3Config.PartSize is 0.
// Bodies of twice this size or more are uploaded in parts.
const DefaultPartSize = 8 << 20

// uploadConcurrency is the number of parts of one object uploaded at once.
// Memory per Put is about (uploadConcurrency+1) × PartSize plus the first
// 2 × PartSize read to decide between a single and a multipart upload.
const uploadConcurrency = 4

// abortTimeout bounds the AbortMultipartUpload sent after a failed upload,
// which runs even when the caller's context is already cancelled.
const abortTimeout = 30 * time.Second

// DefaultMaxAttempts bounds the attempts of one S3 request when
// S3Config.MaxAttempts is 0 (the SDK retries 5xx, throttling and broken
// connections with exponential backoff); readRetries bounds how often a
// response body that breaks off part-way is read again from where it broke.
const (
	DefaultMaxAttempts = 5
	readRetries        = 5
)

// writeTokenMeta is the user metadata that tags each conditional write, so
// that the write can be recognised after its reply was lost.
const writeTokenMeta = "callrecords-write"

// S3Config locates a bucket and prefix on S3 or an S3-compatible service.
// Credentials are not part of it: they come from the AWS default chain
// (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, shared profile, web identity
// (IRSA), container and instance roles).
type S3Config struct {
	// Bucket is the bucket name. Required.
	Bucket string
	// Prefix is prepended (with a "/") to every key; empty for the bucket root.
	Prefix string
	// Endpoint is the service URL, for example http://127.0.0.1:7070 for a
	// local versitygw or MinIO. Empty means AWS (or AWS_ENDPOINT_URL_S3).
	Endpoint string
	// Region is the signing region. Empty means the default chain's
	// (AWS_REGION, profile), else us-east-1.
	Region string
	// ForcePathStyle addresses buckets as <endpoint>/<bucket> instead of
	// <bucket>.<endpoint>; most S3-compatible services need it.
	ForcePathStyle bool
	// PartSize is the multipart part size in bytes; 0 means DefaultPartSize.
	// It must be at least 5 MiB.
	PartSize int64
	// MaxAttempts bounds the attempts of one request; 0 means
	// DefaultMaxAttempts.
	MaxAttempts int
	// MaxBackoff bounds the wait before a retry (drawn at random, up to 2^n
	// seconds before the n-th); 0 means the SDK's 20 s. Tests that inject
	// faults shorten it.
	MaxBackoff time.Duration
}

// Validate reports a configuration that cannot work.
func (c S3Config) Validate() error {
	if c.Bucket == "" {
		return errors.New("s3 config: empty bucket")
	}
	if strings.Contains(c.Bucket, "/") {
		return fmt.Errorf("s3 config: bucket %q contains a slash", c.Bucket)
	}
	if c.PartSize != 0 && c.PartSize < minPartSize {
		return fmt.Errorf("s3 config: part size %d is below the 5 MiB minimum", c.PartSize)
	}
	if c.MaxBackoff < 0 {
		return fmt.Errorf("s3 config: max backoff %s is negative", c.MaxBackoff)
	}
	if c.MaxAttempts < 0 {
		return fmt.Errorf("s3 config: max attempts %d is negative", c.MaxAttempts)
	}
	if c.Endpoint != "" {
		// The SDK would say only that the endpoint "was not a valid URI",
		// at the first request; host:port without a scheme is the usual slip.
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("s3 config: endpoint %q: want an http:// or https:// URL, such as https://s3.example.com or http://127.0.0.1:7070", c.Endpoint)
		}
	}
	return nil
}

// S3Store is a [Store] on an S3-compatible bucket. Large bodies are uploaded
// in parts (a failed multipart upload is aborted, so nothing becomes visible);
// conditional operations use If-None-Match: * and If-Match, which the service
// must enforce (see [ProbeConditional]). Request checksums are only sent when
// an operation requires them, because many S3-compatible services reject the
// SDK's default CRC32 trailers.
type S3Store struct {
	client   *s3.Client
	uploader *transfermanager.Client
	creds    aws.CredentialsProvider
	bucket   string
	prefix   string // "" or ending in "/"
	maxCopy  int64  // the largest object Copy copies in the bucket
}

var (
	_ Store  = (*S3Store)(nil)
	_ Copier = (*S3Store)(nil)
)

// s3Retryer retries a request as cfg says. A batch job would rather wait
// out a flaky service than fail: more attempts, and no client-side retry
// quota that gives up on a burst of errors.
func s3Retryer(cfg S3Config) aws.Retryer {
	attempts := cfg.MaxAttempts
	if attempts == 0 {
		attempts = DefaultMaxAttempts
	}
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = attempts
		o.RateLimiter = ratelimit.None
		if cfg.MaxBackoff > 0 {
			o.Backoff = retry.NewExponentialJitterBackoff(cfg.MaxBackoff)
		}
		// A response cut short (a list, an upload's reply) fails to
		// decode: as transient as the broken connection it is.
		o.Retryables = append(o.Retryables, retry.IsErrorRetryableFunc(func(err error) aws.Ternary {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return aws.TrueTernary
			}
			return aws.UnknownTernary
		}))
	})
}

// NewS3Store returns a store for cfg. It does not contact the service.
func NewS3Store(ctx context.Context, cfg S3Config) (*S3Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new s3 store: %w", err)
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
		config.WithRetryer(func() aws.Retryer { return s3Retryer(cfg) }),
	}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("new s3 store: load aws config: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = "us-east-1"
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, countWriteAttempts)
		o.UsePathStyle = cfg.ForcePathStyle
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	partSize := cfg.PartSize
	if partSize == 0 {
		partSize = DefaultPartSize
	}
	uploader := transfermanager.New(client, func(o *transfermanager.Options) {
		o.PartSizeBytes = partSize
		o.MultipartUploadThreshold = 2 * partSize
		o.Concurrency = uploadConcurrency
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.FailTimeout = abortTimeout
	})
	prefix := strings.Trim(cfg.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return &S3Store{client: client, uploader: uploader, creds: awsCfg.Credentials, bucket: cfg.Bucket, prefix: prefix, maxCopy: maxCopySize}, nil
}

// Identity says which AWS credentials the store uses — the provider that found
// them (environment, shared profile, web identity/IRSA, container/Pod Identity,
// instance role) and the access key id with its middle masked — so an operator
// can tell a misconfigured pod that fell back to the node role. Never a secret.
func (s *S3Store) Identity(ctx context.Context) (string, error) {
	if s.creds == nil {
		return "anonymous", nil
	}
	c, err := s.creds.Retrieve(ctx)
	if err != nil {
		return "", fmt.Errorf("aws credentials: %w", err)
	}
	id := c.AccessKeyID
	if len(id) > 8 {
		id = id[:4] + "…" + id[len(id)-4:]
	}
	return fmt.Sprintf("%s (access key %s)", c.Source, id), nil
}

func (s *S3Store) key(key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", err
	}
	return s.prefix + key, nil
}

// translate maps SDK errors onto the package sentinels.
func translate(err error) error {
	if err == nil {
		return nil
	}
	code := ""
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	status := 0
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	switch {
	case code == "NoSuchBucket":
		return fmt.Errorf("%w: %w", ErrNoDestination, err)
	case code == "NoSuchKey" || code == "NotFound" || status == 404:
		return ErrNotExist
	case code == "PreconditionFailed" || status == 412 || code == "ConditionalRequestConflict":
		return ErrPrecondition
	case status == 403 || code == "AccessDenied" || code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" ||
		code == "AllAccessDisabled" || code == "AccountProblem" || code == "InvalidBucketName":
		return fmt.Errorf("%w: %w", ErrDestination, err)
	}
	return err
}

// seekable reports whether r can really seek (an *os.File on a pipe cannot).
func seekable(r io.Reader) bool {
	sk, ok := r.(io.Seeker)
	if !ok {
		return false
	}
	_, err := sk.Seek(0, io.SeekCurrent)
	return err == nil
}

// Put implements [Sink]. Bodies of at least 2 × PartSize go up in parts;
// an *os.File or other seekable body is sized up front.
func (s *S3Store) Put(ctx context.Context, key string, r io.Reader) error {
	k, err := s.key(key)
	if err != nil {
		return fmt.Errorf("put: %w", err)
	}
	if !seekable(r) {
		r = struct{ io.Reader }{r} // hide a Seek that would fail
	}
	_, err = s.uploader.UploadObject(ctx, &transfermanager.UploadObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(k),
		Body:   r,
	})
	if err != nil {
		return fmt.Errorf("put %s: %w", key, translate(err))
	}
	return nil
}

// maxCopySize is the largest object one CopyObject request copies.
const maxCopySize = 5 << 30

// Copy implements [Copier]: the service copies the object in the bucket
// (CopyObject), with none of src's user metadata. An object over 5 GiB,
// more than one CopyObject takes, is read and uploaded instead, as is every
// object on a service that answers NotImplemented.
func (s *S3Store) Copy(ctx context.Context, src, dst string, size int64) error {
	sk, err := s.key(src)
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	dk, err := s.key(dst)
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	if size > s.maxCopy {
		return copyThrough(ctx, s, src, dst)
	}
	// The source is URL-encoded, "+" too: some services decode it as a
	// space.
	segments := strings.Split(s.bucket+"/"+sk, "/")
	for i, seg := range segments {
		segments[i] = strings.ReplaceAll(url.PathEscape(seg), "+", "%2B")
	}
	_, err = s.client.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket:            aws.String(s.bucket),
		Key:               aws.String(dk),
		CopySource:        aws.String(strings.Join(segments, "/")),
		MetadataDirective: types.MetadataDirectiveReplace,
	})
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "NotImplemented" {
		return copyThrough(ctx, s, src, dst) // a service without CopyObject
	}
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, translate(err))
	}
	return nil
}

// Open implements [Sink]. A body that breaks off part-way (a reset, a
// truncated response) is read on from where it broke, with a ranged GET that
// must match the ETag of the first response (or, if nothing was read yet, of
// whatever version is there now), up to readRetries times.
func (s *S3Store) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	k, err := s.key(key)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	r, err := s.openObject(ctx, k)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", key, err)
	}
	return r, nil
}

func (s *S3Store) openObject(ctx context.Context, k string) (*resumingBody, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(k)})
	if err != nil {
		return nil, translate(err)
	}
	size := int64(-1) // unknown
	if out.ContentLength != nil {
		size = *out.ContentLength
	}
	return &resumingBody{ctx: ctx, s: s, key: k, etag: aws.ToString(out.ETag), size: size, body: out.Body}, nil
}

// resumingBody is an object's body that is fetched again from the last byte
// read when its connection breaks.
type resumingBody struct {
	ctx     context.Context // the Open's: a body outlives no request of its own
	s       *S3Store
	key     string
	etag    string
	size    int64 // -1 if the service did not say
	off     int64
	body    io.ReadCloser
	retries int
}

func (r *resumingBody) Read(p []byte) (int, error) {
	for {
		n, err := r.body.Read(p)
		r.off += int64(n)
		if err == nil || err == io.EOF {
			return n, err
		}
		if rerr := r.resume(err); rerr != nil {
			return n, rerr
		}
		if n > 0 {
			return n, nil
		}
	}
}

// resume replaces the broken body with the rest of the object, or returns
// why it cannot.
func (r *resumingBody) resume(cause error) error {
	r.body.Close()
	r.body = io.NopCloser(strings.NewReader(""))
	if r.size >= 0 && r.off >= r.size {
		return nil // everything arrived; the next Read reports EOF
	}
	if r.ctx.Err() != nil || r.retries == readRetries {
		return fmt.Errorf("read %s at byte %d of %d (after %d retries): %w", r.key, r.off, r.size, r.retries, cause)
	}
	r.retries++
	if err := sleepCtx(r.ctx, backoff(r.retries)); err != nil {
		return err
	}
	in := &s3.GetObjectInput{Bucket: aws.String(r.s.bucket), Key: aws.String(r.key)}
	if r.off > 0 {
		// The rest of the same version, or a clear error; with nothing
		// read yet, whatever version is there now.
		in.Range = aws.String(fmt.Sprintf("bytes=%d-", r.off))
		in.IfMatch = aws.String(r.etag)
	}
	out, err := r.s.client.GetObject(r.ctx, in)
	if err != nil {
		return fmt.Errorf("read %s from byte %d again: %w (after %w)", r.key, r.off, translate(err), cause)
	}
	if r.off == 0 {
		r.etag, r.size = aws.ToString(out.ETag), -1
		if out.ContentLength != nil {
			r.size = *out.ContentLength
		}
	}
	r.body = out.Body
	return nil
}

func (r *resumingBody) Close() error { return r.body.Close() }

// Get implements [Conditional]. A body that breaks off is fetched again,
// whole (the object may have changed meanwhile), up to readRetries times.
func (s *S3Store) Get(ctx context.Context, key string) ([]byte, string, error) {
	k, err := s.key(key)
	if err != nil {
		return nil, "", fmt.Errorf("get: %w", err)
	}
	for attempt := 0; ; attempt++ {
		out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(k)})
		if err != nil {
			return nil, "", fmt.Errorf("get %s: %w", key, translate(err))
		}
		data, err := io.ReadAll(out.Body)
		out.Body.Close()
		if err == nil {
			return data, aws.ToString(out.ETag), nil
		}
		if attempt == readRetries || ctx.Err() != nil {
			return nil, "", fmt.Errorf("get %s (after %d retries): %w", key, attempt, err)
		}
		if err := sleepCtx(ctx, backoff(attempt+1)); err != nil {
			return nil, "", fmt.Errorf("get %s: %w", key, err)
		}
	}
}

// backoff is the pause before the n-th retry of a broken body.
func backoff(n int) time.Duration { return time.Duration(n*n) * 100 * time.Millisecond }

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Head implements [Conditional].
func (s *S3Store) Head(ctx context.Context, key string) (string, error) {
	k, err := s.key(key)
	if err != nil {
		return "", fmt.Errorf("head: %w", err)
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(k)})
	if err != nil {
		return "", fmt.Errorf("head %s: %w", key, translate(err))
	}
	return aws.ToString(out.ETag), nil
}

// exists reports whether the bucket exists (HeadBucket).
func (s *S3Store) exists(ctx context.Context) error {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.bucket)})
	var nb *types.NotFound
	var nsb *types.NoSuchBucket
	if errors.As(err, &nb) || errors.As(err, &nsb) {
		return fmt.Errorf("bucket %s: %w", s.bucket, ErrNoDestination)
	}
	if err != nil {
		return fmt.Errorf("bucket %s: %w", s.bucket, translate(err))
	}
	return nil
}

// List implements [Lister]. Keys are reported in the order the service
// returns them, which is lexical on AWS S3 and on compliant services.
func (s *S3Store) List(ctx context.Context, prefix string, fn func(Object) error) error {
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket),
		Prefix: aws.String(s.prefix + prefix),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list %s: %w", prefix, translate(err))
		}
		for _, o := range page.Contents {
			k, ok := strings.CutPrefix(aws.ToString(o.Key), s.prefix)
			if !ok || k == "" || strings.HasSuffix(k, "/") {
				continue // not ours, or a "directory marker"
			}
			if err := fn(Object{Key: k, Size: aws.ToInt64(o.Size)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete implements [Deleter].
func (s *S3Store) Delete(ctx context.Context, key string) error {
	k, err := s.key(key)
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	_, err = s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(k)})
	if err := translate(err); err != nil && !errors.Is(err, ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// PutIfAbsent implements [Conditional] with If-None-Match: *.
func (s *S3Store) PutIfAbsent(ctx context.Context, key string, r io.Reader) (string, error) {
	return s.putConditional(ctx, "put if absent", key, r, nil, aws.String("*"))
}

// PutIfMatch implements [Conditional] with If-Match.
func (s *S3Store) PutIfMatch(ctx context.Context, key string, r io.Reader, etag string) (string, error) {
	if etag == "" {
		return "", fmt.Errorf("put if match %s: %w: empty etag", key, ErrPrecondition)
	}
	return s.putConditional(ctx, "put if match", key, r, aws.String(etag), nil)
}

// putConditional uploads r (in parts when large: the condition then applies
// to CompleteMultipartUpload) tagged with a fresh write token. When the
// upload reports an error, the object may still hold this write — the reply
// was lost and the SDK's retry found the condition no longer true, or the
// upload already completed — so the token on the object decides.
func (s *S3Store) putConditional(ctx context.Context, op, key string, r io.Reader, ifMatch, ifNoneMatch *string) (string, error) {
	k, err := s.key(key)
	if err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	if !seekable(r) {
		r = struct{ io.Reader }{r}
	}
	token := newWriteToken()
	attempts := new(atomic.Int32)
	out, err := s.uploader.UploadObject(context.WithValue(ctx, attemptsKey{}, attempts), &transfermanager.UploadObjectInput{
		Bucket:      aws.String(s.bucket),
		Key:         aws.String(k),
		Body:        r,
		IfMatch:     ifMatch,
		IfNoneMatch: ifNoneMatch,
		Metadata:    map[string]string{writeTokenMeta: token},
	})
	if err == nil {
		return aws.ToString(out.ETag), nil
	}
	if ctx.Err() == nil {
		head, herr := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(k)})
		if herr == nil && head.Metadata[writeTokenMeta] == token {
			return aws.ToString(head.ETag), nil
		}
	}
	err = translate(err)
	if attempts.Load() > 1 && (errors.Is(err, ErrPrecondition) || errors.Is(err, ErrNotExist)) {
		// An earlier attempt may have been applied and then replaced by
		// another writer before the retry found the condition false.
		return "", fmt.Errorf("%s %s: %w: %w", op, key, ErrPrecondition, ErrOutcomeUnknown)
	}
	return "", fmt.Errorf("%s %s: %w", op, key, err)
}

// attemptsKey holds the *atomic.Int32 counting the attempts of a
// conditional write's committing request.
type attemptsKey struct{}

// countWriteAttempts counts, for a conditional write, each attempt of the
// request that commits it (PutObject, CompleteMultipartUpload), retries
// included: it runs inside the SDK's retry loop.
func countWriteAttempts(stack *middleware.Stack) error {
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("CountWriteAttempts",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			if n, ok := ctx.Value(attemptsKey{}).(*atomic.Int32); ok {
				switch middleware.GetOperationName(ctx) {
				case "PutObject", "CompleteMultipartUpload":
					n.Add(1)
				}
			}
			return next.HandleFinalize(ctx, in)
		}), middleware.After)
}

// newWriteToken returns a random token that names one write.
func newWriteToken() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// DeleteIfMatch implements [Conditional] with a conditional DeleteObject.
func (s *S3Store) DeleteIfMatch(ctx context.Context, key string, etag string) error {
	k, err := s.key(key)
	if err != nil {
		return fmt.Errorf("delete if match: %w", err)
	}
	if etag == "" {
		return fmt.Errorf("delete if match %s: %w: empty etag", key, ErrPrecondition)
	}
	_, err = s.client.DeleteObject(ctx, &s3.DeleteObjectInput{
		Bucket:  aws.String(s.bucket),
		Key:     aws.String(k),
		IfMatch: aws.String(etag),
	})
	if err := translate(err); err != nil && !errors.Is(err, ErrNotExist) {
		return fmt.Errorf("delete if match %s: %w", key, err)
	}
	return nil
}
