package jobs_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/callrecords-etl/callrecords-etl/graphsim"
	"github.com/callrecords-etl/callrecords-etl/jobs"
)

// benchLines returns JSON lines to import: the file named by
// CALLRECORDS_BENCH_JSONL, or the simulator's records (30 days at 20 a day).
func benchLines(b *testing.B) []byte {
	b.Helper()
	if name := os.Getenv("CALLRECORDS_BENCH_JSONL"); name != "" {
		data, err := os.ReadFile(name)
		if err != nil {
			b.Fatal(err)
		}
		return data
	}
	now := time.Date(2026, 11, 20, 15, 30, 0, 0, time.UTC)
	sim := graphsim.New(graphsim.Config{Seed: 7, TenantID: tenant, Now: func() time.Time { return now }, RecordsPerDay: 20})
	var buf bytes.Buffer
	for _, id := range sim.Truth(now.Add(-jobs.Retention), now).IDs {
		raw, _ := sim.Record(id)
		if err := json.Compact(&buf, raw); err != nil {
			b.Fatal(err)
		}
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

// BenchmarkImport drives the flatten-and-write path (decode, flatten,
// partitioned Parquet, manifests, commit) on a local directory, for profiles:
//
//	go test ./jobs -run '^$' -bench Import -cpuprofile cpu.out -memprofile mem.out
func BenchmarkImport(b *testing.B) {
	data := benchLines(b)
	b.SetBytes(int64(len(data)))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for b.Loop() {
		cfg := jobs.DefaultConfig()
		cfg.TenantID, cfg.Dest, cfg.Logger = tenant, b.TempDir(), log
		if _, err := jobs.Import(context.Background(), cfg, bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkImport_Privacy is BenchmarkImport with and without the
// recommended privacy policy (deploy/privacy-policy.yaml), with the raw
// archive and without it.
func BenchmarkImport_Privacy(b *testing.B) {
	data := benchLines(b)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, archive := range []bool{true, false} {
		for _, policy := range []string{"", "../deploy/privacy-policy.yaml"} {
			name := fmt.Sprintf("archive=%t/policy=%t", archive, policy != "")
			b.Run(name, func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					cfg := jobs.DefaultConfig()
					cfg.TenantID, cfg.Dest, cfg.Logger = tenant, b.TempDir(), log
					cfg.NoRawArchive = !archive
					cfg.PrivacyPolicyFile, cfg.PrivacyKey = policy, privacyKey
					if _, err := jobs.Import(context.Background(), cfg, bytes.NewReader(data)); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkImport_TableFormat is BenchmarkImport in the Hive layout and in
// the Iceberg table format (the same work, plus the data files' copies and
// one snapshot per table), for the Iceberg mode's extra cost.
func BenchmarkImport_TableFormat(b *testing.B) {
	data := benchLines(b)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, format := range jobs.TableFormats {
		b.Run(format, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				cfg := jobs.DefaultConfig()
				cfg.TenantID, cfg.Dest, cfg.Logger, cfg.TableFormat = tenant, b.TempDir(), log, format
				if _, err := jobs.Import(context.Background(), cfg, bytes.NewReader(data)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
