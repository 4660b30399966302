package loadtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/callrecords-etl/callrecords-etl/load"
)

// Azurite's well-known development account and the container StartAzurite creates.
const (
	AzureAccount   = "devstoreaccount1"
	AzureKey       = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
	AzureContainer = "lake"
)

// AzuriteVersion is the pinned Azurite the Makefile installs (the last one
// that runs on Node.js 20).
const AzuriteVersion = "3.35.0"

// AzuritePath returns the azurite-blob launcher to use: $AZURITE_BIN if set,
// else bin/azurite/node_modules/.bin/azurite-blob (see findTool). It returns
// "" if there is none.
func AzuritePath() string {
	return findTool("AZURITE_BIN", "bin", "azurite", "node_modules", ".bin", "azurite-blob")
}

// Azurite is a running Azurite blob service.
type Azurite struct {
	// Endpoint is the blob service URL of the development account,
	// http://127.0.0.1:PORT/devstoreaccount1 (https:// with StartAzuriteOAuth).
	Endpoint string
	// HTTPClient trusts the server's certificate (StartAzuriteOAuth); nil
	// for plain http.
	HTTPClient *http.Client
}

// ConnectionString returns a connection string for the account at endpoint
// (the server's, or a proxy's in front of it).
func (a Azurite) ConnectionString(endpoint string) string {
	proto, _, _ := strings.Cut(endpoint, "://")
	return "DefaultEndpointsProtocol=" + proto + ";AccountName=" + AzureAccount + ";AccountKey=" + AzureKey + ";BlobEndpoint=" + endpoint + ";"
}

// Config returns an AzureConfig that reaches the server with the account key.
func (a Azurite) Config() load.AzureConfig {
	return load.AzureConfig{ConnectionString: a.ConnectionString(a.Endpoint), HTTPClient: a.HTTPClient}
}

// Dest returns the abfss:// destination of prefix in the container.
func (a Azurite) Dest(prefix string) string {
	return "abfss://" + AzureContainer + "@" + AzureAccount + ".dfs.core.windows.net/" + prefix
}

// StartAzurite starts Azurite's blob service in memory on a free loopback
// port, creates the container AzureContainer, and stops it when t ends.
// Unlike StartS3 it sets no environment variable, so tests using it may be
// parallel.
//
// Without Azurite (see AzuritePath) the test is skipped with a loud message,
// or fails when CI=true or CALLRECORDS_TEST_DISALLOW_SKIP=1.
func StartAzurite(t testing.TB) Azurite {
	t.Helper()
	return start(t, false)
}

// StartAzuriteOAuth is StartAzurite serving https with a fresh self-signed
// certificate and accepting Microsoft Entra bearer tokens (Azurite's basic
// OAuth: issuer, audience and lifetime are checked, not the signature; see
// EntraToken). Its HTTPClient trusts the certificate.
func StartAzuriteOAuth(t testing.TB) Azurite {
	t.Helper()
	return start(t, true)
}

// StartAzuriteAnyVersion is StartAzurite accepting any service version
// (x-ms-version), for clients that cannot pin AzureStore's, such as
// iceberg-go's table IO (azblob 1.8 speaks 2026-06-06, newer than Azurite
// AzuriteVersion knows).
func StartAzuriteAnyVersion(t testing.TB) Azurite {
	t.Helper()
	return start(t, false, "--skipApiVersionCheck")
}

func start(t testing.TB, oauth bool, args ...string) Azurite {
	t.Helper()
	bin := AzuritePath()
	if bin == "" {
		msg := "!!! Azurite not found: Azure tests NOT RUN. Install it with " +
			"`npm install --prefix bin/azurite azurite@" + AzuriteVersion + "` " +
			"in the repository root (make test does), or set AZURITE_BIN"
		if mustNotSkip() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	var tlsFiles []string
	var client *http.Client
	scheme := "http"
	if oauth {
		var err error
		if tlsFiles, client, err = selfSigned(t.TempDir()); err != nil {
			t.Fatalf("certificate for azurite: %v", err)
		}
		scheme = "https"
	}
	var lastErr error
	for range 3 { // the free port may be taken between probe and bind
		addr, err := freePort()
		if err != nil {
			t.Fatalf("find a free port: %v", err)
		}
		if lastErr = startAzurite(t, bin, addr, tlsFiles, client, args); lastErr == nil {
			a := Azurite{Endpoint: scheme + "://" + addr + "/" + AzureAccount, HTTPClient: client}
			opts := ClientOptions()
			if client != nil {
				opts.Transport = client
			}
			c, err := container.NewClientFromConnectionString(a.ConnectionString(a.Endpoint), AzureContainer, opts)
			if err == nil {
				_, err = c.Create(context.Background(), nil)
			}
			if err != nil {
				t.Fatalf("create container %s on Azurite: %v", AzureContainer, err)
			}
			return a
		}
	}
	t.Fatalf("start azurite: %v", lastErr)
	return Azurite{}
}

// ClientOptions are azblob client options that speak the service version
// AzureStore speaks, for clients that work on the emulator beside the store.
func ClientOptions() *container.ClientOptions {
	return &container.ClientOptions{ClientOptions: azcore.ClientOptions{PerCallPolicies: []policy.Policy{load.PinAzureServiceVersion}}}
}

// CABundle writes a self-signed certificate into a fresh t.TempDir() and
// returns the path of its PEM file: a CA bundle to name in AWS_CA_BUNDLE.
func CABundle(t testing.TB) string {
	t.Helper()
	paths, _, err := selfSigned(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return paths[0]
}

// selfSigned writes a certificate for 127.0.0.1 and its key into dir and
// returns the two paths and a client that trusts the certificate.
func selfSigned(dir string) ([]string, *http.Client, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "azurite"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	return []string{certPath, keyPath}, &http.Client{Transport: tr}, nil
}

// EntraToken is a credential that hands out bearer tokens shaped like
// Microsoft Entra's for Azure Storage (issuer https://sts.windows.net/<tenant>/,
// audience aud), unsigned: what Azurite's basic OAuth accepts when aud is
// https://storage.azure.com. It records the scopes asked for.
type EntraToken struct {
	Tenant, Audience string
	mu               sync.Mutex
	scopes           []string
}

// GetToken implements azcore.TokenCredential.
func (e *EntraToken) GetToken(_ context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	e.mu.Lock()
	e.scopes = append(e.scopes, opts.Scopes...)
	e.mu.Unlock()
	now := time.Now()
	claims, _ := json.Marshal(map[string]any{
		"aud": e.Audience, "iss": "https://sts.windows.net/" + e.Tenant + "/", "tid": e.Tenant,
		"iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix(),
		"oid": "11059fcc-5514-4800-b5f8-49808b9cfab6", "appid": "f997392c-e15a-4ad8-af9e-cd6966caba7f",
	})
	enc := base64.RawURLEncoding.EncodeToString
	tok := enc([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc(claims) + "." + enc([]byte("unsigned"))
	return azcore.AccessToken{Token: tok, ExpiresOn: now.Add(time.Hour)}, nil
}

// Scopes returns the scopes tokens were asked for so far.
func (e *EntraToken) Scopes() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.scopes...)
}

func startAzurite(t testing.TB, bin, addr string, tlsFiles []string, client *http.Client, extra []string) error {
	host, port, _ := strings.Cut(addr, ":")
	var out syncBuffer
	args := append([]string{"--blobHost", host, "--blobPort", port, "--inMemoryPersistence",
		"--extentMemoryLimit", "512", "--disableTelemetry", "--silent"}, extra...)
	scheme := "http"
	if tlsFiles != nil {
		args = append(args, "--cert", tlsFiles[0], "--key", tlsFiles[1], "--oauth", "basic")
		scheme = "https"
	} else {
		client = &http.Client{}
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.Dir = t.TempDir()
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	stop := func() {
		cmd.Process.Kill()
		<-exited
	}
	deadline := time.Now().Add(startTimeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+addr+"/"+AzureAccount+"?comp=list", nil)
		resp, err := client.Do(req)
		cancel()
		if err == nil {
			resp.Body.Close()
			t.Cleanup(stop)
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("azurite exited (%v): %s", waitErr, out.String())
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			stop()
			return errors.New("azurite did not answer on " + addr + " within " + startTimeout.String() + ": " + out.String())
		}
	}
}
