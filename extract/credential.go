package extract

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// staticToken is an azcore.TokenCredential that always returns the same bearer token.
type staticToken string

// GetToken returns the static token with an expiry one hour ahead, so that
// callers that cache tokens ask again from time to time.
func (s staticToken) GetToken(ctx context.Context, _ policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if err := ctx.Err(); err != nil {
		return azcore.AccessToken{}, err
	}
	return azcore.AccessToken{Token: string(s), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// StaticToken returns a credential that hands out token as is, for a bearer
// token obtained elsewhere (CALLRECORDS_GRAPH_TOKEN) and for the simulator.
// It never refreshes: when Graph rejects the token, requests fail with 401.
func StaticToken(token string) azcore.TokenCredential {
	return staticToken(token)
}

// CredentialConfig selects and configures the Microsoft Entra credential used
// to call Graph. Its String and LogValue methods redact the secrets.
type CredentialConfig struct {
	// TenantID is the directory (tenant) id; required with a secret or certificate.
	TenantID string
	// ClientID is the application (client) id; required with a secret or certificate.
	// DefaultAzureCredential reads a user-assigned identity's id from AZURE_CLIENT_ID instead.
	ClientID string
	// ClientSecret selects a client secret credential when set.
	ClientSecret string
	// CertificatePath selects a client certificate credential when set: a PEM
	// or PKCS#12 (PFX) file holding the certificate and its private key.
	CertificatePath string
	// CertificatePassword decrypts the certificate file, if it is encrypted.
	CertificatePassword string
	// AuthorityHost is the Microsoft Entra authority, for sovereign clouds
	// (e.g. https://login.microsoftonline.us/). Empty means AZURE_AUTHORITY_HOST or the public cloud.
	AuthorityHost string
}

// String describes the configuration with secrets redacted.
func (c CredentialConfig) String() string {
	return fmt.Sprintf("{TenantID:%s ClientID:%s ClientSecret:%s CertificatePath:%s CertificatePassword:%s AuthorityHost:%s}",
		c.TenantID, c.ClientID, redact(c.ClientSecret), c.CertificatePath, redact(c.CertificatePassword), c.AuthorityHost)
}

// LogValue implements slog.LogValuer with secrets redacted.
func (c CredentialConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("tenant_id", c.TenantID),
		slog.String("client_id", c.ClientID),
		slog.String("client_secret", redact(c.ClientSecret)),
		slog.String("certificate_path", c.CertificatePath),
		slog.String("certificate_password", redact(c.CertificatePassword)),
		slog.String("authority_host", c.AuthorityHost),
	)
}

func redact(s string) string {
	if s == "" {
		return ""
	}
	return "**redacted**"
}

// NewCredential builds the credential described by cfg: a client secret
// credential when ClientSecret is set, a client certificate credential when
// CertificatePath is set (PEM or PFX), and otherwise DefaultAzureCredential
// (environment, workload identity, managed identity, Azure CLI, …).
func NewCredential(cfg CredentialConfig) (azcore.TokenCredential, error) {
	var opts azcore.ClientOptions
	if cfg.AuthorityHost != "" {
		opts.Cloud = cloud.Configuration{ActiveDirectoryAuthorityHost: cfg.AuthorityHost}
	}
	switch {
	case cfg.ClientSecret != "" && cfg.CertificatePath != "":
		return nil, errors.New("new credential: set a client secret or a certificate, not both")
	case cfg.ClientSecret != "":
		if cfg.TenantID == "" || cfg.ClientID == "" {
			return nil, errors.New("new credential: a client secret needs a tenant id and a client id")
		}
		cred, err := azidentity.NewClientSecretCredential(cfg.TenantID, cfg.ClientID, cfg.ClientSecret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: opts})
		if err != nil {
			return nil, fmt.Errorf("new client secret credential: %w", err)
		}
		return cred, nil
	case cfg.CertificatePath != "":
		if cfg.TenantID == "" || cfg.ClientID == "" {
			return nil, errors.New("new credential: a client certificate needs a tenant id and a client id")
		}
		data, err := os.ReadFile(cfg.CertificatePath)
		if err != nil {
			return nil, fmt.Errorf("read certificate: %w", err)
		}
		var password []byte
		if cfg.CertificatePassword != "" {
			password = []byte(cfg.CertificatePassword)
		}
		certs, key, err := azidentity.ParseCertificates(data, password)
		if err != nil {
			return nil, fmt.Errorf("parse certificate %s: %w", cfg.CertificatePath, err)
		}
		cred, err := azidentity.NewClientCertificateCredential(cfg.TenantID, cfg.ClientID, certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: opts})
		if err != nil {
			return nil, fmt.Errorf("new client certificate credential: %w", err)
		}
		return cred, nil
	default:
		cred, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
			ClientOptions: opts,
			TenantID:      cfg.TenantID,
		})
		if err != nil {
			return nil, fmt.Errorf("new default azure credential: %w", err)
		}
		return cred, nil
	}
}
