package iceberg

import (
	icego "github.com/apache/iceberg-go"

	"github.com/callrecords-etl/callrecords-etl/load/icebergproc"
)

// Option configures Open.
type Option func(props icego.Properties)

// WithREST configures a REST catalog; other catalogs ignore it.
func WithREST(r icebergproc.REST) Option {
	return func(props icego.Properties) {
		if props["type"] != "rest" {
			return
		}
		for key, v := range map[string]string{
			"warehouse": r.Warehouse, "credential": r.Credential, "oauth2-server-uri": r.OAuth2ServerURI,
			"scope": r.Scope, "token": r.Token, "rest.signing-name": r.SigV4Service, "rest.signing-region": r.SigV4Region,
		} {
			if v != "" {
				props[key] = v
			}
		}
		if r.SigV4Service != "" {
			props["rest.sigv4-enabled"] = "true"
		}
	}
}
