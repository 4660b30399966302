package iceberg

import (
	"fmt"
	"net/url"
	"sort"

	icego "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog/glue"
)

// glueProperties sets the properties of the Glue catalog that uri names:
// "glue", or "glue://?region=R&catalog-id=A" for the catalog of AWS account
// A (another account's, shared with this one) in region R. The rest (the
// credentials, an endpoint: AWS_ENDPOINT_URL_GLUE) comes from the AWS
// environment, as for the AWS CLI.
func glueProperties(uri string, props icego.Properties) error {
	props["type"] = "glue"
	if uri == "glue" {
		return nil
	}
	u, err := url.Parse(uri)
	if err != nil {
		return fmt.Errorf("iceberg catalog %q: %w", uri, err)
	}
	if u.Host != "" || (u.Path != "" && u.Path != "/") || u.User != nil {
		return fmt.Errorf("iceberg catalog %q: a Glue catalog is glue or glue://?region=...&catalog-id=..., with no host or path", uri)
	}
	query := u.Query()
	keys := make([]string, 0, len(query))
	for k := range query {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := query.Get(k)
		switch k {
		case "region":
			props[glue.Region] = v
		case "catalog-id":
			props[glue.CatalogIdKey] = v
		default:
			return fmt.Errorf("iceberg catalog %q: unknown setting %q (want region or catalog-id)", uri, k)
		}
		if v == "" {
			return fmt.Errorf("iceberg catalog %q: %s is empty", uri, k)
		}
	}
	return nil
}
