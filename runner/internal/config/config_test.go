package config

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func envFunc(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

func TestDefaults(t *testing.T) {
	t.Parallel()

	c, err := Load([]string{"--token", "AURA_RUNNERKEY_a-b", "--tag", "native,linux"}, envFunc(nil), io.Discard)
	require.NoError(t, err)
	require.Equal(t, Config{
		Server: "http://localhost:8420", Token: "AURA_RUNNERKEY_a-b", Tags: []string{"native,linux"},
		Concurrency: runtime.NumCPU(), WorkDir: "./aura-work", Shell: "sh",
		Grace: 10 * time.Second, ShutdownGrace: 30 * time.Second,
	}, c)
}

func TestFlagsEnvFile(t *testing.T) {
	t.Parallel()

	yamlFile := writeFile(t, "runner.yaml", `# the runner
server: "http://ci.example:8420"   # a comment
token: AURA_RUNNERKEY_file-x
tags:
  - native,linux
  - 'docker'
concurrency: 3
work-dir: /var/lib/aura   # not a #comment inside
shell: bash
grace: 5s
shutdown_grace: 90
`)
	jsonFile := writeFile(t, "runner.json", `{"server": "http://json:1", "token": "AURA_RUNNERKEY_json-x",
		"tags": ["a,b", "c"], "concurrency": 2, "workDir": "/w", "grace": 7, "shutdownGrace": "1m"}`)

	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, c Config)
	}{
		{
			name: "YAML file",
			args: []string{"--config", yamlFile},
			check: func(t *testing.T, c Config) {
				require.Equal(t, "http://ci.example:8420", c.Server)
				require.Equal(t, "AURA_RUNNERKEY_file-x", c.Token)
				require.Equal(t, []string{"native,linux", "docker"}, c.Tags)
				require.Equal(t, 3, c.Concurrency)
				require.Equal(t, "/var/lib/aura", c.WorkDir)
				require.Equal(t, "bash", c.Shell)
				require.Equal(t, 5*time.Second, c.Grace)
				require.Equal(t, 90*time.Second, c.ShutdownGrace)
				require.Equal(t, yamlFile, c.File)
			},
		},
		{
			name: "JSON file named by the environment",
			env:  map[string]string{"AURA_RUNNER_CONFIG": jsonFile},
			check: func(t *testing.T, c Config) {
				require.Equal(t, "http://json:1", c.Server)
				require.Equal(t, []string{"a,b", "c"}, c.Tags)
				require.Equal(t, 2, c.Concurrency)
				require.Equal(t, "/w", c.WorkDir)
				require.Equal(t, 7*time.Second, c.Grace)
				require.Equal(t, time.Minute, c.ShutdownGrace)
			},
		},
		{
			name: "environment over file",
			args: []string{"--config", yamlFile},
			env: map[string]string{"AURA_TAGS": "  x,y \n z ", "AURA_CONCURRENCY": "8", "AURA_SERVER": "https://env",
				"AURA_RUNNER_TOKEN": "AURA_RUNNERKEY_env-x", "AURA_WORK_DIR": "/env", "AURA_SHELL": "dash",
				"AURA_GRACE": "1s", "AURA_SHUTDOWN_GRACE": "2s"},
			check: func(t *testing.T, c Config) {
				require.Equal(t, Config{Server: "https://env", Token: "AURA_RUNNERKEY_env-x", Tags: []string{"x,y", "z"},
					Concurrency: 8, WorkDir: "/env", Shell: "dash", Grace: time.Second, ShutdownGrace: 2 * time.Second,
					File: yamlFile}, c)
			},
		},
		{
			name: "flags over environment",
			args: []string{"--config", yamlFile, "--tag", "f1", "--tag=f2", "--concurrency", "4", "--server", "http://flag",
				"--token", "AURA_RUNNERKEY_flag-x", "--work-dir", "wd", "--shell", "zsh", "--grace", "3s", "--shutdown-grace", "4s"},
			env: map[string]string{"AURA_TAGS": "e", "AURA_CONCURRENCY": "8", "AURA_RUNNER_TOKEN": "AURA_RUNNERKEY_env-x"},
			check: func(t *testing.T, c Config) {
				require.Equal(t, Config{Server: "http://flag", Token: "AURA_RUNNERKEY_flag-x", Tags: []string{"f1", "f2"},
					Concurrency: 4, WorkDir: "wd", Shell: "zsh", Grace: 3 * time.Second, ShutdownGrace: 4 * time.Second,
					File: yamlFile}, c)
			},
		},
		{
			name: "--tags takes a white-space separated list",
			args: []string{"--token", "AURA_RUNNERKEY_a-b", "--tags", "native,linux docker", "--tag", "last"},
			check: func(t *testing.T, c Config) {
				require.Equal(t, []string{"last", "native,linux", "docker"}, c.Tags)
			},
		},
		{
			name: "flow list and single-string tags in YAML",
			args: []string{"--token", "AURA_RUNNERKEY_a-b",
				"--config", writeFile(t, "flow.yaml", "tags: [\"native,linux\", docker ,'it''s']\n")},
			check: func(t *testing.T, c Config) {
				require.Equal(t, []string{"native,linux", "docker", "it's"}, c.Tags)
			},
		},
		{
			name: "tags as one string in a file",
			args: []string{"--token", "AURA_RUNNERKEY_a-b", "--config", writeFile(t, "s.yaml", "tags: a b\n")},
			check: func(t *testing.T, c Config) {
				require.Equal(t, []string{"a", "b"}, c.Tags)
			},
		},
		{
			name: "version needs nothing else",
			args: []string{"--version"},
			check: func(t *testing.T, c Config) {
				require.True(t, c.ShowVersion)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Load(tt.args, envFunc(tt.env), io.Discard)
			require.NoError(t, err)
			tt.check(t, c)
		})
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{name: "nothing given", want: []string{"no runner token: give --token, set AURA_RUNNER_TOKEN",
			"no tags: give --tag"}},
		{name: "tag with a space", args: []string{"--token", "t", "--tag", "a b"}, want: []string{`tag "a b" contains white space`}},
		{name: "bad concurrency from env", args: []string{"--token", "t", "--tag", "a"}, env: map[string]string{"AURA_CONCURRENCY": "many"},
			want: []string{`$AURA_CONCURRENCY: "many" is not a whole number`}},
		{name: "concurrency out of range", args: []string{"--token", "t", "--tag", "a", "--concurrency", "0"},
			want: []string{"concurrency 0: it must be from 1 to 256"}},
		{name: "bad server", args: []string{"--token", "t", "--tag", "a", "--server", "localhost:8420"},
			want: []string{`server "localhost:8420": not an http:// or https:// URL`}},
		{name: "bad duration", args: []string{"--token", "t", "--tag", "a", "--grace", "soon"},
			want: []string{`--grace: "soon" is not a duration`}},
		{name: "project token", args: []string{"--token", "AURA_PROJECTKEY_p-x", "--tag", "a"},
			want: []string{"the token is a project token"}},
		{name: "stray argument", args: []string{"--token", "t", "native"}, want: []string{`unexpected argument "native"`}},
		{name: "missing file", args: []string{"--config", "/nonexistent/runner.yaml"}, want: []string{"/nonexistent/runner.yaml"}},
		{name: "unknown key", args: []string{"--config", "UNKNOWN"}, want: []string{`line 2: unknown setting "colour"`}},
		{name: "nested YAML", args: []string{"--config", "NESTED"}, want: []string{"line 2: nested settings are not supported"}},
		{name: "list for a scalar", args: []string{"--config", "LIST"}, want: []string{`"server" takes one value, not a list`}},
		{name: "bad JSON", args: []string{"--config", "JSON"}, want: []string{"invalid character"}},
	}
	files := map[string]string{
		"UNKNOWN": "token: t\ncolour: blue\n",
		"NESTED":  "server:\n  url: http://x\n",
		"LIST":    "server: [a, b]\n",
		"JSON":    "{\"token\": t}",
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string(nil), tt.args...)
			for i, a := range args {
				if content, ok := files[a]; ok {
					args[i] = writeFile(t, "runner.conf", content)
				}
			}
			_, err := Load(args, envFunc(tt.env), io.Discard)
			require.Error(t, err)
			for _, w := range tt.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()

	var out strings.Builder
	_, err := Load([]string{"--help"}, envFunc(nil), &out)
	require.ErrorIs(t, err, flag.ErrHelp)
	for _, s := range settings {
		require.Contains(t, out.String(), "-"+s.name)
		require.Contains(t, out.String(), "$"+s.env)
	}
}

// TestCrammedTagListWarns: YAML reads [native,linux] as two tags; the runner
// says so, and how to write the one tag, but takes the file as written.
func TestCrammedTagListWarns(t *testing.T) {
	t.Parallel()
	env := func(string) string { return "" }
	var out strings.Builder
	path := writeFile(t, "runner.yaml", "token: AURA_RUNNERKEY_x\ntags: [native,linux]\n")
	c, err := Load([]string{"--config", path}, env, &out)
	require.NoError(t, err)
	require.Equal(t, []string{"native", "linux"}, c.Tags)
	require.Contains(t, out.String(), `line 2: tags: [native,linux] is 2 tags, "native" and "linux"; for one tag that contains commas, quote it: ["native,linux"]`)

	for _, quiet := range []string{`tags: ["native,linux"]`, "tags: [native, linux]", "tags:\n  - native\n  - linux", "tags: native,linux"} {
		out.Reset()
		path := writeFile(t, "runner.yaml", "token: AURA_RUNNERKEY_x\n"+quiet+"\n")
		_, err := Load([]string{"--config", path}, env, &out)
		require.NoError(t, err, quiet)
		require.Empty(t, out.String(), quiet)
	}
}
