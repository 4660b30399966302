package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/callrecords-etl/callrecords-etl/load"
)

// scalePoint is one volume of benchmark 2.
type scalePoint struct {
	Target  int   `json:"target_records"`
	Records int64 `json:"records"`
	Bytes   int64 `json:"input_bytes"`
	Usage   usage `json:"usage"`
	Stored  int64 `json:"stored_records"` // call records the committed call_records objects hold
}

func scaleCheck(points []scalePoint) []string {
	var out []string
	for _, p := range points {
		if p.Stored != p.Records {
			out = append(out, fmt.Sprintf("scale: %d records imported, the lake's call_records objects hold %d", p.Records, p.Stored))
		}
	}
	return out
}

// storedRecords adds up the rows of the committed call_records objects
// (from their footers).
func storedRecords(dest string) (int64, error) {
	files, err := filepath.Glob(filepath.Join(dest, "call_records", "dt=*", tenant+".parquet"))
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

// benchScale runs benchmark 2: for each volume, the simulator's records are
// streamed (simulate --dump, 30 days) through a pipe into import, whose peak
// RSS is read from its rusage. The simulator runs at the same time on the
// same cores, so the throughput here is a lower bound; the figure that
// matters is the memory.
func benchScale(ctx context.Context, o options) ([]scalePoint, error) {
	var out []scalePoint
	for _, n := range o.scale {
		perDay := (n + 29) / 30
		dest := filepath.Join(o.work, fmt.Sprintf("scale-%d", n))
		dump := exec.CommandContext(ctx, o.bin, "simulate", "--dump", "--records-per-day", strconv.Itoa(perDay), "--seed", "2", "--tenant-id", tenant)
		imp := exec.CommandContext(ctx, o.bin, "import", "--tenant-id", tenant, "--dest", dest, "--log-level", "warn", "-")
		src, err := dump.StdoutPipe()
		if err != nil {
			return nil, err
		}
		sink, err := imp.StdinPipe()
		if err != nil {
			return nil, err
		}
		var dumpErr strErr
		dump.Stderr = &dumpErr
		if err := dump.Start(); err != nil {
			return nil, err
		}
		var lines, size int64
		copied := make(chan error, 1)
		go func() {
			var err error
			size, err = io.CopyBuffer(&lineCounter{w: sink, n: &lines}, src, make([]byte, 1<<20))
			sink.Close()
			copied <- err
		}()
		u, err := runChild(imp)
		cerr := <-copied
		werr := dump.Wait()
		stored, serr := storedRecords(dest)
		os.RemoveAll(dest)
		if err != nil {
			return nil, err
		}
		if cerr != nil || werr != nil {
			return nil, fmt.Errorf("simulate --dump: %v %v\n%s", cerr, werr, tail(string(dumpErr), 2000))
		}
		if serr != nil {
			return nil, serr
		}
		p := scalePoint{Target: n, Records: lines, Bytes: size, Usage: u, Stored: stored}
		fmt.Printf("scale: %8d records (%6.2f GB): import %6.1fs (%6.1fs CPU), peak RSS %4.0f MiB, %d records in the lake\n",
			lines, float64(size)/1e9, u.Wall.Seconds(), u.cpu().Seconds(), mib(u.MaxRSS), stored)
		out = append(out, p)
	}
	return out, nil
}

// strErr collects a child's standard error.
type strErr []byte

func (s *strErr) Write(p []byte) (int, error) {
	*s = append(*s, p...)
	if len(*s) > 1<<16 {
		*s = (*s)[len(*s)-1<<15:]
	}
	return len(p), nil
}
