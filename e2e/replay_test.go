package e2e_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/extract"
	"github.com/callrecords-etl/callrecords-etl/graphsim"
	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/loadtest"
	"github.com/callrecords-etl/callrecords-etl/schemas"
)

// TestLake_Replay: after two runs (the second with new versions), DuckDB
// finds every archived version once and its JSON readable; with every table
// folder deleted and Graph gone, replay rebuilds tables identical to the
// runs' (same bit_xor(hash(row)) per table). The same with the lake on a
// real S3 server (versitygw), its tables deleted through S3.
func TestLake_Replay(t *testing.T) {
	t.Parallel() // StartS3 finds the AWS variables TestMain set
	clk := &settable{t: now}
	sim := graphsim.New(graphsim.Config{Seed: 42, TenantID: tenant, Now: clk.Now, RecordsPerDay: 4, Token: "tok"})
	srv := httptest.NewServer(sim)
	run := func(dest string, s3 load.S3Config) {
		cfg := jobs.DefaultConfig()
		cfg.TenantID, cfg.GraphURL, cfg.Dest, cfg.S3 = tenant, srv.URL, dest, s3
		cfg.Credential = extract.StaticToken("tok")
		cfg.MaxRPS, cfg.Now, cfg.Logger = 0, clk.Now, quietLogger
		if _, err := jobs.Run(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
	}
	replay := func(dest string, s3 load.S3Config) {
		cfg := jobs.DefaultConfig()
		cfg.TenantID, cfg.Dest, cfg.S3 = tenant, dest, s3
		cfg.Now, cfg.Logger = clk.Now, quietLogger
		if _, err := jobs.Replay(context.Background(), cfg, nil); err != nil {
			t.Fatalf("replay %s: %v", dest, err)
		}
	}
	local := t.TempDir()
	run(local, load.S3Config{})
	bumped := 0
	for _, id := range sim.Truth(clk.Now().Add(-36*time.Hour), clk.Now()).IDs {
		if bumped < 3 && sim.Bump(id) {
			bumped++
		}
	}
	clk.Add(2 * time.Hour)
	run(local, load.S3Config{})
	s3cfg, root := loadtest.StartS3(t)
	run("s3://"+s3cfg.Bucket+"/lake", s3cfg)
	srv.Close() // Graph is gone: replay needs the archive only

	db := openDuckDB(t)
	raw := table(local, schemas.TableRawCallRecords)
	versions := scan[int](t, db, "SELECT count(*) FROM "+raw)
	if distinct := scan[int](t, db, "SELECT count(DISTINCT (call_record_id, version)) FROM "+raw); distinct != versions {
		t.Errorf("archive holds %d rows for %d versions", versions, distinct)
	}
	if stored := scan[int](t, db, "SELECT count(*) FROM "+table(local, schemas.TableCallRecords)); versions < stored+bumped {
		t.Errorf("archive holds %d versions, want at least the %d stored and the %d before a bump", versions, stored, bumped)
	}
	if bad := scan[int](t, db, "SELECT count(*) FROM "+raw+" WHERE json->>'$.id' IS DISTINCT FROM call_record_id OR CAST(json->>'$.version' AS BIGINT) IS DISTINCT FROM version"); bad != 0 {
		t.Errorf("%d archived rows whose JSON is not their record's", bad)
	}
	for _, tb := range []string{schemas.TableRawPstnCalls, schemas.TableRawDirectRoutingCalls} {
		if n := scan[int](t, db, "SELECT count(*) FROM "+table(local, tb)+" WHERE json->>'$.id' = id"); n == 0 {
			t.Errorf("%s is empty", tb)
		}
	}

	want := fingerprint(t, db, local)
	for _, tb := range schemas.Tables {
		if err := os.RemoveAll(filepath.Join(local, tb.Name)); err != nil {
			t.Fatal(err)
		}
	}
	replay(local, load.S3Config{})
	if got := fingerprint(t, db, local); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("replayed lake differs from the runs':\nruns   %v\nreplay %v", want, got)
	}

	onS3 := filepath.Join(root, s3cfg.Bucket, "lake")
	want = fingerprint(t, db, onS3)
	store, err := load.OpenStore(context.Background(), "s3://"+s3cfg.Bucket+"/lake", load.StoreConfig{S3: s3cfg})
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range schemas.Tables {
		var keys []string
		store.List(context.Background(), tb.Name+"/", func(o load.Object) error { keys = append(keys, o.Key); return nil })
		for _, k := range keys {
			if err := store.Delete(context.Background(), k); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := scan[int](t, db, "SELECT count(*) FROM glob('"+filepath.Join(onS3, schemas.TableCallRecords, "*", "*.parquet")+"')"); n != 0 {
		t.Fatalf("%d call_records objects left on S3 after deleting them", n)
	}
	replay("s3://"+s3cfg.Bucket+"/lake", s3cfg)
	if got := fingerprint(t, db, onS3); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("replayed S3 lake differs from the run's:\nrun    %v\nreplay %v", want, got)
	}
}
