package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// pairs is a repeatable KEY=value flag.
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

// idList is a repeatable job id flag; one value may list ids separated by commas.
type idList []int64

func (l *idList) String() string { return "" }

func (l *idList) Set(v string) error {
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		id, err := strconv.ParseInt(f, 10, 64)
		if err != nil || id < 1 {
			return fmt.Errorf("%q is not a job id", f)
		}
		*l = append(*l, id)
	}
	return nil
}

const submitUsage = `--project P --entity KEY/VAL --name NAME --cmd CMD --tag TAG [flags]

Submits a job with a project token (or the admin token) and prints its id;
with -f it prints the job's log instead, live, and exits with its result.
The flags are those of aura-runner submit; --entity KEY/VAL stands for its
--entity-key and --entity-val.`

// submitBody is the API's JobSubmit.
type submitBody struct {
	Project        string            `json:"project,omitempty"`
	EntityKey      string            `json:"entityKey"`
	EntityVal      string            `json:"entityVal"`
	Name           string            `json:"name"`
	Cmd            string            `json:"cmd"`
	Tag            string            `json:"tag"`
	Env            map[string]string `json:"env,omitempty"`
	SecretEnv      map[string]string `json:"secretEnv,omitempty"`
	Collections    map[string]string `json:"collections,omitempty"`
	PrecedingJobs  []int64           `json:"precedingJobs,omitempty"`
	EarliestStart  *time.Time        `json:"earliestStart,omitempty"`
	TimeoutSeconds int               `json:"timeoutSeconds,omitempty"`
	Priority       int               `json:"priority,omitempty"`
	MaxAttempts    int               `json:"maxAttempts,omitempty"`
	EntityTitle    string            `json:"entityTitle,omitempty"`
}

func (c *command) submit(ctx context.Context, args []string) error {
	var co common
	fs := c.flagSet("submit", submitUsage, &co)
	var b submitBody
	env, secretEnv, collections := pairs{}, pairs{}, pairs{}
	var after idList
	fs.StringVar(&b.Project, "project", "", "the project (a project token implies its own)")
	entity := fs.String("entity", "", "the entity, KEY/VAL such as commit/abc123 (required)")
	fs.StringVar(&b.EntityKey, "entity-key", "", "the entity's key (instead of --entity)")
	fs.StringVar(&b.EntityVal, "entity-val", "", "the entity's value (instead of --entity)")
	fs.StringVar(&b.EntityTitle, "title", "", "the entity's title, such as the commit message's first line")
	fs.StringVar(&b.Name, "name", "", "the job's name (required)")
	fs.StringVar(&b.Cmd, "cmd", "", "the shell command to run (required); - reads it from standard input")
	fs.StringVar(&b.Tag, "tag", "", "the one tag runners take the job by, such as native,linux (required)")
	fs.Var(env, "env", "an environment variable KEY=value for the job (repeat it)")
	fs.Var(secretEnv, "secret-env", "a secret variable KEY=value, masked in the log (repeat it)")
	fs.Var(collections, "collection", "put the entity into collection key=value (repeat it)")
	fs.Var(&after, "after", "a job that must succeed first (repeat it, or separate ids with commas)")
	earliest := fs.String("earliest-start", "", "do not start before this time (RFC 3339)")
	delay := fs.Duration("delay", 0, "do not start before this long from now, such as 10m")
	timeout := fs.Duration("timeout", 0, "stop the job after this long (server default: 1h)")
	fs.IntVar(&b.Priority, "priority", 0, "higher runs first, from -1000 to 1000")
	fs.IntVar(&b.MaxAttempts, "max-attempts", 0, "how often to run the job when its runner is lost (server default: 3)")
	follow := fs.Bool("f", false, "follow the job's log until it ends, as aura log -f does, and exit with its result")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q (quote the command and give it with --cmd)", pos[0])
	}
	if *follow && co.json {
		return usagef("give -f or --json, not both")
	}
	if *entity != "" {
		k, v, ok := strings.Cut(*entity, "/")
		if !ok || k == "" || v == "" {
			return usagef("--entity wants KEY/VAL, such as commit/abc123")
		}
		b.EntityKey, b.EntityVal = k, v
	}
	var missing []string
	for _, f := range []struct{ flag, v string }{{"--entity", b.EntityKey + b.EntityVal}, {"--name", b.Name},
		{"--cmd", b.Cmd}, {"--tag", b.Tag}} {
		if f.v == "" {
			missing = append(missing, f.flag)
		}
	}
	if len(missing) > 0 {
		return usagef("missing %s (see --help)", strings.Join(missing, ", "))
	}
	if b.Cmd == "-" {
		data, err := io.ReadAll(c.env.Stdin)
		if err != nil {
			return usagef("reading the command from standard input: %v", err)
		}
		b.Cmd = string(data)
	}
	b.Env, b.SecretEnv, b.Collections, b.PrecedingJobs = env, secretEnv, collections, after
	switch {
	case *earliest != "" && *delay != 0:
		return usagef("give --earliest-start or --delay, not both")
	case *earliest != "":
		at, err := time.Parse(time.RFC3339, *earliest)
		if err != nil {
			return usagef("--earliest-start %q: want an RFC 3339 time such as 2024-05-01T12:00:00Z", *earliest)
		}
		b.EarliestStart = &at
	case *delay < 0:
		return usagef("--delay cannot be negative")
	case *delay > 0:
		at := time.Now().Add(*delay).UTC()
		b.EarliestStart = &at
	}
	if *timeout != 0 {
		b.TimeoutSeconds = int((*timeout + time.Second - 1) / time.Second)
		if b.TimeoutSeconds < 1 {
			return usagef("--timeout must be at least 1s")
		}
	}
	cl, err := c.client(&co)
	if err != nil {
		return err
	}
	var j Job
	raw, err := cl.send(ctx, http.MethodPost, "/api/v1/jobs", nil, b, &j)
	if err != nil {
		return err
	}
	if *follow {
		fmt.Fprintf(c.env.Stderr, "aura: submitted job %d\n", j.ID)
		return c.follow(ctx, cl, j, c.env.Terminal)
	}
	if co.json {
		return c.printJSON(raw)
	}
	fmt.Fprintln(c.env.Stdout, j.ID)
	return nil
}
