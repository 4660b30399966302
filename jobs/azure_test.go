package jobs_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/callrecords-etl/callrecords-etl/extract"
	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/loadtest"
)

// TestStore_AzureWithTheJobsCredential: an abfss:// destination with no key,
// SAS token or connection string is opened with the job's own Entra
// credential chain — here the default chain finds a managed identity (App
// Service's endpoint, served locally) — asking for a token for Azure Storage,
// never the static Graph token (which Azurite, checking bearer tokens over
// https, would refuse).
func TestStore_AzureWithTheJobsCredential(t *testing.T) {
	// Not parallel: it sets the managed identity's environment variables.
	az := loadtest.StartAzuriteOAuth(t)
	for _, k := range []string{"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
		"AZURE_FEDERATED_TOKEN_FILE", "AZURE_TOKEN_CREDENTIALS", "AZURE_AUTHORITY_HOST", "MSI_ENDPOINT", "MSI_SECRET",
		"IMDS_ENDPOINT", "IDENTITY_SERVER_THUMBPRINT", "AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN", "AZURE_STORAGE_CONNECTION_STRING"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	entra := &loadtest.EntraToken{Tenant: tenant, Audience: "https://storage.azure.com"}
	var mu sync.Mutex
	var resources []string
	mi := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resource := r.URL.Query().Get("resource")
		mu.Lock()
		resources = append(resources, resource)
		mu.Unlock()
		tok, _ := entra.GetToken(r.Context(), policy.TokenRequestOptions{Scopes: []string{resource + "/.default"}})
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":%q,"expires_on":"%d","resource":%q,"token_type":"Bearer"}`, tok.Token, time.Now().Add(time.Hour).Unix(), resource)
	}))
	t.Cleanup(mi.Close)
	t.Setenv("IDENTITY_ENDPOINT", mi.URL+"/msi/token")
	t.Setenv("IDENTITY_HEADER", "identity-header")

	cfg := jobs.DefaultConfig()
	cfg.TenantID, cfg.Dest = tenant, az.Dest("lake")
	cfg.Auth = extract.CredentialConfig{Token: "a-static-graph-token"}
	cfg.Azure = load.AzureConfig{Endpoint: az.Endpoint, HTTPClient: az.HTTPClient}
	cfg.Logger = testLogger()
	st, err := jobs.ReadStatus(context.Background(), cfg, tenant, time.Now())
	if err != nil || len(st) != 0 {
		t.Fatalf("status of an empty Azure lake with the job's credential = %+v, %v", st, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(resources) == 0 {
		t.Fatal("the managed identity was never asked for a token")
	}
	for _, r := range resources {
		if r != "https://storage.azure.com" {
			t.Errorf("token asked for %q, want https://storage.azure.com", r)
		}
	}
}
