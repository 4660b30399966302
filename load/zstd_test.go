package load

import (
	"bytes"
	"math/rand/v2"
	"runtime"
	"sync"
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

// TestPageZstd_ManyWritersShareTheEncoders: eight tables finishing at once
// (a partition's close) share one encoder per P. The codec used to build an
// encoder for each page compressed beside the idle ones, and drop it after:
// megabytes of tables and history for every partition of a run. The codec
// is made for two Ps and the pages compressed on eight, so that eight
// compressions really overlap whatever the machine.
func TestPageZstd_ManyWritersShareTheEncoders(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	c := newPageZstd()
	runtime.GOMAXPROCS(8)
	rng := rand.New(rand.NewPCG(3, 4))
	page := make([]byte, 256<<10)
	for i := range page {
		page[i] = "abcdefgh"[rng.IntN(8)]
	}
	finishEight := func() {
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 8 {
			wg.Go(func() {
				<-start
				for range 4 {
					if _, err := c.Encode(make([]byte, 0, len(page)), page); err != nil {
						t.Error(err)
					}
				}
			})
		}
		close(start)
		wg.Wait()
	}
	finishEight()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 5 {
		finishEight()
	}
	runtime.ReadMemStats(&after)
	// The pages' destinations: 5 × 8 × 4 × 256 KiB = 40 MiB; an encoder
	// built again is megabytes.
	if grew, pages := after.TotalAlloc-before.TotalAlloc, uint64(5*8*4*len(page)); grew > pages+pages/4 {
		t.Errorf("five partitions' pages allocated %d KiB beyond their %d KiB of output: encoders are built again", (grew-pages)>>10, pages>>10)
	}
	if n := len(c.idle); n > 2 {
		t.Errorf("%d idle encoders, want at most one per P the codec was made for (2)", n)
	}
}
