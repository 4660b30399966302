package decoders

import (
	"context"
	"sync"
	"testing"
)

var (
	corpusOnce sync.Once
	corpus     [][]byte
	corpusDesc string
	corpusErr  error
)

// loadCorpus returns the benchmark corpus (generated once per test binary,
// or read from DECBENCH_CORPUS) and its size in bytes.
func loadCorpus(tb testing.TB) ([][]byte, int64) {
	tb.Helper()
	corpusOnce.Do(func() { corpus, corpusDesc, corpusErr = Corpus(context.Background()) })
	if corpusErr != nil {
		tb.Fatal(corpusErr)
	}
	return corpus, Size(corpus)
}

// testRecords is how many records the tests (not the benchmarks) use, so
// that `go test ./...` stays well under a minute.
const testRecords = 300

// loadTestCorpus is the first testRecords records of the corpus.
func loadTestCorpus(tb testing.TB) [][]byte {
	recs, _ := loadCorpus(tb)
	if len(recs) > testRecords {
		recs = recs[:testRecords]
	}
	return recs
}
