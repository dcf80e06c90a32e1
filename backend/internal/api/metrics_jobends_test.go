package api_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/api"
	"github.com/aura-ci/aura/backend/internal/auth"
	"github.com/aura-ci/aura/backend/internal/dispatch"
	"github.com/aura-ci/aura/backend/internal/events"
	"github.com/aura-ci/aura/backend/internal/metrics"
	"github.com/aura-ci/aura/backend/internal/store"
)

// metricsReplica starts a second server on b's database, as a second aura
// process would be: its own pool, store, dispatcher (whose reaper runs beside
// b's), hub and metrics registry. It returns the server's bundle for scraping.
func (b *testBundle) metricsReplica(t *testing.T) *testBundle {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, b.dbURL)
	require.NoError(t, err)
	st := store.New(pool, b.box)
	a := auth.New(st, b.tokenKey)
	disp := dispatch.New(st, dispatch.Config{Lease: 30 * time.Second, AckTimeout: 10 * time.Second})
	hub := events.NewHub(st, a, events.HubConfig{})
	listener := events.NewListener(b.dbURL)
	disp.Listen(listener)
	hub.Listen(listener)
	// Before the dispatcher runs, as in app: the registry observes the store's job ends.
	reg := metrics.New(st, nil)
	bg, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { listener.Run(bg) })
	wg.Go(func() { disp.Run(bg) })
	wg.Go(func() { hub.Run(bg) })
	<-listener.Ready()
	srv := httptest.NewServer(api.NewHandler(api.Deps{Store: st, Auth: a, Dispatcher: disp, Events: hub, LogLimit: 64 << 20,
		Metrics: reg, MetricsToken: testMetricsToken}))
	t.Cleanup(func() {
		disp.Stop()
		cancel()
		srv.Close()
		wg.Wait()
		pool.Close()
	})
	c := *b
	c.url, c.client = srv.URL, srv.Client()
	return &c
}

// jobEnds is the count by status of name (aura_job_duration_seconds or
// aura_jobs_ended_total), summed over servers; zeros are left out.
func jobEnds(name string, servers ...*testBundle) map[string]float64 {
	out := map[string]float64{}
	for _, s := range servers {
		f := s.scrape(testMetricsToken)[name]
		if f == nil {
			continue
		}
		for _, m := range f.Metric {
			v := m.GetCounter().GetValue() + float64(m.GetHistogram().GetSampleCount())
			if v != 0 {
				out[labelOf(m, "status")] += v
			}
		}
	}
	return out
}

func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.Label {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// TestMetricsJobEnds: every attempt that ran is in the job-duration histogram
// exactly once, however it ended — completed by its runner (and the complete
// sent again), lost (retried or on its last attempt), timed out, cancelled and
// confirmed, cancelled and never confirmed, stopped at its log limit — with two
// servers on one database reaping side by side: the server whose transaction
// ended it counts it. Jobs that never ran (cancelled while queued, skipped) are
// not in the histogram, but every job that reaches a final status is counted
// once in aura_jobs_ended_total.
func TestMetricsJobEnds(t *testing.T) {
	t.Parallel()
	b := setupWith(t, bundleOptions{metricsToken: testMetricsToken, logLimit: 1000})
	other := b.metricsReplica(t)
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	ctx := context.Background()
	heartbeat := func(c claimed) {
		b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/heartbeat", c.ID), token: run,
			body: map[string]any{"attempt": c.Attempt}}, 200, nil)
	}
	start := func(name string, fields map[string]any) claimed {
		if fields == nil {
			fields = map[string]any{}
		}
		fields["name"] = name
		j := b.submit(tok, fields)
		c := b.claim(run, 1, "linux")
		require.Len(t, c, 1)
		require.Equal(t, j.ID, c[0].ID)
		heartbeat(c[0])
		return c[0]
	}
	sql := func(q string, args ...any) {
		_, err := b.pool.Exec(ctx, q, args...)
		require.NoError(t, err)
	}
	status := func(id int64, want string) {
		require.Eventually(t, func() bool { return b.job(id).Status == want }, 15*time.Second, 50*time.Millisecond,
			"job %d: %s", id, b.job(id).Status)
	}

	// Completed by the runner, through either server; the same complete again
	// (its answer was lost) is answered again but is not a second end.
	ok := start("ok", nil)
	b.finish(run, ok, 0)
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/complete", ok.ID), token: run,
		body: map[string]any{"attempt": ok.Attempt, "exitCode": 0}}, 200, nil)
	bad := start("bad", nil)
	other.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/complete", bad.ID), token: run,
		body: map[string]any{"attempt": bad.Attempt, "exitCode": 1}}, 200, nil)

	// Cancelled by a user, confirmed by the runner.
	cancelled := start("cancelled", nil)
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/cancel", cancelled.ID), token: tok}, 200, nil)
	b.finish(run, cancelled, 143)
	status(cancelled.ID, "cancelled")

	// Cancelled by a user, never confirmed: the reaper ends it after the grace.
	silent := start("silent", nil)
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/cancel", silent.ID), token: tok}, 200, nil)
	sql(`UPDATE jobs SET cancel_requested_at = now() - interval '1 hour' WHERE id = $1`, silent.ID)
	status(silent.ID, "cancelled")

	// Past its log limit, never confirmed: failed by the reaper after the grace.
	loud := start("loud", nil)
	var res struct{ Cancel bool }
	b.json(call{method: "PATCH", path: logPath(loud.ID, 1, 0), token: run, raw: []byte(strings.Repeat("x", 1500)),
		contentType: "application/octet-stream"}, 200, &res)
	require.True(t, res.Cancel)
	sql(`UPDATE jobs SET cancel_requested_at = now() - interval '1 hour' WHERE id = $1`, loud.ID)
	status(loud.ID, "failed")

	// Timed out.
	slow := start("slow", map[string]any{"timeoutSeconds": 60})
	sql(`UPDATE jobs SET started_at = now() - interval '2 minutes' WHERE id = $1`, slow.ID)
	status(slow.ID, "timed_out")

	// Lost with an attempt left (queued again), then lost on its last attempt;
	// its dependent is skipped without running.
	lost := start("lost", map[string]any{"maxAttempts": 2})
	dep := b.submit(tok, map[string]any{"name": "dep", "precedingJobs": []int64{lost.ID}})
	sql(`UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, lost.ID)
	require.Eventually(t, func() bool { return b.job(lost.ID).Attempt == 2 }, 15*time.Second, 50*time.Millisecond)
	again := b.claim(run, 1, "linux")
	require.Len(t, again, 1)
	heartbeat(again[0])
	sql(`UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = $1`, lost.ID)
	status(lost.ID, "lost")
	status(dep.ID, "cancelled")

	// Cancelled while queued: it never ran.
	queued := b.submit(tok, map[string]any{"name": "queued", "tag": "nobody"})
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/cancel", queued.ID), token: tok}, 200, nil)

	// Skipped as it is submitted: a job it waits for failed.
	skipped := b.submit(tok, map[string]any{"name": "skipped", "precedingJobs": []int64{bad.ID}})
	require.Equal(t, "cancelled", skipped.Status)

	ran := map[string]float64{"succeeded": 1, "failed": 2, "cancelled": 2, "timed_out": 1, "lost": 2}
	// Every job in a final status, once; the lost attempt queued again is not one.
	ended := map[string]float64{"succeeded": 1, "failed": 2, "cancelled": 5, "timed_out": 1, "lost": 1}
	require.Equal(t, ran, jobEnds("aura_job_duration_seconds", b, other))
	require.Equal(t, ended, jobEnds("aura_jobs_ended_total", b, other))
	var final int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM jobs WHERE status NOT IN ('waiting', 'queued', 'running')`).Scan(&final))
	require.Equal(t, 10, final)
	// Nothing is counted late, by the other server's view of the events.
	time.Sleep(500 * time.Millisecond)
	require.Equal(t, ran, jobEnds("aura_job_duration_seconds", b, other))
	require.Equal(t, ended, jobEnds("aura_jobs_ended_total", b, other))
}
