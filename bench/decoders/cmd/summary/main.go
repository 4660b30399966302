// Command summary reads `go test -bench BenchmarkDecode` output (several
// rounds, as run.sh writes results/bench.txt) and prints, per decoder, the
// median over the rounds of ns/record, MB/s, B/record and allocs/record,
// fastest first.
//
//	go run ./cmd/summary results/bench.txt
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// benchLine is "BenchmarkDecode/<decoder>[-GOMAXPROCS] <N> <value> <unit> ...".
var benchLine = regexp.MustCompile(`^BenchmarkDecode/(\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

type result struct {
	name   string
	values map[string][]float64
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: summary results/bench.txt")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	if err := summarize(os.Stdout, f); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func summarize(w io.Writer, r io.Reader) error {
	byName := map[string]*result{}
	config := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if k, v, ok := strings.Cut(line, ": "); ok && (k == "corpus" || k == "corpus-records" || k == "corpus-bytes" || k == "cpu") {
			config[k] = strings.TrimSpace(v)
			continue
		}
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		res := byName[m[1]]
		if res == nil {
			res = &result{name: m[1], values: map[string][]float64{}}
			byName[m[1]] = res
		}
		fields := strings.Fields(m[2])
		for i := 0; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil {
				return fmt.Errorf("%q: %v", line, err)
			}
			res.values[fields[i+1]] = append(res.values[fields[i+1]], v)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(byName) == 0 {
		return fmt.Errorf("no BenchmarkDecode results")
	}
	results := make([]*result, 0, len(byName))
	for _, res := range byName {
		results = append(results, res)
	}
	sort.Slice(results, func(i, j int) bool {
		return median(results[i].values["ns/record"]) < median(results[j].values["ns/record"])
	})

	if c, ok := config["corpus"]; ok {
		fmt.Fprintf(w, "corpus: %s\n", c)
	}
	if n, err := strconv.ParseFloat(config["corpus-bytes"], 64); err == nil {
		fmt.Fprintf(w, "corpus: %s records, %.1f MB\n", config["corpus-records"], n/1e6)
	}
	if c, ok := config["cpu"]; ok {
		fmt.Fprintf(w, "cpu: %s\n", c)
	}
	fmt.Fprintf(w, "%-10s %6s %16s %8s %10s %13s\n", "decoder", "rounds", "median ns/record", "MB/s", "B/record", "allocs/record")
	for _, res := range results {
		med := func(unit string) float64 { return median(res.values[unit]) }
		fmt.Fprintf(w, "%-10s %6d %16.0f %8.1f %10.0f %13.1f\n", res.name, len(res.values["ns/record"]),
			med("ns/record"), med("MB/s"), med("B/record"), med("allocs/record"))
	}
	return nil
}

func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := append([]float64(nil), vs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
