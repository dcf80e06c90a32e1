package app

import (
	"flag"
	"os"
	"strconv"
	"time"

	"github.com/aura-ci/aura/backend/internal/store"
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
	// SecretKey is the server key sealing secrets at rest (base64 or hex of 32
	// bytes); empty: the key file in the data folder, made on first start.
	SecretKey string
	// MaxChildren, MaxDepth and MaxBatch bound what jobs may submit.
	MaxChildren, MaxDepth, MaxBatch int
	// CancelGrace is how long a running job's runner has to confirm a cancel
	// before the job is shown cancelled anyway.
	CancelGrace time.Duration
}

// flags registers the server's flags on fs, defaulting to the environment.
func (c *Config) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", env("AURA_ADDR", ":8420"), "address to listen on (AURA_ADDR)")
	fs.StringVar(&c.DataDir, "data", env("AURA_DATA_DIR", "./aura-data"), "data folder: embedded database, server files (AURA_DATA_DIR)")
	fs.StringVar(&c.DatabaseURL, "database-url", env("AURA_DATABASE_URL", ""), "PostgreSQL URL; empty starts an embedded cluster in the data folder (AURA_DATABASE_URL)")
	fs.StringVar(&c.BaseURL, "base-url", env("AURA_BASE_URL", "http://localhost:8420"), "public URL, used in links (AURA_BASE_URL)")
	fs.StringVar(&c.AdminToken, "admin-token", env("AURA_ADMIN_TOKEN", ""), "admin token; empty generates one on first start (AURA_ADMIN_TOKEN)")
	fs.BoolVar(&c.Demo, "demo", envBool("AURA_DEMO"), "fill an empty database with sample data (AURA_DEMO)")
	fs.DurationVar(&c.Lease, "lease", envDuration("AURA_LEASE", 30*time.Second), "time a running job may go without a heartbeat (AURA_LEASE)")
	fs.DurationVar(&c.AckTimeout, "ack-timeout", envDuration("AURA_ACK_TIMEOUT", 10*time.Second), "time a claimed job may wait for its first heartbeat (AURA_ACK_TIMEOUT)")
	fs.Int64Var(&c.LogLimit, "log-limit", envInt("AURA_LOG_LIMIT", 64<<20), "bytes of log kept per job (AURA_LOG_LIMIT)")
	fs.StringVar(&c.SecretKey, "secret-key", env("AURA_SECRET_KEY", ""), "key sealing secrets at rest, 32 bytes in base64 or hex; empty: <data>/secret.key (AURA_SECRET_KEY)")
	fs.IntVar(&c.MaxChildren, "max-children", int(envInt("AURA_MAX_CHILDREN", int64(store.DefaultSubmitLimits.ChildrenPerJob))), "jobs one job may submit (AURA_MAX_CHILDREN)")
	fs.IntVar(&c.MaxDepth, "max-depth", int(envInt("AURA_MAX_DEPTH", int64(store.DefaultSubmitLimits.Depth))), "steps of jobs submitting jobs (AURA_MAX_DEPTH)")
	fs.IntVar(&c.MaxBatch, "max-batch", int(envInt("AURA_MAX_BATCH", 1000)), "jobs in one batch submit (AURA_MAX_BATCH)")
	fs.DurationVar(&c.CancelGrace, "cancel-grace", envDuration("AURA_CANCEL_GRACE", 20*time.Second), "time a runner has to confirm a cancel (AURA_CANCEL_GRACE)")
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func envBool(name string) bool {
	b, _ := strconv.ParseBool(os.Getenv(name))
	return b
}

func envDuration(name string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil {
		return d
	}
	return def
}

func envInt(name string, def int64) int64 {
	if n, err := strconv.ParseInt(os.Getenv(name), 10, 64); err == nil {
		return n
	}
	return def
}
