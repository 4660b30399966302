package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestLayering enforces the one-way imports of STYLE.md: schemas imports no
// package of ours; extract, transform and load import only schemas; notify
// (the webhook receiver) only schemas and load; report (the HTML page) only
// schemas; graphsim (a fake of
// Microsoft's server) imports none; only jobs wires them together, and main
// calls jobs (with extract's and schemas' types, and graphsim for the demo),
// never load or transform. Test support (load/iceberg/icebergtest) is
// imported by tests alone.
func TestLayering(t *testing.T) {
	const mod = "github.com/callrecords-etl/callrecords-etl"
	allowed := map[string][]string{
		"schemas":   {},
		"jsonscan":  {},
		"graphsim":  {},
		"transform": {"schemas", "jsonscan"},
		"extract":   {"schemas", "jsonscan"},
		"load":      {"schemas"},
		"notify":    {"schemas", "load"},
		"report":    {"schemas"},
		"jobs":      {"schemas", "extract", "transform", "load", "notify", "report"},
		"cmd":       {"jobs", "load"},
		"":          {"jobs", "extract", "schemas", "graphsim"},
	}
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], mod), "/")
		top, _, _ := strings.Cut(pkg, "/")
		ok, ruled := allowed[top]
		if !ruled {
			continue
		}
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, mod+"/") {
				continue
			}
			if strings.HasSuffix(imp, "test") {
				t.Errorf("%s imports %s: test support, for tests only", pkg, imp)
			}
			dep, _, _ := strings.Cut(strings.TrimPrefix(imp, mod+"/"), "/")
			if dep == top {
				continue
			}
			if !contains(ok, dep) {
				t.Errorf("%s imports %s: not allowed (allowed: %v)", pkg, imp, ok)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestMainIsThin: main.go stays a thin command line — flags to a config, one
// jobs call, the error to an exit code — under 300 lines; helpers of the
// command line live in flags.go, output.go, explain.go, version.go and
// completion.go, and the wiring in package jobs.
func TestMainIsThin(t *testing.T) {
	data, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "\n"); n >= 300 {
		t.Errorf("main.go has %d lines, want under 300: move what is not wiring out of it", n)
	}
}

// TestJobBinaryLinksNoIceberg: the job's binary links neither iceberg-go
// nor package iceberg, whose initialisation alone kept about 57 MiB
// resident in every command; Iceberg runs start callrecords-etl-iceberg
// for them (package icebergproc), which does.
func TestJobBinaryLinksNoIceberg(t *testing.T) {
	deps := func(pkg string) []string {
		out, err := exec.Command("go", "list", "-deps", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		return strings.Fields(string(out))
	}
	heavy := []string{"github.com/apache/iceberg-go", "github.com/apache/arrow-go/v18/arrow", "github.com/callrecords-etl/callrecords-etl/load/iceberg"}
	for _, dep := range deps(".") {
		if contains(heavy, dep) {
			t.Errorf("the job's binary links %s: keep it to callrecords-etl-iceberg", dep)
		}
	}
	// The check can fail: the Iceberg binary links them all.
	iceberg := deps("./cmd/callrecords-etl-iceberg")
	for _, dep := range heavy {
		if !contains(iceberg, dep) {
			t.Errorf("callrecords-etl-iceberg does not link %s", dep)
		}
	}
}
