package load

import (
	"bytes"
	"math/rand/v2"
	"runtime"
	"testing"
)

// TestPageZstd_KeepsEncodersAcrossGC: pages compress and decompress back, and
// an encoder outlives a garbage collection (a sync.Pool would drop it, and
// building one again allocates its tables and history: megabytes per page).
func TestPageZstd_KeepsEncodersAcrossGC(t *testing.T) {
	c := newPageZstd()
	rng := rand.New(rand.NewPCG(1, 2))
	page := make([]byte, 64<<10)
	for i := range page {
		page[i] = "abcdefgh"[rng.IntN(8)]
	}
	dst, err := c.Encode(nil, page)
	if err != nil {
		t.Fatal(err)
	}
	back, err := c.Decode(nil, dst)
	if err != nil || !bytes.Equal(back, page) {
		t.Fatalf("page does not come back: %v", err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range 10 {
		runtime.GC()
		if dst, err = c.Encode(dst, page); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
		t.Errorf("10 pages compressed after garbage collections allocated %d KiB: encoders are built again", grew>>10)
	}
}
