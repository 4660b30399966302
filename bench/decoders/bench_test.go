package decoders

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
)

var printCorpusOnce sync.Once

// BenchmarkDecode decodes every corpus record per op, with each decoder in
// turn (sub-benchmarks), so one run of the test binary with -test.count=1
// alternates the decoders; run.sh repeats it. ns/record, allocs/record and
// B/record are reported beside the per-op figures.
func BenchmarkDecode(b *testing.B) {
	recs, size := loadCorpus(b)
	// Configuration lines ("key: value", as benchstat reads them) so that
	// results/bench.txt says what was decoded.
	printCorpusOnce.Do(func() {
		fmt.Printf("corpus: %s\ncorpus-records: %d\ncorpus-bytes: %d\n", corpusDesc, len(recs), size)
	})
	// DECBENCH_ROTATE=k starts the round at the k-th decoder, so that the
	// driver can vary which decoder runs first (and after which).
	rot, _ := strconv.Atoi(os.Getenv("DECBENCH_ROTATE"))
	for k := range Decoders {
		dec := Decoders[(k+rot)%len(Decoders)]
		b.Run(dec.Name, func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			runtime.GC()
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			n := 0
			for b.Loop() {
				for _, raw := range recs {
					if _, err := dec.Decode(raw); err != nil {
						b.Fatal(err)
					}
				}
				n++
			}
			runtime.ReadMemStats(&ms1)
			recsDone := float64(n * len(recs))
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/recsDone, "ns/record")
			b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/recsDone, "allocs/record")
			b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/recsDone, "B/record")
		})
	}
}

// BenchmarkOne runs one decoder (DECBENCH_ONLY=name), for profiling:
//
//	DECBENCH_ONLY=hand go test -run '^$' -bench One -cpuprofile hand.cpu .
func BenchmarkOne(b *testing.B) {
	recs, size := loadCorpus(b)
	name := os.Getenv("DECBENCH_ONLY")
	for _, dec := range Decoders {
		if dec.Name != name {
			continue
		}
		b.SetBytes(size)
		b.ReportAllocs()
		for b.Loop() {
			for _, raw := range recs {
				if _, err := dec.Decode(raw); err != nil {
					b.Fatal(err)
				}
			}
		}
		return
	}
	b.Skipf("DECBENCH_ONLY=%q: no such decoder", name)
}
