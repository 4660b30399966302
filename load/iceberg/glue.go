package iceberg

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"

	icego "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/glue"
	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
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

// openGlue opens the Glue catalog that props (from glueProperties, plus the
// tables' IO settings) describe. It does what iceberg-go's registered "glue"
// loader does for the settings we give (the region; the rest from the AWS
// environment), except that the AWS client's HTTP requests go through
// ownRequestBody.
func openGlue(ctx context.Context, props icego.Properties) (catalog.Catalog, error) {
	var opts []func(*config.LoadOptions) error
	if region := props[glue.Region]; region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("aws config: %w", err)
	}
	client := cfg.HTTPClient
	if client == nil { // the SDK's default, unless a CA bundle was named
		client = awshttp.NewBuildableClient()
	}
	cfg.HTTPClient = ownRequestBody{client}
	return glue.NewCatalog(glue.WithAwsConfig(cfg), glue.WithAwsProperties(glue.AwsProperties(props)))
}

// ownRequestBody keeps the AWS SDK from failing a request that succeeded.
//
// The SDK (smithy-go's ClientHandler) closes a request's body as soon as
// http.Client.Do returns the response. net/http may return the response
// while its connection's write loop has not finished the request: having
// written Content-Length bytes, it still drains the body to EOF, through
// the body's WriteTo when it has one. The SDK's closed body answers WriteTo
// with io.EOF (where a WriterTo at its end returns nil), net/http takes that
// for a failed write and closes the connection, and the response body still
// being read (or drained) fails with "use of closed network connection",
// the retries likewise. A body without WriteTo is drained through Read,
// whose io.EOF is the end it is.
type ownRequestBody struct{ aws.HTTPClient }

// Do sends req with its body's WriteTo hidden.
func (c ownRequestBody) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Body != http.NoBody {
		req.Body = struct{ io.ReadCloser }{req.Body}
	}
	return c.HTTPClient.Do(req)
}
