package extract

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"software.sslmate.com/src/go-pkcs12"
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

// Environment variables that azidentity reads, and that NewCredential and
// Describe consult the same way.
const (
	envTenantID           = "AZURE_TENANT_ID"
	envClientID           = "AZURE_CLIENT_ID"
	envClientSecret       = "AZURE_CLIENT_SECRET"
	envClientCertPath     = "AZURE_CLIENT_CERTIFICATE_PATH"
	envFederatedTokenFile = "AZURE_FEDERATED_TOKEN_FILE"
	envTokenCredentials   = "AZURE_TOKEN_CREDENTIALS"
	envAuthorityHost      = "AZURE_AUTHORITY_HOST"
)

// CredentialConfig selects and configures the Microsoft Entra credential used
// to call Graph. Its String, LogValue and Describe methods never show a secret.
//
// The mode follows from which fields are set, in this order: Token (a static
// bearer token), ClientSecret, CertificatePath, FederatedTokenFile (workload
// identity), ClientID alone (a user-assigned managed identity, or workload
// identity when AZURE_FEDERATED_TOKEN_FILE is set), and otherwise
// azidentity's default chain. Setting two of Token, ClientSecret,
// CertificatePath and FederatedTokenFile is an error.
type CredentialConfig struct {
	// TenantID is the directory (tenant) id; required with a secret or
	// certificate, and read from AZURE_TENANT_ID for workload identity when empty.
	TenantID string
	// ClientID is the application (client) id; required with a secret or
	// certificate. Alone it names a user-assigned managed identity.
	ClientID string
	// ClientSecret selects a client secret credential when set.
	ClientSecret string
	// CertificatePath selects a client certificate credential when set: a PEM
	// file holding the certificate and an unencrypted private key, or a
	// PKCS#12 (PFX) file, legacy (3DES/RC2, SHA-1) or modern (AES, SHA-256).
	CertificatePath string
	// CertificatePassword decrypts the PFX file, if it is encrypted.
	CertificatePassword string
	// FederatedTokenFile selects workload identity when set: the file holds a
	// token from an identity provider that the app (or user-assigned managed
	// identity) trusts through a federated identity credential, such as the
	// Kubernetes service account token projected by the Azure workload
	// identity webhook (/var/run/secrets/azure/tokens/azure-identity-token).
	// The file is read again for every new Entra token, so a rotated token is used.
	FederatedTokenFile string
	// Token is a bearer token obtained elsewhere (CALLRECORDS_GRAPH_TOKEN);
	// when set NewCredential returns StaticToken(Token).
	Token string
	// AuthorityHost is the Microsoft Entra authority, e.g. Cloud.AuthorityHost
	// for a sovereign cloud. Empty means AZURE_AUTHORITY_HOST or the global cloud.
	AuthorityHost string

	// transport, when set, sends the credential's requests (tests point it at
	// a local token endpoint); disableInstanceDiscovery skips MSAL's
	// authority validation, which a local endpoint cannot answer.
	transport                policy.Transporter
	disableInstanceDiscovery bool
}

// String describes the configuration with secrets redacted.
func (c CredentialConfig) String() string {
	return fmt.Sprintf("{TenantID:%s ClientID:%s ClientSecret:%s CertificatePath:%s CertificatePassword:%s FederatedTokenFile:%s Token:%s AuthorityHost:%s}",
		c.TenantID, c.ClientID, redact(c.ClientSecret), c.CertificatePath, redact(c.CertificatePassword), c.FederatedTokenFile, redact(c.Token), c.AuthorityHost)
}

// LogValue implements slog.LogValuer with secrets redacted; it adds the
// identity that Describe reports.
func (c CredentialConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("identity", c.Describe()),
		slog.String("tenant_id", c.TenantID),
		slog.String("client_id", c.ClientID),
		slog.String("client_secret", redact(c.ClientSecret)),
		slog.String("certificate_path", c.CertificatePath),
		slog.String("certificate_password", redact(c.CertificatePassword)),
		slog.String("federated_token_file", c.FederatedTokenFile),
		slog.String("token", redact(c.Token)),
		slog.String("authority_host", c.AuthorityHost),
	)
}

func redact(s string) string {
	if s == "" {
		return ""
	}
	return "**redacted**"
}

// credentialMode is the kind of credential a configuration selects.
type credentialMode int

const (
	modeDefaultChain credentialMode = iota
	modeStaticToken
	modeClientSecret
	modeCertificate
	modeWorkloadIdentity
	modeManagedIdentity
)

// mode picks the credential kind, or returns an error for a contradictory configuration.
func (c CredentialConfig) mode() (credentialMode, error) {
	var set []string
	for _, f := range []struct{ name, value string }{
		{"a static token", c.Token},
		{"a client secret", c.ClientSecret},
		{"a client certificate", c.CertificatePath},
		{"a federated token file", c.FederatedTokenFile},
	} {
		if f.value != "" {
			set = append(set, f.name)
		}
	}
	if len(set) > 1 {
		return 0, fmt.Errorf("new credential: %s are set: choose one", strings.Join(set, " and "))
	}
	switch {
	case c.Token != "":
		return modeStaticToken, nil
	case c.ClientSecret != "":
		return modeClientSecret, nil
	case c.CertificatePath != "":
		return modeCertificate, nil
	case c.FederatedTokenFile != "":
		return modeWorkloadIdentity, nil
	case c.ClientID != "" && os.Getenv(envFederatedTokenFile) != "":
		return modeWorkloadIdentity, nil
	case c.ClientID != "":
		return modeManagedIdentity, nil
	}
	return modeDefaultChain, nil
}

// workloadIdentity returns the tenant, client and token file of workload
// identity, falling back on the variables the Azure workload identity webhook sets.
func (c CredentialConfig) workloadIdentity() (tenant, client, file string) {
	tenant, client, file = c.TenantID, c.ClientID, c.FederatedTokenFile
	if tenant == "" {
		tenant = os.Getenv(envTenantID)
	}
	if client == "" {
		client = os.Getenv(envClientID)
	}
	if file == "" {
		file = os.Getenv(envFederatedTokenFile)
	}
	return tenant, client, file
}

// Describe says which identity NewCredential will use, without secrets, for
// the start-of-run log: "client secret for app <id> in tenant <t>",
// "workload identity for app <id> in tenant <t> (token file <path>)",
// "default chain (…)", and so on. For the default chain it reports what the
// AZURE_* environment selects now; the identity actually used shows in the
// client's "graph token acquired" log record.
func (c CredentialConfig) Describe() string {
	m, err := c.mode()
	if err != nil {
		return "invalid credential configuration: " + err.Error()
	}
	where := ""
	if h := c.authorityHost(); h != "" {
		where = " via " + h
	}
	switch m {
	case modeStaticToken:
		s := "static bearer token"
		if info, ok := parseTokenInfo(c.Token); ok {
			s += " (" + info.String() + ")"
		}
		return s
	case modeClientSecret:
		return fmt.Sprintf("client secret for app %s in tenant %s%s", c.ClientID, c.TenantID, where)
	case modeCertificate:
		return fmt.Sprintf("client certificate %s for app %s in tenant %s%s", c.CertificatePath, c.ClientID, c.TenantID, where)
	case modeWorkloadIdentity:
		tenant, client, file := c.workloadIdentity()
		return fmt.Sprintf("workload identity for app %s in tenant %s (token file %s)%s", client, tenant, file, where)
	case modeManagedIdentity:
		return fmt.Sprintf("user-assigned managed identity with client id %s", c.ClientID)
	}
	return "default chain (environment, workload identity, managed identity, Azure CLI): " + describeEnvironment(c.TenantID) + where
}

// describeEnvironment says which default-chain credential the AZURE_* variables select.
func describeEnvironment(tenant string) string {
	if tenant == "" {
		tenant = os.Getenv(envTenantID)
	}
	prefix := ""
	if v := os.Getenv(envTokenCredentials); v != "" {
		prefix = envTokenCredentials + "=" + v + " restricts the chain; "
	}
	client := os.Getenv(envClientID)
	switch {
	case os.Getenv(envClientSecret) != "" && client != "" && tenant != "":
		return prefix + fmt.Sprintf("%s selects a client secret for app %s in tenant %s", envClientSecret, client, tenant)
	case os.Getenv(envClientCertPath) != "" && client != "" && tenant != "":
		return prefix + fmt.Sprintf("%s selects certificate %s for app %s in tenant %s", envClientCertPath, os.Getenv(envClientCertPath), client, tenant)
	case os.Getenv(envFederatedTokenFile) != "" && client != "" && tenant != "":
		return prefix + fmt.Sprintf("workload identity for app %s in tenant %s (token file %s)", client, tenant, os.Getenv(envFederatedTokenFile))
	case client != "":
		return prefix + fmt.Sprintf("managed identity with client id %s, else the Azure CLI login", client)
	}
	return prefix + "system-assigned managed identity, else the Azure CLI login"
}

// authorityHost is the configured authority, or the one azidentity reads from the environment.
func (c CredentialConfig) authorityHost() string {
	if c.AuthorityHost != "" {
		return c.AuthorityHost
	}
	return os.Getenv(envAuthorityHost)
}

// NewCredential builds the credential described by cfg (see CredentialConfig
// for how the mode is chosen): a static token, a client secret or client
// certificate credential, workload identity (a federated token file), a
// user-assigned managed identity, or azidentity's DefaultAzureCredential
// (environment, workload identity, managed identity, Azure CLI, …).
// Configuration errors (missing ids, an unreadable or encrypted certificate,
// a wrong PFX password, a missing token file) are reported here, before any
// network call; errors from Entra surface later, from the Graph client, as
// *AuthError.
func NewCredential(cfg CredentialConfig) (azcore.TokenCredential, error) {
	m, err := cfg.mode()
	if err != nil {
		return nil, err
	}
	var opts azcore.ClientOptions
	if cfg.AuthorityHost != "" {
		host, err := normalizeAuthorityHost(cfg.AuthorityHost)
		if err != nil {
			return nil, err
		}
		opts.Cloud = cloud.Configuration{ActiveDirectoryAuthorityHost: host}
	}
	if cfg.transport != nil {
		opts.Transport = cfg.transport
	}
	switch m {
	case modeStaticToken:
		return StaticToken(cfg.Token), nil
	case modeClientSecret:
		if cfg.TenantID == "" || cfg.ClientID == "" {
			return nil, errors.New("new credential: a client secret needs a tenant id and a client id")
		}
		cred, err := azidentity.NewClientSecretCredential(cfg.TenantID, cfg.ClientID, cfg.ClientSecret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: cfg.disableInstanceDiscovery})
		if err != nil {
			return nil, fmt.Errorf("new client secret credential: %w", err)
		}
		return cred, nil
	case modeCertificate:
		if cfg.TenantID == "" || cfg.ClientID == "" {
			return nil, errors.New("new credential: a client certificate needs a tenant id and a client id")
		}
		certs, key, err := loadCertificate(cfg.CertificatePath, cfg.CertificatePassword)
		if err != nil {
			return nil, err
		}
		cred, err := azidentity.NewClientCertificateCredential(cfg.TenantID, cfg.ClientID, certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: cfg.disableInstanceDiscovery})
		if err != nil {
			return nil, fmt.Errorf("new client certificate credential: %w", err)
		}
		return cred, nil
	case modeWorkloadIdentity:
		tenant, client, file := cfg.workloadIdentity()
		if tenant == "" || client == "" {
			return nil, fmt.Errorf("new credential: workload identity needs a tenant id and a client id (or %s and %s)", envTenantID, envClientID)
		}
		if _, err := readFederatedToken(file); err != nil {
			return nil, fmt.Errorf("new workload identity credential: %w", err)
		}
		// A client assertion credential that reads the file for every new
		// Entra token, rather than azidentity's WorkloadIdentityCredential,
		// which keeps the file's content for 10 minutes: a rotated token is
		// used as soon as the cached access token needs renewing.
		cred, err := azidentity.NewClientAssertionCredential(tenant, client,
			func(context.Context) (string, error) { return readFederatedToken(file) },
			&azidentity.ClientAssertionCredentialOptions{ClientOptions: opts, DisableInstanceDiscovery: cfg.disableInstanceDiscovery})
		if err != nil {
			return nil, fmt.Errorf("new workload identity credential: %w", err)
		}
		return cred, nil
	case modeManagedIdentity:
		cred, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{
			ClientOptions: opts,
			ID:            azidentity.ClientID(cfg.ClientID),
		})
		if err != nil {
			return nil, fmt.Errorf("new managed identity credential: %w", err)
		}
		return cred, nil
	}
	cred, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
		ClientOptions:            opts,
		TenantID:                 cfg.TenantID,
		DisableInstanceDiscovery: cfg.disableInstanceDiscovery,
	})
	if err != nil {
		return nil, fmt.Errorf("new default azure credential: %w", err)
	}
	return cred, nil
}

// normalizeAuthorityHost checks that host is an https URL and gives it the
// trailing slash azidentity expects.
func normalizeAuthorityHost(host string) (string, error) {
	u, err := url.Parse(host)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("new credential: authority host %q must be an https URL such as https://login.microsoftonline.us/", host)
	}
	if !strings.HasSuffix(host, "/") {
		host += "/"
	}
	return host, nil
}

// readFederatedToken returns the token in file. Its errors never quote the content.
func readFederatedToken(file string) (string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read federated token file: %w", err)
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" {
		return "", fmt.Errorf("read federated token file %s: the file is empty", file)
	}
	return tok, nil
}

// loadCertificate reads a PEM or PFX file and returns its certificates (the
// one matching the key first) and private key, with errors that say how to
// convert a file this program cannot read.
func loadCertificate(path, password string) ([]*x509.Certificate, crypto.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read certificate: %w", err)
	}
	if bytes.Contains(data, []byte("-----BEGIN ")) {
		return parsePEMCertificate(path, data)
	}
	key, cert, chain, err := pkcs12.DecodeChain(data, password)
	if err != nil {
		switch {
		case errors.Is(err, pkcs12.ErrIncorrectPassword) && password == "":
			return nil, nil, fmt.Errorf("parse certificate %s: the PFX file is encrypted: set the certificate password", path)
		case errors.Is(err, pkcs12.ErrIncorrectPassword):
			return nil, nil, fmt.Errorf("parse certificate %s: the certificate password is wrong", path)
		case errors.As(err, new(pkcs12.NotImplementedError)):
			return nil, nil, fmt.Errorf("parse certificate %s: %w (convert it to PEM with: openssl pkcs12 -in %s -nodes -out cert.pem)", path, err, path)
		}
		return nil, nil, fmt.Errorf("parse certificate %s: not a PEM file, and not a PFX file: %w", path, err)
	}
	return append([]*x509.Certificate{cert}, chain...), key, nil
}

// parsePEMCertificate parses PEM certificates and an unencrypted private
// key; an encrypted key is refused with the command that decrypts it.
func parsePEMCertificate(path string, data []byte) ([]*x509.Certificate, crypto.PrivateKey, error) {
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type == "ENCRYPTED PRIVATE KEY" || block.Headers["Proc-Type"] == "4,ENCRYPTED" {
			return nil, nil, fmt.Errorf("parse certificate %s: the PEM private key is encrypted, which is not supported: "+
				"decrypt it (openssl pkey -in key.pem -out key-plain.pem) or use a password-protected PFX file", path)
		}
	}
	certs, key, err := azidentity.ParseCertificates(data, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("parse certificate %s: %w", path, err)
	}
	return certs, key, nil
}
