package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// Shell completion: the shell asks the binary itself (urfave/cli's hidden
// --generate-bash-completion flag lists the commands or, after a "-", the
// flags of the command typed so far), so the scripts never go stale.

const bashCompletion = `# bash completion for callrecords-etl: source <(callrecords-etl completion bash)
_callrecords_etl_complete() {
  local cur="${COMP_WORDS[COMP_CWORD]}"
  local words=("${COMP_WORDS[@]:1:COMP_CWORD-1}")
  local candidates
  if [[ "$cur" == -* ]]; then
    candidates=$("${COMP_WORDS[0]}" "${words[@]}" "$cur" --generate-bash-completion 2>/dev/null)
  else
    candidates=$("${COMP_WORDS[0]}" "${words[@]}" --generate-bash-completion 2>/dev/null)
  fi
  COMPREPLY=($(compgen -W "$candidates" -- "$cur"))
}
complete -o default -F _callrecords_etl_complete callrecords-etl
`

const zshCompletion = `#compdef callrecords-etl
# zsh completion for callrecords-etl: source <(callrecords-etl completion zsh), after compinit
_callrecords_etl() {
  local -a candidates
  local cur=${words[CURRENT]}
  if [[ "$cur" == -* ]]; then
    candidates=("${(@f)$(${words[1]} ${words[2,CURRENT-1]} $cur --generate-bash-completion 2>/dev/null)}")
  else
    candidates=("${(@f)$(${words[1]} ${words[2,CURRENT-1]} --generate-bash-completion 2>/dev/null)}")
  fi
  if [[ -n "${candidates[1]}" ]]; then
    compadd -a candidates
  else
    _files
  fi
}
(( $+functions[compdef] )) && compdef _callrecords_etl callrecords-etl
`

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script: bash, zsh or fish (e.g. source <(callrecords-etl completion bash))",
		ArgsUsage: "bash|zsh|fish",
		Action: func(c *cli.Context) error {
			switch shell := c.Args().First(); shell {
			case "bash":
				_, err := fmt.Fprint(c.App.Writer, bashCompletion)
				return err
			case "zsh":
				_, err := fmt.Fprint(c.App.Writer, zshCompletion)
				return err
			case "fish":
				script, err := c.App.ToFishCompletion()
				if err != nil {
					return err
				}
				_, err = fmt.Fprint(c.App.Writer, script)
				return err
			default:
				return usageError("completion %q: want bash, zsh or fish", shell)
			}
		},
	}
}
