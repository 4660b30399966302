package transform

import (
	"bytes"
	"encoding/json"
	"testing"
)

// benchRecords is the simulator's records as Graph sends them (compact), and
// their total size.
func benchRecords(b *testing.B) ([][]byte, int64) {
	var out [][]byte
	var size int64
	for _, raw := range simulatorRecords(b, 10) {
		var compact bytes.Buffer
		json.Compact(&compact, raw)
		out = append(out, compact.Bytes())
		size += int64(compact.Len())
	}
	return out, size
}

// BenchmarkDecodeCallRecord is the decoding half of flatten-and-write, on one
// core.
func BenchmarkDecodeCallRecord(b *testing.B) {
	recs, size := benchRecords(b)
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		for _, raw := range recs {
			if _, err := DecodeCallRecord(raw); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkPeekCallRecord is the import's routing pass: the head of each
// record, the rest checked and skipped.
func BenchmarkPeekCallRecord(b *testing.B) {
	recs, size := benchRecords(b)
	b.SetBytes(size)
	for b.Loop() {
		for _, raw := range recs {
			if _, err := PeekCallRecord(raw); err != nil {
				b.Fatal(err)
			}
		}
	}
}
