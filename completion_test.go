package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompletion runs each shell's completion script in that shell, against
// the real binary: the commands for a partial command name, a command's
// flags for a partial flag, a subcommand of notifications.
func TestCompletion(t *testing.T) {
	shells := map[string]string{
		"bash": `source <(callrecords-etl completion bash)
complete_line() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _callrecords_etl_complete; printf '%s\n' "${COMPREPLY[@]}"; }
complete_line callrecords-etl ru; complete_line callrecords-etl run --dry; complete_line callrecords-etl notifications se`,
		"zsh": `source <(callrecords-etl completion zsh)
compadd() { print -l -- "${(@P)2}" }  # the real one also filters by the prefix
complete_line() { words=("$@"); CURRENT=$#; _callrecords_etl | grep -- "^${words[CURRENT]}" }
complete_line callrecords-etl ru; complete_line callrecords-etl run --dry; complete_line callrecords-etl notifications se`,
		"fish": `callrecords-etl completion fish | source
complete -C "callrecords-etl ru"; complete -C "callrecords-etl run --dry"; complete -C "callrecords-etl notifications se"`,
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "callrecords-etl"), ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	for shell, script := range shells {
		t.Run(shell, func(t *testing.T) {
			if _, err := exec.LookPath(shell); err != nil {
				msg := shell + " not installed (make test installs bash, zsh and fish with apt-get): completion NOT TESTED"
				if os.Getenv("CI") == "true" || os.Getenv("CALLRECORDS_TEST_DISALLOW_SKIP") != "" {
					t.Fatal(msg)
				}
				t.Skip(msg)
			}
			out, err := exec.Command(shell, "-c", script).CombinedOutput()
			if err != nil {
				t.Fatalf("%s: %v\n%s", shell, err, out)
			}
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				word, _, _ := strings.Cut(line, "\t") // fish adds the description
				got = append(got, word)
			}
			if want := []string{"run", "--dry-run", "serve"}; strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("%s completes %q, want %q", shell, got, want)
			}
		})
	}
	if err := runQuiet([]string{"callrecords-etl", "completion", "powershell"}); exitCode(err) != 2 {
		t.Errorf("completion powershell = %v, want a usage error", err)
	}
}
