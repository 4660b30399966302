package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
)

// azureBlockSize and azureUploadConcurrency size one Put: blocks of 4 MiB,
// four staged at once, so about 16 MiB of buffers per upload in flight.
const (
	azureBlockSize         = 4 << 20
	azureUploadConcurrency = 4
)

// azureWriteTokenMeta tags each conditional write, like writeTokenMeta on S3
// (Azure metadata names must be C# identifiers: no dash).
const azureWriteTokenMeta = "callrecordswrite"

// azureServiceVersion is the Blob service version the store asks for
// (x-ms-version). The SDK's own (2026-02-06 in azblob 1.6.4) is newer than
// Azure Storage emulators released before it (Azurite 3.35 refuses it), and
// nothing the store uses — block blobs, metadata, conditional writes, flat
// listings — is newer than 2019; every Azure region serves this version.
const azureServiceVersion = "2024-08-04"

// azureFolderMeta marks the directory entries that an account with a
// hierarchical namespace (ADLS Gen2, OneLake) lists next to the blobs.
const azureFolderMeta = "hdi_isfolder"

// AzureConfig says how to reach and authenticate to Azure Blob Storage, ADLS
// Gen2 or Fabric OneLake. The account, container and prefix come from the
// destination URL (see [ParseAzureURL]). The first of ConnectionString,
// AccountKey and SASToken that is set authenticates; with none, Credential
// (Microsoft Entra: workload identity, managed identity, …) does.
type AzureConfig struct {
	// Credential is a Microsoft Entra credential with a data role on the
	// container (Storage Blob Data Contributor).
	Credential azcore.TokenCredential
	// ConnectionString is a storage connection string (development,
	// Azurite). Its BlobEndpoint, when present, replaces the URL's host; its
	// AccountName must be the URL's account.
	ConnectionString string
	// AccountKey is the account's shared key.
	AccountKey string
	// SASToken is a shared access signature (the query string, with or
	// without the leading "?") with read, add, create, write, delete and
	// list permissions.
	SASToken string
	// Endpoint replaces the blob service URL derived from the destination,
	// e.g. http://127.0.0.1:10000/devstoreaccount1 for Azurite.
	Endpoint string
	// MaxRetries bounds the retries of one request; 0 means DefaultMaxAttempts-1.
	MaxRetries int
	// RetryDelay is the first wait before a retry, doubled (with jitter) up
	// to 50 times it; 0 means 200 ms. Tests that inject faults shorten it.
	RetryDelay time.Duration
	// HTTPClient sends the requests (a private CA, a proxy); nil: the SDK's.
	HTTPClient *http.Client
}

// String describes the configuration with its secrets redacted.
func (c AzureConfig) String() string {
	return fmt.Sprintf("{Credential:%t ConnectionString:%s AccountKey:%s SASToken:%s Endpoint:%s}",
		c.Credential != nil, redactSecret(c.ConnectionString), redactSecret(c.AccountKey), redactSecret(c.SASToken), c.Endpoint)
}

func redactSecret(s string) string {
	if s == "" {
		return ""
	}
	return "**redacted**"
}

// AzureLocation is a destination URL taken apart: the blob service to talk to,
// the container (the file system, or for OneLake the workspace) and the
// prefix within it.
type AzureLocation struct {
	Account   string // storage account; "onelake" for Fabric
	Service   string // blob service URL, e.g. https://acct.blob.core.windows.net
	Container string
	Prefix    string // "" or without leading and trailing slashes
}

// ParseAzureURL reads an abfss:// destination:
//
//   - abfss://container@account.dfs.core.windows.net/prefix (ADLS Gen2; the
//     other clouds' suffixes, such as dfs.core.usgovcloudapi.net, too);
//   - abfss://workspace@onelake.dfs.fabric.microsoft.com/item.Lakehouse/Files/prefix
//     (Fabric OneLake: the workspace is the container).
//
// The data goes through the Blob endpoint of the same account
// (account.blob.…, onelake.blob.fabric.microsoft.com), which both offer with
// the conditional writes the lake needs.
func ParseAzureURL(dest string) (AzureLocation, error) {
	scheme, rest, ok := strings.Cut(dest, "://")
	if !ok || !strings.EqualFold(scheme, "abfss") {
		return AzureLocation{}, fmt.Errorf("scheme %q: want abfss://container@account.dfs.core.windows.net/prefix", scheme)
	}
	if strings.ContainsAny(rest, "?#") {
		return AzureLocation{}, errors.New("query or fragment in an abfss URL (give a SAS token as its own setting)")
	}
	authority, path, _ := strings.Cut(rest, "/")
	at := strings.LastIndex(authority, "@")
	if at <= 0 {
		return AzureLocation{}, errors.New("no container: want abfss://container@account.dfs.core.windows.net/prefix")
	}
	// A workspace name may hold spaces, written as they are or as %20.
	name, err := url.PathUnescape(authority[:at])
	if err != nil {
		return AzureLocation{}, fmt.Errorf("container %q: %w", authority[:at], err)
	}
	if strings.ContainsAny(name, ":/") {
		return AzureLocation{}, fmt.Errorf("container %q: a password or a slash in an abfss URL's user part", name)
	}
	host := strings.ToLower(authority[at+1:])
	account, suffix, ok := strings.Cut(host, ".dfs.")
	if !ok || account == "" || suffix == "" || strings.Contains(host, ":") {
		return AzureLocation{}, fmt.Errorf("host %q: want account.dfs.core.windows.net or onelake.dfs.fabric.microsoft.com", host)
	}
	prefix, err := url.PathUnescape(strings.Trim(path, "/"))
	if err != nil {
		return AzureLocation{}, fmt.Errorf("path %q: %w", path, err)
	}
	return AzureLocation{
		Account:   account,
		Service:   "https://" + account + ".blob." + suffix,
		Container: name,
		Prefix:    prefix,
	}, nil
}

// AzureStore is a [Store] on an Azure Blob Storage container: an ADLS Gen2
// file system or a OneLake workspace through their Blob endpoints. Every
// object is a block blob made visible by one request — Put Blob for a body
// of one block, else staged blocks and one Put Block List — so a failed
// upload leaves nothing visible; conditional operations use
// If-None-Match: * and If-Match on that commit, which the service enforces
// (see [ProbeConditional]).
type AzureStore struct {
	client *container.Client
	prefix string // "" or ending in "/"
	auth   string // how the store authenticates, for Identity
	// copyRefused: the service refused a Copy Blob for a reason the next
	// copy would meet too (its source's authorisation, a service without
	// it); later copies go through the job.
	copyRefused atomic.Bool
}

var (
	_ Store  = (*AzureStore)(nil)
	_ Copier = (*AzureStore)(nil)
)

// Copy implements [Copier] with Copy Blob: the service copies src to dst,
// in the container; the bytes do not pass through the job. The source is
// authorised as the request is (account key, connection string, Microsoft
// Entra: the same account), or by the SAS its URL carries. A copy the
// service runs in the background is waited for. A service that refuses the
// copy (one without Copy Blob, or an identity it will not let read the
// source this way) gets the bytes through the job instead, and so does
// every later copy.
func (s *AzureStore) Copy(ctx context.Context, src, dst string, _ int64) error {
	sk, err := s.key(src)
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	dk, err := s.key(dst)
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	if s.copyRefused.Load() {
		return copyThrough(ctx, s, src, dst)
	}
	// No metadata given: the copy has the source's (its write token,
	// which no conditional write of the copy's key reads).
	copied := s.client.NewBlobClient(dk)
	resp, err := copied.StartCopyFromURL(ctx, s.client.NewBlobClient(sk).URL(), nil)
	if err != nil {
		switch terr := translateAzure(err); {
		case errors.Is(terr, ErrNotExist), errors.Is(terr, ErrNoDestination), ctx.Err() != nil:
			return fmt.Errorf("copy %s to %s: %w", src, dst, terr)
		default:
			// Refused: what goes through the job does not depend on
			// how the service authorises a copy's source.
			s.copyRefused.Store(true)
			return copyThrough(ctx, s, src, dst)
		}
	}
	status := resp.CopyStatus
	for wait := 50 * time.Millisecond; status != nil && *status == blob.CopyStatusTypePending; wait = min(2*wait, 2*time.Second) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("copy %s to %s: %w", src, dst, context.Cause(ctx))
		case <-time.After(wait):
		}
		props, err := copied.GetProperties(ctx, nil)
		if err != nil {
			return fmt.Errorf("copy %s to %s: %w", src, dst, translateAzure(err))
		}
		status = props.CopyStatus
		if status != nil && *status != blob.CopyStatusTypePending && *status != blob.CopyStatusTypeSuccess {
			desc := ""
			if props.CopyStatusDescription != nil {
				desc = ": " + *props.CopyStatusDescription
			}
			return fmt.Errorf("copy %s to %s: the service's copy ended %s%s", src, dst, *status, desc)
		}
	}
	return nil
}

// azureRetry retries a request as cfg says.
func azureRetry(cfg AzureConfig) policy.RetryOptions {
	retries := cfg.MaxRetries
	if retries == 0 {
		retries = DefaultMaxAttempts - 1
	}
	delay := cfg.RetryDelay
	if delay <= 0 {
		delay = 200 * time.Millisecond
	}
	return policy.RetryOptions{MaxRetries: int32(retries), RetryDelay: delay, MaxRetryDelay: 50 * delay}
}

// NewAzureStore returns a store for the container and prefix of loc. It does
// not contact the service.
func NewAzureStore(loc AzureLocation, cfg AzureConfig) (*AzureStore, error) {
	if loc.Container == "" {
		return nil, errors.New("new azure store: no container")
	}
	opts := &container.ClientOptions{ClientOptions: azcore.ClientOptions{
		Retry:           azureRetry(cfg),
		PerCallPolicies: []policy.Policy{pinServiceVersion{}},
		// Counts the attempts of a conditional write's commit, inside the retry loop.
		PerRetryPolicies: []policy.Policy{countCommitAttempts{}},
	}}
	if cfg.HTTPClient != nil {
		opts.Transport = cfg.HTTPClient
	}
	service := loc.Service
	if cfg.Endpoint != "" {
		// Azure's SDK would fail only at the first request ("unsupported
		// protocol scheme"); host:port without a scheme is the usual slip.
		if u, err := url.Parse(cfg.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("new azure store: blob endpoint %q: want an http:// or https:// URL, such as https://account.privatelink.blob.core.windows.net or http://127.0.0.1:10000/devstoreaccount1", cfg.Endpoint)
		}
		service = strings.TrimRight(cfg.Endpoint, "/")
	}
	containerURL := service + "/" + url.PathEscape(loc.Container)
	var (
		client *container.Client
		auth   string
		err    error
	)
	switch {
	case cfg.ConnectionString != "":
		if account := connectionStringAccount(cfg.ConnectionString); account != "" && !strings.EqualFold(account, loc.Account) {
			return nil, fmt.Errorf("new azure store: the connection string is for account %q, the destination names %q", account, loc.Account)
		}
		client, err = container.NewClientFromConnectionString(cfg.ConnectionString, loc.Container, opts)
		auth = "connection string for account " + loc.Account
	case cfg.AccountKey != "":
		var cred *container.SharedKeyCredential
		if cred, err = container.NewSharedKeyCredential(loc.Account, cfg.AccountKey); err == nil {
			client, err = container.NewClientWithSharedKeyCredential(containerURL, cred, opts)
		}
		auth = "account key of " + loc.Account
	case cfg.SASToken != "":
		client, err = container.NewClientWithNoCredential(containerURL+"?"+strings.TrimPrefix(cfg.SASToken, "?"), opts)
		auth = "SAS token for " + containerURL
	case cfg.Credential != nil:
		client, err = container.NewClient(containerURL, cfg.Credential, opts)
		auth = "Microsoft Entra credential"
	default:
		return nil, errors.New("new azure store: no credential (a Microsoft Entra credential, an account key, a SAS token or a connection string)")
	}
	if err != nil {
		return nil, fmt.Errorf("new azure store: %w", err)
	}
	prefix := strings.Trim(loc.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return &AzureStore{client: client, prefix: prefix, auth: auth}, nil
}

// connectionStringAccount returns the AccountName of a connection string.
func connectionStringAccount(cs string) string {
	for _, part := range strings.Split(cs, ";") {
		if k, v, ok := strings.Cut(part, "="); ok && strings.EqualFold(strings.TrimSpace(k), "AccountName") {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Identity says how the store authenticates (never a secret).
func (s *AzureStore) Identity(context.Context) (string, error) { return s.auth, nil }

func (s *AzureStore) key(key string) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", err
	}
	return s.prefix + key, nil
}

// translateAzure maps Azure errors onto the package sentinels.
func translateAzure(err error) error {
	if err == nil {
		return nil
	}
	var re *azcore.ResponseError
	status := 0
	if errors.As(err, &re) {
		status = re.StatusCode
		err = briefResponseError{re}
	}
	switch {
	case bloberror.HasCode(err, bloberror.ContainerNotFound, bloberror.ContainerBeingDeleted):
		return fmt.Errorf("%w: %w", ErrNoDestination, err)
	case bloberror.HasCode(err, bloberror.BlobNotFound) || status == http.StatusNotFound:
		return ErrNotExist
	case bloberror.HasCode(err, bloberror.ConditionNotMet, bloberror.BlobAlreadyExists) || status == http.StatusPreconditionFailed:
		return ErrPrecondition
	case status == http.StatusForbidden || status == http.StatusUnauthorized ||
		bloberror.HasCode(err, bloberror.AuthenticationFailed, bloberror.AuthorizationFailure, bloberror.AuthorizationPermissionMismatch,
			bloberror.InsufficientAccountPermissions, bloberror.AccountIsDisabled, bloberror.InvalidResourceName):
		return fmt.Errorf("%w: %w", ErrDestination, err)
	}
	// An Entra credential that found no identity, or that Entra refused,
	// marks its error non-retriable (azcore's convention): so does the job.
	var nonRetriable interface{ NonRetriable() }
	if re == nil && errors.As(err, &nonRetriable) {
		return fmt.Errorf("%w: %w", ErrDestination, err)
	}
	return err
}

// briefResponseError tells an Azure error in one line — the status, the
// service's error code and the request without its query (where a SAS
// token's signature would be) — instead of the SDK's page of text with the
// response body. It unwraps to the SDK's error.
type briefResponseError struct{ err *azcore.ResponseError }

func (e briefResponseError) Error() string {
	where := ""
	if r := e.err.RawResponse; r != nil && r.Request != nil && r.Request.URL != nil {
		u := *r.Request.URL
		u.RawQuery, u.Fragment, u.User = "", "", nil
		where = " (" + r.Request.Method + " " + u.String() + ")"
	}
	code := e.err.ErrorCode
	if code == "" {
		code = http.StatusText(e.err.StatusCode)
	}
	return fmt.Sprintf("HTTP %d %s%s", e.err.StatusCode, code, where)
}

func (e briefResponseError) Unwrap() error { return e.err }

// Put implements [Sink].
func (s *AzureStore) Put(ctx context.Context, key string, r io.Reader) error {
	k, err := s.key(key)
	if err != nil {
		return fmt.Errorf("put: %w", err)
	}
	_, err = s.client.NewBlockBlobClient(k).UploadStream(ctx, r, &blockblob.UploadStreamOptions{
		BlockSize: azureBlockSize, Concurrency: azureUploadConcurrency,
	})
	if err != nil {
		return fmt.Errorf("put %s: %w", key, translateAzure(err))
	}
	return nil
}

// Open implements [Sink]. A body that breaks off is read on from where it
// broke, from the same version of the blob (the SDK's retry reader asks for
// the rest with If-Match on the first response's ETag).
func (s *AzureStore) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	k, err := s.key(key)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	resp, err := s.client.NewBlobClient(k).DownloadStream(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", key, translateAzure(err))
	}
	return resp.NewRetryReader(ctx, &blob.RetryReaderOptions{MaxRetries: readRetries}), nil
}

// Get implements [Conditional].
func (s *AzureStore) Get(ctx context.Context, key string) ([]byte, string, error) {
	k, err := s.key(key)
	if err != nil {
		return nil, "", fmt.Errorf("get: %w", err)
	}
	// A body that breaks off is fetched again whole, not resumed: the blob
	// may have changed meanwhile, and Get returns one version with its ETag.
	for attempt := 0; ; attempt++ {
		resp, err := s.client.NewBlobClient(k).DownloadStream(ctx, nil)
		if err != nil {
			return nil, "", fmt.Errorf("get %s: %w", key, translateAzure(err))
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			return data, etagString(resp.ETag), nil
		}
		if attempt == readRetries || ctx.Err() != nil {
			return nil, "", fmt.Errorf("get %s (after %d retries): %w", key, attempt, err)
		}
		if err := sleepCtx(ctx, backoff(attempt+1)); err != nil {
			return nil, "", fmt.Errorf("get %s: %w", key, err)
		}
	}
}

func etagString(e *azcore.ETag) string {
	if e == nil {
		return ""
	}
	return string(*e)
}

// Head implements [Conditional].
func (s *AzureStore) Head(ctx context.Context, key string) (string, error) {
	k, err := s.key(key)
	if err != nil {
		return "", fmt.Errorf("head: %w", err)
	}
	props, err := s.client.NewBlobClient(k).GetProperties(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("head %s: %w", key, translateAzure(err))
	}
	return etagString(props.ETag), nil
}

// exists reports whether the container exists, with a one-blob listing
// rather than Get Container Properties, which a container SAS cannot call.
func (s *AzureStore) exists(ctx context.Context) error {
	p := s.client.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{Prefix: to.Ptr(s.prefix), MaxResults: to.Ptr(int32(1))})
	if _, err := p.NextPage(ctx); err != nil {
		return fmt.Errorf("container: %w", translateAzure(err))
	}
	return nil
}

// List implements [Lister]. The Blob service lists in lexical order; the
// directory entries of a hierarchical namespace are skipped.
func (s *AzureStore) List(ctx context.Context, prefix string, fn func(Object) error) error {
	p := s.client.NewListBlobsFlatPager(&container.ListBlobsFlatOptions{
		Prefix:  to.Ptr(s.prefix + prefix),
		Include: container.ListBlobsInclude{Metadata: true},
	})
	for p.More() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list %s: %w", prefix, translateAzure(err))
		}
		if page.Segment == nil {
			continue
		}
		for _, b := range page.Segment.BlobItems {
			if b == nil || b.Name == nil || isFolder(b.Metadata) {
				continue
			}
			k, ok := strings.CutPrefix(*b.Name, s.prefix)
			if !ok || k == "" || strings.HasSuffix(k, "/") {
				continue
			}
			var size int64
			if b.Properties != nil && b.Properties.ContentLength != nil {
				size = *b.Properties.ContentLength
			}
			if err := fn(Object{Key: k, Size: size}); err != nil {
				return err
			}
		}
	}
	return nil
}

func isFolder(meta map[string]*string) bool {
	for k, v := range meta {
		if strings.EqualFold(k, azureFolderMeta) && v != nil && strings.EqualFold(*v, "true") {
			return true
		}
	}
	return false
}

// Delete implements [Deleter].
func (s *AzureStore) Delete(ctx context.Context, key string) error {
	k, err := s.key(key)
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	_, err = s.client.NewBlobClient(k).Delete(ctx, nil)
	if err := translateAzure(err); err != nil && !errors.Is(err, ErrNotExist) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// PutIfAbsent implements [Conditional] with If-None-Match: *.
func (s *AzureStore) PutIfAbsent(ctx context.Context, key string, r io.Reader) (string, error) {
	return s.putConditional(ctx, "put if absent", key, r, &blob.ModifiedAccessConditions{IfNoneMatch: to.Ptr(azcore.ETagAny)})
}

// PutIfMatch implements [Conditional] with If-Match.
func (s *AzureStore) PutIfMatch(ctx context.Context, key string, r io.Reader, etag string) (string, error) {
	if etag == "" {
		return "", fmt.Errorf("put if match %s: %w: empty etag", key, ErrPrecondition)
	}
	return s.putConditional(ctx, "put if match", key, r, &blob.ModifiedAccessConditions{IfMatch: to.Ptr(azcore.ETag(etag))})
}

// putConditional uploads r with the condition on its commit (Put Block List)
// and tagged with a fresh write token. When the upload reports an error, the
// blob may still hold this write — the reply was lost and the retry found the
// condition no longer true — so the token on the blob decides.
func (s *AzureStore) putConditional(ctx context.Context, op, key string, r io.Reader, cond *blob.ModifiedAccessConditions) (string, error) {
	k, err := s.key(key)
	if err != nil {
		return "", fmt.Errorf("%s: %w", op, err)
	}
	token := newWriteToken()
	attempts := new(atomic.Int32)
	bb := s.client.NewBlockBlobClient(k)
	resp, err := bb.UploadStream(context.WithValue(ctx, attemptsKey{}, attempts), r, &blockblob.UploadStreamOptions{
		BlockSize:        azureBlockSize,
		Concurrency:      azureUploadConcurrency,
		Metadata:         map[string]*string{azureWriteTokenMeta: to.Ptr(token)},
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: cond},
	})
	if err == nil {
		return etagString(resp.ETag), nil
	}
	if ctx.Err() == nil {
		props, herr := bb.GetProperties(ctx, nil)
		if herr == nil && metaValue(props.Metadata, azureWriteTokenMeta) == token {
			return etagString(props.ETag), nil
		}
	}
	err = translateAzure(err)
	if errors.Is(err, ErrPrecondition) && cond.IfMatch != nil && ctx.Err() == nil {
		// Azure answers If-Match on a missing blob with 412, S3 with 404:
		// the contract says ErrNotExist.
		if _, herr := bb.GetProperties(ctx, nil); errors.Is(translateAzure(herr), ErrNotExist) {
			err = ErrNotExist
		}
	}
	if attempts.Load() > 1 && (errors.Is(err, ErrPrecondition) || errors.Is(err, ErrNotExist)) {
		return "", fmt.Errorf("%s %s: %w: %w", op, key, ErrPrecondition, ErrOutcomeUnknown)
	}
	return "", fmt.Errorf("%s %s: %w", op, key, err)
}

func metaValue(meta map[string]*string, name string) string {
	for k, v := range meta {
		if strings.EqualFold(k, name) && v != nil {
			return *v
		}
	}
	return ""
}

// PinAzureServiceVersion is the pipeline policy that makes a client speak the
// service version AzureStore speaks (for tests and tools that use azblob
// beside the store against the same service, such as an emulator).
var PinAzureServiceVersion policy.Policy = pinServiceVersion{}

// pinServiceVersion sends azureServiceVersion on every request (before the
// shared key policy signs the headers).
type pinServiceVersion struct{}

func (pinServiceVersion) Do(req *policy.Request) (*http.Response, error) {
	// The SDK writes the header under its lower-case key, not the canonical one.
	h := req.Raw().Header
	h.Del("x-ms-version")
	h["x-ms-version"] = []string{azureServiceVersion}
	return req.Next()
}

// countCommitAttempts counts, for a conditional write, each attempt of the
// request that commits it, retries included: Put Block List, or Put Blob
// when the SDK sends a one-block body whole.
type countCommitAttempts struct{}

func (countCommitAttempts) Do(req *policy.Request) (*http.Response, error) {
	raw := req.Raw()
	if n, ok := raw.Context().Value(attemptsKey{}).(*atomic.Int32); ok && isCommit(raw) {
		n.Add(1)
	}
	return req.Next()
}

// isCommit reports whether r makes a blob's new content visible.
func isCommit(r *http.Request) bool {
	if r.Method != http.MethodPut {
		return false
	}
	comp := r.URL.Query().Get("comp")
	return comp == "" || comp == "blocklist"
}

// DeleteIfMatch implements [Conditional] with a conditional Delete Blob.
func (s *AzureStore) DeleteIfMatch(ctx context.Context, key string, etag string) error {
	k, err := s.key(key)
	if err != nil {
		return fmt.Errorf("delete if match: %w", err)
	}
	if etag == "" {
		return fmt.Errorf("delete if match %s: %w: empty etag", key, ErrPrecondition)
	}
	bc := s.client.NewBlobClient(k)
	_, err = bc.Delete(ctx, &blob.DeleteOptions{
		AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: to.Ptr(azcore.ETag(etag))}},
	})
	err = translateAzure(err)
	if errors.Is(err, ErrPrecondition) {
		// Azure answers If-Match on a missing blob with 412; a missing key
		// is not an error here, as for Delete.
		if _, herr := bc.GetProperties(ctx, nil); errors.Is(translateAzure(herr), ErrNotExist) {
			return nil
		}
	}
	if err != nil && !errors.Is(err, ErrNotExist) {
		return fmt.Errorf("delete if match %s: %w", key, err)
	}
	return nil
}
