package extract

import (
	"fmt"
	"strings"
)

// Cloud is one Microsoft cloud: where its Graph service and its Microsoft
// Entra sign-in endpoint live. A tenant exists in exactly one cloud, and a
// token from one cloud is not accepted by another.
//
// Call records are documented for the global service and US Government L4
// and L5; Graph in China (21Vianet) may not serve them.
type Cloud struct {
	// Name is the canonical name accepted by LookupCloud: global, usgov, usgovdod or china.
	Name string
	// GraphURL is the Graph service root without a trailing slash, for Config.BaseURL.
	GraphURL string
	// AuthorityHost is the Entra sign-in endpoint with a trailing slash, for
	// CredentialConfig.AuthorityHost.
	AuthorityHost string
}

// Scope is the OAuth scope of an app-only Graph token in this cloud: "<GraphURL>/.default".
func (c Cloud) Scope() string { return c.GraphURL + "/.default" }

// clouds are the Graph national cloud deployments (learn.microsoft.com/graph/deployments).
// Microsoft 365 GCC (moderate) tenants use the global endpoints; GCC High
// uses usgov and DoD uses usgovdod.
var clouds = []Cloud{
	{Name: "global", GraphURL: "https://graph.microsoft.com", AuthorityHost: "https://login.microsoftonline.com/"},
	{Name: "usgov", GraphURL: "https://graph.microsoft.us", AuthorityHost: "https://login.microsoftonline.us/"},
	{Name: "usgovdod", GraphURL: "https://dod-graph.microsoft.us", AuthorityHost: "https://login.microsoftonline.us/"},
	{Name: "china", GraphURL: "https://microsoftgraph.chinacloudapi.cn", AuthorityHost: "https://login.chinacloudapi.cn/"},
}

// cloudAliases maps other common spellings (Azure CLI cloud names, Microsoft
// 365 plan names) to the canonical names.
var cloudAliases = map[string]string{
	"":                  "global",
	"public":            "global",
	"azurecloud":        "global",
	"azurepublic":       "global",
	"gcc":               "global",
	"gcchigh":           "usgov",
	"l4":                "usgov",
	"azureusgovernment": "usgov",
	"dod":               "usgovdod",
	"l5":                "usgovdod",
	"azurechinacloud":   "china",
	"21vianet":          "china",
}

// CloudNames returns the canonical cloud names, in the order global, usgov, usgovdod, china.
func CloudNames() []string {
	names := make([]string, len(clouds))
	for i, c := range clouds {
		names[i] = c.Name
	}
	return names
}

// LookupCloud returns the cloud called name: "global" (also the empty
// string), "usgov" (GCC High, L4), "usgovdod" (DoD, L5) or "china"
// (21Vianet). Case, dashes and underscores are ignored, and a few aliases
// are accepted (gcc, gcchigh, dod, AzureUSGovernment, AzureChinaCloud, …).
func LookupCloud(name string) (Cloud, error) {
	key := strings.ToLower(strings.NewReplacer("-", "", "_", "", " ", "").Replace(strings.TrimSpace(name)))
	if canon, ok := cloudAliases[key]; ok {
		key = canon
	}
	for _, c := range clouds {
		if c.Name == key {
			return c, nil
		}
	}
	return Cloud{}, fmt.Errorf("unknown cloud %q: use one of %s", name, strings.Join(CloudNames(), ", "))
}
