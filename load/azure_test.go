package load_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"

	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/loadtest"
)

// MustAzureStore opens prefix of the Azurite container through endpoint
// (the server's, or a proxy's) with the account key.
func MustAzureStore(tb testing.TB, a loadtest.Azurite, endpoint, prefix string) *load.AzureStore {
	tb.Helper()
	return azureStoreWith(tb, a, prefix, load.AzureConfig{ConnectionString: a.ConnectionString(endpoint)})
}

// azureStoreWith opens prefix of the Azurite container with cfg.
func azureStoreWith(tb testing.TB, a loadtest.Azurite, prefix string, cfg load.AzureConfig) *load.AzureStore {
	tb.Helper()
	loc, err := load.ParseAzureURL(a.Dest(prefix))
	if err != nil {
		tb.Fatal(err)
	}
	s, err := load.NewAzureStore(loc, cfg)
	if err != nil {
		tb.Fatalf("NewAzureStore = %v", err)
	}
	return s
}

// rawContainer is an SDK client on the Azurite container, independent of AzureStore.
func rawContainer(tb testing.TB, a loadtest.Azurite) *container.Client {
	tb.Helper()
	c, err := container.NewClientFromConnectionString(a.ConnectionString(a.Endpoint), loadtest.AzureContainer, loadtest.ClientOptions())
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// TestAzureStore runs the store conformance suite against Azurite.
func TestAzureStore(t *testing.T) {
	t.Parallel()
	a := loadtest.StartAzurite(t)
	loadtest.RunStoreTests(t, func(t *testing.T) load.Store {
		return MustAzureStore(t, a, a.Endpoint, strings.ReplaceAll(t.Name(), "/", "_"))
	})
}

// TestAzureStore_RandomFaults runs the conformance suite through a proxy
// that breaks one request in ten (500, 503, resets, lost responses,
// truncated bodies): every operation still keeps its contract.
func TestAzureStore_RandomFaults(t *testing.T) {
	t.Parallel()
	a := loadtest.StartAzurite(t)
	server, _ := strings.CutSuffix(a.Endpoint, "/"+loadtest.AzureAccount)
	proxy := loadtest.StartFaultProxy(t, server, loadtest.RandomFaults(12, 0.10))
	loadtest.RunStoreTests(t, func(t *testing.T) load.Store {
		return MustAzureStore(t, a, proxy.URL+"/"+loadtest.AzureAccount, strings.ReplaceAll(t.Name(), "/", "_"))
	})
	t.Logf("faults injected: %v", proxy.Counts())
}

func TestParseAzureURL(t *testing.T) {
	for _, tt := range []struct {
		dest string
		want load.AzureLocation
	}{
		{"abfss://fs@acct.dfs.core.windows.net/lake/v1/",
			load.AzureLocation{Account: "acct", Service: "https://acct.blob.core.windows.net", Container: "fs", Prefix: "lake/v1"}},
		{"abfss://fs@acct.dfs.core.windows.net",
			load.AzureLocation{Account: "acct", Service: "https://acct.blob.core.windows.net", Container: "fs"}},
		{"abfss://fs@Acct.DFS.core.usgovcloudapi.net/p",
			load.AzureLocation{Account: "acct", Service: "https://acct.blob.core.usgovcloudapi.net", Container: "fs", Prefix: "p"}},
		{"abfss://Sales Workspace@onelake.dfs.fabric.microsoft.com/calls.Lakehouse/Files/teams",
			load.AzureLocation{Account: "onelake", Service: "https://onelake.blob.fabric.microsoft.com", Container: "Sales Workspace", Prefix: "calls.Lakehouse/Files/teams"}},
	} {
		got, err := load.ParseAzureURL(tt.dest)
		if err != nil || got != tt.want {
			t.Errorf("ParseAzureURL(%q) = %+v, %v; want %+v", tt.dest, got, err, tt.want)
		}
	}
	for _, dest := range []string{
		"abfs://fs@acct.dfs.core.windows.net/p",          // not TLS
		"abfss://acct.dfs.core.windows.net/p",            // no container
		"abfss://fs@acct.blob.core.windows.net/p",        // the blob host
		"abfss://fs@acct.dfs.core.windows.net:443/p",     // a port
		"abfss://fs:pw@acct.dfs.core.windows.net/p",      // a password
		"abfss://fs@acct.dfs.core.windows.net/p?sv=2024", // a SAS in the URL
	} {
		if got, err := load.ParseAzureURL(dest); err == nil {
			t.Errorf("ParseAzureURL(%q) = %+v, want an error", dest, got)
		}
	}
}

// TestNewAzureStore_Endpoint: a blob endpoint that is not an http(s) URL is
// refused when the store is made, naming it, not at the first request.
func TestNewAzureStore_Endpoint(t *testing.T) {
	loc, err := load.ParseAzureURL("abfss://fs@acct.dfs.core.windows.net/p")
	if err != nil {
		t.Fatal(err)
	}
	for _, endpoint := range []string{"127.0.0.1:10000", "ftp://host/acct", "https://", "::bad"} {
		if _, err := load.NewAzureStore(loc, load.AzureConfig{AccountKey: loadtest.AzureKey, Endpoint: endpoint}); err == nil || !strings.Contains(err.Error(), endpoint) {
			t.Errorf("blob endpoint %q: %v, want an error naming it", endpoint, err)
		}
	}
	for _, endpoint := range []string{"http://127.0.0.1:10000/acct", "https://acct.privatelink.blob.core.windows.net/"} {
		if _, err := load.NewAzureStore(loc, load.AzureConfig{AccountKey: loadtest.AzureKey, Endpoint: endpoint}); err != nil {
			t.Errorf("blob endpoint %q: %v", endpoint, err)
		}
	}
}

// TestOpenStoreAzure: an abfss:// destination opens an AzureStore whose
// objects land under the URL's prefix in its container, with conditional
// writes enforced; a connection string for another account is refused.
func TestOpenStoreAzure(t *testing.T) {
	t.Parallel()
	a := loadtest.StartAzurite(t)
	ctx := context.Background()
	s, err := load.OpenStore(ctx, a.Dest("lake/v1/"), load.StoreConfig{Azure: a.Config()})
	if err != nil {
		t.Fatalf("OpenStore = %v", err)
	}
	if _, ok := s.(*load.AzureStore); !ok {
		t.Fatalf("OpenStore(abfss://...) = %T, want *load.AzureStore", s)
	}
	loadtest.MustPut(t, s, "t/k", []byte("v"))
	resp, err := rawContainer(t, a).NewBlobClient("lake/v1/t/k").DownloadStream(ctx, nil)
	if err != nil {
		t.Fatalf("blob lake/v1/t/k: %v", err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(got) != "v" {
		t.Errorf("blob lake/v1/t/k = %q, want %q", got, "v")
	}
	if err := load.ProbeConditional(ctx, s); err != nil {
		t.Errorf("ProbeConditional = %v", err)
	}
	if err := load.Exists(ctx, s); err != nil {
		t.Errorf("Exists = %v", err)
	}
	if id, _ := s.(*load.AzureStore).Identity(ctx); strings.Contains(id, loadtest.AzureKey) || !strings.Contains(id, "connection string") {
		t.Errorf("Identity = %q, want the kind of credential and no secret", id)
	}

	other := load.AzureConfig{ConnectionString: strings.Replace(a.ConnectionString(a.Endpoint), "AccountName="+loadtest.AzureAccount, "AccountName=other", 1)}
	if _, err := load.OpenStore(ctx, a.Dest("p"), load.StoreConfig{Azure: other}); err == nil || !strings.Contains(err.Error(), "other") {
		t.Errorf("OpenStore with another account's connection string = %v, want an error naming it", err)
	}
	if _, err := load.OpenStore(ctx, a.Dest("p"), load.StoreConfig{}); err == nil || !strings.Contains(err.Error(), "no credential") {
		t.Errorf("OpenStore without any Azure credential = %v, want an error", err)
	}
}

// TestAzureStore_Errors: a missing container is ErrNoDestination, a wrong
// key ErrDestination (retrying does not help), and neither names the key.
func TestAzureStore_Errors(t *testing.T) {
	t.Parallel()
	a := loadtest.StartAzurite(t)
	ctx := context.Background()
	loc, _ := load.ParseAzureURL(strings.Replace(a.Dest("p"), loadtest.AzureContainer+"@", "missing@", 1))
	missing, err := load.NewAzureStore(loc, a.Config())
	if err != nil {
		t.Fatal(err)
	}
	if err := load.Exists(ctx, missing); !errors.Is(err, load.ErrNoDestination) {
		t.Errorf("Exists(missing container) = %v, want ErrNoDestination", err)
	}
	loc, _ = load.ParseAzureURL(a.Dest("p"))
	wrongKey := "AAAA" + loadtest.AzureKey[4:]
	bad, err := load.NewAzureStore(loc, load.AzureConfig{ConnectionString: strings.Replace(a.ConnectionString(a.Endpoint), loadtest.AzureKey, wrongKey, 1), MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	err = bad.Put(ctx, "k", strings.NewReader("v"))
	if !errors.Is(err, load.ErrDestination) {
		t.Errorf("Put with a wrong account key = %v, want ErrDestination", err)
	}
	if err != nil && strings.Contains(err.Error(), wrongKey) {
		t.Errorf("error shows the account key: %v", err)
	}
	if err != nil && (strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "HTTP 403")) {
		t.Errorf("error = %q, want one line with the status", err)
	}
	// A SAS token that the service refuses: its signature is never in the error.
	sasStore, err := load.NewAzureStore(loc, load.AzureConfig{SASToken: "sv=2024-08-04&sr=c&sp=rwdl&se=2030-01-01T00:00:00Z&sig=c2VjcmV0LXNpZ25hdHVyZQ%3D%3D", Endpoint: a.Endpoint, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	err = sasStore.Put(ctx, "k", strings.NewReader("v"))
	if !errors.Is(err, load.ErrDestination) || strings.Contains(err.Error(), "sig=") || strings.Contains(err.Error(), "c2VjcmV0") {
		t.Errorf("Put with a refused SAS token = %v, want ErrDestination without the signature", err)
	}
	if s := (load.AzureConfig{AccountKey: wrongKey, SASToken: "sig=x", ConnectionString: "AccountKey=" + wrongKey}).String(); strings.Contains(s, wrongKey) || strings.Contains(s, "sig=x") {
		t.Errorf("AzureConfig.String() = %s, shows a secret", s)
	}
}

// TestAzureStore_ListSkipsDirectories: the directory entries a hierarchical
// namespace (ADLS Gen2, OneLake) lists as blobs marked hdi_isfolder are not
// objects of the lake.
func TestAzureStore_ListSkipsDirectories(t *testing.T) {
	t.Parallel()
	a := loadtest.StartAzurite(t)
	ctx := context.Background()
	s := MustAzureStore(t, a, a.Endpoint, "hns")
	loadtest.MustPut(t, s, "call_records/dt=2026-12-01/part-0.parquet", []byte("data"))
	folder := "true"
	for _, dir := range []string{"hns/call_records", "hns/call_records/dt=2026-12-01"} {
		_, err := rawContainer(t, a).NewBlockBlobClient(dir).Upload(ctx, streaming.NopCloser(strings.NewReader("")),
			&blockblob.UploadOptions{Metadata: map[string]*string{"hdi_isfolder": &folder}})
		if err != nil {
			t.Fatal(err)
		}
	}
	var keys []string
	if err := s.List(ctx, "", func(o load.Object) error { keys = append(keys, o.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	if want := []string{"call_records/dt=2026-12-01/part-0.parquet"}; !slices.Equal(keys, want) {
		t.Errorf("List = %q, want %q (no directory entries)", keys, want)
	}
}

// isCommit reports a request that makes a blob's content visible: Put Blob
// or Put Block List.
func isCommit(r *http.Request) bool {
	comp := r.URL.Query().Get("comp")
	return r.Method == http.MethodPut && (comp == "" || comp == "blocklist")
}

// TestAzureStore_LostResponses: a conditional write whose commit reply is
// lost (Azure applied it; the SDK retried and met its own write) is the
// caller's success, not a conflict. A real conflict is still
// ErrPrecondition; a write lost and then replaced by another writer is
// ErrOutcomeUnknown.
func TestAzureStore_LostResponses(t *testing.T) {
	t.Parallel()
	a := loadtest.StartAzurite(t)
	server, _ := strings.CutSuffix(a.Endpoint, "/"+loadtest.AzureAccount)
	proxy := loadtest.StartFaultProxy(t, server, nil)
	s := MustAzureStore(t, a, proxy.URL+"/"+loadtest.AzureAccount, "lost")
	ctx := context.Background()
	commitOnce := func(fault loadtest.Fault) func(*http.Request, int) loadtest.Fault {
		var mu sync.Mutex
		done := false
		return func(r *http.Request, _ int) loadtest.Fault {
			mu.Lock()
			defer mu.Unlock()
			if done || !isCommit(r) {
				return loadtest.Pass
			}
			done = true
			return fault
		}
	}
	big := make([]byte, 2*4<<20+5) // three blocks: Put Block List commits
	rand.NewChaCha8([32]byte{7}).Read(big)
	for _, large := range []bool{false, true} {
		body := func(v string) io.Reader {
			if large {
				b := bytes.Clone(big)
				copy(b, v)
				return bytes.NewReader(b)
			}
			return strings.NewReader(v)
		}
		key := "small"
		if large {
			key = "large"
		}
		proxy.SetFaults(commitOnce(loadtest.LostResponse))
		e1, err := s.PutIfAbsent(ctx, key, body("v1"))
		if err != nil {
			t.Fatalf("PutIfAbsent with its reply lost = %v, want success", err)
		}
		if head, err := s.Head(ctx, key); err != nil || head != e1 {
			t.Errorf("Head = %q, %v; want the returned etag %q", head, err, e1)
		}
		proxy.SetFaults(commitOnce(loadtest.LostResponse))
		e2, err := s.PutIfMatch(ctx, key, body("v2"), e1)
		if err != nil {
			t.Fatalf("PutIfMatch with its reply lost = %v, want success", err)
		}
		if got := loadtest.MustRead(t, s, key); string(got[:2]) != "v2" {
			t.Errorf("content after PutIfMatch = %q…, want v2", got[:2])
		}
		proxy.SetFaults(commitOnce(loadtest.LostResponse))
		if _, err := s.PutIfMatch(ctx, key, body("v3"), e1); !errors.Is(err, load.ErrPrecondition) {
			t.Errorf("PutIfMatch(stale etag) = %v, want ErrPrecondition", err)
		}
		if _, err := s.PutIfAbsent(ctx, key, body("v4")); !errors.Is(err, load.ErrPrecondition) {
			t.Errorf("PutIfAbsent(existing) = %v, want ErrPrecondition", err)
		}
		proxy.SetFaults(onceFor(http.MethodDelete, "", loadtest.LostResponse))
		if err := s.DeleteIfMatch(ctx, key, e2); err != nil {
			t.Errorf("DeleteIfMatch with its reply lost = %v, want success", err)
		}
		proxy.SetFaults(nil)
		if _, err := s.Head(ctx, key); !errors.Is(err, load.ErrNotExist) {
			t.Errorf("Head after DeleteIfMatch = %v, want ErrNotExist", err)
		}
	}

	// Lost, then another writer replaces it before the retry.
	e1, err := s.PutIfAbsent(ctx, "race", strings.NewReader("1"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	commits := 0
	proxy.SetFaults(func(r *http.Request, _ int) loadtest.Fault {
		mu.Lock()
		defer mu.Unlock()
		if !isCommit(r) {
			return loadtest.Pass
		}
		switch commits++; commits {
		case 1:
			return loadtest.LostResponse // applied: "2"
		case 2: // the retry: another writer got there first
			_, err := rawContainer(t, a).NewBlockBlobClient("lost/race").Upload(ctx, streaming.NopCloser(strings.NewReader("3")), nil)
			if err != nil {
				t.Errorf("the other writer's put: %v", err)
			}
		}
		return loadtest.Pass
	})
	_, err = s.PutIfMatch(ctx, "race", strings.NewReader("2"), e1)
	if !errors.Is(err, load.ErrPrecondition) || !errors.Is(err, load.ErrOutcomeUnknown) {
		t.Errorf("PutIfMatch whose reply was lost before another write = %v, want ErrPrecondition and ErrOutcomeUnknown", err)
	}
	if commits != 2 {
		t.Errorf("%d commits through the proxy, want the write and its retry", commits)
	}
}

// TestAzureStore_InterruptedReads: a body cut short in the middle of a read
// is read on (Open, Get, Download) from the same version of the blob.
func TestAzureStore_InterruptedReads(t *testing.T) {
	t.Parallel()
	a := loadtest.StartAzurite(t)
	server, _ := strings.CutSuffix(a.Endpoint, "/"+loadtest.AzureAccount)
	proxy := loadtest.StartFaultProxy(t, server, nil)
	s := MustAzureStore(t, a, proxy.URL+"/"+loadtest.AzureAccount, "r")
	loadtest.InterruptedReads(t, s, proxy, func(r *http.Request) bool {
		return r.Method == http.MethodGet && !r.URL.Query().Has("comp")
	})
}

// TestAzureStore_Entra: with a Microsoft Entra credential the store asks for
// a token for Azure Storage and sends it as a bearer token (over https: the
// SDK refuses to send one over http) — every operation of the contract works
// (the conformance suite); a token for another audience is refused as
// ErrDestination, which retrying does not change.
func TestAzureStore_Entra(t *testing.T) {
	t.Parallel()
	a := loadtest.StartAzuriteOAuth(t)
	tok := &loadtest.EntraToken{Tenant: "0b3c1d2e-aaaa-4bbb-8ccc-0123456789ab", Audience: "https://storage.azure.com"}
	cfg := load.AzureConfig{Credential: tok, Endpoint: a.Endpoint, HTTPClient: a.HTTPClient}
	loadtest.RunStoreTests(t, func(t *testing.T) load.Store {
		return azureStoreWith(t, a, strings.ReplaceAll(t.Name(), "/", "_"), cfg)
	})
	for _, scope := range tok.Scopes() {
		if scope != "https://storage.azure.com/.default" {
			t.Errorf("token asked for scope %q, want https://storage.azure.com/.default", scope)
		}
	}
	if len(tok.Scopes()) == 0 {
		t.Error("the store never asked the credential for a token")
	}

	ctx := context.Background()
	loc, _ := load.ParseAzureURL(a.Dest("wrong-audience"))
	cfg.Credential = &loadtest.EntraToken{Tenant: tok.Tenant, Audience: "https://graph.microsoft.com"}
	cfg.MaxRetries = 1
	s, err := load.NewAzureStore(loc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "k", strings.NewReader("v")); !errors.Is(err, load.ErrDestination) {
		t.Errorf("Put with a Graph token = %v, want ErrDestination", err)
	}
	if id, _ := s.Identity(ctx); !strings.Contains(id, "Entra") {
		t.Errorf("Identity = %q, want the Entra credential named", id)
	}
}

// containerSAS is a SAS token (without "?") for the Azurite container with
// the permissions the store needs: read, add, create, write, delete, list.
func containerSAS(t *testing.T, a loadtest.Azurite) string {
	t.Helper()
	cred, err := container.NewSharedKeyCredential(loadtest.AzureAccount, loadtest.AzureKey)
	if err != nil {
		t.Fatal(err)
	}
	keyed, err := container.NewClientWithSharedKeyCredential(a.Endpoint+"/"+loadtest.AzureContainer, cred, loadtest.ClientOptions())
	if err != nil {
		t.Fatal(err)
	}
	perms := sas.ContainerPermissions{Read: true, Add: true, Create: true, Write: true, Delete: true, List: true}
	sasURL, err := keyed.GetSASURL(perms, time.Now().Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, token, _ := strings.Cut(sasURL, "?")
	return token
}

// TestAzureStore_KeyAndSAS: the account's shared key and a container SAS
// token (read, add, create, write, delete, list) each authenticate every
// operation of the contract.
func TestAzureStore_KeyAndSAS(t *testing.T) {
	t.Parallel()
	a := loadtest.StartAzurite(t)
	for name, cfg := range map[string]load.AzureConfig{
		"key": {AccountKey: loadtest.AzureKey, Endpoint: a.Endpoint},
		"sas": {SASToken: "?" + containerSAS(t, a), Endpoint: a.Endpoint},
	} {
		t.Run(name, func(t *testing.T) {
			loadtest.RunStoreTests(t, func(t *testing.T) load.Store {
				return azureStoreWith(t, a, strings.ReplaceAll(t.Name(), "/", "_"), cfg)
			})
		})
	}
}

// copyRecorder counts the requests that ask the service for a copy (Copy
// Blob) and those that upload a blob's bytes; refuse answers each copy
// request 403 as a service does whose copy source the identity may not read.
type copyRecorder struct {
	next            http.RoundTripper
	refuse          bool
	mu              sync.Mutex
	copies, uploads int
}

func (c *copyRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	// The SDK sets its x-ms- headers in lower case, not canonical: Get
	// does not find them.
	isCopy := false
	for k := range r.Header {
		isCopy = isCopy || strings.EqualFold(k, "x-ms-copy-source")
	}
	c.mu.Lock()
	switch comp := r.URL.Query().Get("comp"); {
	case isCopy:
		c.copies++
	case r.Method == http.MethodPut && (comp == "block" || comp == ""):
		c.uploads++ // a block, or a blob in one request
	}
	c.mu.Unlock()
	if c.refuse && isCopy {
		return &http.Response{StatusCode: http.StatusForbidden, Status: "403 Forbidden", Request: r, ProtoMajor: 1, ProtoMinor: 1,
			Header: http.Header{"X-Ms-Error-Code": {"CannotVerifyCopySource"}}, Body: http.NoBody}, nil
	}
	return c.next.RoundTrip(r)
}

func (c *copyRecorder) counts() (copies, uploads int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.copies, c.uploads
}

// TestAzureStore_Copy: with each of the store's credentials the service
// copies a blob (one Copy Blob, no bytes uploaded); a missing source is
// ErrNotExist; a service that refuses the copy gets the bytes through the
// job, and is not asked again.
func TestAzureStore_Copy(t *testing.T) {
	t.Parallel()
	a, oauth := loadtest.StartAzurite(t), loadtest.StartAzuriteOAuth(t)
	sasToken := containerSAS(t, a)
	entra := &loadtest.EntraToken{Tenant: "0b3c1d2e-aaaa-4bbb-8ccc-0123456789ab", Audience: "https://storage.azure.com"}
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	for _, tc := range []struct {
		name   string
		server loadtest.Azurite
		cfg    load.AzureConfig
		refuse bool
	}{
		{"connection string", a, load.AzureConfig{ConnectionString: a.ConnectionString(a.Endpoint)}, false},
		{"key", a, load.AzureConfig{AccountKey: loadtest.AzureKey, Endpoint: a.Endpoint}, false},
		{"sas", a, load.AzureConfig{SASToken: sasToken, Endpoint: a.Endpoint}, false},
		{"entra", oauth, load.AzureConfig{Credential: entra, Endpoint: oauth.Endpoint}, false},
		{"copy refused", a, load.AzureConfig{AccountKey: loadtest.AzureKey, Endpoint: a.Endpoint}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := http.DefaultTransport
			if tc.server.HTTPClient != nil {
				next = tc.server.HTTPClient.Transport
			}
			rec := &copyRecorder{next: next, refuse: tc.refuse}
			tc.cfg.HTTPClient = &http.Client{Transport: rec}
			s := azureStoreWith(t, tc.server, "copy-"+strings.ReplaceAll(tc.name, " ", "-"), tc.cfg)
			if err := s.Put(ctx, "hive/dt=2026-11-18/t.parquet", bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
			_, uploadsBefore := rec.counts()
			for _, dst := range []string{"iceberg/data/a.parquet", "iceberg/data/b+c d.parquet"} {
				if err := s.Copy(ctx, "hive/dt=2026-11-18/t.parquet", dst, int64(len(data))); err != nil {
					t.Fatalf("Copy to %s = %v", dst, err)
				}
				got, _, err := s.Get(ctx, dst)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("the copy %s: %d bytes (%v), want the %d of the source", dst, len(got), err, len(data))
				}
			}
			copies, uploads := rec.counts()
			uploads -= uploadsBefore
			switch {
			case !tc.refuse && (copies != 2 || uploads != 0):
				t.Errorf("%d Copy Blob requests, %d uploads; want 2 copies by the service, nothing uploaded", copies, uploads)
			case tc.refuse && (copies != 1 || uploads == 0):
				t.Errorf("refused: %d Copy Blob requests, %d uploads; want one refused copy, then the bytes uploaded", copies, uploads)
			}
			if err := s.Copy(ctx, "hive/missing.parquet", "iceberg/data/m.parquet", 1); !errors.Is(err, load.ErrNotExist) {
				t.Errorf("Copy of a missing source = %v, want ErrNotExist", err)
			}
		})
	}
}
