package transform

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"testing"
)

// benchRecords is the simulator's records as Graph sends them (compact), and
// their total size.
func benchRecords(b *testing.B) ([][]byte, int64) {
	var out [][]byte
	var size int64
	for _, raw := range simulatorRecords(b, 10, math.MaxInt) {
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

// BenchmarkFlattenCallRecord_Privacy is decode and flatten on one core,
// with every row under a policy: keep (no pass), and the recommended one
// (deploy/privacy-policy.yaml); the rows only, the raw archive's JSON in
// BenchmarkPseudonymiseJSON.
func BenchmarkFlattenCallRecord_Privacy(b *testing.B) {
	recs, size := benchRecords(b)
	for _, name := range []string{"keep", "recommended"} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				ps := benchPseudonymiser(b, name) // each value new to it once, as in a run
				for _, raw := range recs {
					rec, err := DecodeCallRecord(raw)
					if err != nil {
						b.Fatal(err)
					}
					rows := FlattenCallRecord("t", rec)
					ps.CallRecordRows(&rows)
				}
			}
		})
	}
}

// BenchmarkPseudonymiseJSON is the raw archive's share of the policy: each
// record's JSON pseudonymised property by property. "cold" starts each pass
// with a new Pseudonymiser, as a run does: every value is new to its cache
// once.
func BenchmarkPseudonymiseJSON(b *testing.B) {
	recs, size := benchRecords(b)
	for _, name := range []string{"warm", "cold"} {
		b.Run(name, func(b *testing.B) {
			ps := benchPseudonymiser(b, "recommended")
			b.SetBytes(size)
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				if name == "cold" {
					ps = benchPseudonymiser(b, "recommended")
				}
				for _, raw := range recs {
					out, err := ps.JSONTo(buf, raw)
					if err != nil {
						b.Fatal(err)
					}
					if len(out) > 0 && len(raw) > 0 && &out[0] != &raw[0] {
						buf = out
					}
				}
			}
		})
	}
}

func benchPseudonymiser(b *testing.B, name string) *Pseudonymiser {
	if name == "keep" {
		return nil
	}
	data, err := os.ReadFile("../deploy/privacy-policy.yaml")
	if err != nil {
		b.Fatal(err)
	}
	p, err := ParsePolicy("privacy-policy.yaml", data)
	if err != nil {
		b.Fatal(err)
	}
	ps, err := NewPseudonymiser(p, []byte("a benchmark key of 32 bytes ...."))
	if err != nil {
		b.Fatal(err)
	}
	return ps
}
