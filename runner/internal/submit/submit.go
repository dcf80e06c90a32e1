// Package submit is `aura-runner submit`: inside a job, it submits a child job
// with the job token (POST /api/v1/jobs) and prints the new job's id alone on
// stdout, so that a script can chain jobs:
//
//	build=$(aura-runner submit --name build --cmd make --tag native,linux)
//	aura-runner submit --name test --cmd 'make test' --tag native,linux --after "$build"
package submit

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aura-ci/aura/runner/internal/apiclient"
	"github.com/aura-ci/aura/runner/internal/backoff"
)

// pairs is a repeatable K=V flag.
type pairs map[string]string

func (p pairs) String() string { return "" }

func (p pairs) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q: want KEY=value", v)
	}
	p[k] = val
	return nil
}

// ids is a repeatable job id flag; one value may also list ids separated by commas
// or white space.
type ids []int64

func (l *ids) String() string { return "" }

func (l *ids) Set(v string) error {
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		id, err := strconv.ParseInt(f, 10, 64)
		if err != nil || id < 1 {
			return fmt.Errorf("%q is not a job id", f)
		}
		*l = append(*l, id)
	}
	return nil
}

// Run runs `aura-runner submit args…` and returns the exit code: 0 when the job
// was submitted, 1 when the server refused it or could not be reached, 2 for bad
// usage.
func Run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer, version string) int {
	return run(ctx, args, getenv, stdin, stdout, stderr, version, retryPolicy{
		tries: 6, backoff: backoff.Backoff{Min: 250 * time.Millisecond, Max: 4 * time.Second}})
}

// retryPolicy says how often and how far apart to retry a submission that could
// not reach the server.
type retryPolicy struct {
	tries   int
	backoff backoff.Backoff
}

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer,
	version string, retry retryPolicy) int {
	fs := flag.NewFlagSet("aura-runner submit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", firstOf(getenv("AURA_SERVER_URL"), getenv("AURA_SERVER"), "http://localhost:8420"),
		"URL of the Aura server [$AURA_SERVER_URL]")
	token := fs.String("token", firstOf(getenv("AURA_JOB_TOKEN"), getenv("AURA_JOBKEY")),
		"a job token (inside a job) or a project token [$AURA_JOB_TOKEN]")
	project := fs.String("project", "", "the project (needed with a project token; a job token implies its own)")
	entityKey := fs.String("entity-key", firstOf(getenv("AURA_ENTITY_KEY"), getenv("AURA_ENTITYKEY")),
		"the entity key (default: the current job's, $AURA_ENTITY_KEY)")
	entityVal := fs.String("entity-val", firstOf(getenv("AURA_ENTITY_VAL"), getenv("AURA_ENTITYVAL")),
		"the entity value (default: the current job's, $AURA_ENTITY_VAL)")
	name := fs.String("name", "", "the job's name (required)")
	cmd := fs.String("cmd", "", "the shell command to run (required); - reads it from standard input")
	tag := fs.String("tag", "", "the one tag runners take the job by, such as native,linux (required)")
	env, secretEnv, collections := pairs{}, pairs{}, pairs{}
	fs.Var(env, "env", "an environment variable KEY=value for the job (repeat it)")
	fs.Var(secretEnv, "secret-env", "a secret variable KEY=value, masked in the log (repeat it)")
	fs.Var(collections, "collection", "put the entity into collection key=value (repeat it)")
	var after ids
	fs.Var(&after, "after", "a job that must succeed first (repeat it, or separate ids with commas)")
	earliest := fs.String("earliest-start", "", "do not start before this time (RFC 3339)")
	delay := fs.Duration("delay", 0, "do not start before this long from now, such as 10m")
	timeout := fs.Duration("timeout", 0, "stop the job after this long (server default: 1h)")
	priority := fs.Int("priority", 0, "higher runs first, from -1000 to 1000")
	maxAttempts := fs.Int("max-attempts", 0, "how often to run the job when its runner is lost (server default: 3)")
	file := fs.String("file", "", "submit every job of this jobs `file` (such as .aura/jobs.yaml) at once, all or none")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: aura-runner submit --name NAME --cmd CMD --tag TAG [flags]\n"+
			"       aura-runner submit --file .aura/jobs.yaml\n\n"+
			"Submits a job and prints its id. Inside a job it uses $AURA_SERVER_URL and $AURA_JOB_TOKEN,\n"+
			"and the job goes into the same project, by default on the same entity.\n"+
			"With --file it submits the jobs of the file, checked whole first, and prints their ids,\n"+
			"one a line in the file's order. A job of the file has the fields name, cmd, tag, after\n"+
			"(names of jobs in the file, or job ids), env, secrets (names of variables of this job's\n"+
			"environment, passed on masked), collection, delay, earliest-start, timeout, priority,\n"+
			"max-attempts and when ({branch: main, event: push}: otherwise the job is left out).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}

	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "aura-runner submit: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return usage("unexpected argument %q (quote the command and give it with --cmd)", fs.Arg(0))
	}
	if *file != "" {
		var clash []string
		fs.Visit(func(f *flag.Flag) {
			if !slices.Contains([]string{"file", "server", "token", "project", "entity-key", "entity-val"}, f.Name) {
				clash = append(clash, "--"+f.Name)
			}
		})
		if len(clash) > 0 {
			return usage("%s cannot be given with --file: the file describes the jobs", strings.Join(clash, ", "))
		}
		return submitFile(ctx, fileArgs{path: *file, server: *server, token: *token, project: *project,
			entityKey: *entityKey, entityVal: *entityVal}, getenv, stdout, stderr, version, retry)
	}
	var missing []string
	for flagName, v := range map[string]string{"name": *name, "cmd": *cmd, "tag": *tag,
		"entity-key": *entityKey, "entity-val": *entityVal} {
		if v == "" {
			missing = append(missing, "--"+flagName)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return usage("missing %s (see --help)", strings.Join(missing, ", "))
	}
	if *token == "" {
		return usage("no token: run inside a job (AURA_JOB_TOKEN) or give --token")
	}
	if *cmd == "-" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return usage("reading the command from standard input: %v", err)
		}
		*cmd = string(b)
	}

	body := apiclient.JobSubmit{
		EntityKey:     *entityKey,
		EntityVal:     *entityVal,
		Name:          *name,
		Cmd:           *cmd,
		Tag:           *tag,
		Env:           env,
		SecretEnv:     secretEnv,
		Collections:   collections,
		PrecedingJobs: after,
	}
	if *project != "" {
		body.Project = project
	}
	switch {
	case *earliest != "" && *delay != 0:
		return usage("give --earliest-start or --delay, not both")
	case *earliest != "":
		at, err := time.Parse(time.RFC3339, *earliest)
		if err != nil {
			return usage("--earliest-start %q: want an RFC 3339 time such as 2024-05-01T12:00:00Z", *earliest)
		}
		body.EarliestStart = &at
	case *delay < 0:
		return usage("--delay cannot be negative")
	case *delay > 0:
		at := time.Now().Add(*delay).UTC()
		body.EarliestStart = &at
	}
	if *timeout != 0 {
		secs := int((*timeout + time.Second - 1) / time.Second)
		if secs < 1 {
			return usage("--timeout must be at least 1s")
		}
		body.TimeoutSeconds = &secs
	}
	if *priority != 0 {
		body.Priority = priority
	}
	if *maxAttempts != 0 {
		body.MaxAttempts = maxAttempts
	}

	client, err := newClient(*server, *token, version)
	if err != nil {
		return usage("--server %q: %v", *server, err)
	}
	created, err := send(ctx, client, body, retry)
	if err != nil {
		fmt.Fprintf(stderr, "aura-runner submit: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, created.Id)
	return 0
}

// retrying calls do until it succeeds or fails for good. It retries only when the
// server could not be reached at all (the connection was refused), since a
// request that reached the server may have created the jobs.
func retrying[T any](ctx context.Context, retry retryPolicy, do func(context.Context) (T, error)) (T, error) {
	for attempt := 1; ; attempt++ {
		reqCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
		out, err := do(reqCtx)
		cancel()
		var opErr *net.OpError
		if err == nil || attempt >= retry.tries || !errors.As(err, &opErr) || opErr.Op != "dial" {
			return out, err
		}
		if !backoff.Sleep(ctx, retry.backoff.Next()) {
			return out, ctx.Err()
		}
	}
}

// send submits the job.
func send(ctx context.Context, client *apiclient.ClientWithResponses, body apiclient.JobSubmit, retry retryPolicy) (*apiclient.Job, error) {
	return retrying(ctx, retry, func(ctx context.Context) (*apiclient.Job, error) {
		resp, err := client.SubmitJobWithResponse(ctx, body)
		if err != nil {
			return nil, err
		}
		if resp.JSON201 != nil {
			return resp.JSON201, nil
		}
		return nil, apiclient.NewStatusError(resp.StatusCode(), resp.Body)
	})
}

func newClient(server, token, version string) (*apiclient.ClientWithResponses, error) {
	return apiclient.NewClientWithResponses(server,
		apiclient.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("User-Agent", "aura-runner/"+version)
			return nil
		}))
}

func firstOf(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// Main is Run with the process's environment and standard streams.
func Main(args []string, version string) int {
	return Run(context.Background(), args, os.Getenv, os.Stdin, os.Stdout, os.Stderr, version)
}
