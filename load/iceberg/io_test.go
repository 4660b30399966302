package iceberg_test

import (
	"context"
	"maps"
	"path/filepath"
	"strings"
	"testing"

	icego "github.com/apache/iceberg-go"

	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/iceberg"
)

// TestIOProperties: iceberg-go's table IO gets the settings the store uses
// (TestRun_IcebergS3 and TestRun_IcebergAzure in jobs run them against real
// servers; these are the cases they cannot reach: virtual addressing, a
// region from the environment, SAS tokens, Azure's own domains).
func TestIOProperties(t *testing.T) {
	t.Setenv("AWS_REGION", "eu-west-3")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	for _, c := range []struct {
		name, dest string
		sc         load.StoreConfig
		want       icego.Properties
	}{
		{"local lake", "/var/lake", load.StoreConfig{}, nil},
		{"AWS, region from the environment", "s3://bucket/lake", load.StoreConfig{}, icego.Properties{
			"s3.region": "eu-west-3", "s3.force-virtual-addressing": "true"}},
		{"S3-compatible, path style", "s3://bucket/lake", load.StoreConfig{S3: load.S3Config{
			Endpoint: "http://10.0.0.5:9000", Region: "garage", ForcePathStyle: true}}, icego.Properties{
			"s3.region": "garage", "s3.force-virtual-addressing": "false",
			"s3.endpoint": "http://10.0.0.5:9000", "s3.compat-mode": "true"}},
		{"Azure account key", "abfss://fs@acct.dfs.core.windows.net/lake", load.StoreConfig{Azure: load.AzureConfig{
			AccountKey: "secret"}}, icego.Properties{
			"adls.protocol": "https", "adls.endpoint": "blob.core.windows.net",
			"adls.auth.shared-key.account.name": "acct", "adls.auth.shared-key.account.key": "secret"}},
		{"Azure SAS token, government cloud", "abfss://fs@acct.dfs.core.usgovcloudapi.net/lake", load.StoreConfig{Azure: load.AzureConfig{
			SASToken: "?sv=2024&sig=x"}}, icego.Properties{
			"adls.protocol": "https", "adls.endpoint": "blob.core.usgovcloudapi.net",
			"adls.sas-token.acct.dfs.core.usgovcloudapi.net": "sv=2024&sig=x"}},
		{"OneLake, Entra credential", "abfss://ws@onelake.dfs.fabric.microsoft.com/item.Lakehouse/Files/lake", load.StoreConfig{}, icego.Properties{
			"adls.protocol": "https", "adls.endpoint": "blob.fabric.microsoft.com"}},
		{"Azurite", "abfss://lake@devstoreaccount1.dfs.core.windows.net/lake", load.StoreConfig{Azure: load.AzureConfig{
			AccountKey: "key", Endpoint: "http://127.0.0.1:10000/devstoreaccount1"}}, icego.Properties{
			"adls.protocol": "http", "adls.endpoint": "127.0.0.1:10000",
			"adls.auth.shared-key.account.name": "devstoreaccount1", "adls.auth.shared-key.account.key": "key"}},
		{"connection string", "abfss://lake@devstoreaccount1.dfs.core.windows.net/lake", load.StoreConfig{Azure: load.AzureConfig{
			ConnectionString: "AccountName=devstoreaccount1;AccountKey=k;BlobEndpoint=http://127.0.0.1:1/devstoreaccount1"}}, icego.Properties{
			"adls.connection-string.devstoreaccount1": "AccountName=devstoreaccount1;AccountKey=k;BlobEndpoint=http://127.0.0.1:1/devstoreaccount1"}},
	} {
		got, err := iceberg.IOProperties(context.Background(), c.dest, c.sc)
		if err != nil || !maps.Equal(got, c.want) {
			t.Errorf("%s: IOProperties = %v, %v; want %v", c.name, got, err, c.want)
		}
	}

	// No region anywhere: us-east-1, as the store.
	t.Setenv("AWS_REGION", "")
	got, err := iceberg.IOProperties(context.Background(), "s3://bucket/lake", load.StoreConfig{})
	if err != nil || got["s3.region"] != "us-east-1" {
		t.Errorf("no region: IOProperties = %v, %v; want s3.region us-east-1", got, err)
	}

	// An endpoint iceberg-go cannot rebuild from a domain is refused, not
	// replaced by another.
	_, err = iceberg.IOProperties(context.Background(), "abfss://fs@acct.dfs.core.windows.net/lake",
		load.StoreConfig{Azure: load.AzureConfig{AccountKey: "k", Endpoint: "https://proxy.example.com/acct"}})
	if err == nil || !strings.Contains(err.Error(), "proxy.example.com") {
		t.Errorf("an endpoint iceberg-go cannot reach: IOProperties = %v, want an error naming it", err)
	}
}
