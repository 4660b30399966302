package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/callrecords-etl/callrecords-etl/graphsim"
	"github.com/callrecords-etl/callrecords-etl/load"
)

// Benchmark 4, bigrecord: the peak RSS of a whole `run` whose window holds one
// very large call record (a meeting with thousands of sessions), served as
// Graph serves it: sessions in pages of 60, participants_v2 on its own.
// Targets (issue "No input stalls the lake"): under 200 MiB for a 40 MiB
// record, under 400 MiB for a 120 MiB one.

var bigTargets = map[int]int64{40: 200 << 20, 120: 400 << 20} // MiB of JSON -> peak RSS

type bigPoint struct {
	MiB      int   `json:"record_mib"`
	Bytes    int   `json:"record_bytes"`
	Sessions int   `json:"sessions"`
	Usage    usage `json:"usage"`
	Stored   int64 `json:"stored_sessions"`
	Target   int64 `json:"target_rss_bytes"`
}

func bigCheck(points []bigPoint) []string {
	var out []string
	for _, p := range points {
		if p.Stored != int64(p.Sessions) {
			out = append(out, fmt.Sprintf("bigrecord %d MiB: %d sessions served, the lake holds %d", p.MiB, p.Sessions, p.Stored))
		}
		if p.Usage.MaxRSS > p.Target {
			out = append(out, fmt.Sprintf("bigrecord %d MiB: peak RSS %.0f MiB, over the %.0f MiB bound", p.MiB, mib(p.Usage.MaxRSS), mib(p.Target)))
		}
	}
	return out
}

func benchBigRecord(ctx context.Context, o options) ([]bigPoint, error) {
	var out []bigPoint
	for _, size := range []int{40, 120} {
		rec, sessions, err := buildBigRecord(size << 20)
		if err != nil {
			return nil, err
		}
		url, stop, err := serveBigRecord(rec, sessions)
		if err != nil {
			return nil, err
		}
		dest := filepath.Join(o.work, fmt.Sprintf("big-%d", size))
		var head struct {
			Start time.Time `json:"startDateTime"`
		}
		json.Unmarshal(rec["startDateTime"], &head.Start)
		from := head.Start.UTC().Truncate(24 * time.Hour)
		cmd := exec.CommandContext(ctx, o.bin, "run", "--tenant-id", tenant, "--graph-url", url, "--dest", dest,
			"--from", from.Format(time.RFC3339), "--to", from.Add(24*time.Hour).Format(time.RFC3339),
			"--datasets", "callrecords", "--graph-max-rps", "0", "--log-level", "error")
		cmd.Env = append(os.Environ(), "CALLRECORDS_GRAPH_TOKEN=bench")
		u, err := runChild(cmd)
		stop()
		if err != nil {
			return nil, err
		}
		stored, err := parquetRows(filepath.Join(dest, "sessions"))
		if err != nil {
			return nil, err
		}
		bytes := 0
		for _, s := range sessions {
			bytes += len(s) + 1
		}
		p := bigPoint{MiB: size, Bytes: bytes, Sessions: len(sessions), Usage: u, Stored: stored, Target: bigTargets[size]}
		fmt.Printf("bigrecord: %d MiB, %d sessions: run %.1fs (%.1fs CPU), peak RSS %.0f MiB, %d sessions in the lake\n",
			p.MiB, p.Sessions, u.Wall.Seconds(), u.cpu().Seconds(), mib(u.MaxRSS), stored)
		out = append(out, p)
		os.RemoveAll(dest)
	}
	return out, nil
}

// parquetRows adds up the rows of a table's files (from their footers).
func parquetRows(dir string) (int64, error) {
	files, err := filepath.Glob(filepath.Join(dir, "dt=*", "*.parquet"))
	if err != nil {
		return 0, err
	}
	var n int64
	for _, f := range files {
		rows, err := load.ParquetRows(f)
		if err != nil {
			return 0, err
		}
		n += rows
	}
	return n, nil
}

// buildBigRecord repeats a simulated record's sessions, under new ids, until
// they add up to size bytes of JSON.
func buildBigRecord(size int) (map[string]json.RawMessage, []json.RawMessage, error) {
	now := time.Date(2026, 11, 20, 15, 30, 0, 0, time.UTC)
	sim := graphsim.New(graphsim.Config{Seed: 3, Now: func() time.Time { return now }, RecordsPerDay: 4})
	ids := sim.Truth(now.Add(-3*24*time.Hour), now).IDs
	raw, _ := sim.Record(ids[0])
	var rec map[string]json.RawMessage
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, nil, err
	}
	var base []map[string]json.RawMessage
	if err := json.Unmarshal(rec["sessions"], &base); err != nil {
		return nil, nil, err
	}
	var sessions []json.RawMessage
	for n := 0; n < size; {
		for _, s := range base {
			s["id"], _ = json.Marshal(fmt.Sprintf("00000000-0000-4000-8000-%012d", len(sessions)))
			b, _ := json.Marshal(s)
			sessions = append(sessions, b)
			n += len(b) + 1
		}
	}
	return rec, sessions, nil
}

// serveBigRecord serves rec like Graph on loopback and returns its URL.
func serveBigRecord(rec map[string]json.RawMessage, sessions []json.RawMessage) (string, func(), error) {
	var head struct {
		ID      string `json:"id"`
		Version int64  `json:"version"`
	}
	all, _ := json.Marshal(map[string]json.RawMessage{"id": rec["id"], "version": rec["version"]})
	json.Unmarshal(all, &head)
	page := func(from int) []byte {
		var b strings.Builder
		b.WriteByte('[')
		for i := from; i < min(from+60, len(sessions)); i++ {
			if i > from {
				b.WriteByte(',')
			}
			b.Write(sessions[i])
		}
		b.WriteByte(']')
		return []byte(b.String())
	}
	write := func(w http.ResponseWriter, body []byte) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next := func(from int) string {
			return fmt.Sprintf("http://%s/v1.0/communications/callRecords/%s/sessions?skip=%d", r.Host, head.ID, from)
		}
		switch {
		case strings.HasSuffix(r.URL.Path, "/communications/callRecords"):
			write(w, []byte(fmt.Sprintf(`{"value":[{"id":%q,"version":%d,"startDateTime":%s}]}`, head.ID, head.Version, rec["startDateTime"])))
		case strings.HasSuffix(r.URL.Path, "/participants_v2"):
			write(w, []byte(`{"value":`+string(rec["participants_v2"])+`}`))
		case strings.HasSuffix(r.URL.Path, "/sessions"):
			from, _ := strconv.Atoi(r.URL.Query().Get("skip"))
			body := `{"value":` + string(page(from))
			if from+60 < len(sessions) {
				body += `,"@odata.nextLink":"` + next(from+60) + `"`
			}
			write(w, []byte(body+"}"))
		default:
			m := map[string]json.RawMessage{}
			for k, v := range rec {
				if k != "participants_v2" {
					m[k] = v
				}
			}
			m["sessions"] = page(0)
			if len(sessions) > 60 {
				m["sessions@odata.nextLink"], _ = json.Marshal(next(60))
			}
			b, _ := json.Marshal(m)
			write(w, b)
		}
	})}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Close() }, nil
}
