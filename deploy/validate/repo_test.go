package validate_test

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// mainModule is the module path of the repository root's go.mod.
const mainModule = "github.com/callrecords-etl/callrecords-etl"

// buildCommit is stamped into the test build with -X main.commit, as the
// Dockerfile stamps the COMMIT build argument.
const buildCommit = "validate0"

// The Dockerfile must build with these (checked in dockerfile_test.go), and the
// test binary is built with the same.
var dockerBuildFlags = []string{"-trimpath", "-s -w", "-X main.commit=${COMMIT}"}

// repoRoot returns the repository root: two levels above this module.
func repoRoot(tb testing.TB) string {
	tb.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		tb.Fatalf("repository root: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		tb.Fatalf("read go.mod of the repository: %v", err)
	}
	if got := modulePath(data); got != mainModule {
		tb.Fatalf("module at %s = %q, want %q", root, got, mainModule)
	}
	return root
}

func modulePath(gomod []byte) string {
	m := regexp.MustCompile(`(?m)^module\s+(\S+)`).FindSubmatch(gomod)
	if m == nil {
		return ""
	}
	return string(m[1])
}

// goDirective returns the go line of a go.mod ("1.26.8").
func goDirective(gomod []byte) string {
	m := regexp.MustCompile(`(?m)^go\s+(\S+)`).FindSubmatch(gomod)
	if m == nil {
		return ""
	}
	return string(m[1])
}

// requireTool returns the path of an external program, or skips the test,
// loudly, unless CI=true or CALLRECORDS_TEST_DISALLOW_SKIP is set, where a
// missing tool fails it (STYLE.md 13).
func requireTool(tb testing.TB, name string) string {
	tb.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" || os.Getenv("CALLRECORDS_TEST_DISALLOW_SKIP") != "" {
		tb.Fatalf("%s not found on PATH, and skipping is disallowed here", name)
	}
	tb.Skipf("SKIPPING: %s not found on PATH", name)
	return ""
}

// dockerContext lists the files of the repository that `docker build .` sends
// as its context: everything not excluded by .dockerignore, with Docker's own
// pattern matcher. Paths are slash-separated and relative to root.
func dockerContext(root string) ([]string, error) {
	f, err := os.Open(filepath.Join(root, ".dockerignore"))
	if err != nil {
		return nil, fmt.Errorf("open .dockerignore: %w", err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("read .dockerignore: %w", err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf("compile .dockerignore: %w", err)
	}
	var files []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		excluded, err := pm.MatchesOrParentMatches(rel)
		if err != nil {
			return fmt.Errorf("match %s: %w", rel, err)
		}
		if excluded {
			if d.IsDir() && !pm.Exclusions() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walk %s: %w", root, err)
	}
	return files, nil
}

var (
	binOnce sync.Once
	binDir  string // removed by TestMain
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// etlBinary builds callrecords-etl once per test process the way the
// Dockerfile does: from a copy of the Docker build context, CGO off, with the
// Dockerfile's flags and GOTOOLCHAIN=local. Every caller gets the same binary.
func etlBinary(tb testing.TB) string {
	tb.Helper()
	root := repoRoot(tb)
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "callrecords-etl-validate-")
		if binErr == nil {
			binPath, binErr = buildFromDockerContext(root, binDir)
		}
	})
	if binErr != nil {
		tb.Fatalf("build callrecords-etl from the Docker build context: %v", binErr)
	}
	return binPath
}

// buildFromDockerContext copies the build context into dir/context and builds
// dir/callrecords-etl from it. Not in a t.TempDir: the binary outlives the
// test that built it.
func buildFromDockerContext(root, dir string) (string, error) {
	ctxDir := filepath.Join(dir, "context")
	files, err := dockerContext(root)
	if err != nil {
		return "", err
	}
	for _, rel := range files {
		if err := copyFile(filepath.Join(root, filepath.FromSlash(rel)), filepath.Join(ctxDir, filepath.FromSlash(rel))); err != nil {
			return "", err
		}
	}
	out := filepath.Join(dir, "callrecords-etl")
	ldflags := strings.ReplaceAll(strings.Join(dockerBuildFlags[1:], " "), "${COMMIT}", buildCommit)
	cmd := exec.Command("go", "build", dockerBuildFlags[0], "-ldflags="+ldflags, "-o", out, ".")
	cmd.Dir = ctxDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOWORK=off", "GOFLAGS=-mod=readonly")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s: %w\n%s", cmd, err, msg)
	}
	return out, nil
}

func copyFile(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// cmdHelp is what `callrecords-etl <command> --help` says: the flags of one
// command and the environment variables they read.
type cmdHelp struct {
	command    []string            // e.g. ["notifications", "serve"]
	flags      map[string]bool     // flag name without dashes -> takes a value
	envs       map[string]bool     // environment variable names
	flagOfEnv  map[string]string   // environment variable -> its flag's first name
	envsOfFlag map[string][]string // flag's first name -> its variables, in lookup order
	usage      map[string]string   // flag's first name -> its usage text
}

// The commands the deployment runs, as manifests name them in args.
var (
	cmdRun       = []string{"run"}
	cmdSubscribe = []string{"subscribe"}
	cmdServe     = []string{"notifications", "serve"}
	cmdMaintain  = []string{"maintain"}
	deployedCmds = [][]string{cmdServe, cmdSubscribe, cmdRun, cmdMaintain}
)

var (
	helpMu    sync.Mutex
	helpCache = map[string]cmdHelp{}
)

// commandHelp runs the built binary's `<command> --help` once per command and
// parses it.
func commandHelp(tb testing.TB, command ...string) cmdHelp {
	tb.Helper()
	bin := etlBinary(tb)
	key := strings.Join(command, " ")
	helpMu.Lock()
	defer helpMu.Unlock()
	if h, ok := helpCache[key]; ok {
		return h
	}
	out, err := exec.Command(bin, append(slices.Clone(command), "--help")...).CombinedOutput()
	if err != nil {
		tb.Fatalf("%s %s --help: %v\n%s", bin, key, err, out)
	}
	h, err := parseHelp(command, out)
	if err != nil {
		tb.Fatal(err)
	}
	helpCache[key] = h
	return h
}

// runFlags is commandHelp for `run`.
func runFlags(tb testing.TB) cmdHelp {
	tb.Helper()
	return commandHelp(tb, cmdRun...)
}

// commandOf returns which of the deployed commands args start with.
func commandOf(args []string) ([]string, error) {
	for _, cmd := range deployedCmds {
		if len(args) >= len(cmd) && slices.Equal(args[:len(cmd)], cmd) {
			return cmd, nil
		}
	}
	return nil, fmt.Errorf("args %q: want one of the commands %q first", args, deployedCmds)
}

// parseHelp reads urfave/cli v2's help of command: the NAME line, which must
// name command (urfave prints the parent's help for an unknown subcommand),
// and the OPTIONS section, lines such as
//
//	--tenant-id value  Entra tenant (directory) id [$CALLRECORDS_TENANT_ID, $AZURE_TENANT_ID]
//	--s3-path-style    path-style S3 addressing (default: false) [$CALLRECORDS_S3_PATH_STYLE]
//	--client-state subscribe  the secret given to subscribe [$CALLRECORDS_CLIENT_STATE]
//
// A flag takes a value when a placeholder follows its names: "value", or
// what urfave takes from a back-quoted word of the usage text.
var (
	optionLine = regexp.MustCompile(`^\s+(--?[a-z0-9][a-z0-9-]*(?:, --?[a-z0-9][a-z0-9-]*)*)(?: (\S.*?))?\s{2,}(\S.*)$`)
	envRef     = regexp.MustCompile(`\$([A-Z][A-Z0-9_]*)`)
)

func parseHelp(command []string, out []byte) (cmdHelp, error) {
	h := cmdHelp{command: command, flags: map[string]bool{}, envs: map[string]bool{}, flagOfEnv: map[string]string{},
		envsOfFlag: map[string][]string{}, usage: map[string]string{}}
	name := strings.Join(command, " ")
	sc := bufio.NewScanner(bytes.NewReader(out))
	section, named := "", false
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, " ") && strings.HasSuffix(line, ":") {
			section = line
			continue
		}
		switch section {
		case "NAME:":
			if strings.HasPrefix(strings.TrimSpace(line), "callrecords-etl "+name+" - ") {
				named = true
			}
		case "OPTIONS:":
			m := optionLine.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			var first string
			for _, n := range strings.Split(m[1], ", ") {
				n = strings.TrimLeft(n, "-")
				h.flags[n] = m[2] != ""
				if first == "" {
					first = n
				}
			}
			h.usage[first] = m[3]
			if i := strings.LastIndex(line, "[$"); i >= 0 {
				for _, e := range envRef.FindAllStringSubmatch(line[i:], -1) {
					h.envs[e[1]] = true
					h.flagOfEnv[e[1]] = first
					h.envsOfFlag[first] = append(h.envsOfFlag[first], e[1])
				}
			}
		}
	}
	if !named {
		return h, fmt.Errorf("help of %q does not name that command: unknown command?\n%s", name, out)
	}
	if len(h.flags) < 5 || len(h.envs) == 0 {
		return h, fmt.Errorf("help of %q: found %d flags and %d environment variables; the help format changed?\n%s", name, len(h.flags), len(h.envs), out)
	}
	return h, nil
}

// checkArgs checks a container's args against the command's help: the
// command's words, then only known flags, a value for each flag that takes
// one, and an explicit window as RFC 3339 with from < to. It returns the flag
// values it saw (the last of a repeated flag).
func (h cmdHelp) checkArgs(args []string) (map[string]string, error) {
	if len(args) < len(h.command) || !slices.Equal(args[:len(h.command)], h.command) {
		return nil, fmt.Errorf("args %q: want the %s command first", args, strings.Join(h.command, " "))
	}
	name := strings.Join(h.command, " ")
	seen := map[string]string{}
	for i := len(h.command); i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return nil, fmt.Errorf("args %q: unexpected positional argument %q", args, a)
		}
		flag, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		takesValue, ok := h.flags[flag]
		if !ok {
			return nil, fmt.Errorf("args %q: flag --%s is not in `callrecords-etl %s --help`", args, flag, name)
		}
		if takesValue && !hasValue {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("args %q: flag --%s needs a value", args, flag)
			}
			i++
			value = args[i]
		}
		seen[flag] = value
	}
	var window [2]time.Time
	for i, flag := range []string{"from", "to"} {
		v, ok := seen[flag]
		if !ok {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return nil, fmt.Errorf("args %q: --%s %q is not RFC 3339", args, flag, v)
		}
		window[i] = t
	}
	if !window[0].IsZero() && !window[1].IsZero() && !window[0].Before(window[1]) {
		return nil, fmt.Errorf("args %q: --from must be before --to", args)
	}
	return seen, nil
}

// knownEnv reports whether name is read by the command, or is one of the
// variables the binary reads outside flags.
func (h cmdHelp) knownEnv(name string) bool {
	return h.envs[name] || name == "CALLRECORDS_GRAPH_TOKEN"
}

// TestDockerContextBuilds builds the binary from exactly what `docker build`
// would send, so a .dockerignore that drops a needed file fails here, and
// checks it is static and carries the version.
func TestDockerContextBuilds(t *testing.T) {
	root := repoRoot(t)
	files, err := dockerContext(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"go.mod", "go.sum", "main.go", "VERSION"} {
		if !slices.Contains(files, want) {
			t.Errorf("build context lacks %s", want)
		}
	}
	for _, f := range files {
		for _, prefix := range []string{".git/", "bin/", "lake/", "e2e/", "deploy/"} {
			if strings.HasPrefix(f, prefix) {
				t.Errorf("build context includes %s (.dockerignore should exclude %s)", f, prefix)
			}
		}
	}

	bin := etlBinary(t)
	ef, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("open %s as ELF: %v", bin, err)
	}
	defer ef.Close()
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("binary has a PT_INTERP program header: dynamically linked, cannot run on distroless/static")
		}
	}
	if libs, _ := ef.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("binary imports shared libraries %v, want none", libs)
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v\n%s", bin, err, out)
	}
	version, err := os.ReadFile(filepath.Join(root, "VERSION"))
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.TrimSpace(string(version)) + " (commit " + buildCommit + ")"; !strings.Contains(string(out), want) {
		t.Errorf("%s --version = %q, want it to contain %q (the VERSION file and -X main.commit)", bin, out, want)
	}
}

// TestUsageErrorsExit2 checks the exit code the manifests' podFailurePolicy
// and the DAG treat as "do not retry" on bad flag values and missing settings.
func TestUsageErrorsExit2(t *testing.T) {
	bin := etlBinary(t)
	tests := [][]string{
		{"run", "--log-format", "xml"},
		{"run", "--log-format", "json", "--from", "yesterday"},
		{"run", "--log-format", "json", "--tenant-id", "5b8f1d2e-3c4a-4b6d-8e9f-0a1b2c3d4e5f", "--dest", "${TMP}/lake", "--datasets", "notifications,bogus"},
		{"subscribe", "--log-format", "xml"},
		{"subscribe", "--log-format", "json", "--notification-url", "https://a.example.com/notifications"}, // no client state
		{"notifications", "serve", "--log-format", "json", "--listen", "127.0.0.1:0"},                      // no tenant, dest, client state
	}
	for _, args := range tests {
		tmp := t.TempDir()
		args = slices.Clone(args)
		for i := range args {
			args[i] = strings.ReplaceAll(args[i], "${TMP}", tmp)
		}
		cmd := exec.Command(bin, args...)
		cmd.Env = []string{"HOME=" + tmp} // nothing from the caller's CALLRECORDS_* or AZURE_*
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 {
			t.Errorf("callrecords-etl %q = %v, want exit code 2\n%s", args, err, out)
		}
	}
}

// TestParseHelpPlaceholders checks flags whose placeholder is not "value":
// urfave/cli takes it from a back-quoted word of the usage text.
func TestParseHelpPlaceholders(t *testing.T) {
	out := []byte(`NAME:
   callrecords-etl subscribe - create or renew the subscription

USAGE:
   callrecords-etl subscribe [command options]

OPTIONS:
   --tenant-id value                                  Entra tenant (directory) id [$CALLRECORDS_TENANT_ID, $AZURE_TENANT_ID]
   --notification-url notifications serve             public https URL of notifications serve [$CALLRECORDS_NOTIFICATION_URL]
   --participant-id value [ --participant-id value ]  only records with this participant; repeatable [$CALLRECORDS_PARTICIPANT_ID]
   --delete                                           delete the subscription instead (default: false)
   --log-format value                                 text, json, or auto (default: "auto") [$CALLRECORDS_LOG_FORMAT]
   --help, -h                                         show help
`)
	h, err := parseHelp(cmdSubscribe, out)
	if err != nil {
		t.Fatalf("parseHelp: %v", err)
	}
	for name, takes := range map[string]bool{"tenant-id": true, "notification-url": true, "participant-id": true, "delete": false, "help": false} {
		if got, ok := h.flags[name]; !ok || got != takes {
			t.Errorf("flags[%q] = %v, %v; want %v, true", name, got, ok, takes)
		}
	}
	if got := h.usage["notification-url"]; !strings.HasPrefix(got, "public https URL") {
		t.Errorf("usage[notification-url] = %q, want the usage text without the placeholder", got)
	}
	if got := h.envsOfFlag["tenant-id"]; !slices.Equal(got, []string{"CALLRECORDS_TENANT_ID", "AZURE_TENANT_ID"}) {
		t.Errorf("envsOfFlag[tenant-id] = %q, want both variables in lookup order", got)
	}
	args := []string{"subscribe", "--notification-url", "https://a.example.com/n", "--participant-id=x", "--participant-id", "y", "--delete"}
	seen, err := h.checkArgs(args)
	if err != nil || seen["notification-url"] != "https://a.example.com/n" || seen["participant-id"] != "y" {
		t.Errorf("checkArgs(%q) = %v, %v", args, seen, err)
	}
	for _, bad := range [][]string{{"run"}, {"subscribe", "--delete=true", "extra"}, {"notifications", "serve"}} {
		if _, err := h.checkArgs(bad); err == nil {
			t.Errorf("checkArgs(%q) = nil error, want one", bad)
		}
	}
	// urfave prints the parent's help for an unknown subcommand.
	if _, err := parseHelp(cmdServe, out); err == nil {
		t.Errorf("parseHelp(%q) of subscribe's help = nil error, want one", cmdServe)
	}
}

func TestParseHelp(t *testing.T) {
	out := []byte(`NAME:
   callrecords-etl run - run the job

USAGE:
   callrecords-etl run [command options] [arguments...]

OPTIONS:
   --tenant-id value   Entra tenant (directory) id [$CALLRECORDS_TENANT_ID, $AZURE_TENANT_ID]
   --s3-path-style     path-style S3 addressing (MinIO, Ceph, versitygw) (default: false) [$CALLRECORDS_S3_PATH_STYLE]
   --from value        explicit window start (RFC 3339) [$CALLRECORDS_FROM]
   --to value          explicit window end [$CALLRECORDS_TO]
   --log-format value  text or json (default: "text") [$CALLRECORDS_LOG_FORMAT]
   --help, -h          show help
`)
	h, err := parseHelp(cmdRun, out)
	if err != nil {
		t.Fatalf("parseHelp: %v", err)
	}
	wantFlags := map[string]bool{"tenant-id": true, "s3-path-style": false, "from": true, "to": true, "log-format": true, "help": false, "h": false}
	for name, takes := range wantFlags {
		got, ok := h.flags[name]
		if !ok || got != takes {
			t.Errorf("flags[%q] = %v, %v; want %v, true", name, got, ok, takes)
		}
	}
	if len(h.flags) != len(wantFlags) {
		t.Errorf("parseHelp found %d flags %v, want %d", len(h.flags), h.flags, len(wantFlags))
	}
	for _, env := range []string{"CALLRECORDS_TENANT_ID", "AZURE_TENANT_ID", "CALLRECORDS_S3_PATH_STYLE", "CALLRECORDS_LOG_FORMAT"} {
		if !h.envs[env] {
			t.Errorf("envs lacks %s", env)
		}
	}
	if got := h.flagOfEnv["AZURE_TENANT_ID"]; got != "tenant-id" {
		t.Errorf("flagOfEnv[AZURE_TENANT_ID] = %q, want tenant-id", got)
	}

	tests := []struct {
		args    []string
		wantErr bool
	}{
		{[]string{"run"}, false},
		{[]string{"run", "--from", "2026-01-01T00:00:00Z", "--to=2026-01-02T00:00:00Z"}, false},
		{[]string{"run", "--s3-path-style", "--tenant-id", "5b8f1d2e-3c4a-4b6d-8e9f-0a1b2c3d4e5f"}, false},
		{[]string{"demo"}, true},
		{[]string{"run", "--window=auto"}, true},
		{[]string{"run", "--from"}, true},
		{[]string{"run", "extra"}, true},
		{[]string{"run", "--from", "yesterday"}, true},
		{[]string{"run", "--from", "2026-01-02T00:00:00Z", "--to", "2026-01-01T00:00:00Z"}, true},
	}
	for _, tt := range tests {
		_, err := h.checkArgs(tt.args)
		if (err != nil) != tt.wantErr {
			t.Errorf("checkArgs(%q) = %v, want error %v", tt.args, err, tt.wantErr)
		}
	}
}
