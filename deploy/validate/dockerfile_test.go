package validate_test

import (
	"bytes"
	"fmt"
	"go/version"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// dockerfile is the repository's Dockerfile, parsed by BuildKit's own parser
// into stages and instructions, as `docker build` does.
type dockerfile struct {
	stages   []instructions.Stage
	metaArgs map[string]string // ARGs before the first FROM, with their defaults
	warnings []string          // parser and linter warnings
}

func parseDockerfile(tb testing.TB, data []byte) dockerfile {
	tb.Helper()
	res, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		tb.Fatalf("parse Dockerfile: %v", err)
	}
	var df dockerfile
	for _, w := range res.Warnings {
		df.warnings = append(df.warnings, fmt.Sprintf("line %d: %s", w.Location.Start.Line, w.Short))
	}
	lint := linter.New(&linter.Config{Warn: func(rule, description, url, msg string, loc []parser.Range) {
		line := 0
		if len(loc) > 0 {
			line = loc[0].Start.Line
		}
		df.warnings = append(df.warnings, fmt.Sprintf("line %d: %s: %s", line, rule, msg))
	}})
	stages, metaArgs, err := instructions.Parse(res.AST, lint)
	if err != nil {
		tb.Fatalf("parse Dockerfile instructions: %v", err)
	}
	df.stages = stages
	df.metaArgs = map[string]string{}
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			df.metaArgs[kv.Key] = kv.ValueString()
		}
	}
	return df
}

func readDockerfile(tb testing.TB) dockerfile {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(tb), "Dockerfile"))
	if err != nil {
		tb.Fatalf("read Dockerfile: %v", err)
	}
	return parseDockerfile(tb, data)
}

var argRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// expand substitutes the meta ARGs' defaults into a FROM image name.
func (df dockerfile) expand(s string) string {
	return argRef.ReplaceAllStringFunc(s, func(m string) string {
		name := strings.Trim(m, "${}")
		return df.metaArgs[name]
	})
}

// commands returns the stage's instructions of type T.
func commands[T instructions.Command](s instructions.Stage) []T {
	var out []T
	for _, c := range s.Commands {
		if v, ok := c.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// finalUID returns the numeric user the final stage runs as.
func (df dockerfile) finalUID() (int64, error) {
	final := df.stages[len(df.stages)-1]
	users := commands[*instructions.UserCommand](final)
	if len(users) == 0 {
		return 0, fmt.Errorf("final stage has no USER: it would run as the base image's user")
	}
	user, _, _ := strings.Cut(users[len(users)-1].User, ":")
	uid, err := strconv.ParseInt(user, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("USER %q is not numeric: Kubernetes runAsNonRoot cannot verify a user name", user)
	}
	return uid, nil
}

// dockerfileUID is the Dockerfile's final USER, for the manifests' runAsUser.
func dockerfileUID(tb testing.TB) int64 {
	tb.Helper()
	uid, err := readDockerfile(tb).finalUID()
	if err != nil {
		tb.Fatal(err)
	}
	return uid
}

// dockerfileProblems checks a parsed Dockerfile against what the deployment
// relies on; goModGo is the go directive of the repository's go.mod.
func dockerfileProblems(df dockerfile, goModGo string) []string {
	var probs []string
	fail := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	for _, w := range df.warnings {
		fail("warning: %s", w)
	}
	if len(df.stages) < 2 {
		fail("%d stages, want a build stage and a runtime stage", len(df.stages))
		return probs
	}
	stageNames := map[string]bool{}
	for _, s := range df.stages {
		if s.Name != "" {
			stageNames[s.Name] = true
		}
	}

	// Every base image is pinned: a tag (not latest) or a digest.
	for _, s := range df.stages {
		img := df.expand(s.BaseName)
		if stageNames[img] || img == "scratch" {
			continue
		}
		ref := img[strings.LastIndex(img, "/")+1:]
		_, tag, hasTag := strings.Cut(ref, ":")
		if !strings.Contains(img, "@sha256:") && (!hasTag || tag == "" || tag == "latest") {
			fail("FROM %s (%s): want a pinned tag, not latest or none", s.BaseName, img)
		}
	}

	// Build stage: Go at least as new as go.mod asks, static CGO-free build
	// with the flags the test binary is built with.
	build := df.stages[0]
	img := df.expand(build.BaseName)
	m := regexp.MustCompile(`^(?:docker\.io/)?(?:library/)?golang:(\d+\.\d+(?:\.\d+)?)`).FindStringSubmatch(img)
	if m == nil {
		fail("first stage FROM %s: want golang:<version>", img)
	} else if version.Compare("go"+m[1], "go"+goModGo) < 0 {
		fail("build stage Go %s is older than go.mod's go %s", m[1], goModGo)
	}
	cgoOff := false
	for _, e := range commands[*instructions.EnvCommand](build) {
		for _, kv := range e.Env {
			if kv.Key == "CGO_ENABLED" && kv.Value == "0" {
				cgoOff = true
			}
		}
	}
	var goBuild string
	for _, r := range commands[*instructions.RunCommand](build) {
		if line := strings.Join(r.CmdLine, " "); strings.Contains(line, "go build") {
			goBuild = line
		}
	}
	if goBuild == "" {
		fail("build stage has no RUN ... go build")
		return probs
	}
	if strings.Contains(goBuild, "CGO_ENABLED=0") {
		cgoOff = true
	}
	if !cgoOff {
		fail("build stage: CGO_ENABLED=0 neither in ENV nor in the go build RUN")
	}
	for i, one := range strings.Split(goBuild, "go build")[1:] { // the job's and the Iceberg binary's
		for _, flag := range dockerBuildFlags {
			if i > 0 && strings.HasPrefix(flag, "-X main.") {
				continue // the job's version stamp
			}
			if !strings.Contains(one, flag) {
				fail("go build %q lacks %q", one, flag)
			}
		}
	}
	out := regexp.MustCompile(`\s-o\s+(\S+)`).FindStringSubmatch(goBuild)
	if out == nil {
		fail("go build %q: no -o output path", goBuild)
		return probs
	}

	// Runtime stage: distroless static (or scratch with CA certificates), the
	// binary copied from the build stage, a numeric non-root USER, the binary
	// as exec-form ENTRYPOINT, and nothing that needs a shell.
	final := df.stages[len(df.stages)-1]
	base := df.expand(final.BaseName)
	// What ships is pinned by digest: a tag like :nonroot moves with every
	// Debian update, so two builds of one commit could differ.
	if base != "scratch" && !regexp.MustCompile(`@sha256:[0-9a-f]{64}$`).MatchString(base) {
		fail("runtime stage FROM %s: want it pinned by digest (…@sha256:<64 hex>)", base)
	}
	switch {
	case strings.HasPrefix(base, "gcr.io/distroless/static"):
		if !strings.Contains(base, "nonroot") {
			fail("FROM %s: want the :nonroot variant", base)
		}
	case base == "scratch":
		certs := false
		for _, c := range commands[*instructions.CopyCommand](final) {
			if strings.Contains(c.DestPath, "ca-certificates") || strings.Contains(c.DestPath, "/etc/ssl/certs") {
				certs = true
			}
		}
		if !certs {
			fail("FROM scratch without CA certificates: TLS to Graph and S3 would fail")
		}
	default:
		fail("runtime stage FROM %s: want gcr.io/distroless/static*:nonroot or scratch", base)
	}
	var binary string
	for _, c := range commands[*instructions.CopyCommand](final) {
		if (c.From == build.Name || c.From == "0") && slices.Contains(c.SourcePaths, out[1]) {
			binary = c.DestPath
		}
	}
	if binary == "" {
		fail("runtime stage does not COPY --from=%s %s", build.Name, out[1])
	}
	// --table-format iceberg starts callrecords-etl-iceberg, looked for
	// next to the job's binary: built, and copied beside it.
	if !strings.Contains(goBuild, "./cmd/callrecords-etl-iceberg") {
		fail("build stage does not build ./cmd/callrecords-etl-iceberg")
	}
	iceberg := ""
	for _, c := range commands[*instructions.CopyCommand](final) {
		for _, src := range c.SourcePaths {
			if (c.From == build.Name || c.From == "0") && path.Base(src) == "callrecords-etl-iceberg" {
				iceberg = c.DestPath
			}
		}
	}
	if binary != "" && iceberg != path.Join(path.Dir(binary), "callrecords-etl-iceberg") {
		fail("runtime stage copies callrecords-etl-iceberg to %q, want it next to %s", iceberg, binary)
	}
	if uid, err := df.finalUID(); err != nil {
		fail("%v", err)
	} else if uid == 0 {
		fail("USER 0: want a non-root user")
	}
	eps := commands[*instructions.EntrypointCommand](final)
	if len(eps) == 0 {
		fail("runtime stage has no ENTRYPOINT")
		return probs
	}
	ep := eps[len(eps)-1]
	if ep.PrependShell {
		fail("ENTRYPOINT %q is shell form: the image has no shell, and signals would not reach the job", ep.CmdLine)
	} else if len(ep.CmdLine) == 0 || ep.CmdLine[0] != binary {
		fail("ENTRYPOINT %q, want [%q]", ep.CmdLine, binary)
	}
	for _, r := range commands[*instructions.RunCommand](final) {
		fail("runtime stage RUN %q: distroless/scratch has no shell", r.CmdLine)
	}
	return probs
}

func readGoDirective(tb testing.TB) string {
	tb.Helper()
	gomod, err := os.ReadFile(filepath.Join(repoRoot(tb), "go.mod"))
	if err != nil {
		tb.Fatal(err)
	}
	return goDirective(gomod)
}

func TestDockerfile(t *testing.T) {
	for _, p := range dockerfileProblems(readDockerfile(t), readGoDirective(t)) {
		t.Errorf("Dockerfile: %s", p)
	}
}

// TestDockerfileChecksCatchMistakes breaks the real Dockerfile in one way at a
// time and expects the check to say so.
func TestDockerfileChecksCatchMistakes(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	tests := []struct {
		name, old, new, want string
	}{
		{"user by name", "USER 65532:65532", "USER nonroot", "not numeric"},
		{"root user", "USER 65532:65532", "USER 0", "USER 0"},
		{"shell-form entrypoint", `ENTRYPOINT ["/usr/local/bin/callrecords-etl"]`, "ENTRYPOINT /usr/local/bin/callrecords-etl", "shell form"},
		{"cgo on", "CGO_ENABLED=0", "CGO_ENABLED=1", "CGO_ENABLED=0"},
		{"no trimpath", "-trimpath ", "", "lacks"},
		{"latest runtime image", "FROM gcr.io/distroless/static-debian12:nonroot@sha256:", "FROM gcr.io/distroless/static-debian12:latest@sha256:", "nonroot"},
		{"runtime image by tag only", "FROM gcr.io/distroless/static-debian12:nonroot@sha256:afa5c872c891853ca7fcf1f12c3edb23f7eeef36189728842dd51042ff57f7ab", "FROM gcr.io/distroless/static-debian12:nonroot", "digest"},
		{"old Go", "GO_VERSION=1.26.8", "GO_VERSION=1.21", "older than go.mod"},
		{"lower-case as", "AS build", "as build", "FromAsCasing"},
		{"shell in runtime", "USER 65532:65532", "RUN mkdir /data\nUSER 65532:65532", "no shell"},
		{"binary not copied", "COPY --from=build /out/callrecords-etl", "COPY --from=build /out/other", "does not COPY"},
		{"iceberg binary elsewhere", "/out/callrecords-etl-iceberg /usr/local/bin/callrecords-etl-iceberg", "/out/callrecords-etl-iceberg /opt/callrecords-etl-iceberg", "want it next to"},
		{"iceberg binary not built", " ./cmd/callrecords-etl-iceberg", " ./cmd/other", "does not build"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(text, tt.old) {
				t.Fatalf("Dockerfile no longer contains %q: update this test", tt.old)
			}
			broken := strings.Replace(text, tt.old, strings.ReplaceAll(tt.new, `\n`, "\n"), 1)
			probs := dockerfileProblems(parseDockerfile(t, []byte(broken)), readGoDirective(t))
			if !slices.ContainsFunc(probs, func(p string) bool { return strings.Contains(p, tt.want) }) {
				t.Errorf("with %s: problems %q, want one mentioning %q", tt.name, probs, tt.want)
			}
		})
	}
}
