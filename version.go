package main

import (
	_ "embed"
	"runtime/debug"
	"strings"
)

// semver is the release version, from the file VERSION (see CHANGELOG.md).
//
//go:embed VERSION
var semver string

// commit is the commit the binary was built from, set at build time with
// -ldflags "-X main.commit=..." (make build, the Dockerfile); when it is not,
// the VCS revision the Go toolchain recorded.
var commit string

// version is what --version prints: the semantic version and the commit,
// e.g. "0.2.0 (commit 5c5379a)", "(commit 5c5379a-dirty)" for a build from a
// modified tree.
func version() string {
	c := commit
	if info, ok := debug.ReadBuildInfo(); ok && c == "" {
		modified := false
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				c = s.Value[:min(len(s.Value), 7)]
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if c != "" && modified {
			c += "-dirty"
		}
	}
	if c == "" {
		c = "unknown"
	}
	return strings.TrimSpace(semver) + " (commit " + c + ")"
}
