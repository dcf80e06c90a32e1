// Package config reads the runner's settings from flags, environment variables
// and a config file, in that order of precedence, over built-in defaults.
//
// The config file (--config or AURA_RUNNER_CONFIG) is JSON when its first
// character is "{", YAML otherwise. Its keys are the flag names ("work-dir";
// "workDir" and "work_dir" work too); "tags" is a list, or a string of tags
// separated by white space. The YAML understood is the flat subset a config needs:
// `key: value` lines, lists as `[a, b]` or as `- item` lines below the key,
// quoted strings, and # comments.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Config is the runner's settings.
type Config struct {
	Server        string
	Token         string
	Tags          []string
	Concurrency   int
	WorkDir       string
	Shell         string
	Grace         time.Duration
	ShutdownGrace time.Duration
	// MetricsAddr, when set, serves the runner's metrics at http://ADDR/metrics.
	MetricsAddr string

	// File is the config file that was read, if any.
	File string
	// ShowVersion asks for the version only; nothing else is checked then.
	ShowVersion bool
}

// setting is one configurable value with its flag, variable and file key.
type setting struct {
	name    string // flag name and config file key
	env     string
	usage   string
	list    bool // repeatable flag; white-space separated in the variable
	setFunc func(c *Config, values []string) error
}

var settings = []setting{
	{name: "server", env: "AURA_SERVER", usage: "`URL` of the Aura server (default http://localhost:8420)",
		setFunc: func(c *Config, v []string) error { c.Server = v[0]; return nil }},
	{name: "token", env: "AURA_RUNNER_TOKEN", usage: "the runner `token`, AURA_RUNNERKEY_… (required)",
		setFunc: func(c *Config, v []string) error { c.Token = v[0]; return nil }},
	{name: "tag", env: "AURA_TAGS", list: true,
		usage:   "a `tag` to take jobs for, such as native,linux; repeat it for several, in priority order (required)",
		setFunc: func(c *Config, v []string) error { c.Tags = v; return nil }},
	{name: "concurrency", env: "AURA_CONCURRENCY", usage: "how many jobs to run at once, `n` (default: the number of CPUs)",
		setFunc: func(c *Config, v []string) error {
			n, err := strconv.Atoi(v[0])
			if err != nil {
				return fmt.Errorf("%q is not a whole number", v[0])
			}
			c.Concurrency = n
			return nil
		}},
	{name: "work-dir", env: "AURA_WORK_DIR", usage: "`folder` for the jobs' workspaces (default ./aura-work)",
		setFunc: func(c *Config, v []string) error { c.WorkDir = v[0]; return nil }},
	{name: "shell", env: "AURA_SHELL", usage: "the `shell` that runs each job's cmd as: shell -c cmd (default sh)",
		setFunc: func(c *Config, v []string) error { c.Shell = v[0]; return nil }},
	{name: "grace", env: "AURA_GRACE", usage: "`time` a stopped job has between SIGTERM and SIGKILL (default 10s)",
		setFunc: func(c *Config, v []string) error { return parseDuration(v[0], &c.Grace) }},
	{name: "shutdown-grace", env: "AURA_SHUTDOWN_GRACE",
		usage:   "on SIGTERM or SIGINT, `time` running jobs have to finish before they are stopped (default 30s)",
		setFunc: func(c *Config, v []string) error { return parseDuration(v[0], &c.ShutdownGrace) }},
	{name: "metrics-addr", env: "AURA_METRICS_ADDR",
		usage:   "`address` serving the runner's Prometheus metrics at /metrics, e.g. 127.0.0.1:9421 (default: none)",
		setFunc: func(c *Config, v []string) error { c.MetricsAddr = v[0]; return nil }},
}

// parseDuration reads "10s", "1m30s", or a plain number of seconds.
func parseDuration(s string, d *time.Duration) error {
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		*d = time.Duration(n * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 10s or 1m30s", s)
	}
	*d = v
	return nil
}

// Defaults returns the settings used where nothing else is given.
func Defaults() Config {
	return Config{
		Server:        "http://localhost:8420",
		Concurrency:   runtime.NumCPU(),
		WorkDir:       "./aura-work",
		Shell:         "sh",
		Grace:         10 * time.Second,
		ShutdownGrace: 30 * time.Second,
	}
}

// listFlag collects the values of a repeatable flag, or the one value of another.
type listFlag struct {
	values []string
	list   bool
}

func (f *listFlag) String() string { return strings.Join(f.values, " ") }

func (f *listFlag) Set(v string) error {
	if f.list {
		f.values = append(f.values, v)
	} else {
		f.values = []string{v}
	}
	return nil
}

// Load reads the settings: defaults, then the config file, then the environment
// (through getenv), then the flags in args. Every problem found is reported, each
// naming where the bad value came from. With -h or --help it prints the usage to
// output and returns flag.ErrHelp.
func Load(args []string, getenv func(string) string, output io.Writer) (Config, error) {
	fs := flag.NewFlagSet("aura-runner", flag.ContinueOnError)
	fs.SetOutput(output)
	flags := map[string]*listFlag{}
	for _, s := range settings {
		f := &listFlag{list: s.list}
		flags[s.name] = f
		fs.Var(f, s.name, s.usage+" [$"+s.env+"]")
	}
	tags := &listFlag{list: true}
	fs.Var(tags, "tags", "`tags` separated by white space, as in $AURA_TAGS; an alternative to --tag")
	configFile := fs.String("config", "", "a JSON or YAML `file` with the same settings [$AURA_RUNNER_CONFIG]")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: aura-runner [flags]\n       aura-runner submit [flags]   (inside a job: submit a child job)\n       aura-runner cache save|restore KEY … (inside a job: keep folders between jobs)\n\n"+
			"Flags override environment variables, which override the config file.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q (settings are flags, such as --tag %s)", fs.Arg(0), fs.Arg(0))
	}
	if *showVersion {
		return Config{ShowVersion: true}, nil
	}

	c := Defaults()
	var errs []error
	apply := func(s setting, values []string, from string) {
		if len(values) == 0 {
			return
		}
		if err := s.setFunc(&c, values); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", from, err))
		}
	}

	c.File = *configFile
	if c.File == "" {
		c.File = getenv("AURA_RUNNER_CONFIG")
	}
	if c.File != "" {
		file, warnings, err := readFile(c.File)
		if err != nil {
			return Config{}, err
		}
		for _, w := range warnings {
			fmt.Fprintf(output, "aura-runner: warning: %s\n", w)
		}
		for _, s := range settings {
			apply(s, file[s.name], fmt.Sprintf("%s: %s", c.File, s.name))
		}
	}
	for _, s := range settings {
		if v := strings.TrimSpace(getenv(s.env)); v != "" {
			values := []string{v}
			if s.list {
				values = strings.Fields(v)
			}
			apply(s, values, "$"+s.env)
		}
	}
	for _, s := range settings {
		values := flags[s.name].values
		if s.name == "tag" {
			for _, v := range tags.values {
				values = append(values, strings.Fields(v)...)
			}
		}
		apply(s, values, "--"+s.name)
	}

	errs = append(errs, c.check()...)
	return c, errors.Join(errs...)
}

// check validates the settings once they are all read.
func (c *Config) check() []error {
	var errs []error
	if c.Token == "" {
		errs = append(errs, errors.New("no runner token: give --token, set AURA_RUNNER_TOKEN, or put \"token\" in the config file"))
	}
	for prefix, kind := range map[string]string{
		"AURA_PROJECTKEY_": "a project token", "AURA_JOBKEY_": "a job token", "AURA_ADMINKEY_": "the admin token",
	} {
		if strings.HasPrefix(c.Token, prefix) {
			errs = append(errs, fmt.Errorf("the token is %s (%s…); the runner needs a runner token (AURA_RUNNERKEY_…)", kind, prefix))
		}
	}
	if len(c.Tags) == 0 {
		errs = append(errs, errors.New("no tags: give --tag (repeat it for several, in priority order), "+
			"set AURA_TAGS (separated by white space), or put \"tags\" in the config file"))
	}
	if len(c.Tags) > 32 {
		errs = append(errs, fmt.Errorf("%d tags: at most 32", len(c.Tags)))
	}
	for _, tag := range c.Tags {
		switch {
		case tag == "":
			errs = append(errs, errors.New("an empty tag"))
		case strings.ContainsFunc(tag, func(r rune) bool { return strings.ContainsRune(" \t\n\r\v\f", r) }):
			errs = append(errs, fmt.Errorf("tag %q contains white space", tag))
		case len(tag) > 260:
			errs = append(errs, fmt.Errorf("tag %q is longer than 260 bytes", tag[:20]+"…"))
		}
	}
	if c.Concurrency < 1 || c.Concurrency > 256 {
		errs = append(errs, fmt.Errorf("concurrency %d: it must be from 1 to 256", c.Concurrency))
	}
	if u, err := url.Parse(c.Server); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("server %q: not an http:// or https:// URL", c.Server))
	}
	if c.WorkDir == "" {
		errs = append(errs, errors.New("an empty work-dir"))
	}
	if c.Shell == "" {
		errs = append(errs, errors.New("an empty shell"))
	}
	if c.Grace < 0 || c.ShutdownGrace < 0 {
		errs = append(errs, errors.New("grace periods cannot be negative"))
	}
	return errs
}

// readFile reads a config file into setting name → values.
func readFile(path string) (map[string][]string, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("config file: %w", err)
	}
	var raw []keyValues
	if trimmed := strings.TrimSpace(string(data)); strings.HasPrefix(trimmed, "{") {
		raw, err = parseJSON(data)
	} else {
		raw, err = parseYAML(string(data))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("config file %s: %w", path, err)
	}
	var warnings []string
	known := map[string]string{"tags": "tag"}
	for _, s := range settings {
		known[normalize(s.name)] = s.name
	}
	out := map[string][]string{}
	for _, kv := range raw {
		name, ok := known[normalize(kv.key)]
		if !ok {
			return nil, nil, fmt.Errorf("config file %s: %sunknown setting %q", path, kv.where, kv.key)
		}
		values := kv.values
		if name == "tag" && kv.crammed {
			quoted := make([]string, len(values))
			for i, v := range values {
				quoted[i] = strconv.Quote(v)
			}
			warnings = append(warnings, fmt.Sprintf("config file %s: %s%s: [%s] is %d tags, %s; "+
				"for one tag that contains commas, quote it: [%s]", path, kv.where, kv.key,
				strings.Join(values, ","), len(values), strings.Join(quoted, " and "), strconv.Quote(strings.Join(values, ","))))
		}
		if name == "tag" && !kv.isList && len(values) == 1 {
			values = strings.Fields(values[0])
		}
		if !kv.isList || name == "tag" {
			out[name] = values
			continue
		}
		return nil, nil, fmt.Errorf("config file %s: %s%q takes one value, not a list", path, kv.where, kv.key)
	}
	return out, warnings, nil
}

// normalize makes "work-dir", "workDir" and "work_dir" the same key.
func normalize(key string) string {
	return strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(key))
}
