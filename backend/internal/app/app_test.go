package app

import (
	"bytes"
	"context"
	"flag"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/migrations"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// run runs the aura command in-process and returns its exit code and output.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := Run(ctx, args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// TestConfigRefusesBadValues: values that do not parse are refused with a message
// naming the variable, not replaced by a default.
func TestConfigRefusesBadValues(t *testing.T) {
	for _, c := range []struct{ env, val, want string }{
		{"AURA_LEASE", "30", "a duration needs a unit"},
		{"AURA_ACK_TIMEOUT", "soon", "AURA_ACK_TIMEOUT"},
		{"AURA_LOG_LIMIT", "64MB", "KiB, MiB or GiB"},
		{"AURA_ARTIFACT_MAX_FILE", "1GB", "KiB, MiB or GiB"},
		{"AURA_ARTIFACT_MAX_JOB", "0", "must be positive"},
		{"AURA_DEMO", "yes please", "true or false"},
		{"AURA_LOG_FORMAT", "xml", "use text or json"},
		{"AURA_SMTP_TLS", "ssl", "use starttls, opportunistic, tls or none"},
		{"AURA_LEASE", "-5s", "must be positive"},
		{"AURA_STORE", "ftp://bucket", "AURA_STORE"},
		{"AURA_STORE", "dir:", "names no folder"},
		{"AURA_STORE", "s3://", "names no bucket"},
		{"AURA_SIGNIN", "corp=bitbucket", "unknown kind"},
		{"AURA_SIGNIN", "corp=oidc:https://login.example.com", "set AURA_SIGNIN_CORP_CLIENT_ID"},
	} {
		t.Run(c.env+"="+c.val, func(t *testing.T) {
			t.Setenv(c.env, c.val)
			code, _, stderr := run(t, "serve", "--addr", "127.0.0.1:0", "--data", filepath.Join(t.TempDir(), "d"))
			require.Equal(t, 1, code)
			require.Contains(t, stderr, c.want)
		})
	}
}

// TestServeRefusesUnreachableStore: an s3:// store whose endpoint does not
// answer stops serve at start, naming the store and the endpoint.
func TestServeRefusesUnreachableStore(t *testing.T) {
	t.Setenv("AURA_STORE", "s3://aura-artifacts")
	t.Setenv("AURA_S3_ENDPOINT", "http://127.0.0.1:1")
	code, _, stderr := run(t, "serve", "--addr", "127.0.0.1:0", "--data", filepath.Join(t.TempDir(), "d"))
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "AURA_STORE")
	require.Contains(t, stderr, "127.0.0.1:1")
}

func TestConfigParses(t *testing.T) {
	t.Setenv("AURA_LOG_LIMIT", "64MiB")
	t.Setenv("AURA_LEASE", "45s")
	var cfg Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg.flags(fs)
	require.NoError(t, cfg.parse(fs, []string{"--lease", "1m"}))
	require.NoError(t, cfg.validate())
	require.Equal(t, int64(64<<20), cfg.LogLimit)
	require.Equal(t, int64(1<<30), cfg.ArtifactMaxFile)
	require.Equal(t, int64(5<<30), cfg.ArtifactMaxJob)
	require.Equal(t, time.Minute, cfg.Lease, "a flag wins over the environment")
	require.Equal(t, 10*time.Second, cfg.AckTimeout)
	require.Equal(t, 720*time.Hour, cfg.ArtifactRetention)
	require.Equal(t, 168*time.Hour, cfg.CacheRetention)
	require.Equal(t, 7*24*time.Hour, cfg.SessionIdle)
	require.Equal(t, 30*24*time.Hour, cfg.SessionMax)
	t.Setenv("AURA_CACHE_RETENTION", "0s")
	cfg = Config{}
	fs = flag.NewFlagSet("test", flag.ContinueOnError)
	cfg.flags(fs)
	require.NoError(t, cfg.parse(fs, nil))
	require.ErrorContains(t, cfg.validate(), "cache-retention 0s: must be positive")
	for in, want := range map[string]int64{"1000": 1000, "2KiB": 2048, "3 GiB": 3 << 30, "5B": 5} {
		var b byteSize
		require.NoError(t, b.Set(in), in)
		require.Equal(t, want, int64(b), in)
	}
	for _, bad := range []string{"64MB", "1.5MiB", "-1", "lots", "99999999999GiB"} {
		var b byteSize
		require.Error(t, b.Set(bad), bad)
	}
}

// TestServeChecksPortFirst: on a busy port, serve fails before it creates a
// database or an admin token.
func TestServeChecksPortFirst(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	data := filepath.Join(t.TempDir(), "data")
	code, stdout, stderr := run(t, "serve", "--addr", busy.Addr().String(), "--data", data)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "cannot listen on "+busy.Addr().String())
	require.NotContains(t, stdout, "Admin token")
	require.NoDirExists(t, data, "no database was created")
}

func TestMigrateHelpAndConfirmation(t *testing.T) {
	code, _, stderr := run(t, "migrate", "-h")
	require.Equal(t, 0, code)
	for _, want := range []string{"up ", "down ", "version ", "--yes", "-database-url"} {
		require.Contains(t, stderr, want)
	}
	require.NotContains(t, stderr, "-lease", "only the flags migrate uses")

	// The newest migration's number is the version, whoever adds the next one.
	names, err := fs.Glob(migrations.FS, "*.up.sql")
	require.NoError(t, err)
	slices.Sort(names)
	latest := strings.TrimLeft(strings.SplitN(names[len(names)-1], "_", 2)[0], "0")

	url := dbtest.NewURL(t)
	stdin = strings.NewReader("no\n")
	code, _, stderr = run(t, "migrate", "down", "--database-url", url)
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "not confirmed")
	code, stdout, _ := run(t, "migrate", "version", "--database-url", url)
	require.Equal(t, 0, code)
	require.Equal(t, latest+"\n", stdout, "nothing was dropped")

	stdin = strings.NewReader("yes\n")
	code, stdout, stderr = run(t, "migrate", "down", "--database-url", url)
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "migrated down: schema version "+latest+" → 0\n", stdout)
	code, stdout, _ = run(t, "migrate", "up", "--database-url", url)
	require.Equal(t, 0, code)
	require.Equal(t, "migrated up: schema version 0 → "+latest+"\n", stdout)
	code, stdout, _ = run(t, "migrate", "up", "--database-url", url)
	require.Equal(t, 0, code)
	require.Equal(t, "schema already at version "+latest+": nothing to do\n", stdout)
	stdin = os.Stdin
}

// TestPoolSize: the pool grows to 20 connections unless the URL sets its size.
func TestPoolSize(t *testing.T) {
	t.Parallel()
	url := dbtest.NewURL(t)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	for _, c := range []struct {
		url  string
		want int32
	}{{url, 20}, {url + sep + "pool_max_conns=5", 5}, {url + sep + "pool_max_conns=50", 50}} {
		pool, err := newPool(context.Background(), c.url)
		require.NoError(t, err)
		require.Equal(t, c.want, pool.Config().MaxConns, c.url)
		pool.Close()
	}
}

// TestEveryFlagHasAVariable: each flag of aura serve is also an environment variable.
func TestEveryFlagHasAVariable(t *testing.T) {
	t.Parallel()
	var cfg Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg.flags(fs)
	fs.VisitAll(func(f *flag.Flag) {
		require.Contains(t, flagEnv, f.Name)
		require.Contains(t, f.Usage, "("+flagEnv[f.Name]+")", "the help names the variable")
	})
}

// TestSecretsRotateReadsEnvironment: aura secrets rotate takes its settings from
// the environment like serve does (AURA_SECRET_KEY here, which is no key).
func TestSecretsRotateReadsEnvironment(t *testing.T) {
	t.Setenv("AURA_SECRET_KEY", "not-a-key")
	code, _, stderr := run(t, "secrets", "rotate", "--data", filepath.Join(t.TempDir(), "d"))
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "current server key")
}

// TestServeRefusesExposedKey: a secret.key that other users may read (anyone who
// reads it opens every secret and mints job tokens) stops serve and rotate with a
// message that says how to fix it.
func TestServeRefusesExposedKey(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "d")
	require.NoError(t, os.MkdirAll(dir, 0o700))
	key := filepath.Join(dir, "secret.key")
	require.NoError(t, os.WriteFile(key, []byte("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"), 0o600))
	require.NoError(t, os.Chmod(key, 0o644))
	code, _, stderr := run(t, "serve", "--addr", "127.0.0.1:0", "--data", dir, "--database-url", dbtest.NewURL(t))
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "chmod 600 "+key)
	code, _, stderr = run(t, "secrets", "rotate", "--data", dir, "--database-url", dbtest.NewURL(t))
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "chmod 600 "+key)
}

// TestConfigSignIn: --signin may be repeated and hold a list; without it
// AURA_SIGNIN gives the list.
func TestConfigSignIn(t *testing.T) {
	t.Setenv("AURA_SIGNIN", "env=gitlab")
	var cfg Config
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cfg.flags(fs)
	require.NoError(t, cfg.parse(fs, []string{"--signin", "corp=oidc:https://login.example.com,github=github", "--signin", "gitea=gitea:https://git.example.com"}))
	require.Equal(t, []string{"corp=oidc:https://login.example.com", "github=github", "gitea=gitea:https://git.example.com"}, cfg.SignIn)

	cfg = Config{}
	fs = flag.NewFlagSet("test", flag.ContinueOnError)
	cfg.flags(fs)
	require.NoError(t, cfg.parse(fs, nil))
	require.Equal(t, []string{"env=gitlab"}, cfg.SignIn)
}

// TestConfigArtifactOrigin: AURA_ARTIFACT_ORIGIN is an origin of another host
// (or port) than the dashboard's; anything else is refused at start.
func TestConfigArtifactOrigin(t *testing.T) {
	parse := func(args ...string) error {
		var cfg Config
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		cfg.flags(fs)
		require.NoError(t, cfg.parse(fs, args))
		return cfg.validate()
	}
	require.NoError(t, parse("--artifact-origin", "https://artifacts.aura.example", "--base-url", "https://aura.example"))
	require.NoError(t, parse("--artifact-origin", "http://localhost:9001", "--base-url", "http://localhost:9000"))
	require.ErrorContains(t, parse("--artifact-origin", "https://aura.example", "--base-url", "https://aura.example"), "another host")
	require.ErrorContains(t, parse("--artifact-origin", "https://a.example/files"), "origin only")
	require.ErrorContains(t, parse("--artifact-origin", "artifacts.example"), "http://")
}
