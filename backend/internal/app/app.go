// Package app wires Aura's server together: configuration, database, background
// loops, the HTTP server and an orderly shutdown.
package app

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/aura-ci/aura/backend/internal/api"
	"github.com/aura-ci/aura/backend/internal/auth"
	"github.com/aura-ci/aura/backend/internal/blob"
	"github.com/aura-ci/aura/backend/internal/cli"
	"github.com/aura-ci/aura/backend/internal/dispatch"
	"github.com/aura-ci/aura/backend/internal/events"
	"github.com/aura-ci/aura/backend/internal/integrations"
	"github.com/aura-ci/aura/backend/internal/logarchive"
	"github.com/aura-ci/aura/backend/internal/metrics"
	"github.com/aura-ci/aura/backend/internal/retention"
	"github.com/aura-ci/aura/backend/internal/schedule"
	"github.com/aura-ci/aura/backend/internal/signin"
	"github.com/aura-ci/aura/backend/internal/store"
	"github.com/aura-ci/aura/backend/internal/tracing"
	"github.com/aura-ci/aura/backend/internal/version"
	"github.com/aura-ci/aura/backend/internal/web"
)

// stdin is where questions (aura migrate down) are answered.
var stdin io.Reader = os.Stdin

// Run runs the aura command with args (without the program name).
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	if cli.IsCommand(args[0]) {
		return cli.Run(ctx, args, cli.OSEnv(stdout, stderr))
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], stdout, stderr)
	case "migrate":
		err = migrateCmd(ctx, args[1:], stdin, stdout, stderr)
	case "secrets":
		err = secretsCmd(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "aura", version.String())
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
  version                print the version

client commands (with AURA_URL and AURA_TOKEN, or aura login; -h on each):
  login URL              check a token and save it with the URL
  jobs                   list jobs: the queue, an entity's, a collection's
  builds PROJECT         list a project's builds
  log [-f] JOB           print a job's log; -f follows it and exits with its result
  retry|cancel|approve JOB…  act on jobs
  submit                 submit a job (the flags of aura-runner submit)
  runners                list runners and what they run
  completion bash|zsh|fish  print a shell completion script

exit codes: 0 ok, 1 job failed, 2 usage, 3 not found, 4 not allowed,
5 server unreachable, 6 conflict, 7 job cancelled, 8 other error, 130 interrupted`

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg Config
	fs := flag.NewFlagSet("aura serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.flags(fs)
	if err := cfg.parse(fs, args); err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("aura serve takes no arguments, only flags (got %q)", fs.Arg(0))
	}
	signInProviders, err := signin.ParseProviders(cfg.SignIn, os.LookupEnv)
	if err != nil {
		return err
	}
	var handler slog.Handler = slog.NewTextHandler(stderr, nil)
	if cfg.LogFormat == "json" {
		handler = slog.NewJSONHandler(stderr, nil)
	}
	logger := slog.New(handler)
	slog.SetDefault(logger)
	logf := func(format string, a ...any) { logger.Info(fmt.Sprintf(format, a...)) }

	// Traces: off unless an OTLP endpoint is configured.
	stopTracing, tracingOn, err := tracing.Setup(ctx, tracing.Config{Endpoint: cfg.OTLPEndpoint,
		Version: version.String(), LookupEnv: os.LookupEnv})
	if err != nil {
		return err
	}
	defer flushTraces(stopTracing, logger)
	if tracingOn {
		logger.Info("exporting traces over OTLP/HTTP")
	}

	// Take the port first: a busy port must not cost a database and an admin
	// token "shown only this once" that nobody can use.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", cfg.Addr, err)
	}
	defer ln.Close()

	// Open the store before the database too: a wrong spec or an unreachable
	// S3 endpoint is a configuration error to report at once.
	blobs, err := blob.Open(ctx, cfg.Store, cfg.DataDir, cfg.S3)
	if err != nil {
		return fmt.Errorf("store (--store, AURA_STORE): %w", err)
	}

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
	box, tokenKey, linkKey, err := openBox(&cfg)
	if err != nil {
		return err
	}
	st := store.New(pool, box)
	if err := st.SealCheck(ctx); err != nil {
		return err
	}
	st.SetSubmitLimits(store.SubmitLimits{ChildrenPerJob: cfg.MaxChildren, Depth: cfg.MaxDepth})
	st.SetBlobs(blobs)
	if n, err := st.SecretsSealLegacy(ctx); err != nil {
		return err
	} else if n > 0 {
		logger.Info("sealed the secrets of jobs stored before sealing", "jobs", n)
	}

	if err := bootstrapAdmin(ctx, st, cfg.AdminToken, stdout); err != nil {
		return err
	}

	disp := dispatch.New(st, dispatch.Config{Lease: cfg.Lease, AckTimeout: cfg.AckTimeout, CancelGrace: cfg.CancelGrace})
	// Jobs made runnable here go to long polls parked here in the same transaction.
	st.SetHandoff(disp)
	if err := disp.RenewAfterGap(ctx); err != nil {
		return err
	}
	authn := auth.New(st, tokenKey)
	authn.SessionIdle = cfg.SessionIdle
	hub := events.NewHub(st, authn, events.HubConfig{Logger: logger,
		MaxPerAddress: cfg.EventsPerAddress, MaxPerToken: cfg.EventsPerToken})
	listener := events.NewListener(store.ConnURL(dbURL))
	api.CacheTokens(authn, listener)
	disp.Listen(listener)
	hub.Listen(listener)
	scheduler := schedule.New(st, logger)
	scheduler.Listen(listener)
	// One registry per server (metrics.New): GET /metrics serves it.
	metricsReg := metrics.New(st, logger)
	// Forge integrations seal their webhook secrets and tokens with the same box.
	forge := &integrations.Service{Store: st, BaseURL: cfg.BaseURL, Reporter: integrations.NewReporter(10 * time.Second)}
	if cfg.Mail.Host != "" {
		forge.Mail = &cfg.Mail
	}
	sender := integrations.NewSender(forge, integrations.SenderConfig{Metrics: metricsReg}, logger)
	sender.Listen(listener)
	purge := newPurger(st, logger)
	purge.Listen(listener)
	archiver := &logarchive.Archiver{Store: st, Grace: cmp.Or(cfg.LogArchiveAfter, -1), Logger: logger, Metrics: metricsReg}
	archiver.Listen(listener)
	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	var background sync.WaitGroup
	defer func() { stopBackground(); background.Wait() }()
	background.Go(func() { listener.Run(bgCtx) })
	background.Go(func() { disp.Run(bgCtx) })
	background.Go(func() { purge.Run(bgCtx) })
	background.Go(func() { pruneDeliveries(bgCtx, st, logger, time.Hour) })
	background.Go(func() { pruneSessions(bgCtx, st, authn.Idle(), logger, time.Hour) })
	background.Go(func() { vacuumQueue(bgCtx, st, logger, time.Second) })
	sweeper := &retention.Sweeper{Store: st, Blobs: blobs, CacheRetention: cfg.CacheRetention, LogRetention: cfg.LogRetention, Logger: logger}
	background.Go(func() { sweeper.Run(bgCtx, retention.DefaultPeriod) })
	metricsReg.GaugeFunc("aura_websocket_clients", "Event websockets connected.", func() float64 { return float64(hub.Clients()) })
	background.Go(func() { archiver.Run(bgCtx, logarchive.DefaultPeriod) })
	background.Go(func() { hub.Run(bgCtx) })
	background.Go(func() { scheduler.Run(bgCtx) })
	select {
	case <-listener.Ready():
	case <-ctx.Done():
		return failure(ctx)
	}

	if cfg.Demo {
		seeded, err := seedDemo(ctx, st, stdout)
		if err != nil {
			return fmt.Errorf("demo data: %w", err)
		}
		if !seeded {
			logger.Warn("--demo does nothing: the database already has projects (demo data fills an empty one only)")
		}
	}

	background.Go(func() { sender.Run(bgCtx) })

	webApp := web.Handler()
	var artifactOrigin *url.URL
	if cfg.ArtifactOrigin != "" {
		artifactOrigin, _ = api.ParseArtifactOrigin(cfg.ArtifactOrigin) // checked by validate
		webApp = web.FramingArtifacts(webApp, artifactOrigin.String())
	}
	deps := api.Deps{Store: st, Auth: authn, Dispatcher: disp, Events: hub, Web: webApp,
		LogLimit: cfg.LogLimit, MaxBatch: cfg.MaxBatch, Logger: logger, Integrations: forge, Blobs: blobs,
		ArtifactMaxFile: cfg.ArtifactMaxFile, ArtifactMaxJob: cfg.ArtifactMaxJob,
		CacheMaxProject: cfg.CacheMaxProject, ArtifactRetention: cfg.ArtifactRetention,
		ArtifactOrigin: artifactOrigin, ArtifactLinkKey: linkKey,
		// Behind a proxy that terminates TLS, the public URL says the browser uses HTTPS.
		SessionMax: cfg.SessionMax, SecureCookies: strings.HasPrefix(cfg.BaseURL, "https://"),
		TrustedOrigins: []string{publicOrigin(cfg.BaseURL)},
		Metrics:        metricsReg, MetricsToken: cfg.MetricsToken}
	signIn, err := signin.New(signin.Config{BaseURL: cfg.BaseURL, Providers: signInProviders,
		Complete: completeSignIn(st, api.NewSessions(deps), logger), Logger: logger})
	if err != nil {
		return err
	}
	deps.SignIn = signIn
	// The sign-in's browser routes are pages, not API: outside /api and the spec.
	router := http.NewServeMux()
	router.Handle("GET /auth/", signIn)
	router.Handle("/", api.NewHandler(deps))
	srv := newHTTPServer(tracing.Handler(router))
	if cfg.MetricsAddr != "" {
		stopMetrics, err := serveMetrics(cfg.MetricsAddr, router, logger)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	logger.Info("aura is listening", "addr", ln.Addr().String(), "version", version.String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	// The demo's own runner runs new commits' jobs live; it stops before the server does.
	stopDemo := func() {}
	if cfg.Demo {
		if stopDemo, err = startLiveDemo(bgCtx, st, loopbackURL(ln.Addr()), cfg.DataDir, time.Minute, logger); err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		defer stopDemo()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down: no new connections; requests in flight may finish", "timeout", cfg.ShutdownTimeout)
	stopDemo()
	// Long polls answer "no job" at once; the runners poll again, reaching the next server.
	disp.Stop()
	shutdownHTTP(srv, hub, cfg.ShutdownTimeout, logger)
	stopBackground()
	background.Wait()
	pool.Close()
	logger.Info("stopped: background loops ended, database connections closed")
	return failure(ctx)
}

// flushTraces sends the spans not sent yet, within 5 s, and stops tracing.
func flushTraces(stop func(context.Context) error, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := stop(ctx); err != nil {
		logger.Warn("traces not all sent", "err", err)
	}
}

// shutdownHTTP stops srv: it stops accepting connections, closes the event
// websockets as going away (1001, so clients reconnect) and lets requests in
// flight finish within timeout, past which it cuts them off.
func shutdownHTTP(srv *http.Server, hub *events.Hub, timeout time.Duration, logger *slog.Logger) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	sockets := make(chan int, 1)
	if hub != nil {
		// Called once the listeners are closed.
		srv.RegisterOnShutdown(func() { sockets <- hub.Shutdown(ctx) })
	} else {
		sockets <- 0
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		_ = srv.Close()
	}
	n := <-sockets
	if err != nil {
		logger.Warn("requests still running after the shutdown timeout were cut off", "timeout", timeout, "websockets_closed", n)
		return
	}
	logger.Info("requests in flight finished", "took", time.Since(start).Round(time.Millisecond), "websockets_closed", n)
}

// failure is why ctx ended when that was a failure, not a signal to stop.
func failure(ctx context.Context) error {
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// newHTTPServer returns the server's HTTP settings. Headers must arrive within
// 10 s and idle connections close after 2 minutes. There is no ReadTimeout or
// WriteTimeout: either would also end the 30 s long polls, log downloads and
// websockets (net/http cancels a request's context when its read deadline passes).
func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

// poolSizeSet matches a pool size the operator gave in the database URL.
var poolSizeSet = regexp.MustCompile(`(^|[?&\s])pool_max_conns=`)

func newPool(ctx context.Context, dbURL string) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	// Long polls and listeners need room, but a size the operator chose stays.
	if pc.MaxConns < 20 && !poolSizeSet.MatchString(dbURL) {
		pc.MaxConns = 20
	}
	boundConnections(&pc.ConnConfig.Config)
	pc.ConnConfig.BuildContextWatcherHandler = store.KeepConnectionOnCancel
	// Only the cache_describe exec mode reads the description cache, which
	// every connection would otherwise make room for 512 statements in.
	if pc.ConnConfig.DefaultQueryExecMode != pgx.QueryExecModeCacheDescribe {
		pc.ConnConfig.DescriptionCacheCapacity = 0
	}
	// Work waiting for an exhausted pool ends with 503 (store.WatchStall).
	pc.ConnConfig.Tracer = &store.AcquireWaits{}
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

const migrateUsage = `usage: aura migrate up|down|version [flags]

commands:
  up       apply every migration not applied yet (aura serve does this on start)
  down     undo every migration: drops all of Aura's tables and data; asks first
           unless --yes is given
  version  print the schema version

flags:`

func migrateCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var cfg Config
	fs := flag.NewFlagSet("aura migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.DataDir, "data", "./aura-data", "data folder of the embedded database (AURA_DATA_DIR)")
	fs.StringVar(&cfg.DatabaseURL, "database-url", "", "PostgreSQL URL; empty uses the embedded cluster in the data folder (AURA_DATABASE_URL)")
	yes := fs.Bool("yes", false, "do not ask before migrating down")
	fs.Usage = func() {
		fmt.Fprintln(stderr, migrateUsage)
		fs.PrintDefaults()
	}
	// The command comes first (aura migrate up --database-url …) or after the flags.
	var command string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		command, args = args[0], args[1:]
	}
	if err := cfg.parse(fs, args); err != nil {
		return err
	}
	if command == "" && fs.NArg() == 1 {
		command = fs.Arg(0)
	} else if fs.NArg() > 0 || command == "" {
		fs.Usage()
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
	before, dirty, err := store.MigrateVersion(dbURL)
	if err != nil {
		return err
	}
	switch command {
	case "version":
		fmt.Fprintf(stdout, "%d", before)
		if dirty {
			fmt.Fprint(stdout, " (dirty)")
		}
		fmt.Fprintln(stdout)
		return nil
	case "down":
		if before == 0 {
			fmt.Fprintln(stdout, "nothing to undo: the schema is at version 0")
			return nil
		}
		if !*yes && !confirm(stdin, stderr, fmt.Sprintf("This drops every table of Aura and all its data (schema version %d → 0). Type yes to go on: ", before)) {
			return errors.New("migrate down: not confirmed; nothing changed (--yes skips the question)")
		}
		if err := store.MigrateDown(dbURL); err != nil {
			return err
		}
	case "up":
		if err := store.MigrateUp(dbURL); err != nil {
			return err
		}
	}
	after, _, err := store.MigrateVersion(dbURL)
	if err != nil {
		return err
	}
	if after == before {
		fmt.Fprintf(stdout, "schema already at version %d: nothing to do\n", after)
	} else {
		fmt.Fprintf(stdout, "migrated %s: schema version %d → %d\n", command, before, after)
	}
	return nil
}

// confirm asks question and reports whether the answer was "yes".
func confirm(stdin io.Reader, stderr io.Writer, question string) bool {
	fmt.Fprint(stderr, question)
	line, _ := bufio.NewReader(stdin).ReadString('\n')
	return strings.TrimSpace(line) == "yes"
}

// publicOrigin is the scheme://host of the public URL, the origin of the web app's pages.
func publicOrigin(baseURL string) string {
	u, err := url.Parse(baseURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return baseURL
	}
	return u.Scheme + "://" + u.Host
}
