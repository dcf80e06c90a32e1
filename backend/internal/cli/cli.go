// Package cli is the command line for people: `aura jobs`, `aura log -f`,
// `aura retry`, … talk to a server's REST API and event websocket with the URL
// and token from the environment (AURA_URL, AURA_TOKEN) or from the file
// `aura login` writes.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// Exit codes a script can rely on.
const (
	ExitOK          = 0 // done; for `aura log -f`, the job succeeded
	ExitJobFailed   = 1 // the job failed, timed out or was lost
	ExitUsage       = 2 // wrong flags or arguments, or input the server refused (400)
	ExitNotFound    = 3 // no such job, project or entity (404)
	ExitNotAllowed  = 4 // no token, a wrong one, or one that may not do this (401, 403)
	ExitUnreachable = 5 // the server did not answer, or answered 502, 503 or 504
	ExitConflict    = 6 // the job is not in a state that allows it (409): cancel an ended job, retry a running one
	ExitCancelled   = 7 // the job was cancelled (or skipped)
	ExitError       = 8 // anything else (a 500, a malformed answer)
)

// Commands are the names Run answers; the server's own commands are not here.
var Commands = []string{"login", "jobs", "builds", "log", "retry", "cancel", "approve", "submit", "runners", "completion"}

// IsCommand reports whether name is one of the client commands.
func IsCommand(name string) bool {
	for _, c := range Commands {
		if c == name {
			return true
		}
	}
	return false
}

// Env is what a command reads from its surroundings.
type Env struct {
	Getenv func(string) string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Terminal reports whether stdout is a terminal (colours pass through).
	Terminal bool
}

// OSEnv is the process's own environment.
func OSEnv(stdout, stderr io.Writer) Env {
	return Env{Getenv: os.Getenv, Stdin: os.Stdin, Stdout: stdout, Stderr: stderr, Terminal: isTerminal(stdout)}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// exitError carries an exit code and a message for the person.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func exitf(code int, format string, a ...any) error {
	return &exitError{code: code, msg: fmt.Sprintf(format, a...)}
}

func usagef(format string, a ...any) error { return exitf(ExitUsage, format, a...) }

// exitCode is the process exit code for err.
func exitCode(err error) int {
	var ee *exitError
	var ae *apiError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ae):
		return ae.exitCode()
	case errors.Is(err, flag.ErrHelp):
		return ExitOK
	default:
		return ExitError
	}
}

// Run runs the client command args[0] with its flags and returns the exit code.
func Run(ctx context.Context, args []string, env Env) int {
	if len(args) == 0 || !IsCommand(args[0]) {
		fmt.Fprintln(env.Stderr, "aura: not a client command")
		return ExitUsage
	}
	var err error
	c := &command{env: env}
	switch args[0] {
	case "login":
		err = c.login(ctx, args[1:])
	case "jobs":
		err = c.jobs(ctx, args[1:])
	case "builds":
		err = c.builds(ctx, args[1:])
	case "log":
		err = c.log(ctx, args[1:])
	case "retry", "cancel", "approve":
		err = c.action(ctx, args[0], args[1:])
	case "submit":
		err = c.submit(ctx, args[1:])
	case "runners":
		err = c.runners(ctx, args[1:])
	case "completion":
		err = c.completion(args[1:])
	}
	if err != nil && ctx.Err() != nil {
		return 130 // interrupted (Ctrl-C), as a shell reports it
	}
	code := exitCode(err)
	if err != nil && !errors.Is(err, flag.ErrHelp) && err.Error() != "" {
		fmt.Fprintln(env.Stderr, "aura "+args[0]+":", err)
	}
	return code
}

// command holds what every subcommand shares.
type command struct {
	env Env
}

// flags starts a subcommand's flag set with the shared --url, --token and --json.
type common struct {
	url, token string
	json       bool
}

func (c *command) flagSet(name, usage string, co *common) *flag.FlagSet {
	fs := flag.NewFlagSet("aura "+name, flag.ContinueOnError)
	fs.SetOutput(c.env.Stderr)
	fs.StringVar(&co.url, "url", "", "the server (default $AURA_URL, then the file aura login writes)")
	fs.StringVar(&co.token, "token", "", "the token (default $AURA_TOKEN, then the file aura login writes)")
	if name != "log" { // a log is bytes, not JSON
		fs.BoolVar(&co.json, "json", false, "print the server's JSON answer as it is")
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: aura %s %s\n\nflags:\n", name, usage)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args, allowing flags after the positional arguments too
// (`aura log 42 -f`), and returns the positional ones.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, exitf(ExitUsage, "") // the flag package has said what is wrong
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// client builds the API client from the flags, the environment and the file.
func (c *command) client(co *common) (*client, error) {
	cfg, err := loadConfig(c.env.Getenv)
	if err != nil {
		return nil, err
	}
	url := firstOf(co.url, c.env.Getenv("AURA_URL"), cfg.URL)
	token := firstOf(co.token, c.env.Getenv("AURA_TOKEN"), cfg.Token)
	if url == "" {
		return nil, usagef("no server: set AURA_URL, pass --url, or run aura login URL")
	}
	return newClient(url, token)
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
