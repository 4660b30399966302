package jobs_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/graphsim"
	"github.com/callrecords-etl/callrecords-etl/jobs"
	"github.com/callrecords-etl/callrecords-etl/load"
	"github.com/callrecords-etl/callrecords-etl/load/lake"
	"github.com/callrecords-etl/callrecords-etl/load/loadtest"
)

// loseNth loses the response of the nth (from 1) request that match picks,
// and passes every other.
func loseNth(nth int, match func(*http.Request) bool) func(*http.Request, int) loadtest.Fault {
	var mu sync.Mutex
	seen := 0
	return func(r *http.Request, _ int) loadtest.Fault {
		mu.Lock()
		defer mu.Unlock()
		if !match(r) {
			return loadtest.Pass
		}
		if seen++; seen == nth {
			return loadtest.LostResponse
		}
		return loadtest.Pass
	}
}

func putTo(part string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		return r.Method == http.MethodPut && strings.Contains(r.URL.Path, part)
	}
}

// remoteLake is a lake on a real object store behind a fault proxy.
type remoteLake struct {
	proxy *loadtest.FaultProxy
	dest  func(prefix string) string
	edit  func(c *jobs.Config)
	store func(t *testing.T, dest string) load.Store
	// dir returns a local directory holding every object of the lake at
	// prefix, as a reader listing the store sees it.
	dir func(t *testing.T, prefix string) string
}

// TestRun_LostResponses loses exactly one response of an incremental run into
// a real S3 server (versitygw, behind a proxy): the server applied the write,
// the SDK retried it and met its own write. Each time the run succeeds (exit
// code 0: no false conflict, no false "lock held" naming the run itself), the
// lake holds the new versions once, the checkpoint moved and the lease is
// released.
func TestRun_LostResponses(t *testing.T) {
	t.Parallel() // StartS3 finds the AWS variables TestMain set
	s3cfg, root := loadtest.StartS3(t)
	proxy := loadtest.StartFaultProxy(t, s3cfg.Endpoint, nil)
	s3cfg.Endpoint = proxy.URL
	testLostResponses(t, remoteLake{
		proxy: proxy,
		dest:  func(prefix string) string { return "s3://" + s3cfg.Bucket + "/" + prefix },
		edit:  func(c *jobs.Config) { c.S3 = s3cfg },
		store: func(t *testing.T, dest string) load.Store {
			store, err := load.OpenStore(context.Background(), dest, load.StoreConfig{S3: s3cfg})
			if err != nil {
				t.Fatal(err)
			}
			return store
		},
		dir: func(t *testing.T, prefix string) string { return filepath.Join(root, s3cfg.Bucket, prefix) },
	})
}

// TestRun_LostResponsesAzure: the same on Azure Blob Storage (Azurite behind
// the proxy); the lake is read back through the store.
func TestRun_LostResponsesAzure(t *testing.T) {
	t.Parallel()
	az := loadtest.StartAzurite(t)
	server, _ := strings.CutSuffix(az.Endpoint, "/"+loadtest.AzureAccount)
	proxy := loadtest.StartFaultProxy(t, server, nil)
	cfg := load.AzureConfig{ConnectionString: az.ConnectionString(proxy.URL + "/" + loadtest.AzureAccount)}
	open := func(t *testing.T, dest string) load.Store {
		store, err := load.OpenStore(context.Background(), dest, load.StoreConfig{Azure: cfg})
		if err != nil {
			t.Fatal(err)
		}
		return store
	}
	testLostResponses(t, remoteLake{
		proxy: proxy,
		dest:  az.Dest,
		edit:  func(c *jobs.Config) { c.Azure = cfg },
		store: open,
		dir: func(t *testing.T, prefix string) string {
			return loadtest.DownloadAll(t, open(t, az.Dest(prefix)))
		},
	})
}

func testLostResponses(t *testing.T, remote remoteLake) {
	proxy := remote.proxy
	for _, tc := range []struct {
		name  string
		nth   int
		match func(*http.Request) bool
	}{
		{"first commit", 1, putTo("/dt=")},
		{"lease acquire", 1, putTo("/_etl/locks/")},
		{"first lease renewal", 2, putTo("/_etl/locks/")},
		{"checkpoint", 1, putTo("/_etl/state/")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Latency stretches the run past its first lease renewal (a third
			// of the 3 s TTL).
			f := newFixtureWith(t, func(c *graphsim.Config) { c.Latency = [2]time.Duration{200 * time.Millisecond, 300 * time.Millisecond} }, nil)
			prefix := strings.ReplaceAll(tc.name, " ", "-")
			dest := remote.dest(prefix)
			onStore := func(c *jobs.Config) {
				remote.edit(c)
				c.Dest, c.LockTTL = dest, 3*time.Second
				// The job's clock runs (each renewal writes a new expiry),
				// from the simulator's.
				started := time.Now()
				c.Now = func() time.Time { return f.clock.Now().Add(time.Since(started)) }
			}
			store := remote.store(t, dest)
			seed, _ := json.Marshal(lake.Checkpoint{Tenant: tenant, Dataset: "callrecords", Watermark: f.clock.Now().Add(-24 * time.Hour)})
			loadtest.MustPut(t, store, "_etl/state/"+tenant+"/callrecords.json", seed)
			f.MustRun(t, onStore)

			// Incremental: two records change, one more is published.
			tr := f.sim.Truth(f.clock.Now().Add(-24*time.Hour), f.clock.Now())
			if len(tr.IDs) < 2 {
				t.Fatalf("%d records in the last day, want 2", len(tr.IDs))
			}
			bumped := tr.IDs[:2]
			for _, id := range bumped {
				f.sim.Bump(id)
			}
			f.clock.Add(time.Hour)
			proxy.SetFaults(loseNth(tc.nth, tc.match))
			lostBefore := proxy.Counts()[loadtest.LostResponse]
			start := time.Now()
			sum, err := f.run(t, onStore)
			proxy.SetFaults(nil)
			if err != nil {
				t.Fatalf("run with the response of %s lost = %v, want success", tc.name, err)
			}
			if n := proxy.Counts()[loadtest.LostResponse] - lostBefore; n != 1 {
				t.Fatalf("%d responses lost, want 1 (the run took %s)", n, time.Since(start))
			}
			dir := remote.dir(t, prefix)
			assertReaderView(t, tc.name, dir)
			versions := map[string]int64{}
			for _, r := range callRecords(t, dir) {
				versions[r.CallRecordID] = r.Version
			}
			for _, id := range bumped {
				if v, _ := f.sim.Version(id); versions[id] != v {
					t.Errorf("record %s at version %d, want %d", id, versions[id], v)
				}
			}
			if d := sum.Datasets["callrecords"]; d.Updated < len(bumped) {
				t.Errorf("run updated %d records, want at least %d", d.Updated, len(bumped))
			}
			var cp lake.Checkpoint
			data, err := os.ReadFile(filepath.Join(dir, "_etl", "state", tenant, "callrecords.json"))
			if err == nil {
				err = json.Unmarshal(data, &cp)
			}
			if err != nil || cp.LastRunID != sum.RunID {
				t.Errorf("checkpoint = %+v, %v; want it moved by run %s", cp, err, sum.RunID)
			}
			if _, err := os.Stat(filepath.Join(dir, "_etl", "locks", tenant+".json")); !os.IsNotExist(err) {
				t.Errorf("lease not released: %v", err)
			}
		})
	}
}
