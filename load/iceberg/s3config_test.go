package iceberg_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/iceberg"
	"github.com/callrecords-etl/callrecords-etl/load/loadtest"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// TestPublish_S3CredentialsResolvedOnce: on an S3 lake, the tables' IO
// takes its AWS credentials from one configuration the catalog loads, not
// from one iceberg-go would load for every table it loads: a credential
// chain that costs a call each time it starts (IRSA's token exchange, SSO,
// a credential_process, here) starts once for the catalog however many
// tables and days it publishes, as it does once for the store.
func TestPublish_S3CredentialsResolvedOnce(t *testing.T) {
	s3cfg, _ := loadtest.StartS3(t)
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	script := filepath.Join(dir, "credentials.sh")
	if err := os.WriteFile(script, fmt.Appendf(nil, "#!/bin/sh\necho >> %s\necho '{\"Version\": 1, \"AccessKeyId\": \"%s\", \"SecretAccessKey\": \"%s\"}'\n",
		calls, loadtest.S3AccessKey, loadtest.S3SecretKey), 0o755); err != nil {
		t.Fatal(err)
	}
	profile := filepath.Join(dir, "config")
	if err := os.WriteFile(profile, fmt.Appendf(nil, "[default]\ncredential_process = %s\n", script), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CONFIG_FILE", profile)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	started := func() int {
		data, _ := os.ReadFile(calls)
		return strings.Count(string(data), "\n")
	}

	ctx := context.Background()
	sc := load.StoreConfig{S3: s3cfg}
	root := "s3://" + s3cfg.Bucket + "/lake"
	store, err := load.OpenStore(ctx, root, sc)
	if err != nil {
		t.Fatal(err)
	}
	days := []string{"2026-11-16", "2026-11-17", "2026-11-18"}
	for _, day := range days {
		commitHive(t, store, "tenant-a", day, 2)
	}
	if n := started(); n != 1 {
		t.Fatalf("the store started its credential chain %d times, want 1", n)
	}
	props, err := iceberg.IOProperties(ctx, root, sc)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := iceberg.Open(ctx, filepath.Join(dir, "iceberg.db"), root, store, iceberg.WithIO(props))
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	for i, day := range days {
		// One more day each time: every publish loads the table, writes
		// its metadata and reads the snapshot before.
		commitHive(t, store, "tenant-a", day, 3+i)
		if _, err := cat.Publish(ctx, schemas.TablePstnCalls, "tenant-a", fmt.Sprintf("run-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := started(); n != 2 {
		t.Errorf("the credential chain started %d times for the store and %d publishes, want twice (the store's, the tables' IO's)", n, len(days))
	}
	if got := currentFiles(t, cat); len(got) != len(days) {
		t.Fatalf("the table holds %v, want the %d days", got, len(days))
	}
}
