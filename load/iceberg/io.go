package iceberg

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net/url"
	"strconv"
	"strings"

	icego "github.com/apache/iceberg-go"
	iceio "github.com/apache/iceberg-go/io"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/callrecords-etl/callrecords-etl/load"
)

// IOProperties are the catalog properties that make iceberg-go's own IO,
// which reads and writes the tables' metadata and reads their data files,
// reach the lake at dest as the store opened with sc does: the same S3
// endpoint, region and addressing, or the same Azure account key, SAS token,
// connection string and endpoint. None for a local lake.
//
// Credentials that are not settings stay where the store finds them: on S3
// the AWS default chain (environment, profile, web identity, instance role),
// which iceberg-go reads too; on Azure a Microsoft Entra credential cannot be
// passed, and iceberg-go uses its default chain (environment, workload
// identity, managed identity) instead.
//
// The properties hold secrets: they are given to the catalog, never logged.
func IOProperties(ctx context.Context, dest string, sc load.StoreConfig) (icego.Properties, error) {
	scheme, _, _ := strings.Cut(dest, "://")
	switch strings.ToLower(scheme) {
	case "s3":
		return s3IOProperties(ctx, sc.S3)
	case "abfss":
		return azureIOProperties(dest, sc.Azure)
	}
	return nil, nil
}

func s3IOProperties(ctx context.Context, c load.S3Config) (icego.Properties, error) {
	region := c.Region
	if region == "" {
		// As the store: the default chain's region, else us-east-1.
		awsCfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("iceberg S3 IO: load aws config: %w", err)
		}
		region = cmp.Or(awsCfg.Region, "us-east-1")
	}
	props := icego.Properties{
		iceio.S3Region:                 region,
		iceio.S3ForceVirtualAddressing: strconv.FormatBool(!c.ForcePathStyle),
	}
	if c.Endpoint != "" {
		props[iceio.S3EndpointURL] = c.Endpoint
		// As the store: no request checksums unless an operation needs one,
		// which many S3-compatible services reject.
		props[iceio.S3CompatMode] = "true"
	}
	return props, nil
}

func azureIOProperties(dest string, c load.AzureConfig) (icego.Properties, error) {
	loc, err := load.ParseAzureURL(dest)
	if err != nil {
		return nil, fmt.Errorf("iceberg Azure IO: %w", err)
	}
	if c.ConnectionString != "" {
		// It names the blob endpoint itself.
		return icego.Properties{iceio.ADLSConnectionStringPrefix + loc.Account: c.ConnectionString}, nil
	}
	service := loc.Service
	if c.Endpoint != "" {
		service = c.Endpoint
	}
	protocol, domain, err := storageDomain(service, loc.Account)
	if err != nil {
		return nil, fmt.Errorf("iceberg Azure IO: %w", err)
	}
	props := icego.Properties{iceio.ADLSProtocol: protocol, iceio.ADLSEndpoint: domain}
	switch {
	case c.AccountKey != "":
		props[iceio.ADLSSharedKeyAccountName] = loc.Account
		props[iceio.ADLSSharedKeyAccountKey] = c.AccountKey
	case c.SASToken != "":
		// iceberg-go looks a SAS token up by the table location's host,
		// as dest writes it.
		_, rest, _ := strings.Cut(dest, "://")
		authority, _, _ := strings.Cut(rest, "/")
		host := authority[strings.LastIndex(authority, "@")+1:]
		props[iceio.ADLSSasTokenPrefix+host] = strings.TrimPrefix(c.SASToken, "?")
	}
	return props, nil
}

// storageDomain splits a blob service URL the way iceberg-go builds one back:
// protocol://account.domain, or protocol://domain/account for an emulator on
// 127.0.0.1 or localhost.
func storageDomain(service, account string) (protocol, domain string, err error) {
	u, err := url.Parse(strings.TrimRight(service, "/"))
	if err != nil {
		return "", "", fmt.Errorf("blob endpoint %s: %w", service, err)
	}
	host := strings.ToLower(u.Host)
	if d, ok := strings.CutPrefix(host, strings.ToLower(account)+"."); ok && strings.Trim(u.Path, "/") == "" {
		return u.Scheme, d, nil
	}
	local := strings.HasPrefix(host, "127.0.0.1") || strings.HasPrefix(host, "localhost")
	if local && strings.EqualFold(strings.Trim(u.Path, "/"), account) {
		return u.Scheme, u.Host, nil
	}
	return "", "", fmt.Errorf("blob endpoint %s: iceberg-go reaches only https://%s.<domain>, or an emulator at http://127.0.0.1:port/%s", service, account, account)
}

// WithIO configures the tables' IO with props (from [IOProperties]).
func WithIO(props icego.Properties) Option {
	return func(dst icego.Properties) { maps.Copy(dst, props) }
}
