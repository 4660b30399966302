package extract

import "github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

// SetCredentialTransport makes the credential that NewCredential builds from
// cfg send its requests through t, and skip MSAL's instance discovery when
// disableInstanceDiscovery is set, so tests can point it at a local token endpoint.
func SetCredentialTransport(cfg *CredentialConfig, t policy.Transporter, disableInstanceDiscovery bool) {
	cfg.transport = t
	cfg.disableInstanceDiscovery = disableInstanceDiscovery
}
