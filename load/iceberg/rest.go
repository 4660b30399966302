package iceberg

import icego "github.com/apache/iceberg-go"

// REST is what a REST catalog may need besides its URI. The secrets are
// never logged.
type REST struct {
	// Warehouse is the warehouse the server is asked for (Polaris' catalog,
	// Lakekeeper's warehouse); default: the lake's iceberg/ location. The
	// server's answer may set a prefix for every later route.
	Warehouse string
	// Credential is OAuth2 client credentials, "client_id:client_secret",
	// exchanged for a bearer token at OAuth2ServerURI (default: the
	// catalog's /v1/oauth/tokens) with Scope (default "catalog").
	Credential, OAuth2ServerURI, Scope string
	// Token is a bearer token, used as is (instead of Credential).
	Token string
}

// Option configures Open.
type Option func(props icego.Properties)

// WithREST configures a REST catalog; other catalogs ignore it.
func WithREST(r REST) Option {
	return func(props icego.Properties) {
		if props["type"] != "rest" {
			return
		}
		for key, v := range map[string]string{
			"warehouse": r.Warehouse, "credential": r.Credential, "oauth2-server-uri": r.OAuth2ServerURI,
			"scope": r.Scope, "token": r.Token,
		} {
			if v != "" {
				props[key] = v
			}
		}
	}
}
