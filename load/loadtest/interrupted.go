package loadtest

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/callrecords-etl/callrecords-etl/load"
)

// InterruptedReads checks a store behind proxy: a body cut short in the
// middle of a read is read on (Open, Get, Download) from the same version,
// and a body that keeps breaking gives up with an error naming the key.
// isObjectGet picks the requests that read an object's content.
func InterruptedReads(t *testing.T, s load.Store, proxy *FaultProxy, isObjectGet func(*http.Request) bool) {
	t.Helper()
	ctx := context.Background()
	data := make([]byte, 3<<20+17)
	rand.NewChaCha8([32]byte{8}).Read(data)
	MustPut(t, s, "r/big.bin", data)
	small := []byte(`{"watermark":"2026-12-04T00:00:00Z"}`)
	MustPut(t, s, "r/small.json", small)

	truncateGets := func(n int) func(*http.Request, int) Fault {
		var mu sync.Mutex
		return func(r *http.Request, _ int) Fault {
			mu.Lock()
			defer mu.Unlock()
			if !isObjectGet(r) || n == 0 {
				return Pass
			}
			n--
			return Truncate
		}
	}
	proxy.SetFaults(truncateGets(3))
	if got := MustRead(t, s, "r/big.bin"); !bytes.Equal(got, data) {
		t.Errorf("Open after 3 truncated bodies read %d bytes, want the %d stored", len(got), len(data))
	}
	proxy.SetFaults(truncateGets(2))
	if got, _, err := s.Get(ctx, "r/small.json"); err != nil || !bytes.Equal(got, small) {
		t.Errorf("Get after 2 truncated bodies = %q, %v", got, err)
	}
	proxy.SetFaults(truncateGets(1))
	path, etag, err := load.Download(ctx, s, "r/big.bin", t.TempDir())
	if err != nil {
		t.Fatalf("Download after a truncated body = %v", err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, data) {
		t.Errorf("downloaded %d bytes, want the %d stored", len(got), len(data))
	}
	proxy.SetFaults(nil)
	if head, err := s.Head(ctx, "r/big.bin"); err != nil || head != etag {
		t.Errorf("Download etag %q, Head %q (%v)", etag, head, err)
	}
	proxy.SetFaults(truncateGets(100))
	if _, _, err := s.Get(ctx, "r/small.json"); err == nil || !strings.Contains(err.Error(), "r/small.json") {
		t.Errorf("Get with every body cut short = %v, want an error naming the key", err)
	}
}
