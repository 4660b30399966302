package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestEveryFlagReadsItsEnvironmentVariable walks the whole command tree and,
// for every flag of every command, sets CALLRECORDS_<FLAG> alone and checks
// that the command sees the value as if the flag had been given.
func TestEveryFlagReadsItsEnvironmentVariable(t *testing.T) {
	type target struct {
		path []string
		flag cli.Flag
	}
	var targets []target
	var walk func(path []string, cmds []*cli.Command)
	walk = func(path []string, cmds []*cli.Command) {
		for _, cmd := range cmds {
			p := append(append([]string(nil), path...), cmd.Name)
			if cmd.Action != nil {
				for _, f := range cmd.Flags {
					targets = append(targets, target{p, f})
				}
			}
			walk(p, cmd.Subcommands)
		}
	}
	walk(nil, newApp().Commands)
	if len(targets) < 80 {
		t.Fatalf("found %d flags in the command tree, want them all", len(targets))
	}
	for _, tg := range targets {
		name := tg.flag.Names()[0]
		t.Run(strings.Join(tg.path, "_")+"--"+name, func(t *testing.T) {
			var sample, want string
			switch tg.flag.(type) {
			case *cli.StringFlag:
				sample, want = "from-the-environment", "from-the-environment"
			case *cli.BoolFlag:
				sample, want = "true", "true"
			case *cli.IntFlag, *cli.Int64Flag:
				sample, want = "7", "7"
			case *cli.Float64Flag:
				sample, want = "2.5", "2.5"
			case *cli.DurationFlag:
				sample, want = "5m", "5m0s"
			case *cli.StringSliceFlag:
				sample, want = "a,b", "[a b]"
			default:
				t.Fatalf("flag type %T: no sample value", tg.flag)
			}
			t.Setenv(envName(name), sample)
			app := newApp()
			called := false
			var got string
			var isSet bool
			var capture func(cmds []*cli.Command)
			capture = func(cmds []*cli.Command) {
				for _, cmd := range cmds {
					if cmd.Action != nil {
						cmd.Action = func(c *cli.Context) error {
							called, isSet = true, c.IsSet(name)
							if _, ok := tg.flag.(*cli.StringSliceFlag); ok {
								got = fmt.Sprint(c.StringSlice(name))
							} else {
								got = fmt.Sprint(c.Value(name))
							}
							return nil
						}
					}
					capture(cmd.Subcommands)
				}
			}
			capture(app.Commands)
			if err := app.Run(append([]string{"callrecords-etl"}, tg.path...)); err != nil {
				t.Fatalf("%s with %s=%s: %v", strings.Join(tg.path, " "), envName(name), sample, err)
			}
			if !called || !isSet || got != want {
				t.Errorf("%s with %s=%s: --%s = %q (set %t), want %q", strings.Join(tg.path, " "), envName(name), sample, name, got, isSet, want)
			}
		})
	}
}
