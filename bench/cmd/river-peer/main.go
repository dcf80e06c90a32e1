// Command river-peer runs River (github.com/riverqueue/river), a Go job queue on
// PostgreSQL, on a given database with the same offered load as Aura's dispatch
// benchmarks, and prints one JSON object of figures to stdout:
//
//	river-peer --database-url URL --scenario dispatch|throughput --settings default|bench --jobs N --workers W
//
// River runs in this process: an insert and a worker are function calls on a
// pgx pool, with no HTTP hop between a submitter, a server and a runner as in
// Aura. Its figures are a peer to read Aura's beside, not a like-for-like race.
//
// dispatch: W workers wait parked in one queue; N jobs are inserted one at a
// time, each after the previous one was worked and completed, and the time from
// Insert being called to Work being called is measured (as Aura's from before the submit). Then a chain of N jobs: each
// job completes itself and inserts the next in one transaction
// (river.JobCompleteTx), and the time from that commit to the next Work call is
// measured (Aura's "preceding job finished → next started").
//
// throughput: N jobs are inserted in bulk (InsertMany, batches of 5,000 as
// River's riverbench does) before the client starts; jobs/s is N over the time
// from Start to the last completion event. A job worked twice is counted in
// duplicates.
//
// --settings default leaves River's fetch settings at their defaults
// (FetchCooldown 100 ms, FetchPollInterval 1 s); --settings bench uses those of
// River's own benchmark (cmd/river/riverbench: FetchCooldown 2 ms,
// FetchPollInterval 20 ms).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"aura.example/bench/internal/report"
)

// Output is what river-peer prints.
type Output struct {
	Settings     string          `json:"settings"`
	RiverVersion string          `json:"river_version"`
	Scenario     string          `json:"scenario"`
	Jobs         int             `json:"jobs"`
	Workers      int             `json:"workers"`
	Figures      []report.Figure `json:"figures"`
}

// options are the command line.
type options struct {
	databaseURL string
	scenario    string
	settings    string
	jobs        int
	workers     int
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "river-peer:", err)
		os.Exit(1)
	}
}

func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("river-peer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.databaseURL, "database-url", os.Getenv("DATABASE_URL"), "PostgreSQL database to run River in (its tables are created there)")
	fs.StringVar(&o.scenario, "scenario", "dispatch", "dispatch or throughput")
	fs.StringVar(&o.settings, "settings", "default", "default (River's defaults) or bench (River's riverbench fetch settings)")
	fs.IntVar(&o.jobs, "jobs", 100, "jobs to run")
	fs.IntVar(&o.workers, "workers", 50, "workers (MaxWorkers of the one queue)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case o.databaseURL == "":
		return o, errors.New("--database-url is required")
	case o.scenario != "dispatch" && o.scenario != "throughput":
		return o, fmt.Errorf("--scenario %q: want dispatch or throughput", o.scenario)
	case o.settings != "default" && o.settings != "bench":
		return o, fmt.Errorf("--settings %q: want default or bench", o.settings)
	case o.jobs < 1:
		return o, errors.New("--jobs must be at least 1")
	case o.workers < 1 || o.workers > 10_000:
		return o, errors.New("--workers must be between 1 and 10000")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parse(args, stderr)
	if err != nil {
		return err
	}
	cfg, err := pgxpool.ParseConfig(o.databaseURL)
	if err != nil {
		return fmt.Errorf("--database-url: %w", err)
	}
	// pgxpool's default (4 on 2 cores) would starve W workers that insert; the
	// URL's pool_max_conns wins when given.
	if !strings.Contains(o.databaseURL, "pool_max_conns") {
		cfg.MaxConns = 20
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	if err := migrate(ctx, pool); err != nil {
		return err
	}
	out := Output{Settings: o.settings, RiverVersion: riverVersion(), Scenario: o.scenario, Jobs: o.jobs, Workers: o.workers}
	switch o.scenario {
	case "dispatch":
		out.Figures, err = dispatch(ctx, pool, o)
	case "throughput":
		out.Figures, err = throughput(ctx, pool, o)
	}
	if err != nil {
		return err
	}
	return report.Write(stdout, out)
}

// migrate brings River's tables up to date and empties river_job, so an earlier
// run's jobs neither run again nor weigh on this one.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	m, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	_, err = pool.Exec(ctx, "TRUNCATE river_job")
	return err
}

// riverVersion is River's module version as built into this binary.
func riverVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/riverqueue/river" {
				if d.Replace != nil {
					return d.Replace.Version
				}
				return d.Version
			}
		}
	}
	return "unknown"
}

// config is River's client configuration for the settings.
func config(o options, workers *river.Workers) *river.Config {
	c := &river.Config{
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Queues:  map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: o.workers}},
		Workers: workers,
	}
	if o.settings == "bench" {
		// River's own benchmark (cmd/river/riverbench/river_bench.go).
		c.FetchCooldown = 2 * time.Millisecond
		c.FetchPollInterval = 20 * time.Millisecond
	}
	return c
}

// startedArgs is a job that reports when Work is called.
type startedArgs struct {
	Seq int `json:"seq"`
}

func (startedArgs) Kind() string { return "bench_started" }

type startedWorker struct {
	river.WorkerDefaults[startedArgs]
	started chan<- startedAt
}

type startedAt struct {
	seq int
	at  time.Time
}

func (w *startedWorker) Work(ctx context.Context, job *river.Job[startedArgs]) error {
	w.started <- startedAt{job.Args.Seq, time.Now()}
	return nil
}

// chainArgs is a job of a chain: it completes itself and inserts the next link
// in one transaction, until Left is 0.
type chainArgs struct {
	Seq  int `json:"seq"`
	Left int `json:"left"`
}

func (chainArgs) Kind() string { return "bench_chain" }

type chainWorker struct {
	river.WorkerDefaults[chainArgs]
	pool *pgxpool.Pool
	// link gets each job's start and the commit that completed it and
	// inserted the next one.
	link chan<- chainLink
}

type chainLink struct {
	seq               int
	started, finished time.Time
}

func (w *chainWorker) Work(ctx context.Context, job *river.Job[chainArgs]) error {
	started := time.Now()
	tx, err := w.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if _, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job); err != nil {
		return err
	}
	if job.Args.Left > 0 {
		next := chainArgs{Seq: job.Args.Seq + 1, Left: job.Args.Left - 1}
		if _, err := river.ClientFromContext[pgx.Tx](ctx).InsertTx(ctx, tx, next, nil); err != nil {
			return err
		}
	}
	// Finished as the commit is sent, as Aura's ended_at is its complete's
	// transaction time: the next job may start before Commit returns here.
	finished := time.Now()
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	w.link <- chainLink{seq: job.Args.Seq, started: started, finished: finished}
	return nil
}

// waitTimeout bounds the wait for one job to start or finish.
const waitTimeout = 30 * time.Second

func dispatch(ctx context.Context, pool *pgxpool.Pool, o options) ([]report.Figure, error) {
	started := make(chan startedAt, 1)
	links := make(chan chainLink, 1)
	workers := river.NewWorkers()
	river.AddWorker(workers, &startedWorker{started: started})
	river.AddWorker(workers, &chainWorker{pool: pool, link: links})
	client, err := river.NewClient(riverpgxv5.New(pool), config(o, workers))
	if err != nil {
		return nil, err
	}
	completed, cancel := client.Subscribe(river.EventKindJobCompleted)
	defer cancel()
	if err := client.Start(ctx); err != nil {
		return nil, err
	}
	defer stopClient(client)

	// One job inserted, started and completed; the first few are warm-up (the
	// producer's listener and the pool's connections), not counted.
	const warmup = 3
	one := func(seq int) (time.Duration, error) {
		// From before the insert, as Aura's figure is from before the submit
		// request: Work may begin before Insert has returned.
		sent := time.Now()
		res, err := client.Insert(ctx, startedArgs{Seq: seq}, nil)
		if err != nil {
			return 0, err
		}
		var s startedAt
		select {
		case s = <-started:
		case <-time.After(waitTimeout):
			return 0, fmt.Errorf("job %d never started", seq)
		case <-ctx.Done():
			return 0, ctx.Err()
		}
		if s.seq != seq {
			return 0, fmt.Errorf("job %d started while waiting for %d", s.seq, seq)
		}
		if err := waitCompleted(ctx, completed, res.Job.ID); err != nil {
			return 0, err
		}
		return s.at.Sub(sent), nil
	}
	var ds []time.Duration
	for i := range warmup + o.jobs {
		d, err := one(i)
		if err != nil {
			return nil, err
		}
		if i >= warmup {
			ds = append(ds, d)
		}
	}

	// The chain: N links after one uncounted first. Its completions are not
	// waited for, so the subscription ends here rather than fill up.
	cancel()
	if _, err := client.Insert(ctx, chainArgs{Seq: 0, Left: o.jobs}, nil); err != nil {
		return nil, err
	}
	// Links report in any order: job i+1 may report before job i's worker,
	// which committed it, gets to.
	got := make([]*chainLink, o.jobs+1)
	for range o.jobs + 1 {
		var l chainLink
		select {
		case l = <-links:
		case <-time.After(waitTimeout):
			return nil, errors.New("the chain stopped")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if l.seq < 0 || l.seq > o.jobs || got[l.seq] != nil {
			return nil, fmt.Errorf("chain link %d ran twice", l.seq)
		}
		got[l.seq] = &l
	}
	var chain []time.Duration
	for i := 1; i <= o.jobs; i++ {
		chain = append(chain, got[i].started.Sub(got[i-1].finished))
	}

	tag := "River (" + o.settings + " settings, in-process, no HTTP)"
	return []report.Figure{
		{Key: "dispatch_p50_ms", Label: tag + " insert → Work started p50", Value: report.Quantile(ds, 0.5), Unit: "ms"},
		{Key: "dispatch_p99_ms", Label: tag + " insert → Work started p99", Value: report.Quantile(ds, 0.99), Unit: "ms"},
		{Key: "chain_p50_ms", Label: tag + " preceding job finished → next started p50", Value: report.Quantile(chain, 0.5), Unit: "ms"},
		{Key: "chain_p99_ms", Label: tag + " preceding job finished → next started p99", Value: report.Quantile(chain, 0.99), Unit: "ms"},
	}, nil
}

// waitCompleted waits for the completion event of job id.
func waitCompleted(ctx context.Context, events <-chan *river.Event, id int64) error {
	timeout := time.After(waitTimeout)
	for {
		select {
		case e, ok := <-events:
			if !ok {
				return errors.New("subscription closed")
			}
			if e.Job.ID == id {
				return nil
			}
		case <-timeout:
			return fmt.Errorf("job %d never completed", id)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func stopClient(c *river.Client[pgx.Tx]) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = c.Stop(ctx)
}

// countArgs is a throughput job: its worker counts how often each job ran.
type countArgs struct {
	Num int `json:"num"`
}

func (countArgs) Kind() string { return "bench_count" }

type countWorker struct {
	river.WorkerDefaults[countArgs]
	mu   sync.Mutex
	runs map[int64]int
}

func (w *countWorker) Work(ctx context.Context, job *river.Job[countArgs]) error {
	w.mu.Lock()
	w.runs[job.ID]++
	w.mu.Unlock()
	return nil
}

// insertBatch is riverbench's insert batch size.
const insertBatch = 5_000

func throughput(ctx context.Context, pool *pgxpool.Pool, o options) ([]report.Figure, error) {
	cw := &countWorker{runs: make(map[int64]int, o.jobs)}
	workers := river.NewWorkers()
	river.AddWorker(workers, cw)
	client, err := river.NewClient(riverpgxv5.New(pool), config(o, workers))
	if err != nil {
		return nil, err
	}
	for k := 0; k < o.jobs; k += insertBatch {
		batch := make([]river.InsertManyParams, min(insertBatch, o.jobs-k))
		for i := range batch {
			batch[i].Args = countArgs{Num: k + i}
		}
		if _, err := client.InsertMany(ctx, batch); err != nil {
			return nil, err
		}
	}
	// Completion events, like riverbench counts them: they include the job's
	// completion being written, which the worker's return does not.
	events, cancel := client.SubscribeConfig(&river.SubscribeConfig{
		ChanSize: o.jobs + 100,
		Kinds:    []river.EventKind{river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled},
	})
	defer cancel()
	start := time.Now()
	if err := client.Start(ctx); err != nil {
		return nil, err
	}
	defer stopClient(client)
	deadline := time.After(time.Duration(o.jobs)*10*time.Millisecond + time.Minute)
	for done := 0; done < o.jobs; {
		select {
		case e := <-events:
			if e.Kind != river.EventKindJobCompleted {
				return nil, fmt.Errorf("job %d: %s", e.Job.ID, e.Kind)
			}
			done++
		case <-deadline:
			return nil, fmt.Errorf("only %d of %d jobs completed", done, o.jobs)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	elapsed := time.Since(start)
	stopClient(client)

	cw.mu.Lock()
	defer cw.mu.Unlock()
	duplicates := 0
	for _, n := range cw.runs {
		duplicates += n - 1
	}
	if len(cw.runs) != o.jobs {
		return nil, fmt.Errorf("%d distinct jobs ran, want %d", len(cw.runs), o.jobs)
	}
	tag := "River (" + o.settings + " settings, in-process, no HTTP)"
	return []report.Figure{
		{Key: "jobs_per_s", Label: fmt.Sprintf("%s throughput, %d workers", tag, o.workers), Value: report.Round(float64(o.jobs)/elapsed.Seconds(), 1), Unit: "jobs/s"},
		{Key: "duplicates", Label: tag + " jobs worked twice", Value: float64(duplicates), Unit: "jobs"},
	}, nil
}
