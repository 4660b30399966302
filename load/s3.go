package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
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
}

var _ Store = (*S3Store)(nil)

// NewS3Store returns a store for cfg. It does not contact the service.
func NewS3Store(ctx context.Context, cfg S3Config) (*S3Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new s3 store: %w", err)
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
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
	return &S3Store{client: client, uploader: uploader, creds: awsCfg.Credentials, bucket: cfg.Bucket, prefix: prefix}, nil
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
	case code == "NoSuchKey" || code == "NotFound" || (status == 404 && code != "NoSuchBucket"):
		return ErrNotExist
	case code == "PreconditionFailed" || status == 412 || code == "ConditionalRequestConflict":
		return ErrPrecondition
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

// Open implements [Sink].
func (s *S3Store) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	k, err := s.key(key)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(k)})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", key, translate(err))
	}
	return out.Body, nil
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

// Get implements [Conditional].
func (s *S3Store) Get(ctx context.Context, key string) ([]byte, string, error) {
	k, err := s.key(key)
	if err != nil {
		return nil, "", fmt.Errorf("get: %w", err)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(k)})
	if err != nil {
		return nil, "", fmt.Errorf("get %s: %w", key, translate(err))
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, "", fmt.Errorf("get %s: %w", key, err)
	}
	return data, aws.ToString(out.ETag), nil
}

// PutIfAbsent implements [Conditional] with If-None-Match: *.
func (s *S3Store) PutIfAbsent(ctx context.Context, key string, data []byte) (string, error) {
	k, err := s.key(key)
	if err != nil {
		return "", fmt.Errorf("put if absent: %w", err)
	}
	out, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:      aws.String(s.bucket),
		Key:         aws.String(k),
		Body:        bytes.NewReader(data),
		IfNoneMatch: aws.String("*"),
	})
	if err != nil {
		return "", fmt.Errorf("put if absent %s: %w", key, translate(err))
	}
	return aws.ToString(out.ETag), nil
}

// PutIfMatch implements [Conditional] with If-Match.
func (s *S3Store) PutIfMatch(ctx context.Context, key string, data []byte, etag string) (string, error) {
	k, err := s.key(key)
	if err != nil {
		return "", fmt.Errorf("put if match: %w", err)
	}
	if etag == "" {
		return "", fmt.Errorf("put if match %s: %w: empty etag", key, ErrPrecondition)
	}
	out, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:  aws.String(s.bucket),
		Key:     aws.String(k),
		Body:    bytes.NewReader(data),
		IfMatch: aws.String(etag),
	})
	if err != nil {
		return "", fmt.Errorf("put if match %s: %w", key, translate(err))
	}
	return aws.ToString(out.ETag), nil
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
