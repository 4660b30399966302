package extract_test

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"
)

// Identities of the fake tenant.
const (
	testTenant  = "8d2f1c3a-5b6e-4f70-9a81-2c3d4e5f6a7b"
	testClient  = "4a1b2c3d-9e8f-4a7b-8c6d-5e4f3a2b1c0d"
	testSecret  = "s3cr3t~Q8Q~not-a-real-secret-value"
	testPFXPass = "pfx-password-7f3a"
	jwtBearer   = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)

// testCert is a self-signed certificate and its RSA key.
type testCert struct {
	cert *x509.Certificate
	key  *rsa.PrivateKey
}

// testCerts are generated once per test binary: RSA key generation is slow under -race.
var testCerts = sync.OnceValue(func() [2]testCert {
	var out [2]testCert
	for i := range out {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 1)), Subject: pkix.Name{CommonName: fmt.Sprintf("callrecords-etl test %d", i)},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			panic(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			panic(err)
		}
		out[i] = testCert{cert: cert, key: key}
	}
	return out
})

// MustWriteFile writes data to name in a temporary directory and returns the path.
func MustWriteFile(tb testing.TB, name string, data []byte) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// certPEM is the certificate and its PKCS#8 key as PEM.
func certPEM(tb testing.TB, c testCert) []byte {
	tb.Helper()
	keyDER, err := x509.MarshalPKCS8PrivateKey(c.key)
	if err != nil {
		tb.Fatal(err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw})
	return append(data, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})...)
}

// certPFX is the certificate and key as PKCS#12, encrypted with password by enc.
func certPFX(tb testing.TB, c testCert, enc *pkcs12.Encoder, password string) []byte {
	tb.Helper()
	data, err := enc.Encode(c.key, c.cert, nil, password)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// fakeJWT returns an unsigned-looking JWT with claims and a random signature,
// so that each token is distinct. Only its claims matter to the code under test.
func fakeJWT(claims map[string]any) string {
	enc := base64.RawURLEncoding
	hdr, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": "test"})
	body, _ := json.Marshal(claims)
	sig := make([]byte, 32)
	rand.Read(sig)
	return enc.EncodeToString(hdr) + "." + enc.EncodeToString(body) + "." + enc.EncodeToString(sig)
}

// appToken is an app-only Graph access token for the test app with roles.
func appToken(aud string, roles ...string) string {
	claims := map[string]any{"aud": aud, "tid": testTenant, "appid": testClient, "oid": "0b1c2d3e-0000-4000-8000-00000000000a",
		"idtyp": "app", "exp": time.Now().Add(time.Hour).Unix()}
	if roles != nil {
		claims["roles"] = roles
	}
	return fakeJWT(claims)
}

// fakeEntra is a local Microsoft Entra token service for one tenant and one
// app: the OpenID configuration MSAL fetches, and the v2.0 token endpoint for
// the client credentials grant with a client secret, a certificate-signed
// client assertion (signature and x5t#S256 checked against cert) or a
// federated token (an assertion listed in federated). Failures answer with
// Entra's error codes and messages; nothing a client sends is echoed back.
type fakeEntra struct {
	srv *httptest.Server

	mu        sync.Mutex
	tenant    string
	clientID  string
	secret    string
	cert      *x509.Certificate // registered certificate
	federated map[string]bool   // federated token -> still valid
	scope     string            // the only scope served; empty accepts any
	consented bool
	expiresIn int    // seconds; under 300 MSAL asks for a new token every time
	token     string // access token issued

	hosts      []string // Host of every request
	grants     []string // "secret", "certificate" or "federated" per token issued
	assertions []string // federated tokens presented
}

// newFakeEntra starts a fake Entra over TLS that issues token.
func newFakeEntra(tb testing.TB, token string) *fakeEntra {
	tb.Helper()
	f := &fakeEntra{tenant: testTenant, clientID: testClient, secret: testSecret, cert: testCerts()[0].cert,
		federated: map[string]bool{}, consented: true, expiresIn: 3599, token: token}
	f.srv = httptest.NewTLSServer(f)
	tb.Cleanup(f.srv.Close)
	return f
}

// set changes the fake's configuration under its lock.
func (f *fakeEntra) set(fn func(f *fakeEntra)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// issued returns the grants of the tokens issued so far.
func (f *fakeEntra) issued() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.grants)
}

// ServeHTTP answers /{tenant}/v2.0/.well-known/openid-configuration and
// POST /{tenant}/oauth2/v2.0/token.
func (f *fakeEntra) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hosts = append(f.hosts, r.Host)
	tenant, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	switch {
	case r.Method == http.MethodGet && rest == "v2.0/.well-known/openid-configuration":
		if tenant != f.tenant {
			entraError(w, http.StatusBadRequest, "invalid_tenant", 90002, fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID "+
				"and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", tenant))
			return
		}
		base := "https://" + r.Host + "/" + tenant
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"token_endpoint":                        base + "/oauth2/v2.0/token",
			"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
			"issuer":                                base + "/v2.0",
			"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		})
	case r.Method == http.MethodGet && tenant == "common" && rest == "discovery/instance":
		// Instance discovery, which MSAL asks the authority host itself for
		// the known clouds: this host is its own only alias.
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"tenant_discovery_endpoint": "https://" + r.Host + "/{tenant}/v2.0/.well-known/openid-configuration",
			"api-version":               "1.1",
			"metadata":                  []map[string]any{{"preferred_network": r.Host, "preferred_cache": r.Host, "aliases": []string{r.Host}}},
		})
	case r.Method == http.MethodPost && rest == "oauth2/v2.0/token":
		f.serveToken(w, r, tenant)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeEntra) serveToken(w http.ResponseWriter, r *http.Request, tenant string) {
	if err := r.ParseForm(); err != nil {
		entraError(w, http.StatusBadRequest, "invalid_request", 90014, "The request body is malformed.")
		return
	}
	form := r.PostForm
	switch {
	case form.Get("grant_type") != "client_credentials":
		entraError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
		return
	case tenant != f.tenant:
		entraError(w, http.StatusBadRequest, "invalid_request", 90002, fmt.Sprintf("Tenant '%s' not found.", tenant))
		return
	case form.Get("client_id") != f.clientID:
		entraError(w, http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. "+
			"This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. "+
			"You may have sent your authentication request to the wrong tenant.", form.Get("client_id"), tenant))
		return
	case f.scope != "" && !slices.Contains(strings.Fields(form.Get("scope")), f.scope):
		scope, _, _ := strings.Cut(form.Get("scope"), " ")
		entraError(w, http.StatusBadRequest, "invalid_resource", 500011, fmt.Sprintf("The resource principal named %s was not found in the tenant named %s. "+
			"This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. "+
			"You might have sent your authentication request to the wrong tenant.", strings.TrimSuffix(scope, "/.default"), tenant))
		return
	}
	var grant string
	switch {
	case form.Has("client_secret"):
		if form.Get("client_secret") != f.secret {
			entraError(w, http.StatusUnauthorized, "invalid_client", 7000215, fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request "+
				"is the client secret value, not the client secret ID, for a secret added to app '%s'.", f.clientID))
			return
		}
		grant = "secret"
	case form.Get("client_assertion_type") == jwtBearer && isCertAssertion(form.Get("client_assertion")):
		if err := f.verifyCertAssertion(form.Get("client_assertion"), "https://"+r.Host+r.URL.Path); err != nil {
			entraError(w, http.StatusUnauthorized, "invalid_client", 700027, "Client assertion failed signature validation. [Reason - "+err.Error()+"]")
			return
		}
		grant = "certificate"
	case form.Get("client_assertion_type") == jwtBearer:
		a := form.Get("client_assertion")
		f.assertions = append(f.assertions, a)
		valid, known := f.federated[a]
		if !known {
			entraError(w, http.StatusBadRequest, "invalid_client", 700213, "No matching federated identity record found for presented assertion subject "+
				"'system:serviceaccount:etl:callrecords'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.")
			return
		}
		if !valid {
			entraError(w, http.StatusBadRequest, "invalid_client", 700024, "Client assertion is not within its valid time range.")
			return
		}
		grant = "federated"
	default:
		entraError(w, http.StatusBadRequest, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	}
	if !f.consented {
		entraError(w, http.StatusBadRequest, "invalid_grant", 65001, fmt.Sprintf("The user or administrator has not consented to use the application with ID '%s' "+
			"named 'callrecords-etl'. Send an interactive authorization request for this user and resource.", f.clientID))
		return
	}
	f.grants = append(f.grants, grant)
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": f.expiresIn, "ext_expires_in": f.expiresIn, "access_token": f.token})
}

// isCertAssertion tells a certificate-signed client assertion (x5t#S256 in
// its header) from a federated token.
func isCertAssertion(a string) bool {
	hdr, _, _ := strings.Cut(a, ".")
	data, err := base64.RawURLEncoding.DecodeString(hdr)
	return err == nil && bytes.Contains(data, []byte(`"x5t#S256"`))
}

// verifyCertAssertion checks a client assertion the way Entra does: PS256
// signature by the registered certificate's key, the certificate's SHA-256
// thumbprint, audience, issuer, subject and lifetime.
func (f *fakeEntra) verifyCertAssertion(a, audience string) error {
	parts := strings.Split(a, ".")
	if len(parts) != 3 {
		return errors.New("malformed assertion")
	}
	var hdr struct {
		Alg     string `json:"alg"`
		X5tS256 string `json:"x5t#S256"`
	}
	var claims struct {
		Aud, Iss, Sub string
		Exp, Nbf      int64
	}
	for i, v := range []any{&hdr, &claims} {
		data, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return err
		}
		if err := json.Unmarshal(data, v); err != nil {
			return err
		}
	}
	thumb := sha256.Sum256(f.cert.Raw)
	if hdr.X5tS256 != base64.StdEncoding.EncodeToString(thumb[:]) && hdr.X5tS256 != base64.RawURLEncoding.EncodeToString(thumb[:]) {
		return errors.New("the certificate with identifier used to sign the client assertion is not registered on application")
	}
	if hdr.Alg != "PS256" {
		return fmt.Errorf("unsupported algorithm %s", hdr.Alg)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return err
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPSS(f.cert.PublicKey.(*rsa.PublicKey), crypto.SHA256, digest[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}); err != nil {
		return errors.New("invalid signature")
	}
	now := time.Now().Unix()
	switch {
	case claims.Aud != audience:
		return fmt.Errorf("audience %s is not the token endpoint %s", claims.Aud, audience)
	case claims.Iss != f.clientID || claims.Sub != f.clientID:
		return errors.New("issuer and subject must be the client id")
	case claims.Exp < now || claims.Nbf > now+300:
		return errors.New("assertion outside its lifetime")
	}
	return nil
}

// entraError writes Entra's OAuth error body.
func entraError(w http.ResponseWriter, status int, kind string, code int, msg string) {
	const trace, corr = "0f6b4c8e-1d2e-4f30-8a41-5b6c7d8e9f00", "5d1c2a3b-4e5f-4a6b-9c7d-8e9f0a1b2c3d"
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{
		"error":             kind,
		"error_description": fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: 2024-03-31 12:00:00Z", code, msg, trace, corr),
		"error_codes":       []int{code},
		"timestamp":         "2024-03-31 12:00:00Z",
		"trace_id":          trace,
		"correlation_id":    corr,
		"error_uri":         fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", code),
	})
}

// logCapture collects the records of a JSON and a text handler at debug level.
type logCapture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logCapture) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// lines returns the records written so far, one per line.
func (l *logCapture) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Split(strings.TrimSpace(l.buf.String()), "\n")
}

// newLogCapture returns a logger writing every record, debug included, as
// JSON and as text into the capture.
func newLogCapture() (*slog.Logger, *logCapture) {
	l := &logCapture{}
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	return slog.New(slog.NewMultiHandler(slog.NewJSONHandler(l, opts), slog.NewTextHandler(l, opts))), l
}
