// Package app wires Aura's server together: configuration, database, background
// loops, the HTTP server and an orderly shutdown.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/aura-ci/aura/backend/internal/api"
	"github.com/aura-ci/aura/backend/internal/auth"
	"github.com/aura-ci/aura/backend/internal/dispatch"
	"github.com/aura-ci/aura/backend/internal/events"
	"github.com/aura-ci/aura/backend/internal/integrations"
	"github.com/aura-ci/aura/backend/internal/store"
)

// Version is set at build time.
var Version = "dev"

// Run runs the aura command with args (without the program name).
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], stdout, stderr)
	case "migrate":
		err = migrateCmd(ctx, args[1:], stdout, stderr)
	case "secrets":
		err = secretsCmd(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "aura", Version)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
	default:
		fmt.Fprintf(stderr, "aura: unknown command %q\n\n%s\n", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "aura:", err)
		return 1
	}
	return 0
}

const usage = `usage: aura <command> [flags]

commands:
  serve                  run the server (aura serve -h lists its flags)
  migrate up|down|version  manage the database schema
  secrets rotate         re-seal every stored secret under a new server key
  version                print the version`

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg Config
	fs := flag.NewFlagSet("aura serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.flags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	slog.SetDefault(logger)
	logf := func(format string, a ...any) { logger.Info(fmt.Sprintf(format, a...)) }

	// The embedded cluster's supervisor ends the server when it cannot restart it.
	ctx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	dbURL, stopDB, err := openDatabase(ctx, &cfg, logf, fail)
	if err != nil {
		return err
	}
	defer stopDB()
	if err := store.MigrateUp(dbURL); err != nil {
		return err
	}
	pool, err := newPool(ctx, dbURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	box, err := openBox(&cfg)
	if err != nil {
		return err
	}
	st := store.New(pool, box)
	st.SetSubmitLimits(store.SubmitLimits{ChildrenPerJob: cfg.MaxChildren, Depth: cfg.MaxDepth})
	if n, err := st.SecretsSealLegacy(ctx); err != nil {
		return err
	} else if n > 0 {
		logger.Info("sealed the secrets of jobs stored before sealing", "jobs", n)
	}

	if err := bootstrapAdmin(ctx, st, cfg.AdminToken, stdout); err != nil {
		return err
	}
	key, err := st.ServerKey(ctx)
	if err != nil {
		return err
	}

	disp := dispatch.New(st, dispatch.Config{Lease: cfg.Lease, AckTimeout: cfg.AckTimeout, CancelGrace: cfg.CancelGrace})
	listener := events.NewListener(dbURL, dispatch.Channels(), disp.Notify, disp.Resync)
	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	var background sync.WaitGroup
	defer func() { stopBackground(); background.Wait() }()
	background.Go(func() { listener.Run(bgCtx) })
	background.Go(func() { disp.Run(bgCtx) })
	select {
	case <-listener.Ready():
	case <-ctx.Done():
		return failure(ctx)
	}

	if cfg.Demo {
		if err := seedDemo(ctx, st, stdout); err != nil {
			return fmt.Errorf("demo data: %w", err)
		}
	}

	// Forge integrations seal their webhook secrets and tokens with the same box.
	forge := &integrations.Service{Store: st, Box: box, BaseURL: cfg.BaseURL, Reporter: integrations.NewReporter(10 * time.Second)}
	background.Go(func() { integrations.NewSender(forge, integrations.SenderConfig{}, logger).Run(bgCtx) })

	router := api.NewRouter(api.Deps{Store: st, Auth: auth.New(st, key), Dispatcher: disp, LogLimit: cfg.LogLimit, MaxBatch: cfg.MaxBatch, Logger: logger, Integrations: forge})
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: router, ReadHeaderTimeout: 10 * time.Second}
	logger.Info("aura is listening", "addr", ln.Addr().String(), "version", Version)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	disp.Stop()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	return failure(ctx)
}

// failure is why ctx ended when that was a failure, not a signal to stop.
func failure(ctx context.Context) error {
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

func newPool(ctx context.Context, dbURL string) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	if pc.MaxConns < 20 {
		pc.MaxConns = 20
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	return pool, nil
}

// bootstrapAdmin makes sure an admin token exists: the configured one, or a new
// one printed exactly once, on the first start.
func bootstrapAdmin(ctx context.Context, st *store.Store, configured string, stdout io.Writer) error {
	if configured != "" {
		_, err := st.AdminTokenBootstrap(ctx, auth.Hash(configured), true)
		return err
	}
	secret, hash := auth.NewSecret(auth.PrefixAdmin, "")
	created, err := st.AdminTokenBootstrap(ctx, hash, false)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(stdout, "\nAdmin token (shown only this once, keep it safe):\n\n    %s\n\n", secret)
	}
	return nil
}

func migrateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg Config
	fs := flag.NewFlagSet("aura migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.flags(fs)
	// The command comes first (aura migrate up --database-url …) or after the flags.
	var command string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		command, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if command == "" && fs.NArg() == 1 {
		command = fs.Arg(0)
	} else if fs.NArg() > 0 || command == "" {
		return errors.New("usage: aura migrate up|down|version [flags]")
	}
	if command != "up" && command != "down" && command != "version" {
		return fmt.Errorf("unknown migrate command %q: use up, down or version", command)
	}
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }
	dbURL, stopDB, err := openDatabase(ctx, &cfg, logf, nil)
	if err != nil {
		return err
	}
	defer stopDB()
	switch command {
	case "up":
		return store.MigrateUp(dbURL)
	case "down":
		return store.MigrateDown(dbURL)
	case "version":
		v, dirty, err := store.MigrateVersion(dbURL)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d", v)
		if dirty {
			fmt.Fprint(stdout, " (dirty)")
		}
		fmt.Fprintln(stdout)
		return nil
	}
	return nil
}
