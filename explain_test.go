package main

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/callrecords-etl/callrecords-etl/extract"
)

// TestExplain_NamesFlags: a configuration error found below main is told in
// the user's words, naming the flag, never the Go field.
func TestExplain_NamesFlags(t *testing.T) {
	t.Setenv("CALLRECORDS_GRAPH_TOKEN", "x")
	cases := []struct {
		args []string
		want string
		not  string
	}{
		{[]string{"run", "--dest", t.TempDir()}, "--tenant-id is required", "TenantID"},
		{[]string{"run", "--tenant-id", "5b8f1d2e-3c4a-4b6d-8e9f-0a1b2c3d4e5f", "--dest", t.TempDir(), "--concurrency", "0"}, "--concurrency must be at least 1", "Concurrency"},
		{[]string{"run", "--tenant-id", "5b8f1d2e-3c4a-4b6d-8e9f-0a1b2c3d4e5f", "--dest", t.TempDir(), "--concurrency", "65"}, "--concurrency must be at most 64, got 65", "Concurrency"},
		{[]string{"run", "--tenant-id", "5b8f1d2e-3c4a-4b6d-8e9f-0a1b2c3d4e5f", "--dest", t.TempDir(), "--from", "2026-01-02T00:00:00Z"}, "--from and --to go together", "From"},
		{[]string{"run", "--tenant-id", "5b8f1d2e-3c4a-4b6d-8e9f-0a1b2c3d4e5f", "--dest", t.TempDir(), "--datasets", "calls"}, `--datasets: unknown dataset "calls"`, "Datasets"},
		{[]string{"run", "--tenant-id", "5b8f1d2e-3c4a-4b6d-8e9f-0a1b2c3d4e5f", "--dest", t.TempDir(), "--datasets", "callrecords,pstn,callrecords"}, `--datasets: "callrecords" is named twice`, "Datasets"},
		{[]string{"run", "--tenant-id", "5b8f1d2e-3c4a-4b6d-8e9f-0a1b2c3d4e5f", "--dest", t.TempDir(), "--cloud", "mars"}, "--cloud:", "Cloud"},
		{[]string{"run", "--tenant-id", "5b8f1d2e-3c4a-4b6d-8e9f-0a1b2c3d4e5f", "--dest", t.TempDir(), "--temp-dir", "/nonexistent/tmp"}, "--temp-dir: ", "TempDir"},
		{[]string{"subscribe", "--tenant-id", "5b8f1d2e-3c4a-4b6d-8e9f-0a1b2c3d4e5f", "--client-state", "s"}, "--notification-url is required", "NotificationURL"},
		// Graph refuses these; a scheduler would retry an exit 1 for ever.
		{[]string{"subscribe", "--tenant-id", "5b8f1d2e-3c4a-4b6d-8e9f-0a1b2c3d4e5f", "--client-state", "s", "--notification-url", "http://etl.contoso.com/notify"}, `--notification-url: "http://etl.contoso.com/notify": Graph sends notifications to https URLs only`, "NotificationURL"},
		{[]string{"subscribe", "--tenant-id", "5b8f1d2e-3c4a-4b6d-8e9f-0a1b2c3d4e5f", "--client-state", "s", "--notification-url", "etl.contoso.com/notify"}, `--notification-url: "etl.contoso.com/notify" is not an https URL`, "NotificationURL"},
		{[]string{"subscribe", "--tenant-id", "5b8f1d2e-3c4a-4b6d-8e9f-0a1b2c3d4e5f", "--client-state", "s", "--notification-url", "https://etl.contoso.com/notify", "--lifecycle-url", "http://etl.contoso.com/lifecycle"}, `--lifecycle-url: "http://etl.contoso.com/lifecycle": Graph sends`, "LifecycleURL"},
		// The lake names a tenant's files by its id: a domain name or a
		// path is refused; a GUID in capitals or with a newline (a
		// Secret's) is taken in its one form, so the error is the next one.
		{[]string{"run", "--tenant-id", "contoso.onmicrosoft.com", "--dest", t.TempDir()}, `--tenant-id: "contoso.onmicrosoft.com" is not a directory (tenant) ID`, "TenantID"},
		{[]string{"import", "--tenant-id", "a/b", "--dest", t.TempDir()}, `--tenant-id: "a/b" is not a directory (tenant) ID`, "TenantID"},
		{[]string{"run", "--tenant-id", "5B8F1D2E-3C4A-4B6D-8E9F-0A1B2C3D4E5F\n", "--dest", t.TempDir(), "--datasets", "calls"}, `--datasets: unknown dataset "calls"`, "tenant"},
	}
	for _, tc := range cases {
		err := runQuiet(append([]string{"callrecords-etl"}, tc.args...))
		if exitCode(err) != 2 {
			t.Errorf("%v: exit %d (%v), want 2", tc.args, exitCode(err), err)
			continue
		}
		got := strings.Join(explain(err), "\n")
		if !strings.Contains(got, tc.want) || strings.Contains(got, tc.not) {
			t.Errorf("%v: explained as %q, want it to say %q and not %q", tc.args, got, tc.want, tc.not)
		}
	}
}

// TestExplain_AuthFixFirst: a credential failure leads with what to fix and
// the flags that set it, then where it happened and the details, once.
func TestExplain_AuthFixFirst(t *testing.T) {
	err := fmt.Errorf("list call records: %w", &extract.AuthError{
		Fix:      "the client secret is wrong: set the client secret to the secret's Value",
		Settings: []extract.Setting{extract.SettingClientSecret, extract.SettingToken},
		Err:      errors.New("AADSTS7000215"),
	})
	lines := explain(err)
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "the client secret is wrong") ||
		!strings.Contains(lines[0], "--client-secret") || !strings.Contains(lines[0], "CALLRECORDS_GRAPH_TOKEN") ||
		lines[1] != "list call records: details: AADSTS7000215" {
		t.Errorf("explain = %q, want the fix naming --client-secret and CALLRECORDS_GRAPH_TOKEN, then the error's context and details (not the fix again)", lines)
	}
}

// TestExplain_EveryNameIsAFlag: every setting extract can name has a flag
// here, and every flag these tables name is one the command line has (or the
// environment variables of the secrets), so no explanation points at nothing.
func TestExplain_EveryNameIsAFlag(t *testing.T) {
	known := map[string]bool{"CALLRECORDS_GRAPH_TOKEN": true, privacyKeyEnv: true, icebergCredentialEnv: true, icebergTokenEnv: true}
	var walk func([]*cli.Command)
	walk = func(cmds []*cli.Command) {
		for _, c := range cmds {
			for _, f := range c.Flags {
				known["--"+f.Names()[0]] = true
			}
			walk(c.Subcommands)
		}
	}
	walk(newApp().Commands)
	for _, s := range extract.Settings {
		if settingFlags[s] == "" {
			t.Errorf("extract.Setting %q has no flag in settingFlags", s)
		}
	}
	for s, flag := range settingFlags {
		if !known[flag] {
			t.Errorf("settingFlags[%s] = %s: no such flag", s, flag)
		}
	}
	for field, flag := range fieldFlags {
		if !known[flag] {
			t.Errorf("fieldFlags[%s] = %s: no such flag", field, flag)
		}
	}
}

// TestExplain_EveryConfigFieldHasAFlag reads package jobs for the fields its
// configuration errors name and checks each has its flag in fieldFlags, so
// that no error tells a user to fix a Go field.
func TestExplain_EveryConfigFieldHasAFlag(t *testing.T) {
	fset := token.NewFileSet()
	files, err := filepath.Glob(filepath.Join("jobs", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	named := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) < 2 {
				return true
			}
			if id, ok := call.Fun.(*ast.Ident); !ok || id.Name != "configError" {
				return true
			}
			for _, arg := range call.Args[1:] {
				lit, ok := arg.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					continue // IcebergREST.<field>: every one is in fieldFlags
				}
				field, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				named++
				if fieldFlags[field] == "" {
					t.Errorf("%s: a configuration error names %s, which has no flag in fieldFlags", fset.Position(lit.Pos()), field)
				}
			}
			return true
		})
	}
	if named < 20 {
		t.Fatalf("found %d fields named by configError in jobs: the scan misses them", named)
	}
}
