package extract_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/callrecords-etl/callrecords-etl/extract"
)

// MustWriteCertPEM writes a self-signed certificate and its key as PEM and returns the path.
func MustWriteCertPEM(tb testing.TB) string {
	tb.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "callrecords-etl test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	data = append(data, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})...)
	path := filepath.Join(tb.TempDir(), "cert.pem")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

func TestNewCredential(t *testing.T) {
	clearAzureEnv(t)
	certPath := MustWriteCertPEM(t)
	tokenFile := MustWriteFile(t, "azure-identity-token", []byte("federated-token"))
	junk := filepath.Join(t.TempDir(), "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	const tenant, client = "00000000-0000-0000-0000-000000000001", "00000000-0000-0000-0000-000000000002"
	tests := []struct {
		name     string
		cfg      extract.CredentialConfig
		wantType string // "" means an error is expected
	}{
		{"secret", extract.CredentialConfig{TenantID: tenant, ClientID: client, ClientSecret: "s"}, "*azidentity.ClientSecretCredential"},
		{"secret sovereign", extract.CredentialConfig{TenantID: tenant, ClientID: client, ClientSecret: "s", AuthorityHost: "https://login.microsoftonline.us/"}, "*azidentity.ClientSecretCredential"},
		{"secret without tenant", extract.CredentialConfig{ClientID: client, ClientSecret: "s"}, ""},
		{"certificate PEM", extract.CredentialConfig{TenantID: tenant, ClientID: client, CertificatePath: certPath}, "*azidentity.ClientCertificateCredential"},
		{"certificate missing", extract.CredentialConfig{TenantID: tenant, ClientID: client, CertificatePath: filepath.Join(t.TempDir(), "nope.pem")}, ""},
		{"certificate junk", extract.CredentialConfig{TenantID: tenant, ClientID: client, CertificatePath: junk}, ""},
		{"secret and certificate", extract.CredentialConfig{TenantID: tenant, ClientID: client, ClientSecret: "s", CertificatePath: certPath}, ""},
		{"workload identity", extract.CredentialConfig{TenantID: tenant, ClientID: client, FederatedTokenFile: tokenFile}, "*azidentity.ClientAssertionCredential"},
		{"user-assigned managed identity", extract.CredentialConfig{ClientID: client}, "*azidentity.ManagedIdentityCredential"},
		{"static token", extract.CredentialConfig{Token: "tok"}, "extract.staticToken"},
		{"default chain", extract.CredentialConfig{TenantID: tenant}, "*azidentity.DefaultAzureCredential"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cred, err := extract.NewCredential(tt.cfg)
			if tt.wantType == "" {
				if err == nil {
					t.Fatalf("NewCredential(%v) = %T, want an error", tt.cfg, cred)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewCredential(%v) = %v", tt.cfg, err)
			}
			if got := fmt.Sprintf("%T", cred); got != tt.wantType {
				t.Errorf("NewCredential(%v) = %s, want %s", tt.cfg, got, tt.wantType)
			}
		})
	}
}

func TestCredentialConfig_RedactsSecrets(t *testing.T) {
	cfg := extract.CredentialConfig{TenantID: "t", ClientID: "c", ClientSecret: "hunter2", CertificatePassword: "pfxpass", Token: "bearer-tok"}
	if d := cfg.Describe(); strings.Contains(d, "hunter2") || strings.Contains(d, "bearer-tok") {
		t.Errorf("Describe() = %q leaks a secret", d)
	}
	for _, s := range []string{cfg.String(), fmt.Sprintf("%v %+v", cfg, cfg), cfg.LogValue().String()} {
		if strings.Contains(s, "hunter2") || strings.Contains(s, "pfxpass") || strings.Contains(s, "bearer-tok") || !strings.Contains(s, "redacted") {
			t.Errorf("formatted config %q leaks a secret or lacks the redaction mark", s)
		}
	}
}

func TestStaticToken(t *testing.T) {
	tok, err := extract.StaticToken("abc").GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"x/.default"}})
	if err != nil || tok.Token != "abc" || !tok.ExpiresOn.After(time.Now()) {
		t.Fatalf("StaticToken(abc).GetToken = %+v, %v, want token abc expiring in the future", tok, err)
	}
}
