package decoders

import (
	"runtime"
	"sort"
	"testing"
)

// TestRetention: keep only each decoded record's ID string (the input
// buffers are dropped) and see how much heap stays live. A decoder whose
// strings point into the input (or into its own copy of it) keeps the whole
// payload alive for as long as any string of the record lives.
func TestRetention(t *testing.T) {
	recs := loadTestCorpus(t)
	sorted := append([][]byte(nil), recs...)
	sort.Slice(sorted, func(i, j int) bool { return len(sorted[i]) > len(sorted[j]) })
	big := sorted[:50]
	var inBytes int
	for _, r := range big {
		inBytes += len(r)
	}
	for _, dec := range Decoders {
		ids := make([]string, len(big))
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		for i, r := range big {
			raw := append([]byte(nil), r...) // a buffer only the decoder sees
			rec, err := dec.Decode(raw)
			if err != nil {
				t.Fatal(err)
			}
			ids[i] = rec.ID
		}
		runtime.GC()
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		t.Logf("%-9s keeping %d record IDs of %d MB of records retains %6.1f MB", dec.Name, len(ids), inBytes>>20, float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20))
		runtime.KeepAlive(ids)
	}
}
