package cli

import (
	"fmt"
	"sort"
	"strings"
)

// commandFlags lists each client command's flags, for the completion scripts.
var commandFlags = map[string][]string{
	"login":      {},
	"jobs":       {"--project", "--status", "--tag", "--entity", "--collection", "--limit"},
	"builds":     {"--collection", "--status", "--author", "--limit", "--before"},
	"log":        {"-f", "--follow", "--color", "--attempt"},
	"retry":      {},
	"cancel":     {},
	"approve":    {},
	"submit":     {"--project", "--entity", "--entity-key", "--entity-val", "--title", "--name", "--cmd", "--tag", "--env", "--secret-env", "--collection", "--after", "--earliest-start", "--delay", "--timeout", "--priority", "--max-attempts", "-f"},
	"runners":    {},
	"completion": {},
}

// serverCommands are the server's own commands, completed too.
var serverCommands = []string{"serve", "migrate", "secrets", "version", "help"}

func flagsOf(cmd string) []string {
	if cmd == "completion" {
		return []string{"bash", "zsh", "fish"}
	}
	f := append([]string{}, commandFlags[cmd]...)
	f = append(f, "--url", "--token")
	if cmd != "log" {
		f = append(f, "--json")
	}
	sort.Strings(f)
	return f
}

func allCommands() []string {
	return append(append([]string{}, Commands...), serverCommands...)
}

func (c *command) completion(args []string) error {
	if len(args) != 1 {
		return usagef("usage: aura completion bash|zsh|fish")
	}
	var b strings.Builder
	switch args[0] {
	case "bash":
		b.WriteString("# bash completion for aura; load with: source <(aura completion bash)\n_aura() {\n")
		b.WriteString("  local cur=${COMP_WORDS[COMP_CWORD]}\n  if [ \"$COMP_CWORD\" -eq 1 ]; then\n")
		fmt.Fprintf(&b, "    COMPREPLY=($(compgen -W %q -- \"$cur\"))\n    return\n  fi\n", strings.Join(allCommands(), " "))
		b.WriteString("  case ${COMP_WORDS[1]} in\n")
		for _, cmd := range Commands {
			fmt.Fprintf(&b, "    %s) COMPREPLY=($(compgen -W %q -- \"$cur\")) ;;\n", cmd, strings.Join(flagsOf(cmd), " "))
		}
		b.WriteString("  esac\n}\ncomplete -o default -F _aura aura\n")
	case "zsh":
		b.WriteString("#compdef aura\n# zsh completion for aura; load with: source <(aura completion zsh)\n_aura() {\n")
		b.WriteString("  if (( CURRENT == 2 )); then\n")
		fmt.Fprintf(&b, "    compadd -- %s\n    return\n  fi\n  case $words[2] in\n", strings.Join(allCommands(), " "))
		for _, cmd := range Commands {
			fmt.Fprintf(&b, "    %s) compadd -- %s ;;\n", cmd, strings.Join(flagsOf(cmd), " "))
		}
		b.WriteString("  esac\n}\nif [ \"$funcstack[1]\" = \"_aura\" ]; then _aura \"$@\"; else compdef _aura aura; fi\n")
	case "fish":
		b.WriteString("# fish completion for aura; load with: aura completion fish | source\n")
		fmt.Fprintf(&b, "complete -c aura -f -n __fish_use_subcommand -a %q\n", strings.Join(allCommands(), " "))
		for _, cmd := range Commands {
			for _, f := range flagsOf(cmd) {
				switch {
				case cmd == "completion":
					fmt.Fprintf(&b, "complete -c aura -f -n '__fish_seen_subcommand_from completion' -a %s\n", f)
				case strings.HasPrefix(f, "--"):
					fmt.Fprintf(&b, "complete -c aura -n '__fish_seen_subcommand_from %s' -l %s\n", cmd, f[2:])
				default:
					fmt.Fprintf(&b, "complete -c aura -n '__fish_seen_subcommand_from %s' -s %s\n", cmd, f[1:])
				}
			}
		}
	default:
		return usagef("no completion for %q: want bash, zsh or fish", args[0])
	}
	_, err := fmt.Fprint(c.env.Stdout, b.String())
	return err
}
