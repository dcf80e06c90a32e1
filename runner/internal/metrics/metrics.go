// Package metrics holds the runner's own Prometheus metrics (aura-runner
// --metrics-addr): its own registry, never the global default.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the runner's registry. A nil *Metrics observes nothing.
type Metrics struct {
	Registry    *prometheus.Registry
	jobs        prometheus.Counter
	uploadBytes prometheus.Counter
	retries     *prometheus.CounterVec
}

// New returns the runner's metrics; running reports how many jobs run now.
func New(running func() int) *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	m.jobs = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "aura_runner_jobs_started_total", Help: "Jobs this runner started.",
	})
	m.uploadBytes = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "aura_runner_log_upload_bytes_total", Help: "Log bytes the server acknowledged.",
	})
	m.retries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aura_runner_retries_total", Help: "Calls to the server retried after a failure, by call (claim, heartbeat, log, complete).",
	}, []string{"call"})
	for _, c := range []string{"claim", "heartbeat", "log", "complete"} {
		m.retries.WithLabelValues(c)
	}
	m.Registry.MustRegister(m.jobs, m.uploadBytes, m.retries,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aura_runner_jobs_running", Help: "Jobs running now."},
			func() float64 { return float64(running()) }),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

// JobStarted notes a job started.
func (m *Metrics) JobStarted() {
	if m != nil {
		m.jobs.Inc()
	}
}

// Uploaded notes n log bytes acknowledged by the server.
func (m *Metrics) Uploaded(n int64) {
	if m != nil && n > 0 {
		m.uploadBytes.Add(float64(n))
	}
}

// Retry notes a failed call to the server that is tried again.
func (m *Metrics) Retry(call string) {
	if m != nil {
		m.retries.WithLabelValues(call).Inc()
	}
}
