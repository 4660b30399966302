package extract

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// ErrAuth is matched (errors.Is) by every *AuthError: Microsoft Entra
// refused to issue a token, no credential was available, or Graph refused the
// token (401) or the call (403). Retrying does not help; the configuration,
// the app registration or its permissions must change.
var ErrAuth = errors.New("graph authentication failed")

// AuthError explains an authentication or authorization failure in one
// sentence that names what to fix. It unwraps to ErrAuth and to the original
// error (an azidentity error carrying Entra's response, or a *GraphError).
type AuthError struct {
	// Fix is one sentence naming what to fix, e.g. "the client secret is
	// wrong: set the client secret to the secret's Value …".
	Fix string
	// Settings are the settings Fix refers to, for a caller to name them
	// as its user sets them (a command line's flags).
	Settings []Setting
	// Code is Entra's error code ("AADSTS7000215"), "HTTP 401" or "HTTP 403"
	// for Graph, or empty.
	Code string
	// Err is the original error.
	Err error

	detail string // one line: the step and Entra's or Graph's own message
}

func (e *AuthError) setFix(f fix) { e.Fix, e.Settings = f.text, f.settings }

// Error leads with Fix and appends, in parentheses, the original message on one line.
func (e *AuthError) Error() string {
	d := e.detail
	if d == "" && e.Err != nil {
		d = oneLine(e.Err.Error(), 600)
	}
	if d == "" {
		return e.Fix
	}
	return e.Fix + " (" + d + ")"
}

// Unwrap returns ErrAuth and the original error.
func (e *AuthError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrAuth}
	}
	return []error{ErrAuth, e.Err}
}

// Setting is a credential setting an AuthError's Fix refers to, named as
// the CredentialConfig field (or, for Cloud and GraphURL, the client's
// endpoints) that holds it.
type Setting string

// The settings a Fix may refer to.
const (
	SettingTenantID           Setting = "TenantID"
	SettingClientID           Setting = "ClientID"
	SettingClientSecret       Setting = "ClientSecret"
	SettingCertificate        Setting = "CertificatePath"
	SettingFederatedTokenFile Setting = "FederatedTokenFile"
	SettingAuthorityHost      Setting = "AuthorityHost"
	SettingCloud              Setting = "Cloud"
	SettingGraphURL           Setting = "GraphURL"
	SettingToken              Setting = "Token"
)

// Settings lists every Setting.
var Settings = []Setting{SettingTenantID, SettingClientID, SettingClientSecret, SettingCertificate,
	SettingFederatedTokenFile, SettingAuthorityHost, SettingCloud, SettingGraphURL, SettingToken}

// fix is a sentence that says what to fix and the settings it refers to.
type fix struct {
	text     string
	settings []Setting
}

// Sentences for Entra's AADSTS codes.
var (
	fixTenant = fix{"the tenant was not found: check the tenant id (the Directory (tenant) ID on the app registration's Overview page, or a verified domain) " +
		"and that the cloud is the tenant's cloud", []Setting{SettingTenantID, SettingCloud}}
	fixOtherCloud = fix{"the tenant belongs to another national cloud: set the cloud to the tenant's cloud (global, usgov, usgovdod or china)", []Setting{SettingCloud}}
	fixResource   = fix{"this tenant does not know Microsoft Graph of the requested cloud: set the cloud to the tenant's cloud so the token is requested for that cloud's Graph", []Setting{SettingCloud}}
	fixApp        = fix{"the application was not found in the tenant: check the client id (the Application (client) ID) and that the app registration belongs to the tenant of the tenant id", []Setting{SettingClientID, SettingTenantID}}
	fixSecret     = fix{"the client secret is wrong: set the client secret to the secret's Value (not its Secret ID) from the app registration's Certificates & secrets page", []Setting{SettingClientSecret}}
	fixSecretOld  = fix{"the client secret has expired: create a new client secret on the app registration's Certificates & secrets page and update the client secret setting", []Setting{SettingClientSecret}}
	fixCert       = fix{"the certificate is not registered on the app: upload the public certificate of the client certificate on the app registration's Certificates & secrets page, " +
		"or point the client certificate setting at the certificate that is uploaded there", []Setting{SettingCertificate}}
	fixAssertionTime = fix{"the client assertion is outside its validity period: check the system clock and, with workload identity, that the token file is kept fresh (it is read for every new token)", []Setting{SettingFederatedTokenFile}}
	fixConsent       = fix{"admin consent is missing: an administrator must grant admin consent for the app's Microsoft Graph application permission CallRecords.Read.All " +
		"(App registrations > API permissions > Grant admin consent)", nil}
	fixNoGraphPermission = fix{"the app registration requests no Microsoft Graph permission: add the Microsoft Graph application permission CallRecords.Read.All " +
		"and have an administrator grant admin consent", nil}
	fixFederated = fix{"no federated identity credential matches the presented token: check the issuer (the cluster's OIDC issuer URL), " +
		"subject (system:serviceaccount:<namespace>:<service account>, case-sensitive) and audience (api://AzureADTokenExchange) " +
		"of the federated identity credential on the app or managed identity of the client id", []Setting{SettingClientID}}
	fixFederatedIssuer = fix{"the federated token's issuer matches no federated identity credential: set the credential's issuer to the cluster's OIDC issuer URL " +
		"exactly (az aks show --query oidcIssuerProfile.issuerUrl), on the app or managed identity of the client id", []Setting{SettingClientID}}
	fixFederatedSubject = fix{"the federated token's subject matches no federated identity credential: set the credential's subject to " +
		"system:serviceaccount:<namespace>:<service account> (case-sensitive), on the app or managed identity of the client id", []Setting{SettingClientID}}
	fixFederatedAudience = fix{"the federated token's audience matches no federated identity credential: set the credential's audience to api://AzureADTokenExchange", nil}
	fixAppDisabled       = fix{"the application is disabled in the tenant: an administrator must enable sign-in on its enterprise application (Properties > Enabled for users to sign-in)", nil}
	fixConditionalAccess = fix{"a Conditional Access policy blocked the sign-in: an administrator must exclude this workload identity from the policy or allow this location", nil}
	fixUnavailable       = fix{"no credential is available: give a client id and a tenant id with a client secret, a client certificate or a federated token file, " +
		"or run with workload identity, a managed identity or an Azure CLI login", []Setting{SettingClientID, SettingTenantID, SettingClientSecret, SettingCertificate, SettingFederatedTokenFile}}
)

// entraFixes maps AADSTS codes to the sentence that says what to fix.
var entraFixes = map[int]fix{
	90002:   fixTenant,
	900023:  fixTenant,
	90038:   fixOtherCloud,
	500011:  fixResource,
	700016:  fixApp,
	7000215: fixSecret,
	7000222: fixSecretOld,
	700027:  fixCert,
	700024:  fixAssertionTime,
	65001:   fixConsent,
	650057:  fixNoGraphPermission,
	70021:   fixFederated,
	700211:  fixFederatedIssuer,
	700212:  fixFederatedAudience,
	700213:  fixFederatedSubject,
	7002137: fixFederatedSubject,
	7002138: fixFederatedSubject,
	7000112: fixAppDisabled,
	53003:   fixConditionalAccess,
}

// ExplainAuthError turns a credential's GetToken error into an *AuthError
// whose Fix names what to fix, keyed on Entra's AADSTS codes; an error that
// already is one is returned as is. Errors that are not Entra's answer
// (network failures, cancellation) are returned unchanged. The Graph client
// applies it to every token failure; call it when using a credential directly.
func ExplainAuthError(err error) error {
	if err == nil {
		return nil
	}
	var ae *AuthError
	if errors.As(err, &ae) {
		return err
	}
	if ae, ok := explainTokenError("", err); ok {
		return ae
	}
	return err
}

// explainTokenError builds the *AuthError for a GetToken failure; step
// (e.g. "get token for <scope>") prefixes the detail.
func explainTokenError(step string, err error) (*AuthError, bool) {
	codes, desc, status := entraDetails(err)
	ae := &AuthError{Err: err}
	attempts := chainAttempts(err.Error())
	switch {
	case len(codes) == 0 && len(attempts) > 0:
		// A credential chain (the default one) where nothing worked: say
		// which credentials were tried and why each failed, once — a managed
		// identity endpoint that answers 403 is not Entra refusing anything.
		ae.setFix(fix{"no credential is available; tried " + strings.Join(attempts, "; ") +
			"; give a client id and a tenant id with a client secret, a client certificate or a federated token file, " +
			"or run where workload identity, a managed identity or an Azure CLI login is set up", fixUnavailable.settings})
		ae.detail = step
		return ae, true
	case len(codes) > 0:
		ae.Code = "AADSTS" + strconv.Itoa(codes[0])
		ae.Fix = fmt.Sprintf("Microsoft Entra refused the token request with %s: look it up at https://login.microsoftonline.com/error?code=%d", ae.Code, codes[0])
		for _, c := range codes {
			if f, ok := entraFixes[c]; ok {
				ae.Code = "AADSTS" + strconv.Itoa(c)
				ae.setFix(f)
				break
			}
		}
	case status == http.StatusNotFound:
		ae.setFix(fix{"the authority host does not serve Microsoft Entra's endpoints: check the cloud (or the authority host)", []Setting{SettingCloud, SettingAuthorityHost}})
	case status >= 400 && status < 500:
		ae.setFix(fix{fmt.Sprintf("Microsoft Entra refused the token request with HTTP %d: check the tenant id, the client id and the credential", status),
			[]Setting{SettingTenantID, SettingClientID, SettingClientSecret, SettingCertificate, SettingFederatedTokenFile}})
	case isCredentialUnavailable(err):
		ae.setFix(fixUnavailable)
		desc = oneLine(err.Error(), 600)
	default:
		return nil, false
	}
	if desc == "" {
		desc = oneLine(err.Error(), 300)
	} else if name := credentialName(err); name != "" {
		desc = name + ": " + desc
	}
	if step != "" {
		desc = step + ": " + desc
	}
	ae.detail = desc
	return ae, true
}

var chainStatus = regexp.MustCompile(`RESPONSE (\d{3})`)

// chainAttempts reads the error of azidentity's credential chains
// ("Attempted credentials:", then a tab-indented line per credential and
// deeper-indented details) into one short reason per credential; nil for
// another error.
func chainAttempts(text string) []string {
	_, rest, ok := strings.Cut(text, "Attempted credentials:")
	if !ok {
		return nil
	}
	var out []string
	for _, line := range strings.Split(rest, "\n") {
		switch {
		case strings.HasPrefix(line, "\t\t"):
			if m := chainStatus.FindStringSubmatch(line); m != nil && len(out) > 0 {
				out[len(out)-1] += " (its endpoint answered HTTP " + m[1] + ")"
			}
		case strings.HasPrefix(line, "\t"):
			out = append(out, strings.TrimSuffix(strings.TrimSpace(line), "."))
		}
	}
	return out
}

// unavailableType is the dynamic type of azidentity's "credential
// unavailable" errors, which it does not export.
var unavailableType = reflect.TypeOf(azidentity.NewCredentialUnavailableError(""))

// isCredentialUnavailable reports whether err is azidentity's "no credential
// could even try" error (e.g. the default chain found nothing to use).
func isCredentialUnavailable(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if reflect.TypeOf(e) == unavailableType {
			return true
		}
	}
	return false
}

var (
	aadstsCode = regexp.MustCompile(`AADSTS(\d+)`)
	aadstsDesc = regexp.MustCompile(`AADSTS\d+:[^"\n]*`)
	credName   = regexp.MustCompile(`^[A-Za-z]+Credential`)
)

// entraResponse is Entra's OAuth error body.
type entraResponse struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Codes       []int  `json:"error_codes"`
}

// entraDetails extracts the AADSTS codes, Entra's description (one line) and
// the HTTP status from an azidentity error, reading Entra's JSON answer when
// the error carries the response and the error text otherwise.
func entraDetails(err error) (codes []int, desc string, status int) {
	var afe *azidentity.AuthenticationFailedError
	if errors.As(err, &afe) && afe.RawResponse != nil {
		status = afe.RawResponse.StatusCode
		if body, rerr := runtime.Payload(afe.RawResponse); rerr == nil {
			var er entraResponse
			if json.Unmarshal(body, &er) == nil {
				codes = er.Codes
				desc = er.Description
			}
		}
	}
	text := err.Error()
	if len(codes) == 0 {
		for _, m := range aadstsCode.FindAllStringSubmatch(text, -1) {
			if n, err := strconv.Atoi(m[1]); err == nil && !slices.Contains(codes, n) {
				codes = append(codes, n)
			}
		}
	}
	if desc == "" {
		desc = aadstsDesc.FindString(text)
	}
	return codes, oneLine(desc, 600), status
}

// credentialName is the azidentity credential type that an error names first.
func credentialName(err error) string {
	return credName.FindString(err.Error())
}

// oneLine flattens s (real and JSON-escaped line breaks, tabs) and caps it at max bytes.
func oneLine(s string, max int) string {
	s = strings.NewReplacer(`\r\n`, " ", `\n`, " ", "\r\n", " ", "\n", " ", "\r", " ", "\t", " ").Replace(s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

// tokenInfo is the identity an access token names, read from its claims
// without verifying the signature: for logs and explanations only.
type tokenInfo struct {
	AppID, TenantID, ObjectID string
	// Audience is the resource the token is for, e.g. https://graph.microsoft.com.
	Audience string
	// User is the signed-in user of a delegated token.
	User string
	// ManagedIdentity is the Azure resource id of a managed identity (xms_mirid).
	ManagedIdentity string
	Roles           []string
	// Delegated is true for a token that acts for a user (scp claim).
	Delegated bool
	Expires   time.Time
}

// parseTokenInfo reads the claims of a JWT access token. It returns false
// for an opaque token.
func parseTokenInfo(tok string) (tokenInfo, bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return tokenInfo{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return tokenInfo{}, false
	}
	var c struct {
		AppID      string          `json:"appid"`
		AZP        string          `json:"azp"`
		TID        string          `json:"tid"`
		OID        string          `json:"oid"`
		Aud        json.RawMessage `json:"aud"`
		Roles      []string        `json:"roles"`
		Scp        string          `json:"scp"`
		IDType     string          `json:"idtyp"`
		UPN        string          `json:"upn"`
		UniqueName string          `json:"unique_name"`
		MIRID      string          `json:"xms_mirid"`
		Exp        json.Number     `json:"exp"`
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return tokenInfo{}, false
	}
	info := tokenInfo{
		AppID: c.AppID, TenantID: c.TID, ObjectID: c.OID, Roles: c.Roles,
		ManagedIdentity: c.MIRID,
		Delegated:       c.Scp != "" || c.IDType == "user",
	}
	if info.AppID == "" {
		info.AppID = c.AZP
	}
	if info.Delegated {
		info.User = c.UPN
		if info.User == "" {
			info.User = c.UniqueName
		}
	}
	if json.Unmarshal(c.Aud, &info.Audience) != nil {
		var auds []string
		if json.Unmarshal(c.Aud, &auds) == nil && len(auds) > 0 {
			info.Audience = auds[0]
		}
	}
	if exp, err := c.Exp.Int64(); err == nil && exp > 0 {
		info.Expires = time.Unix(exp, 0).UTC()
	}
	if info.AppID == "" && info.TenantID == "" {
		return tokenInfo{}, false
	}
	return info, true
}

// String describes the identity in one line.
func (t tokenInfo) String() string {
	var b strings.Builder
	switch {
	case t.Delegated:
		fmt.Fprintf(&b, "delegated token of user %s via app %s", orUnknown(t.User), orUnknown(t.AppID))
	case t.ManagedIdentity != "":
		fmt.Fprintf(&b, "managed identity %s (app %s)", t.ManagedIdentity, orUnknown(t.AppID))
	default:
		fmt.Fprintf(&b, "app %s", orUnknown(t.AppID))
	}
	fmt.Fprintf(&b, " in tenant %s", orUnknown(t.TenantID))
	if !t.Delegated {
		fmt.Fprintf(&b, ", roles [%s]", strings.Join(t.Roles, " "))
	}
	if !t.Expires.IsZero() {
		fmt.Fprintf(&b, ", expires %s", t.Expires.Format(time.RFC3339))
	}
	return b.String()
}

// LogValue implements slog.LogValuer; it never includes the token.
func (t tokenInfo) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("app_id", t.AppID),
		slog.String("tenant_id", t.TenantID),
		slog.String("object_id", t.ObjectID),
		slog.String("audience", t.Audience),
		slog.Any("roles", t.Roles),
		slog.Bool("delegated", t.Delegated),
	}
	if t.User != "" {
		attrs = append(attrs, slog.String("user", t.User))
	}
	if t.ManagedIdentity != "" {
		attrs = append(attrs, slog.String("managed_identity", t.ManagedIdentity))
	}
	return slog.GroupValue(attrs...)
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

// explainGraphError wraps a Graph 401 or 403 in an *AuthError. info is the
// identity of the token that was sent (ok false for an opaque token); base is
// the configured Graph root; static says whether the token is a static one.
func explainGraphError(ge *GraphError, info tokenInfo, ok bool, base string, static bool) *AuthError {
	ae := &AuthError{Code: "HTTP " + strconv.Itoa(ge.Status), Err: ge, detail: ge.Error()}
	switch ge.Status {
	case http.StatusForbidden:
		switch {
		case ok && info.Delegated:
			ae.Fix = "Graph refused the call records because the token is a delegated (user) token, e.g. from an Azure CLI login: " +
				"call records need an application identity (client secret, certificate, workload or managed identity) " +
				"with the Microsoft Graph application permission CallRecords.Read.All"
		case ok && info.ManagedIdentity != "":
			ae.Fix = "the managed identity lacks the Microsoft Graph application permission CallRecords.Read.All: assign that app role to its service principal " +
				"(a managed identity has no API permissions page: use New-MgServicePrincipalAppRoleAssignment or az rest) " + rolesNote(info)
		default:
			ae.Fix = "the app lacks the Microsoft Graph application permission CallRecords.Read.All with admin consent: " +
				"add it on the app registration's API permissions page (Application permissions, not Delegated) and grant admin consent"
			if ok {
				ae.Fix += " " + rolesNote(info)
			}
		}
	default:
		if ok && info.Audience != "" && !sameGraphHost(info.Audience, base) {
			ae.setFix(fix{fmt.Sprintf("Graph rejected the token because it was issued for %s, not %s: set the cloud (or the Graph URL) to the tenant's cloud", info.Audience, base),
				[]Setting{SettingCloud, SettingGraphURL}})
		} else if static {
			ae.setFix(fix{fmt.Sprintf("Graph rejected the static token: it is never renewed, so get a fresh token for %s/.default", base), []Setting{SettingToken}})
		} else {
			ae.setFix(fix{fmt.Sprintf("Graph rejected the access token: check that the cloud is the tenant's cloud, so that the token is issued for %s", base), []Setting{SettingCloud}})
		}
	}
	return ae
}

// rolesNote says which application roles the token carried.
func rolesNote(info tokenInfo) string {
	if len(info.Roles) == 0 {
		return "(the token carries no roles)"
	}
	return "(the token's roles: " + strings.Join(info.Roles, ", ") + ")"
}

// sameGraphHost reports whether a token audience (a URL, or an app id for
// which no comparison is possible) names the host of base.
func sameGraphHost(aud, base string) bool {
	if !strings.Contains(aud, "://") {
		return true
	}
	a, b := strings.TrimRight(strings.ToLower(aud), "/"), strings.TrimRight(strings.ToLower(base), "/")
	return a == b || strings.HasPrefix(b, a+"/")
}

// explainTokenError turns the credential's GetToken error into an *AuthError
// when it is Entra's answer (or no credential was available), and otherwise
// wraps it with the step.
func (c *Client) explainTokenError(ctx context.Context, err error) error {
	step := "get token for " + c.scopes[0]
	if ctx.Err() == nil {
		if ae, ok := explainTokenError(step, err); ok {
			return ae
		}
	}
	return fmt.Errorf("%s: %w", step, err)
}

// logToken records a newly acquired token: the client's first at info level,
// as it says which identity the run uses, later ones at debug level. The
// token itself is never logged, only the identity its claims name.
func (c *Client) logToken(ctx context.Context, tok azcore.AccessToken) {
	level := slog.LevelDebug
	if c.tokCount == 1 {
		level = slog.LevelInfo
	}
	attrs := []any{"scope", c.scopes[0], "expires_on", tok.ExpiresOn.UTC()}
	if info, ok := parseTokenInfo(tok.Token); ok {
		attrs = append(attrs, "identity", info)
	}
	c.log.Log(ctx, level, "graph token acquired", attrs...)
}

// explainAuth wraps a Graph 401 or 403 in an *AuthError that says what to
// fix, using the claims of the token that was sent.
func (c *Client) explainAuth(ge *GraphError, sent string) *AuthError {
	info, ok := parseTokenInfo(sent)
	_, static := c.cred.(staticToken)
	return explainGraphError(ge, info, ok, c.baseStr, static)
}
