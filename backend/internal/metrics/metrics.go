// Package metrics holds Aura's Prometheus metrics: one registry per server (never
// the global default, so tests stay apart), the counters and histograms the
// server's parts observe, and a collector that reads the database's live figures
// once per scrape.
package metrics

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/aura-ci/aura/backend/internal/store"
)

// Metrics is the server's registry and the metrics its parts observe. A nil
// *Metrics observes nothing: every method may be called on it.
type Metrics struct {
	Registry *prometheus.Registry

	httpDuration    *prometheus.HistogramVec
	dispatchLatency prometheus.Histogram
	jobDuration     *prometheus.HistogramVec
	jobsEnded       *prometheus.CounterVec
	claims          prometheus.Counter
	logBytesIn      prometheus.Counter
	archivedBytes   prometheus.Counter
	webhooks        *prometheus.CounterVec
	outboxFailures  *prometheus.CounterVec
}

// Source is the store: what the scrape-time collector reads, and where jobs end.
type Source interface {
	Gauges(ctx context.Context) ([]store.Gauge, error)
	PoolStat() *pgxpool.Stat
	// ObserveJobEnds reports each job and attempt that ended, once, from the
	// process whose transaction ended it (store.Store.ObserveJobEnds).
	ObserveJobEnds(f func(store.JobEnd))
}

// New returns a registry with Aura's metrics, the Go runtime's and the
// process's. src (may be nil) is read once per scrape, at most every cacheFor,
// and reports the jobs that end to the job-duration histogram.
func New(src Source, logger *slog.Logger) *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "aura_http_request_duration_seconds", Help: "HTTP requests by route template, method and status.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10, 30},
	}, []string{"route", "method", "status"})
	m.dispatchLatency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "aura_dispatch_latency_seconds", Help: "Time from a job's queueing to its claim by a runner.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5, 30, 120, 600, 3600},
	})
	m.jobDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "aura_job_duration_seconds", Help: "Time from an attempt's start to its end, by how it ended (succeeded, failed, cancelled, timed_out, lost).",
		Buckets: []float64{.1, .5, 1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200},
	}, []string{"status"})
	m.jobsEnded = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aura_jobs_ended_total", Help: "Jobs that reached a final status (succeeded, failed, cancelled, timed_out, lost), whether they ran or not.",
	}, []string{"status"})
	for _, s := range []string{store.StatusSucceeded, store.StatusFailed, store.StatusCancelled, store.StatusTimedOut, store.StatusLost} {
		m.jobsEnded.WithLabelValues(s)
	}
	m.claims = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "aura_claims_total", Help: "Jobs handed out to runners.",
	})
	m.logBytesIn = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "aura_log_received_bytes_total", Help: "Log bytes received from runners.",
	})
	m.archivedBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "aura_log_archived_bytes_total", Help: "Log bytes moved from PostgreSQL to the blob store.",
	})
	m.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aura_webhook_deliveries_total", Help: "Forge webhook deliveries received, by result (accepted, refused, failed).",
	}, []string{"result"})
	m.outboxFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aura_outbox_failures_total", Help: "Failed outbox deliveries (status: forge commit statuses, notify: notifications), each retried later.",
	}, []string{"outbox"})
	m.outboxFailures.WithLabelValues("status")
	m.outboxFailures.WithLabelValues("notify")
	m.Registry.MustRegister(m.httpDuration, m.dispatchLatency, m.jobDuration, m.jobsEnded, m.claims, m.logBytesIn,
		m.archivedBytes, m.webhooks, m.outboxFailures,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if src != nil {
		if logger == nil {
			logger = slog.Default()
		}
		m.Registry.MustRegister(&dbCollector{src: src, logger: logger, cacheFor: time.Second})
		src.ObserveJobEnds(m.ObserveJobEnd)
	}
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

// ObserveHTTP notes one answered request.
func (m *Metrics) ObserveHTTP(route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
	default:
		// Any word is a method to a client: keep the label's values bounded.
		method = "other"
	}
	m.httpDuration.WithLabelValues(route, method, statusText(status)).Observe(d.Seconds())
}

// ObserveClaim notes one job handed out, queued for wait.
func (m *Metrics) ObserveClaim(wait time.Duration) {
	if m == nil {
		return
	}
	m.claims.Inc()
	if wait >= 0 {
		m.dispatchLatency.Observe(wait.Seconds())
	}
}

// ObserveJobEnd notes a job that reached a final status (aura_jobs_ended_total)
// and an attempt that ran and ended (aura_job_duration_seconds). The store
// calls it (Source.ObserveJobEnds), once per end, after commit.
func (m *Metrics) ObserveJobEnd(e store.JobEnd) {
	if m == nil {
		return
	}
	if e.Final {
		m.jobsEnded.WithLabelValues(e.Status).Inc()
	}
	if e.Ran != nil {
		m.jobDuration.WithLabelValues(e.Status).Observe(e.Ran.Seconds())
	}
}

// AddLogBytes notes n log bytes received.
func (m *Metrics) AddLogBytes(n int64) {
	if m == nil || n <= 0 {
		return
	}
	m.logBytesIn.Add(float64(n))
}

// AddArchivedBytes notes n log bytes archived.
func (m *Metrics) AddArchivedBytes(n int64) {
	if m == nil || n <= 0 {
		return
	}
	m.archivedBytes.Add(float64(n))
}

// ObserveWebhook notes one webhook delivery's result.
func (m *Metrics) ObserveWebhook(result string) {
	if m == nil {
		return
	}
	m.webhooks.WithLabelValues(result).Inc()
}

// OutboxFailed notes a failed delivery of outbox ("status" or "notify").
func (m *Metrics) OutboxFailed(outbox string) {
	if m == nil {
		return
	}
	m.outboxFailures.WithLabelValues(outbox).Inc()
}

// GaugeFunc registers a gauge read at scrape time (the websocket clients of
// the events hub).
func (m *Metrics) GaugeFunc(name, help string, f func() float64) {
	if m == nil {
		return
	}
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
}

func statusText(code int) string {
	const digits = "0123456789"
	if code < 100 || code > 999 {
		return "0"
	}
	return string([]byte{digits[code/100], digits[code/10%10], digits[code%10]})
}

var (
	jobsDesc    = prometheus.NewDesc("aura_jobs", "Live jobs by status (waiting, queued, running).", []string{"status"}, nil)
	queueDesc   = prometheus.NewDesc("aura_queue_depth", "Queued jobs by tag (the 100 busiest; the rest as tag \"(other)\").", []string{"tag"}, nil)
	oldestDesc  = prometheus.NewDesc("aura_queue_oldest_wait_seconds", "How long the oldest queued job of a tag has waited.", []string{"tag"}, nil)
	runnersDesc = prometheus.NewDesc("aura_runners", "Runners by tag and state: busy (running a job), idle (asked for work in the last 90 s), offline.", []string{"tag", "state"}, nil)
	outboxDesc  = prometheus.NewDesc("aura_outbox_backlog", "Outbox rows not yet delivered (status: forge commit statuses, notify: notifications).", []string{"outbox"}, nil)
	failingDesc = prometheus.NewDesc("aura_outbox_failing", "Outbox rows not yet delivered after at least one failed attempt.", []string{"outbox"}, nil)
	scrapeErr   = prometheus.NewDesc("aura_metrics_database_up", "1 when the last scrape read the database, 0 when it failed.", nil, nil)

	poolAcquired = prometheus.NewDesc("aura_db_pool_acquired_connections", "Database connections in use.", nil, nil)
	poolIdle     = prometheus.NewDesc("aura_db_pool_idle_connections", "Database connections idle in the pool.", nil, nil)
	poolTotal    = prometheus.NewDesc("aura_db_pool_total_connections", "Database connections open.", nil, nil)
	poolMax      = prometheus.NewDesc("aura_db_pool_max_connections", "The pool's bound on connections.", nil, nil)
	poolWaits    = prometheus.NewDesc("aura_db_pool_acquire_waits_total", "Acquires that waited for a connection.", nil, nil)
	poolWaitSecs = prometheus.NewDesc("aura_db_pool_acquire_wait_seconds_total", "Time spent waiting for a connection.", nil, nil)
)

// dbCollector reads the store's live figures at scrape time: one query, kept
// for cacheFor so that several scrapers at once cost one query.
type dbCollector struct {
	src      Source
	logger   *slog.Logger
	cacheFor time.Duration

	mu     sync.Mutex
	at     time.Time
	gauges []store.Gauge
	up     float64
}

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{jobsDesc, queueDesc, oldestDesc, runnersDesc, outboxDesc, failingDesc, scrapeErr,
		poolAcquired, poolIdle, poolTotal, poolMax, poolWaits, poolWaitSecs} {
		ch <- d
	}
}

func (c *dbCollector) read() ([]store.Gauge, float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.at.IsZero() && time.Since(c.at) < c.cacheFor {
		return c.gauges, c.up
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	g, err := c.src.Gauges(ctx)
	if err != nil {
		c.logger.Warn("metrics: database figures not read", "err", err)
		c.gauges, c.up = nil, 0
	} else {
		c.gauges, c.up = g, 1
	}
	c.at = time.Now()
	return c.gauges, c.up
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	gauges, up := c.read()
	ch <- prometheus.MustNewConstMetric(scrapeErr, prometheus.GaugeValue, up)
	// Every live status is present even when none is counted: a gauge that
	// vanishes reads as "no data", not as zero.
	jobs := map[string]float64{"waiting": 0, "queued": 0, "running": 0}
	outbox := map[string]float64{"status": 0, "notify": 0}
	failing := map[string]float64{"status": 0, "notify": 0}
	var queue, runners []store.Gauge
	for _, g := range gauges {
		switch g.Kind {
		case "jobs":
			jobs[g.A] = g.Value
		case "queue":
			queue = append(queue, g)
		case "runners":
			runners = append(runners, g)
		case "outbox":
			outbox[g.A] = g.Value
		case "outbox_failing":
			failing[g.A] = g.Value
		}
	}
	for _, g := range foldTags(queue, MaxTags) {
		ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, g.Value, g.A)
		ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, g.Oldest, g.A)
	}
	for _, g := range foldTags(runners, MaxTags) {
		ch <- prometheus.MustNewConstMetric(runnersDesc, prometheus.GaugeValue, g.Value, g.A, g.B)
	}
	for s, v := range jobs {
		ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, v, s)
	}
	for o, v := range outbox {
		ch <- prometheus.MustNewConstMetric(outboxDesc, prometheus.GaugeValue, v, o)
	}
	for o, v := range failing {
		ch <- prometheus.MustNewConstMetric(failingDesc, prometheus.GaugeValue, v, o)
	}
	if st := c.src.PoolStat(); st != nil {
		ch <- prometheus.MustNewConstMetric(poolAcquired, prometheus.GaugeValue, float64(st.AcquiredConns()))
		ch <- prometheus.MustNewConstMetric(poolIdle, prometheus.GaugeValue, float64(st.IdleConns()))
		ch <- prometheus.MustNewConstMetric(poolTotal, prometheus.GaugeValue, float64(st.TotalConns()))
		ch <- prometheus.MustNewConstMetric(poolMax, prometheus.GaugeValue, float64(st.MaxConns()))
		ch <- prometheus.MustNewConstMetric(poolWaits, prometheus.CounterValue, float64(st.EmptyAcquireCount()))
		ch <- prometheus.MustNewConstMetric(poolWaitSecs, prometheus.CounterValue, st.AcquireDuration().Seconds())
	}
}

// MaxTags bounds the tags that label the queue and runner gauges: a tag is any
// string a submitter or a runner's registration names, so a scrape shows the
// MaxTags tags with the most queued jobs (or runners) by name, and folds the
// others into the tag OtherTag.
const MaxTags = 100

// OtherTag labels the figures of the tags past MaxTags.
const OtherTag = "(other)"

// foldTags keeps the figures of the limit tags with the largest totals (ties by
// name) and sums the others' per B label into OtherTag, the longest wait being
// the longest of theirs.
func foldTags(gs []store.Gauge, limit int) []store.Gauge {
	total := map[string]float64{}
	for _, g := range gs {
		total[g.A] += g.Value
	}
	if len(total) <= limit {
		return gs
	}
	tags := make([]string, 0, len(total))
	for t := range total {
		tags = append(tags, t)
	}
	sort.Slice(tags, func(i, j int) bool {
		if total[tags[i]] != total[tags[j]] {
			return total[tags[i]] > total[tags[j]]
		}
		return tags[i] < tags[j]
	})
	kept := map[string]bool{}
	for _, t := range tags[:limit] {
		kept[t] = true
	}
	var out []store.Gauge
	other := map[string]*store.Gauge{}
	var order []string
	for _, g := range gs {
		if kept[g.A] {
			out = append(out, g)
			continue
		}
		o := other[g.B]
		if o == nil {
			o = &store.Gauge{Kind: g.Kind, A: OtherTag, B: g.B}
			other[g.B] = o
			order = append(order, g.B)
		}
		o.Value += g.Value
		o.Oldest = math.Max(o.Oldest, g.Oldest)
	}
	for _, b := range order {
		out = append(out, *other[b])
	}
	return out
}
