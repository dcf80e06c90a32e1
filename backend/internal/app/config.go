package app

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aura-ci/aura/backend/internal/api"
	"github.com/aura-ci/aura/backend/internal/auth"
	"github.com/aura-ci/aura/backend/internal/blob"
	"github.com/aura-ci/aura/backend/internal/events"
	"github.com/aura-ci/aura/backend/internal/integrations"
	"github.com/aura-ci/aura/backend/internal/logarchive"
	"github.com/aura-ci/aura/backend/internal/signin"
	"github.com/aura-ci/aura/backend/internal/store"
	"github.com/aura-ci/aura/backend/internal/tracing"
)

// Config is the server's configuration: every setting is a flag and an environment variable.
type Config struct {
	Addr        string
	DataDir     string
	DatabaseURL string
	BaseURL     string
	AdminToken  string
	Demo        bool
	// Lease is how long a running job may go without a heartbeat before it is lost.
	Lease time.Duration
	// AckTimeout is how long a claimed job may wait for its first heartbeat before
	// it goes back to the queue (the claim's answer may never have arrived).
	AckTimeout time.Duration
	// LogLimit is the most log bytes kept per job attempt.
	LogLimit int64
	// ArtifactMaxFile and ArtifactMaxJob bound one artifact file and all of a
	// job attempt's artifacts, in bytes.
	ArtifactMaxFile, ArtifactMaxJob int64
	// SecretKey is the server key sealing secrets at rest (base64 or hex of 32
	// bytes); empty: the key file in the data folder, made on first start.
	SecretKey string
	// MaxChildren, MaxDepth and MaxBatch bound what jobs may submit.
	MaxChildren, MaxDepth, MaxBatch int
	// CancelGrace is how long a running job's runner has to confirm a cancel
	// before the job is shown cancelled anyway.
	CancelGrace time.Duration
	// LogFormat is how the server logs: text or json.
	LogFormat string
	// EventsPerAddress and EventsPerToken bound the event websockets open from
	// one remote address and with one token.
	EventsPerAddress, EventsPerToken int
	// Store is where artifacts, caches and archived logs go: dir:PATH or
	// s3://BUCKET/PREFIX; empty: the folder store in the data folder.
	Store string
	// S3 reaches the object storage an s3:// Store names.
	S3 blob.S3Config
	// CacheMaxProject bounds the bytes of one project's caches (least recently used go first).
	CacheMaxProject int64
	// ArtifactRetention is how long an artifact uploaded without its own expiry
	// is kept; CacheRetention how long a cache is kept after its last use.
	// Projects may override both; the retention sweep deletes what expired.
	ArtifactRetention, CacheRetention time.Duration
	// SignIn lists the sign-in providers, each NAME=KIND[:URL]; their client
	// ids and secrets come from the environment (signin.ParseProviders).
	SignIn []string
	// SessionIdle ends a user's session unused for that long; SessionMax ends
	// it that long after sign-in, used or not.
	SessionIdle, SessionMax time.Duration
	// ArtifactOrigin, when set, is a second origin (scheme, host, port) that
	// reaches this server and serves inline artifacts only, at signed links.
	ArtifactOrigin string
	// LogRetention is how long a finished log is kept (0: forever);
	// projects may override it. LogArchiveAfter is how long after its attempt
	// ended a log moves from PostgreSQL to the store.
	LogRetention, LogArchiveAfter time.Duration
	// ShutdownTimeout bounds how long a stopping server lets requests in
	// flight finish before it cuts them off.
	ShutdownTimeout time.Duration
	// Mail is the SMTP server e-mail notifications go out through; no host: none.
	Mail integrations.MailConfig
	// MetricsAddr, when set, serves GET /metrics on a second address too;
	// MetricsToken, when set, is a bearer token that reads /metrics only.
	MetricsAddr, MetricsToken string
	// OTLPEndpoint, when set, turns traces on: the OTLP/HTTP collector they go
	// to (tracing.Config); OTEL_EXPORTER_OTLP_ENDPOINT does too.
	OTLPEndpoint string
}

// flagEnv names the environment variable behind each flag.
var flagEnv = map[string]string{
	"addr": "AURA_ADDR", "data": "AURA_DATA_DIR", "database-url": "AURA_DATABASE_URL",
	"base-url": "AURA_BASE_URL", "admin-token": "AURA_ADMIN_TOKEN", "demo": "AURA_DEMO",
	"lease": "AURA_LEASE", "ack-timeout": "AURA_ACK_TIMEOUT", "log-limit": "AURA_LOG_LIMIT",
	"artifact-max-file": "AURA_ARTIFACT_MAX_FILE", "artifact-max-job": "AURA_ARTIFACT_MAX_JOB",
	"log-format": "AURA_LOG_FORMAT", "secret-key": "AURA_SECRET_KEY", "max-children": "AURA_MAX_CHILDREN",
	"max-depth": "AURA_MAX_DEPTH", "max-batch": "AURA_MAX_BATCH", "cancel-grace": "AURA_CANCEL_GRACE",
	"events-per-address": "AURA_EVENTS_PER_ADDRESS", "events-per-token": "AURA_EVENTS_PER_TOKEN",
	"cache-max-project": "AURA_CACHE_MAX_PROJECT", "artifact-retention": "AURA_ARTIFACT_RETENTION",
	"cache-retention": "AURA_CACHE_RETENTION", "artifact-origin": "AURA_ARTIFACT_ORIGIN",
	"store": "AURA_STORE", "s3-endpoint": "AURA_S3_ENDPOINT", "s3-access-key": "AURA_S3_ACCESS_KEY",
	"s3-secret-key": "AURA_S3_SECRET_KEY", "s3-region": "AURA_S3_REGION",
	"signin":       "AURA_SIGNIN",
	"session-idle": "AURA_SESSION_IDLE", "session-max": "AURA_SESSION_MAX",
	"log-retention": "AURA_LOG_RETENTION", "log-archive-after": "AURA_LOG_ARCHIVE_AFTER",
	"smtp-host": "AURA_SMTP_HOST", "smtp-port": "AURA_SMTP_PORT", "smtp-username": "AURA_SMTP_USERNAME",
	"smtp-password": "AURA_SMTP_PASSWORD", "smtp-from": "AURA_SMTP_FROM", "smtp-tls": "AURA_SMTP_TLS",
	"shutdown-timeout": "AURA_SHUTDOWN_TIMEOUT",
	"metrics-addr":     "AURA_METRICS_ADDR", "metrics-token": "AURA_METRICS_TOKEN",
	"otlp-endpoint": "AURA_OTLP_ENDPOINT",
}

// flags registers the server's flags on fs. Call parse to read them, with the
// environment as their defaults.
func (c *Config) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", ":8420", "address to listen on (AURA_ADDR)")
	fs.StringVar(&c.DataDir, "data", "./aura-data", "data folder: embedded database, server files (AURA_DATA_DIR)")
	fs.StringVar(&c.DatabaseURL, "database-url", "", "PostgreSQL URL; empty starts an embedded cluster in the data folder (AURA_DATABASE_URL)")
	fs.StringVar(&c.BaseURL, "base-url", "http://localhost:8420", "public URL, used in links (AURA_BASE_URL)")
	fs.StringVar(&c.AdminToken, "admin-token", "", "admin token; empty generates one on first start (AURA_ADMIN_TOKEN)")
	fs.BoolVar(&c.Demo, "demo", false, "fill an empty database with sample data (AURA_DEMO)")
	fs.DurationVar(&c.Lease, "lease", 30*time.Second, "time a running job may go without a heartbeat, e.g. 30s (AURA_LEASE)")
	fs.DurationVar(&c.AckTimeout, "ack-timeout", 10*time.Second, "time a claimed job may wait for its first heartbeat, e.g. 10s (AURA_ACK_TIMEOUT)")
	c.LogLimit = 64 << 20
	fs.Var((*byteSize)(&c.LogLimit), "log-limit", "log bytes kept per job attempt: bytes, or with KiB, MiB, GiB (AURA_LOG_LIMIT)")
	c.ArtifactMaxFile, c.ArtifactMaxJob = api.DefaultArtifactMaxFile, api.DefaultArtifactMaxJob
	fs.Var((*byteSize)(&c.ArtifactMaxFile), "artifact-max-file", "bytes one artifact file may hold: bytes, or with KiB, MiB, GiB (AURA_ARTIFACT_MAX_FILE)")
	fs.Var((*byteSize)(&c.ArtifactMaxJob), "artifact-max-job", "artifact bytes one job attempt may upload in all (AURA_ARTIFACT_MAX_JOB)")
	fs.StringVar(&c.LogFormat, "log-format", "text", "log format: text or json (AURA_LOG_FORMAT)")
	fs.StringVar(&c.SecretKey, "secret-key", "", "key sealing secrets at rest, 32 bytes in base64 or hex; empty: <data>/secret.key (AURA_SECRET_KEY)")
	fs.IntVar(&c.MaxChildren, "max-children", store.DefaultSubmitLimits.ChildrenPerJob, "jobs one job may submit (AURA_MAX_CHILDREN)")
	fs.IntVar(&c.MaxDepth, "max-depth", store.DefaultSubmitLimits.Depth, "steps of jobs submitting jobs (AURA_MAX_DEPTH)")
	fs.IntVar(&c.MaxBatch, "max-batch", 1000, "jobs in one batch submit (AURA_MAX_BATCH)")
	fs.DurationVar(&c.CancelGrace, "cancel-grace", 20*time.Second, "time a runner has to confirm a cancel, e.g. 20s (AURA_CANCEL_GRACE)")
	fs.IntVar(&c.EventsPerAddress, "events-per-address", events.DefaultMaxPerAddress, "event websockets one remote address may hold (AURA_EVENTS_PER_ADDRESS)")
	fs.IntVar(&c.EventsPerToken, "events-per-token", events.DefaultMaxPerToken, "event websockets one token may hold (AURA_EVENTS_PER_TOKEN)")
	fs.StringVar(&c.Store, "store", "", "where artifacts, caches and archived logs go: dir:PATH or s3://BUCKET/PREFIX; empty: <data>/store (AURA_STORE)")
	fs.StringVar(&c.S3.Endpoint, "s3-endpoint", "", "S3 endpoint for an s3:// store: host:port (TLS) or http://host:port; empty: AWS (AURA_S3_ENDPOINT)")
	fs.StringVar(&c.S3.AccessKey, "s3-access-key", "", "S3 access key; empty: the AWS environment, files or instance role (AURA_S3_ACCESS_KEY)")
	fs.StringVar(&c.S3.SecretKey, "s3-secret-key", "", "S3 secret key; prefer the variable, command lines are visible to other users (AURA_S3_SECRET_KEY)")
	c.CacheMaxProject = api.DefaultCacheMaxProject
	fs.Var((*byteSize)(&c.CacheMaxProject), "cache-max-project", "cache bytes kept per project, least recently used evicted first: bytes, or with KiB, MiB, GiB (AURA_CACHE_MAX_PROJECT)")
	fs.DurationVar(&c.ArtifactRetention, "artifact-retention", api.DefaultArtifactRetention, "time an artifact is kept when its upload names no expiry, unless its project says otherwise, e.g. 720h (AURA_ARTIFACT_RETENTION)")
	fs.DurationVar(&c.CacheRetention, "cache-retention", api.DefaultCacheRetention, "time a cache is kept after its last use, unless its project says otherwise, e.g. 168h (AURA_CACHE_RETENTION)")
	fs.StringVar(&c.S3.Region, "s3-region", "", "S3 region, if the store needs one (AURA_S3_REGION)")
	fs.StringVar(&c.ArtifactOrigin, "artifact-origin", "", "origin whose host name also reaches this server, serving inline artifacts only (HTML reports run apart from the dashboard), e.g. https://artifacts.aura.example; empty: inline artifacts under a sandbox CSP (AURA_ARTIFACT_ORIGIN)")
	fs.DurationVar(&c.LogRetention, "log-retention", 0, "time a finished log is kept, unless its project says otherwise, e.g. 2160h; 0: forever (AURA_LOG_RETENTION)")
	fs.DurationVar(&c.LogArchiveAfter, "log-archive-after", logarchive.DefaultGrace, "time after its attempt ended that a log moves from PostgreSQL to the store (AURA_LOG_ARCHIVE_AFTER)")
	fs.Var((*specList)(&c.SignIn), "signin", "sign-in provider NAME=KIND[:URL], KIND one of oidc, gitea, forgejo, gitlab, github (URL: issuer or forge; "+
		"github and gitlab default to the public sites); repeat for more, or list them with commas in the variable. "+
		"Each takes AURA_SIGNIN_<NAME>_CLIENT_ID and _CLIENT_SECRET or _CLIENT_SECRET_FILE from the environment, "+
		"and optionally _ALLOWED (groups or organisations), _SCOPES, _LABEL and _API_URL (GitHub Enterprise); "+
		"the callback is <base-url>/auth/<NAME>/callback (AURA_SIGNIN)")
	fs.DurationVar(&c.SessionIdle, "session-idle", auth.DefaultSessionIdle, "time a signed-in user's session lasts unused, e.g. 168h (AURA_SESSION_IDLE)")
	fs.DurationVar(&c.SessionMax, "session-max", auth.DefaultSessionMax, "time a signed-in user's session lasts in all, e.g. 720h (AURA_SESSION_MAX)")
	fs.StringVar(&c.Mail.Host, "smtp-host", "", "SMTP server of e-mail notifications; empty: e-mail rules fail and say so (AURA_SMTP_HOST)")
	fs.IntVar(&c.Mail.Port, "smtp-port", 0, "SMTP port; 0: 587, 465 with --smtp-tls=tls, 25 with none (AURA_SMTP_PORT)")
	fs.StringVar(&c.Mail.Username, "smtp-username", "", "SMTP user name; empty: no authentication (AURA_SMTP_USERNAME)")
	fs.StringVar(&c.Mail.Password, "smtp-password", "", "SMTP password; prefer the variable, command lines are visible to other users (AURA_SMTP_PASSWORD)")
	fs.StringVar(&c.Mail.From, "smtp-from", "aura@localhost", "sender address of e-mail notifications (AURA_SMTP_FROM)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "time a stopping server (SIGTERM, SIGINT) lets requests in flight finish before it cuts them off, e.g. 10s (AURA_SHUTDOWN_TIMEOUT)")
	fs.StringVar(&c.Mail.TLS, "smtp-tls", "starttls", "SMTP encryption: starttls (required), opportunistic, tls (implicit) or none (AURA_SMTP_TLS)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "", "second address serving GET /metrics only, e.g. 127.0.0.1:9420; empty: the main address only (AURA_METRICS_ADDR)")
	fs.StringVar(&c.OTLPEndpoint, "otlp-endpoint", "", "OpenTelemetry collector's OTLP/HTTP URL that traces go to, e.g. http://localhost:4318; empty: off unless OTEL_EXPORTER_OTLP_ENDPOINT is set (AURA_OTLP_ENDPOINT)")
	fs.StringVar(&c.MetricsToken, "metrics-token", "", "bearer token that reads /metrics and nothing else; prefer the variable; empty: admins only (AURA_METRICS_TOKEN)")
}

// specList is a flag that may be given many times, each time with one or
// more comma-separated entries.
type specList []string

func (l *specList) String() string { return strings.Join(*l, ",") }

func (l *specList) Get() any { return []string(*l) }

func (l *specList) Set(s string) error {
	*l = append(*l, signin.SplitSpecs(s)...)
	return nil
}

// parse parses args, then takes each flag not given from its environment
// variable, refusing values that do not parse rather than falling back to a
// default the operator did not ask for.
func (c *Config) parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		name, ok := flagEnv[f.Name]
		if !ok || given[f.Name] {
			return
		}
		v, ok := os.LookupEnv(name)
		if !ok {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %s", name, v, explain(f, v, err)))
		}
	})
	return errors.Join(errs...)
}

// explain says why value is no good for f; the flag package only says "parse error".
func explain(f *flag.Flag, value string, err error) string {
	var v any
	if g, ok := f.Value.(flag.Getter); ok {
		v = g.Get()
	}
	switch v.(type) {
	case time.Duration:
		if _, err := time.ParseDuration(value); err != nil && strings.Contains(err.Error(), "missing unit") {
			return "a duration needs a unit, e.g. 30s or 2m"
		}
		return "not a duration: use e.g. 30s, 2m or 1h30m"
	case bool:
		return "use true or false"
	}
	return err.Error()
}

// validate refuses settings that parse but make no sense.
func (c *Config) validate() error {
	var errs []error
	if c.Lease <= 0 {
		errs = append(errs, fmt.Errorf("lease %v: must be positive", c.Lease))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("shutdown-timeout %v: must be positive", c.ShutdownTimeout))
	}
	if c.AckTimeout <= 0 {
		errs = append(errs, fmt.Errorf("ack-timeout %v: must be positive", c.AckTimeout))
	}
	if c.LogLimit <= 0 {
		errs = append(errs, fmt.Errorf("log-limit %d: must be positive", c.LogLimit))
	}
	if c.ArtifactMaxFile <= 0 || c.ArtifactMaxJob <= 0 {
		errs = append(errs, fmt.Errorf("artifact-max-file %d, artifact-max-job %d: must be positive", c.ArtifactMaxFile, c.ArtifactMaxJob))
	}
	if c.CacheMaxProject <= 0 {
		errs = append(errs, fmt.Errorf("cache-max-project %d: must be positive", c.CacheMaxProject))
	}
	if c.ArtifactRetention <= 0 {
		errs = append(errs, fmt.Errorf("artifact-retention %v: must be positive", c.ArtifactRetention))
	}
	if c.CacheRetention <= 0 {
		errs = append(errs, fmt.Errorf("cache-retention %v: must be positive", c.CacheRetention))
	}
	if c.SessionIdle <= 0 || c.SessionMax <= 0 {
		errs = append(errs, fmt.Errorf("session-idle %v, session-max %v: must be positive", c.SessionIdle, c.SessionMax))
	}
	if c.LogRetention < 0 || c.LogArchiveAfter < 0 {
		errs = append(errs, fmt.Errorf("log-retention %v, log-archive-after %v: must not be negative", c.LogRetention, c.LogArchiveAfter))
	}
	if c.EventsPerAddress <= 0 || c.EventsPerToken <= 0 {
		errs = append(errs, fmt.Errorf("events-per-address %d, events-per-token %d: must be positive", c.EventsPerAddress, c.EventsPerToken))
	}
	if c.ArtifactOrigin != "" {
		if o, err := api.ParseArtifactOrigin(c.ArtifactOrigin); err != nil {
			errs = append(errs, fmt.Errorf("artifact-origin %w", err))
		} else if b, err := url.Parse(c.BaseURL); err == nil && strings.EqualFold(b.Host, o.Host) {
			errs = append(errs, fmt.Errorf("artifact-origin %q: must be another host (or port) than base-url %q", c.ArtifactOrigin, c.BaseURL))
		}
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("log-format %q: use text or json", c.LogFormat))
	}
	switch c.Mail.TLS {
	case "starttls", "opportunistic", "tls", "none":
	default:
		errs = append(errs, fmt.Errorf("smtp-tls %q: use starttls, opportunistic, tls or none", c.Mail.TLS))
	}
	if c.OTLPEndpoint != "" {
		if err := tracing.CheckEndpoint(c.OTLPEndpoint); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Mail.Port < 0 || c.Mail.Port > 65535 {
		errs = append(errs, fmt.Errorf("smtp-port %d: not a port", c.Mail.Port))
	}
	return errors.Join(errs...)
}

// byteSize is a flag value of bytes: a plain number, or one with KiB, MiB or GiB.
type byteSize int64

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *byteSize) Get() any { return int64(*b) }

func (b *byteSize) Set(s string) error {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}, {"", 1}}
	for _, u := range units {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
		if err != nil || n < 0 || n > (1<<62)/u.mult {
			break
		}
		*b = byteSize(n * u.mult)
		return nil
	}
	return fmt.Errorf("not a size: use a number of bytes, or one with KiB, MiB or GiB (e.g. 64MiB)")
}
