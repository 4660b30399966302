package extract_test

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/callrecords-etl/callrecords-etl/extract"
	"github.com/callrecords-etl/callrecords-etl/graphsim"
)

// authWindow is a day of the simulated tenant, listed by the end-to-end tests.
var authFrom, authTo = simNow.Add(-24 * time.Hour), simNow

// MustCredential builds the credential of cfg, sending its requests to the fake Entra.
func MustCredential(tb testing.TB, cfg extract.CredentialConfig, entra *fakeEntra) azcore.TokenCredential {
	tb.Helper()
	if cfg.AuthorityHost == "" {
		cfg.AuthorityHost = entra.srv.URL
	}
	extract.SetCredentialTransport(&cfg, entra.srv.Client(), true)
	cred, err := extract.NewCredential(cfg)
	if err != nil {
		tb.Fatalf("NewCredential(%v) = %v", cfg, err)
	}
	return cred
}

// authModes are the credentials that can be exercised offline, each set up
// against a fake Entra: the config, and what the fake must have seen.
func authModes(tb testing.TB, entra *fakeEntra) []struct {
	name      string
	cfg       extract.CredentialConfig
	wantGrant string // "" for the static token, which never calls Entra
} {
	tb.Helper()
	cert := testCerts()[0]
	federated := fakeJWT(map[string]any{"iss": "https://oidc.prod-aks.azure.com/x/", "sub": "system:serviceaccount:etl:callrecords", "aud": "api://AzureADTokenExchange"})
	entra.set(func(f *fakeEntra) { f.federated[federated] = true })
	return []struct {
		name      string
		cfg       extract.CredentialConfig
		wantGrant string
	}{
		{"client secret", extract.CredentialConfig{TenantID: testTenant, ClientID: testClient, ClientSecret: testSecret}, "secret"},
		{"certificate PEM", extract.CredentialConfig{TenantID: testTenant, ClientID: testClient,
			CertificatePath: MustWriteFile(tb, "cert.pem", certPEM(tb, cert))}, "certificate"},
		{"certificate PFX modern with password", extract.CredentialConfig{TenantID: testTenant, ClientID: testClient,
			CertificatePath: MustWriteFile(tb, "cert.pfx", certPFX(tb, cert, pkcs12.Modern2023, testPFXPass)), CertificatePassword: testPFXPass}, "certificate"},
		{"certificate PFX legacy with password", extract.CredentialConfig{TenantID: testTenant, ClientID: testClient,
			CertificatePath: MustWriteFile(tb, "legacy.pfx", certPFX(tb, cert, pkcs12.LegacyDES, testPFXPass)), CertificatePassword: testPFXPass}, "certificate"},
		{"workload identity token file", extract.CredentialConfig{TenantID: testTenant, ClientID: testClient,
			FederatedTokenFile: MustWriteFile(tb, "azure-identity-token", []byte(federated+"\n"))}, "federated"},
		{"static token", extract.CredentialConfig{Token: entra.token}, ""},
	}
}

// TestAuthModes_EndToEnd gets a token from the fake Entra with each
// credential and lists a day of the simulated tenant with it: the token the
// fake issued is the only one the simulator accepts.
func TestAuthModes_EndToEnd(t *testing.T) {
	token := appToken("", "CallRecords.Read.All")
	sim, srv := MustStartSim(t, graphsim.Config{Token: token})
	truth := sim.Truth(authFrom, authTo)
	entra := newFakeEntra(t, token)
	entra.set(func(f *fakeEntra) { f.scope = srv.URL + "/.default" })
	for _, tt := range authModes(t, entra) {
		t.Run(tt.name, func(t *testing.T) {
			before := len(entra.issued())
			cred := MustCredential(t, tt.cfg, entra)
			c, _ := MustNewClient(t, extract.Config{BaseURL: srv.URL, Credential: cred})
			checkIDs(t, tt.name, ids(MustList(t, c, authFrom, authTo)), truth)
			got := entra.issued()[before:]
			var want []string
			if tt.wantGrant != "" {
				want = []string{tt.wantGrant}
			}
			if !slices.Equal(got, want) {
				t.Errorf("tokens issued = %v, want %v (one, reused for every page)", got, want)
			}
		})
	}
}

// TestWorkloadIdentity_ReadsRotatedTokenFile rotates the token file the way
// kubelet does and expires the old token: the next Entra token must be
// requested with the new file content.
func TestWorkloadIdentity_ReadsRotatedTokenFile(t *testing.T) {
	entra := newFakeEntra(t, appToken("https://graph.microsoft.com", "CallRecords.Read.All"))
	old, rotated := fakeJWT(map[string]any{"sub": "system:serviceaccount:etl:callrecords", "n": 1}), fakeJWT(map[string]any{"sub": "system:serviceaccount:etl:callrecords", "n": 2})
	entra.set(func(f *fakeEntra) {
		f.federated[old] = true
		f.expiresIn = 120 // under MSAL's 5-minute margin: every GetToken asks Entra
	})
	file := MustWriteFile(t, "azure-identity-token", []byte(old))
	cred := MustCredential(t, extract.CredentialConfig{TenantID: testTenant, ClientID: testClient, FederatedTokenFile: file}, entra)
	opts := policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}}
	if _, err := cred.GetToken(context.Background(), opts); err != nil {
		t.Fatalf("GetToken with the first token file = %v", err)
	}
	if err := os.WriteFile(file, []byte(rotated), 0o600); err != nil {
		t.Fatal(err)
	}
	entra.set(func(f *fakeEntra) { f.federated[old], f.federated[rotated] = false, true })
	if _, err := cred.GetToken(context.Background(), opts); err != nil {
		t.Fatalf("GetToken after the token file was rotated = %v", err)
	}
	entra.set(func(f *fakeEntra) {
		if want := []string{old, rotated}; !slices.Equal(f.assertions, want) {
			t.Errorf("federated tokens presented = %d, want the old then the rotated one", len(f.assertions))
		}
	})
}

// TestEntraErrors_Explained runs the Graph client with a credential that
// Entra refuses and checks the one sentence that says what to fix.
func TestEntraErrors_Explained(t *testing.T) {
	const graphScope = "https://graph.microsoft.com/.default"
	tests := []struct {
		name     string
		cfg      extract.CredentialConfig
		fake     func(f *fakeEntra)
		wantCode string
		wantFix  []string // substrings of the sentence
	}{
		{"wrong secret", extract.CredentialConfig{TenantID: testTenant, ClientID: testClient, ClientSecret: "wrong-secret-value"}, nil,
			"AADSTS7000215", []string{"client secret is wrong", "setting:ClientSecret", "Value"}},
		{"wrong tenant", extract.CredentialConfig{TenantID: "00000000-0000-0000-0000-0000000000ff", ClientID: testClient, ClientSecret: testSecret}, nil,
			"AADSTS90002", []string{"tenant was not found", "setting:TenantID"}},
		{"unknown app", extract.CredentialConfig{TenantID: testTenant, ClientID: "00000000-0000-0000-0000-0000000000ee", ClientSecret: testSecret}, nil,
			"AADSTS700016", []string{"application was not found", "setting:ClientID"}},
		{"consent missing", extract.CredentialConfig{TenantID: testTenant, ClientID: testClient, ClientSecret: testSecret}, func(f *fakeEntra) { f.consented = false },
			"AADSTS65001", []string{"admin consent", "CallRecords.Read.All"}},
		{"certificate not registered", extract.CredentialConfig{TenantID: testTenant, ClientID: testClient, CertificatePath: ""}, func(f *fakeEntra) { f.cert = testCerts()[1].cert },
			"AADSTS700027", []string{"certificate is not registered", "setting:CertificatePath"}},
		{"federated subject", extract.CredentialConfig{TenantID: testTenant, ClientID: testClient, FederatedTokenFile: "unknown"}, nil,
			"AADSTS700213", []string{"subject", "system:serviceaccount"}},
		{"federated token expired", extract.CredentialConfig{TenantID: testTenant, ClientID: testClient, FederatedTokenFile: "expired"}, nil,
			"AADSTS700024", []string{"validity period", "token file"}},
		{"graph of another cloud", extract.CredentialConfig{TenantID: testTenant, ClientID: testClient, ClientSecret: testSecret},
			func(f *fakeEntra) { f.scope = "https://graph.microsoft.us/.default" }, "AADSTS500011", []string{"setting:Cloud"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entra := newFakeEntra(t, appToken("https://graph.microsoft.com"))
			if tt.fake != nil {
				entra.set(tt.fake)
			}
			cfg := tt.cfg
			switch cfg.FederatedTokenFile {
			case "unknown":
				cfg.FederatedTokenFile = MustWriteFile(t, "token", []byte(fakeJWT(map[string]any{"sub": "system:serviceaccount:other:sa"})))
			case "expired":
				tok := fakeJWT(map[string]any{"sub": "system:serviceaccount:etl:callrecords"})
				entra.set(func(f *fakeEntra) { f.federated[tok] = false })
				cfg.FederatedTokenFile = MustWriteFile(t, "token", []byte(tok))
			}
			if tt.name == "certificate not registered" {
				cfg.CertificatePath = MustWriteFile(t, "cert.pem", certPEM(t, testCerts()[0]))
			}
			var graphCalls atomic.Int64
			graph := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { graphCalls.Add(1) }))
			defer graph.Close()
			cred := MustCredential(t, cfg, entra)
			// The client asks for <BaseURL>/.default; the fake serves Graph's scope.
			c, _ := MustNewClient(t, extract.Config{BaseURL: graph.URL, Credential: scopeRewriter{cred, graphScope}})
			_, err := c.GetCallRecord(context.Background(), "rec-1")
			var ae *extract.AuthError
			if !errors.As(err, &ae) || !errors.Is(err, extract.ErrAuth) {
				t.Fatalf("GetCallRecord = %v, want an *AuthError matching ErrAuth", err)
			}
			if ae.Code != tt.wantCode {
				t.Errorf("AuthError.Code = %q, want %q (error %v)", ae.Code, tt.wantCode, err)
			}
			if !strings.HasPrefix(ae.Error(), ae.Fix) || !strings.Contains(err.Error(), ae.Error()) {
				t.Errorf("error %q does not carry the AuthError led by the sentence %q", err, ae.Fix)
			}
			for _, s := range tt.wantFix {
				if !fixSays(ae, s) {
					t.Errorf("Fix %q (settings %v) does not mention %q", ae.Fix, ae.Settings, s)
				}
			}
			// The original error and Entra's own message stay available.
			var afe *azidentity.AuthenticationFailedError
			if !errors.As(err, &afe) {
				t.Errorf("error %v does not unwrap to the azidentity error", err)
			}
			if !strings.Contains(err.Error(), tt.wantCode+":") || !strings.Contains(err.Error(), "Trace ID") || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q lacks Entra's description on one line", err)
			}
			if n := graphCalls.Load(); n != 0 {
				t.Errorf("graph calls = %d, want 0 without a token", n)
			}
		})
	}
}

// scopeRewriter asks its credential for scope whatever the caller asks, so a
// client pointed at a local Graph can get a token for Graph's scope.
type scopeRewriter struct {
	azcore.TokenCredential
	scope string
}

func (s scopeRewriter) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	o.Scopes = []string{s.scope}
	return s.TokenCredential.GetToken(ctx, o)
}

// TestGraphAuthErrors_Explained sends tokens of various identities to a Graph
// that answers 403 (or 401) and checks the sentence, which names the
// CallRecords.Read.All application permission and adapts to the identity.
func TestGraphAuthErrors_Explained(t *testing.T) {
	delegated := fakeJWT(map[string]any{"aud": "https://graph.microsoft.com", "tid": testTenant, "appid": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
		"scp": "User.Read", "upn": "admin@contoso.example", "idtyp": "user"})
	mi := fakeJWT(map[string]any{"aud": "https://graph.microsoft.com", "tid": testTenant, "appid": testClient, "idtyp": "app",
		"xms_mirid": "/subscriptions/s/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/etl"})
	tests := []struct {
		name    string
		status  int
		token   func(base string) string
		wantFix []string
	}{
		{"403 app without roles", 403, func(string) string { return appToken("https://graph.microsoft.com") },
			[]string{"CallRecords.Read.All", "admin consent", "Application permissions", "no roles"}},
		{"403 app with other roles", 403, func(string) string { return appToken("https://graph.microsoft.com", "User.Read.All") },
			[]string{"CallRecords.Read.All", "admin consent", "User.Read.All"}},
		{"403 opaque token", 403, func(string) string { return "opaque-token-value" }, []string{"CallRecords.Read.All", "admin consent"}},
		{"403 delegated token", 403, func(string) string { return delegated }, []string{"delegated", "CallRecords.Read.All", "application"}},
		{"403 managed identity", 403, func(string) string { return mi }, []string{"managed identity", "CallRecords.Read.All", "app role"}},
		{"401 static token", 401, func(base string) string { return appToken(base, "CallRecords.Read.All") }, []string{"static token", "setting:Token"}},
		{"401 token of another cloud", 401, func(string) string { return appToken("https://graph.microsoft.us", "CallRecords.Read.All") },
			[]string{"https://graph.microsoft.us", "setting:Cloud"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hits int
			graph := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits++
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				if tt.status == 403 {
					io.WriteString(w, `{"error":{"code":"Forbidden","message":"Missing role permissions on the request. API requires one of 'CallRecords.Read.All'.","innerError":{"request-id":"req-403"}}}`)
				} else {
					io.WriteString(w, `{"error":{"code":"InvalidAuthenticationToken","message":"Access token validation failure. Invalid audience.","innerError":{"request-id":"req-401"}}}`)
				}
			}))
			defer graph.Close()
			tok := tt.token(graph.URL)
			c, _ := MustNewClient(t, extract.Config{BaseURL: graph.URL, Credential: extract.StaticToken(tok)})
			err := c.ListCallRecords(context.Background(), authFrom, authTo, func(extract.ListedRecord) error { return nil })
			var ae *extract.AuthError
			var ge *extract.GraphError
			if !errors.As(err, &ae) || !errors.Is(err, extract.ErrAuth) || !errors.As(err, &ge) || ge.Status != tt.status {
				t.Fatalf("ListCallRecords = %v, want an *AuthError wrapping a *GraphError %d", err, tt.status)
			}
			if want := fmt.Sprintf("HTTP %d", tt.status); ae.Code != want {
				t.Errorf("AuthError.Code = %q, want %q", ae.Code, want)
			}
			for _, s := range tt.wantFix {
				if !fixSays(ae, s) {
					t.Errorf("Fix %q (settings %v) does not mention %q", ae.Fix, ae.Settings, s)
				}
			}
			if !strings.HasPrefix(ae.Error(), ae.Fix) || !strings.Contains(ae.Error(), ge.RequestID) || strings.Contains(err.Error(), tok) {
				t.Errorf("error %q: want the sentence first, Graph's request id, and never the token", err)
			}
			if want := map[int]int{401: 2, 403: 1}[tt.status]; hits != want {
				t.Errorf("graph requests = %d, want %d (a 401 refreshes the token once, a 403 is final)", hits, want)
			}
		})
	}
}

// TestExplainAuthError_Codes maps each AADSTS code that has a fix to its
// sentence, from Entra's text alone, and leaves other errors alone.
func TestExplainAuthError_Codes(t *testing.T) {
	tests := []struct {
		code string
		want string // substring of the sentence
	}{
		{"AADSTS90002", "setting:TenantID"},
		{"AADSTS900023", "setting:TenantID"},
		{"AADSTS90038", "setting:Cloud"},
		{"AADSTS500011", "setting:Cloud"},
		{"AADSTS700016", "setting:ClientID"},
		{"AADSTS7000215", "setting:ClientSecret"},
		{"AADSTS7000222", "expired"},
		{"AADSTS700027", "Certificates & secrets"},
		{"AADSTS700024", "clock"},
		{"AADSTS65001", "admin consent"},
		{"AADSTS650057", "CallRecords.Read.All"},
		{"AADSTS70021", "federated identity credential"},
		{"AADSTS700211", "issuer"},
		{"AADSTS700212", "audience"},
		{"AADSTS700213", "subject"},
		{"AADSTS7002138", "case-sensitive"},
		{"AADSTS7000112", "disabled"},
		{"AADSTS53003", "Conditional Access"},
		{"AADSTS12345", "login.microsoftonline.com/error?code=12345"},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			orig := fmt.Errorf("ClientSecretCredential authentication failed. %s: something went wrong.\\r\\nTrace ID: t", tt.code)
			err := extract.ExplainAuthError(orig)
			var ae *extract.AuthError
			if !errors.As(err, &ae) || !errors.Is(err, extract.ErrAuth) || !errors.Is(err, orig) {
				t.Fatalf("ExplainAuthError(%v) = %v, want an *AuthError wrapping ErrAuth and the original", orig, err)
			}
			if ae.Code != tt.code || !fixSays(ae, tt.want) {
				t.Errorf("ExplainAuthError(%s) = code %q fix %q %v, want code %s and a fix mentioning %q", tt.code, ae.Code, ae.Fix, ae.Settings, tt.code, tt.want)
			}
			if again := extract.ExplainAuthError(err); again != err {
				t.Errorf("ExplainAuthError of an *AuthError = %v, want it unchanged", again)
			}
		})
	}
	for _, orig := range []error{errors.New("dial tcp: lookup login.microsoftonline.com: no such host"), context.Canceled, nil} {
		if got := extract.ExplainAuthError(orig); got != orig || errors.Is(got, extract.ErrAuth) {
			t.Errorf("ExplainAuthError(%v) = %v, want it unchanged", orig, got)
		}
	}
}

// rewriteTransport records where each request was meant to go and sends it
// to a local server instead, keeping the original Host header.
type rewriteTransport struct {
	to *url.URL
	c  *http.Client

	mu   sync.Mutex
	urls []string
}

func (rt *rewriteTransport) Do(req *http.Request) (*http.Response, error) { return rt.RoundTrip(req) }

func (rt *rewriteTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rt.mu.Lock()
	rt.urls = append(rt.urls, req.URL.Scheme+"://"+req.URL.Host+req.URL.Path)
	rt.mu.Unlock()
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host, out.Host = rt.to.Scheme, rt.to.Host, req.URL.Host
	out.RequestURI = ""
	return rt.c.Transport.RoundTrip(out)
}

func (rt *rewriteTransport) requested() []string {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return slices.Clone(rt.urls)
}

// TestSovereignClouds_Endpoints authenticates in each cloud with MSAL's
// authority validation on, and lists call records: every token request goes
// to that cloud's login host, the token is for that cloud's Graph, and Graph
// requests go to that cloud's Graph host.
func TestSovereignClouds_Endpoints(t *testing.T) {
	for _, name := range extract.CloudNames() {
		t.Run(name, func(t *testing.T) {
			cloud, err := extract.LookupCloud(name)
			if err != nil {
				t.Fatal(err)
			}
			token := appToken(cloud.GraphURL, "CallRecords.Read.All")
			entra := newFakeEntra(t, token)
			entra.set(func(f *fakeEntra) { f.scope = cloud.Scope() })
			login := &rewriteTransport{to: mustParseURL(t, entra.srv.URL), c: entra.srv.Client()}
			cfg := extract.CredentialConfig{TenantID: testTenant, ClientID: testClient, ClientSecret: testSecret, AuthorityHost: cloud.AuthorityHost}
			extract.SetCredentialTransport(&cfg, login, false)
			cred, err := extract.NewCredential(cfg)
			if err != nil {
				t.Fatalf("NewCredential(%v) = %v", cfg, err)
			}
			var auth []string
			graphSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				auth = append(auth, r.Header.Get("Authorization"))
				io.WriteString(w, `{"value":[]}`)
			}))
			defer graphSrv.Close()
			graph := &rewriteTransport{to: mustParseURL(t, graphSrv.URL), c: graphSrv.Client()}
			c, _ := MustNewClient(t, extract.Config{BaseURL: cloud.GraphURL, Credential: cred, HTTPClient: &http.Client{Transport: graph}})
			if err := c.ListCallRecords(context.Background(), authFrom, authTo, func(extract.ListedRecord) error { return nil }); err != nil {
				t.Fatalf("ListCallRecords in %s = %v", name, err)
			}
			requested := login.requested()
			for _, u := range requested {
				if !strings.HasPrefix(u, cloud.AuthorityHost) {
					t.Errorf("token service request to %s, want only %s…", u, cloud.AuthorityHost)
				}
			}
			if want := cloud.AuthorityHost + testTenant + "/oauth2/v2.0/token"; !slices.Contains(requested, want) {
				t.Errorf("token service requests %v, want one to %s", requested, want)
			}
			if got := entra.issued(); len(got) != 1 {
				t.Errorf("tokens issued = %v, want one for scope %s", got, cloud.Scope())
			}
			gotGraph := graph.requested()
			if len(gotGraph) != 1 || gotGraph[0] != cloud.GraphURL+"/v1.0/communications/callRecords" || len(auth) != 1 || auth[0] != "Bearer "+token {
				t.Errorf("graph requests = %v with %d authorizations, want one to %s/v1.0/communications/callRecords with the issued token", gotGraph, len(auth), cloud.GraphURL)
			}
		})
	}
}

func mustParseURL(tb testing.TB, s string) *url.URL {
	tb.Helper()
	u, err := url.Parse(s)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// TestLookupCloud checks the canonical names, the aliases and the endpoints
// published in Microsoft Graph's national cloud deployments page.
func TestLookupCloud(t *testing.T) {
	tests := []struct {
		name, wantName, wantGraph, wantLogin string
	}{
		{"global", "global", "https://graph.microsoft.com", "https://login.microsoftonline.com/"},
		{"", "global", "https://graph.microsoft.com", "https://login.microsoftonline.com/"},
		{"GCC", "global", "https://graph.microsoft.com", "https://login.microsoftonline.com/"},
		{"usgov", "usgov", "https://graph.microsoft.us", "https://login.microsoftonline.us/"},
		{"gcc-high", "usgov", "https://graph.microsoft.us", "https://login.microsoftonline.us/"},
		{"AzureUSGovernment", "usgov", "https://graph.microsoft.us", "https://login.microsoftonline.us/"},
		{"usgovdod", "usgovdod", "https://dod-graph.microsoft.us", "https://login.microsoftonline.us/"},
		{"DoD", "usgovdod", "https://dod-graph.microsoft.us", "https://login.microsoftonline.us/"},
		{"china", "china", "https://microsoftgraph.chinacloudapi.cn", "https://login.chinacloudapi.cn/"},
		{"AzureChinaCloud", "china", "https://microsoftgraph.chinacloudapi.cn", "https://login.chinacloudapi.cn/"},
	}
	for _, tt := range tests {
		got, err := extract.LookupCloud(tt.name)
		if err != nil || got.Name != tt.wantName || got.GraphURL != tt.wantGraph || got.AuthorityHost != tt.wantLogin || got.Scope() != tt.wantGraph+"/.default" {
			t.Errorf("LookupCloud(%q) = %+v, %v, want %s %s %s", tt.name, got, err, tt.wantName, tt.wantGraph, tt.wantLogin)
		}
	}
	if _, err := extract.LookupCloud("germany"); err == nil || !strings.Contains(err.Error(), "global, usgov, usgovdod, china") {
		t.Errorf("LookupCloud(germany) = %v, want an error listing the clouds", err)
	}
}

// TestCertificateFiles loads the certificate files users have, and refuses
// the ones it cannot use with an error that says why and never shows the password.
func TestCertificateFiles(t *testing.T) {
	cert := testCerts()[0]
	encryptedPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.cert.Raw})
	encryptedPEM = append(encryptedPEM, pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte("PBES2-encrypted PKCS#8 bytes")})...)
	tests := []struct {
		name, file, password string
		data                 []byte
		wantErr              string // "" for success
	}{
		{"PEM", "c.pem", "", certPEM(t, cert), ""},
		{"PEM with an unneeded password", "c.pem", testPFXPass, certPEM(t, cert), ""},
		{"PFX modern (AES, SHA-256)", "c.pfx", testPFXPass, certPFX(t, cert, pkcs12.Modern2023, testPFXPass), ""},
		{"PFX legacy (3DES, SHA-1)", "c.pfx", testPFXPass, certPFX(t, cert, pkcs12.LegacyDES, testPFXPass), ""},
		{"PFX without password", "c.pfx", "", certPFX(t, cert, pkcs12.Passwordless, ""), ""},
		{"PFX wrong password", "c.pfx", "wrong-pfx-password", certPFX(t, cert, pkcs12.Modern2023, testPFXPass), "password is wrong"},
		{"PFX password missing", "c.pfx", "", certPFX(t, cert, pkcs12.Modern2023, testPFXPass), "set the certificate password"},
		{"encrypted PEM key", "c.pem", testPFXPass, encryptedPEM, "encrypted"},
		{"junk", "c.crt", "", []byte("not a certificate"), "not a PEM file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := extract.CredentialConfig{TenantID: testTenant, ClientID: testClient, CertificatePath: MustWriteFile(t, tt.file, tt.data), CertificatePassword: tt.password}
			cred, err := extract.NewCredential(cfg)
			if tt.wantErr == "" {
				if _, ok := cred.(*azidentity.ClientCertificateCredential); err != nil || !ok {
					t.Fatalf("NewCredential(%s) = %T, %v, want a client certificate credential", tt.name, cred, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("NewCredential(%s) = %v, want an error mentioning %q", tt.name, err, tt.wantErr)
			}
			if tt.password != "" && strings.Contains(err.Error(), tt.password) {
				t.Errorf("error %q shows the certificate password", err)
			}
		})
	}
}

// TestDefaultChain_Environment lets azidentity's default chain find its
// credential in the environment, as in a pod with the workload identity
// webhook or a container given AZURE_CLIENT_SECRET.
func TestDefaultChain_Environment(t *testing.T) {
	token := appToken("https://graph.microsoft.com", "CallRecords.Read.All")
	tests := []struct {
		name         string
		env          map[string]string
		cfg          extract.CredentialConfig
		wantGrant    string
		wantDescribe string
	}{
		{"environment client secret", map[string]string{"AZURE_TENANT_ID": testTenant, "AZURE_CLIENT_ID": testClient, "AZURE_CLIENT_SECRET": testSecret},
			extract.CredentialConfig{}, "secret", "default chain"},
		{"workload identity webhook", map[string]string{"AZURE_TENANT_ID": testTenant, "AZURE_CLIENT_ID": testClient, "AZURE_FEDERATED_TOKEN_FILE": "token"},
			extract.CredentialConfig{}, "federated", "workload identity for app " + testClient},
		{"client id with the webhook's token file", map[string]string{"AZURE_TENANT_ID": testTenant, "AZURE_FEDERATED_TOKEN_FILE": "token"},
			extract.CredentialConfig{ClientID: testClient}, "federated", "workload identity for app " + testClient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearAzureEnv(t)
			entra := newFakeEntra(t, token)
			for k, v := range tt.env {
				if k == "AZURE_FEDERATED_TOKEN_FILE" {
					tok := fakeJWT(map[string]any{"sub": "system:serviceaccount:etl:callrecords"})
					entra.set(func(f *fakeEntra) { f.federated[tok] = true })
					v = MustWriteFile(t, "azure-identity-token", []byte(tok))
				}
				t.Setenv(k, v)
			}
			if d := tt.cfg.Describe(); !strings.Contains(d, tt.wantDescribe) || strings.Contains(d, testSecret) {
				t.Errorf("Describe() = %q, want it to mention %q and no secret", d, tt.wantDescribe)
			}
			cred := MustCredential(t, tt.cfg, entra)
			tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
			if err != nil || tok.Token != token {
				t.Fatalf("GetToken = %v, want the token of the fake Entra", err)
			}
			if got := entra.issued(); !slices.Equal(got, []string{tt.wantGrant}) {
				t.Errorf("tokens issued = %v, want [%s]", got, tt.wantGrant)
			}
		})
	}
}

// TestDefaultChain_NothingAvailable: with no credential to try, the client
// says which options exist.
func TestDefaultChain_NothingAvailable(t *testing.T) {
	clearAzureEnv(t)
	t.Setenv("AZURE_TOKEN_CREDENTIALS", "AzureCLICredential")
	t.Setenv("PATH", t.TempDir()) // no az on the path
	cred, err := extract.NewCredential(extract.CredentialConfig{})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := MustNewClient(t, extract.Config{BaseURL: "https://graph.microsoft.com", Credential: cred})
	_, err = c.GetCallRecord(context.Background(), "rec-1")
	var ae *extract.AuthError
	if !errors.As(err, &ae) || !strings.Contains(ae.Fix, "no credential is available") || !fixSays(ae, "setting:ClientSecret") {
		t.Fatalf("GetCallRecord without any credential = %v, want the no-credential sentence", err)
	}
}

// TestDefaultChain_NothingWorked: when the default chain's managed identity
// endpoint answers 403 (no identity here, or a proxy that refuses it) and no
// other credential is configured, the error says which credentials were
// tried and why each failed — once, and without blaming Entra.
func TestDefaultChain_NothingWorked(t *testing.T) {
	clearAzureEnv(t)
	t.Setenv("PATH", t.TempDir()) // no az on the path
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "resolve_deny: denied destination", http.StatusForbidden)
	}))
	t.Cleanup(imds.Close)
	t.Setenv("IDENTITY_ENDPOINT", imds.URL) // App Service's managed identity endpoint
	t.Setenv("IDENTITY_HEADER", "header")
	cred, err := extract.NewCredential(extract.CredentialConfig{})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := MustNewClient(t, extract.Config{BaseURL: "https://graph.microsoft.com", Credential: cred})
	_, err = c.GetCallRecord(context.Background(), "rec-1")
	var ae *extract.AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("GetCallRecord = %v, want an *AuthError", err)
	}
	for _, want := range []string{"no credential is available", "EnvironmentCredential", "ManagedIdentityCredential", "HTTP 403"} {
		if !strings.Contains(ae.Fix, want) {
			t.Errorf("fix %q does not say %q", ae.Fix, want)
		}
	}
	if strings.Contains(err.Error(), "Entra refused") || strings.Count(err.Error(), "EnvironmentCredential") != 1 {
		t.Errorf("error = %q, want each credential named once and no Entra refusal", err)
	}
	if !fixSays(ae, "setting:ClientSecret") {
		t.Errorf("fix %+v names no credential setting", ae)
	}
}

// TestManagedIdentity_UserAssigned gets a token for a user-assigned managed
// identity (the client id alone) from a local App Service identity endpoint.
func TestManagedIdentity_UserAssigned(t *testing.T) {
	clearAzureEnv(t)
	token := appToken("https://graph.microsoft.com", "CallRecords.Read.All")
	const header = "identity-header-value"
	var got url.Values
	mi := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.Query()
		if r.Header.Get("X-IDENTITY-HEADER") != header {
			http.Error(w, "missing identity header", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":%q,"expires_on":"%d","resource":%q,"token_type":"Bearer","client_id":%q}`,
			token, time.Now().Add(time.Hour).Unix(), got.Get("resource"), got.Get("client_id"))
	}))
	defer mi.Close()
	t.Setenv("IDENTITY_ENDPOINT", mi.URL+"/msi/token")
	t.Setenv("IDENTITY_HEADER", header)
	// MSAL caches managed identities' tokens for the whole process, by
	// client id: a client id of this run's own, or a second run (-count=2)
	// is served the first one's token.
	clientID := fmt.Sprintf("%08x-0000-4000-8000-%012x", rand.Uint32(), rand.Uint64()>>16)
	cfg := extract.CredentialConfig{ClientID: clientID}
	if d := cfg.Describe(); !strings.Contains(d, "managed identity with client id "+clientID) {
		t.Errorf("Describe() = %q, want the user-assigned managed identity", d)
	}
	extract.SetCredentialTransport(&cfg, mi.Client(), false)
	cred, err := extract.NewCredential(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}})
	if err != nil || tok.Token != token {
		t.Fatalf("GetToken = %v, want the managed identity's token", err)
	}
	if got.Get("client_id") != clientID || got.Get("resource") != "https://graph.microsoft.com" {
		t.Errorf("identity endpoint query = %v, want client_id %s and resource https://graph.microsoft.com", got, clientID)
	}
}

// clearAzureEnv unsets the variables azidentity reads, for the duration of the test.
func clearAzureEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
		"AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_USERNAME", "AZURE_PASSWORD", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_TOKEN_CREDENTIALS",
		"AZURE_AUTHORITY_HOST", "AZURE_ADDITIONALLY_ALLOWED_TENANTS", "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT",
		"MSI_SECRET", "IMDS_ENDPOINT", "IDENTITY_SERVER_THUMBPRINT"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

// TestDescribe says which identity each configuration uses, without secrets.
func TestDescribe(t *testing.T) {
	clearAzureEnv(t)
	static := appToken("https://graph.microsoft.com", "CallRecords.Read.All")
	tests := []struct {
		cfg  extract.CredentialConfig
		want []string
	}{
		{extract.CredentialConfig{TenantID: "t1", ClientID: "c1", ClientSecret: testSecret, AuthorityHost: "https://login.microsoftonline.us/"},
			[]string{"client secret for app c1 in tenant t1", "via https://login.microsoftonline.us/"}},
		{extract.CredentialConfig{TenantID: "t1", ClientID: "c1", CertificatePath: "/etc/etl/cert.pfx", CertificatePassword: testPFXPass},
			[]string{"client certificate /etc/etl/cert.pfx for app c1 in tenant t1"}},
		{extract.CredentialConfig{TenantID: "t1", ClientID: "c1", FederatedTokenFile: "/var/run/secrets/azure/tokens/azure-identity-token"},
			[]string{"workload identity for app c1 in tenant t1 (token file /var/run/secrets/azure/tokens/azure-identity-token)"}},
		{extract.CredentialConfig{ClientID: "c1"}, []string{"user-assigned managed identity with client id c1"}},
		{extract.CredentialConfig{Token: static}, []string{"static bearer token", "app " + testClient, "tenant " + testTenant, "CallRecords.Read.All"}},
		{extract.CredentialConfig{Token: "opaque"}, []string{"static bearer token"}},
		{extract.CredentialConfig{}, []string{"default chain", "system-assigned managed identity"}},
		{extract.CredentialConfig{ClientSecret: testSecret, FederatedTokenFile: "/f"}, []string{"invalid", "choose one"}},
	}
	for _, tt := range tests {
		got := tt.cfg.Describe()
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("Describe(%v) = %q, want it to contain %q", tt.cfg, got, w)
			}
		}
		for _, secret := range []string{testSecret, testPFXPass, static} {
			if strings.Contains(got, secret) {
				t.Errorf("Describe(%v) = %q shows a secret", tt.cfg, got)
			}
		}
	}
}

// TestRedaction_NoSecretInLogsOrErrors runs every offline auth mode, once
// successfully and once failing, with debug logging to JSON and text
// handlers, and checks that no secret appears in any log line or error: the
// client secrets, the certificate passwords, the federated tokens and the
// access token.
func TestRedaction_NoSecretInLogsOrErrors(t *testing.T) {
	token := appToken("", "CallRecords.Read.All")
	_, srv := MustStartSim(t, graphsim.Config{Token: token})
	entra := newFakeEntra(t, token)
	entra.set(func(f *fakeEntra) { f.scope = srv.URL + "/.default" })
	log, capture := newLogCapture()
	var errs []string
	failures := 0
	run := func(name string, cfg extract.CredentialConfig) {
		log.Info("graph credential", "name", name, "credential", cfg, "identity", cfg.Describe())
		if cfg.AuthorityHost == "" {
			cfg.AuthorityHost = entra.srv.URL
		}
		extract.SetCredentialTransport(&cfg, entra.srv.Client(), true)
		cred, err := extract.NewCredential(cfg)
		if err != nil {
			log.Error("new credential", "error", err)
			errs = append(errs, err.Error(), fmt.Sprintf("%+v", err))
			failures++
			return
		}
		c, err := extract.New(extract.Config{BaseURL: srv.URL, Credential: cred, Logger: log, MaxRetries: -1})
		if err != nil {
			t.Fatal(err)
		}
		err = c.ListCallRecords(context.Background(), authFrom, authTo, func(extract.ListedRecord) error { return nil })
		if err != nil {
			log.Error("run failed", "error", err)
			errs = append(errs, err.Error(), fmt.Sprintf("%+v", err))
			failures++
		}
	}
	const wrongSecret, wrongPass = "wrong~secret~value~1234", "wrong-pfx-pass-5678"
	secrets := []string{testSecret, wrongSecret, testPFXPass, wrongPass, token}
	modes := authModes(t, entra)
	for _, m := range modes {
		run(m.name, m.cfg)
		bad, restore := m.cfg, func() {}
		switch {
		case bad.ClientSecret != "":
			bad.ClientSecret = wrongSecret
		case bad.CertificatePassword != "":
			bad.CertificatePassword = wrongPass
		case bad.CertificatePath != "":
			entra.set(func(f *fakeEntra) { f.cert = testCerts()[1].cert })
			restore = func() { entra.set(func(f *fakeEntra) { f.cert = testCerts()[0].cert }) }
		case bad.FederatedTokenFile != "":
			expired := fakeJWT(map[string]any{"sub": "system:serviceaccount:etl:callrecords", "expired": true})
			entra.set(func(f *fakeEntra) { f.federated[expired] = false })
			bad.FederatedTokenFile = MustWriteFile(t, "expired-token", []byte(expired))
			secrets = append(secrets, expired)
		case bad.Token != "":
			bad.Token = appToken("", "CallRecords.Read.All") // not the one Graph accepts
			secrets = append(secrets, bad.Token)
		}
		run(m.name+" failing", bad)
		restore()
	}
	entra.set(func(f *fakeEntra) {
		for a := range f.federated {
			secrets = append(secrets, a)
		}
	})
	if failures != len(modes) {
		t.Fatalf("%d failures, want %d, one per mode: %v", failures, len(modes), errs)
	}
	lines := capture.lines()
	var sawIdentity bool
	for _, line := range lines {
		sawIdentity = sawIdentity || strings.Contains(line, "graph token acquired") && strings.Contains(line, testClient)
		for _, s := range secrets {
			if strings.Contains(line, s) {
				t.Errorf("log line %q contains a secret", line)
			}
		}
	}
	for _, e := range errs {
		for _, s := range secrets {
			if strings.Contains(e, s) {
				t.Errorf("error %q contains a secret", e)
			}
		}
	}
	if len(lines) < 20 || !sawIdentity {
		t.Errorf("captured %d log lines, identity logged %v: want debug records of every request and the token's identity", len(lines), sawIdentity)
	}
}

// TestNewCredential_Config covers the configurations refused before any network call.
func TestNewCredential_Config(t *testing.T) {
	clearAzureEnv(t)
	tokenFile := MustWriteFile(t, "token", []byte("federated-token"))
	empty := MustWriteFile(t, "empty", nil)
	tests := []struct {
		name    string
		cfg     extract.CredentialConfig
		wantErr string
	}{
		{"token and secret", extract.CredentialConfig{Token: "t", ClientSecret: "s", TenantID: "t", ClientID: "c"}, "choose one"},
		{"secret and token file", extract.CredentialConfig{ClientSecret: "s", FederatedTokenFile: tokenFile, TenantID: "t", ClientID: "c"}, "choose one"},
		{"token file without ids", extract.CredentialConfig{FederatedTokenFile: tokenFile}, "tenant id and a client id"},
		{"token file missing", extract.CredentialConfig{FederatedTokenFile: tokenFile + ".missing", TenantID: "t", ClientID: "c"}, "read federated token file"},
		{"token file empty", extract.CredentialConfig{FederatedTokenFile: empty, TenantID: "t", ClientID: "c"}, "empty"},
		{"authority without scheme", extract.CredentialConfig{ClientSecret: "s", TenantID: "t", ClientID: "c", AuthorityHost: "login.microsoftonline.us"}, "https URL"},
		{"authority over http", extract.CredentialConfig{ClientSecret: "s", TenantID: "t", ClientID: "c", AuthorityHost: "http://login.microsoftonline.us/"}, "https URL"},
	}
	for _, tt := range tests {
		if _, err := extract.NewCredential(tt.cfg); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("NewCredential(%s) = %v, want an error mentioning %q", tt.name, err, tt.wantErr)
		}
	}
}

// TestAuthorityHost_NotEntra points the credential at a host that is not a
// Microsoft Entra authority (a typo in --authority-host, a proxy page).
func TestAuthorityHost_NotEntra(t *testing.T) {
	other := httptest.NewTLSServer(http.NotFoundHandler())
	defer other.Close()
	cfg := extract.CredentialConfig{TenantID: testTenant, ClientID: testClient, ClientSecret: testSecret, AuthorityHost: other.URL}
	extract.SetCredentialTransport(&cfg, other.Client(), true)
	cred, err := extract.NewCredential(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := MustNewClient(t, extract.Config{BaseURL: "https://graph.microsoft.com", Credential: cred})
	_, err = c.GetCallRecord(context.Background(), "rec-1")
	var ae *extract.AuthError
	if !errors.As(err, &ae) || !fixSays(ae, "setting:Cloud") || !fixSays(ae, "setting:AuthorityHost") || strings.Contains(err.Error(), testSecret) {
		t.Fatalf("GetCallRecord via a host that is not Entra = %v, want the authority sentence", err)
	}
}

// fixSays reports whether the error's Fix says want, or, for "setting:X",
// whether it refers to the setting X (which a command line names by its flag).
func fixSays(ae *extract.AuthError, want string) bool {
	if name, ok := strings.CutPrefix(want, "setting:"); ok {
		return slices.Contains(ae.Settings, extract.Setting(name))
	}
	return strings.Contains(ae.Fix, want)
}
