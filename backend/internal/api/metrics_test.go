package api_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/integrations"
	"github.com/aura-ci/aura/backend/internal/metrics"
)

const testMetricsToken = "metrics-token-for-tests-0123456789"

// scrape reads /metrics over HTTP with token and parses the text format.
func (b *testBundle) scrape(token string) map[string]*dto.MetricFamily {
	b.t.Helper()
	req, err := http.NewRequest("GET", b.url+"/metrics", nil)
	require.NoError(b.t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := b.client.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	require.Equal(b.t, 200, resp.StatusCode)
	require.True(b.t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain"), resp.Header.Get("Content-Type"))
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(b.t, err)
	return fams
}

// metricValue is the value (a counter's, gauge's, or a histogram's count) of
// the series of name with labels (name=value pairs); -1 when absent.
func metricValue(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range m.Label {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			return m.Untyped.GetValue()
		}
	}
	return -1
}

// TestMetricsAfterActivity: after jobs are submitted, claimed, logged and
// completed over HTTP, /metrics says so: live jobs by status, queue depth and
// oldest wait per tag, runners idle and busy per tag, claims, dispatch latency,
// job duration, log bytes, HTTP durations by route, webhook deliveries,
// websocket clients and the database pool.
func TestMetricsAfterActivity(t *testing.T) {
	t.Parallel()
	b := setupWith(t, bundleOptions{metricsToken: testMetricsToken})
	tok := b.project("proj", false)
	_, r1 := b.runner("r1", "linux")
	b.runner("r2", "linux", "gpu")
	for range 4 {
		b.submit(tok, map[string]any{"tag": "linux"})
	}
	b.submit(tok, map[string]any{"tag": "gpu"})
	cs := b.claim(r1, 2, "linux")
	require.Len(t, cs, 2)
	b.heartbeat(r1, cs[0])
	b.heartbeat(r1, cs[1])
	b.appendLog(r1, cs[0].ID, cs[0].Attempt, 0, "hello world")
	done := b.finish(r1, cs[0], 0)
	require.Equal(t, "succeeded", done.Status)
	// A delivery to an integration that does not exist is refused.
	code, _, _ := b.hook(999999, nil, []byte(`{}`))
	require.Equal(t, 401, code)
	ws := openEvents(t, b.url, "")
	ws.subscribe("queue")

	fams := b.scrape(testMetricsToken)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"aura_jobs", []string{"status", "queued"}, 3},
		{"aura_jobs", []string{"status", "running"}, 1},
		{"aura_jobs", []string{"status", "waiting"}, 0},
		{"aura_queue_depth", []string{"tag", "linux"}, 2},
		{"aura_queue_depth", []string{"tag", "gpu"}, 1},
		{"aura_runners", []string{"tag", "linux", "state", "busy"}, 1},
		{"aura_runners", []string{"tag", "linux", "state", "offline"}, 1}, // r2 never asked for work
		{"aura_runners", []string{"tag", "gpu", "state", "offline"}, 1},
		{"aura_claims_total", nil, 2},
		{"aura_dispatch_latency_seconds", nil, 2},
		{"aura_job_duration_seconds", []string{"status", "succeeded"}, 1},
		{"aura_log_received_bytes_total", nil, float64(len("hello world"))},
		{"aura_http_request_duration_seconds", []string{"route", "/api/v1/runner/claim", "method", "POST", "status", "200"}, 1},
		{"aura_http_request_duration_seconds", []string{"route", "/api/v1/jobs", "method", "POST", "status", "201"}, 5},
		{"aura_webhook_deliveries_total", []string{"result", "refused"}, 1},
		{"aura_websocket_clients", nil, 1},
		{"aura_outbox_backlog", []string{"outbox", "status"}, 0},
		{"aura_outbox_backlog", []string{"outbox", "notify"}, 0},
		{"aura_metrics_database_up", nil, 1},
	} {
		require.Equal(t, c.want, metricValue(fams, c.name, c.labels...), "%s %v", c.name, c.labels)
	}
	require.Positive(t, metricValue(fams, "aura_queue_oldest_wait_seconds", "tag", "linux"))
	require.Positive(t, metricValue(fams, "aura_db_pool_max_connections"))
	require.Positive(t, metricValue(fams, "aura_db_pool_total_connections"))
	require.Contains(t, fams, "go_goroutines", "the Go runtime's own")

	// Every series is now present: the README's table lists exactly them, with their labels.
	exposed := map[string][]string{}
	for name, f := range fams {
		if strings.HasPrefix(name, "aura_") {
			var labels []string
			for _, l := range f.Metric[0].Label {
				labels = append(labels, l.GetName())
			}
			slices.Sort(labels)
			exposed[name] = labels
		}
	}
	require.Equal(t, exposed, readmeMetrics(t), "README.md, ## Metrics")
}

// readmeMetric matches a metric in the README's table: `aura_name{label,label}`.
var readmeMetric = regexp.MustCompile("^\\| `(aura_[a-z_]+)(?:\\{([a-z_,]+)\\})?`")

// readmeMetrics reads the server's metrics and their labels from the table in
// the README's "## Metrics" section.
func readmeMetrics(t *testing.T) map[string][]string {
	t.Helper()
	text, err := os.ReadFile("../../../README.md")
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(text), "\n## Metrics\n")
	require.True(t, ok)
	section, _, _ = strings.Cut(section, "\n## ")
	out := map[string][]string{}
	for line := range strings.Lines(section) {
		if m := readmeMetric.FindStringSubmatch(line); m != nil {
			var labels []string
			if m[2] != "" {
				labels = strings.Split(m[2], ",")
				slices.Sort(labels)
			}
			out[m[1]] = labels
		}
	}
	return out
}

// TestMetricsAccess: /metrics is for the admin (token or admin user) and the
// metrics token; anyone else gets 401 or 403, and the metrics token reads
// nothing else.
func TestMetricsAccess(t *testing.T) {
	t.Parallel()
	b := setupWith(t, bundleOptions{metricsToken: testMetricsToken})
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	b.scrape(b.admin)
	b.scrape(testMetricsToken)
	b.fail(call{method: "GET", path: "/metrics"}, 401)
	b.fail(call{method: "GET", path: "/metrics", token: tok}, 403)
	b.fail(call{method: "GET", path: "/metrics", token: run}, 403)
	b.fail(call{method: "GET", path: "/metrics", token: testMetricsToken + "x"}, 401)
	b.fail(call{method: "GET", path: "/metrics", token: testMetricsToken[:len(testMetricsToken)-1]}, 401)
	for _, path := range []string{"/api/v1/me", "/api/v1/projects", "/api/v1/runners", "/api/v1/queue"} {
		b.fail(call{method: "GET", path: path, token: testMetricsToken}, 401)
	}
	b.fail(call{method: "POST", path: "/api/v1/jobs", token: testMetricsToken,
		body: map[string]any{"project": "proj", "entityKey": "commit", "entityVal": "abc", "name": "x", "cmd": "true", "tag": "linux"}}, 401)
	require.Equal(t, 0, b.count("jobs"))
}

// TestMetricsWithoutToken: with no metrics token configured, an empty bearer
// never matches it.
func TestMetricsWithoutToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.fail(call{method: "GET", path: "/metrics", header: http.Header{"Authorization": {"Bearer "}}}, 401)
	b.scrape(b.admin)
}

// TestMetricsOutbox: a forge that fails shows in the outbox backlog, the
// failing rows and the failures counter; its webhook counts as accepted.
func TestMetricsOutbox(t *testing.T) {
	t.Parallel()
	s := setupStatuses(t, "gitlab", "42", map[string]any{"contextPerJob": true})
	s.forge.mu.Lock()
	s.forge.failNext = 3
	s.forge.mu.Unlock()
	snd := integrations.NewSender(s.testBundle.forge, integrations.SenderConfig{Poll: time.Hour,
		BackoffMin: time.Hour, BackoffMax: time.Hour, Metrics: s.metrics}, nil)
	body := readFixture(t, "gitlab/push.json")
	body = []byte(strings.Replace(string(body), `"project_id": 15`, `"project_id": 42`, 1))
	code, _, bad := s.hook(s.in.ID, signedHeaders("gitlab", "Push Hook", s.in.Secret, body), body)
	require.Equal(t, 200, code, bad.Message)
	_, err := snd.SendDue(context.Background())
	require.NoError(t, err)

	fams := s.scrape(s.admin)
	require.Equal(t, 1.0, metricValue(fams, "aura_outbox_failures_total", "outbox", "status"))
	require.Equal(t, 0.0, metricValue(fams, "aura_outbox_failures_total", "outbox", "notify"))
	require.Equal(t, 1.0, metricValue(fams, "aura_outbox_backlog", "outbox", "status"))
	require.Equal(t, 1.0, metricValue(fams, "aura_outbox_failing", "outbox", "status"))
	require.Equal(t, 1.0, metricValue(fams, "aura_webhook_deliveries_total", "result", "accepted"))
}

// TestMetricsBoundedLabels: requests with made-up methods and paths add no
// label values of their own.
func TestMetricsBoundedLabels(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for i := range 3 {
		req, err := http.NewRequest(fmt.Sprintf("METHOD%d", i), b.url+fmt.Sprintf("/api/v1/nowhere-%d", i), nil)
		require.NoError(t, err)
		resp, err := b.client.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
	}
	fams := b.scrape(b.admin)
	require.Equal(t, 3.0, metricValue(fams, "aura_http_request_duration_seconds", "route", "(no route)", "method", "other", "status", "404"))
	for _, m := range fams["aura_http_request_duration_seconds"].Metric {
		for _, l := range m.Label {
			require.NotContains(t, l.GetValue(), "METHOD")
			require.NotContains(t, l.GetValue(), "nowhere")
		}
	}
}

// TestMetricsRunnersAndTags: a runner is busy while it runs a job, idle while
// it asks for work, and offline when it has not asked lately (or never); the
// queue and runner gauges label at most metrics.MaxTags tags by name and fold
// the rest into one, so made-up tags cannot grow the series without bound.
func TestMetricsRunnersAndTags(t *testing.T) {
	t.Parallel()
	b := setupWith(t, bundleOptions{metricsToken: testMetricsToken})
	tok := b.project("proj", false)
	_, polls := b.runner("polls", "linux")
	b.runner("never", "linux", "gpu")
	goneID, gone := b.runner("gone", "linux")
	require.Empty(t, b.claim(polls, 1, "linux"))
	require.Empty(t, b.claim(gone, 1, "linux"))
	_, err := b.pool.Exec(context.Background(), `UPDATE runners SET last_check_in = now() - interval '10 minutes' WHERE id = $1`, goneID)
	require.NoError(t, err)

	// Made-up tags, one job each, and the busiest tag with three.
	const tags = metrics.MaxTags + 20
	batch := make([]map[string]any, 0, tags+2)
	for i := range tags {
		batch = append(batch, map[string]any{"entityKey": "commit", "entityVal": "abc", "name": fmt.Sprintf("j%d", i),
			"cmd": "true", "tag": fmt.Sprintf("made-up-%03d", i)})
	}
	for i := range 2 {
		batch = append(batch, map[string]any{"entityKey": "commit", "entityVal": "abc", "name": fmt.Sprintf("busy%d", i),
			"cmd": "true", "tag": "made-up-119"})
	}
	b.json(call{method: "POST", path: "/api/v1/jobs/batch", token: tok, body: map[string]any{"jobs": batch}}, 201, nil)

	fams := b.scrape(testMetricsToken)
	require.Equal(t, 1.0, metricValue(fams, "aura_runners", "tag", "linux", "state", "idle"))
	require.Equal(t, 2.0, metricValue(fams, "aura_runners", "tag", "linux", "state", "offline"))
	require.Equal(t, 1.0, metricValue(fams, "aura_runners", "tag", "gpu", "state", "offline"))
	require.Equal(t, -1.0, metricValue(fams, "aura_runners", "tag", "linux", "state", "busy"))

	depth := fams["aura_queue_depth"]
	require.Len(t, depth.Metric, metrics.MaxTags+1, "MaxTags tags and the rest folded")
	sum := 0.0
	for _, m := range depth.Metric {
		sum += m.Gauge.GetValue()
	}
	require.Equal(t, float64(tags+2), sum, "every queued job is counted once")
	require.Equal(t, 3.0, metricValue(fams, "aura_queue_depth", "tag", "made-up-119"), "the busiest tag keeps its name")
	require.Equal(t, float64(tags-metrics.MaxTags), metricValue(fams, "aura_queue_depth", "tag", metrics.OtherTag))
	require.Len(t, fams["aura_queue_oldest_wait_seconds"].Metric, metrics.MaxTags+1)
}

// TestMetricsWebRoute: the web app's pages, answered by the router's not-found
// handler, share one route label, apart from requests that match nothing.
func TestMetricsWebRoute(t *testing.T) {
	t.Parallel()
	b := setupWith(t, bundleOptions{artifactOrigin: true}) // with a web app
	for _, path := range []string{"/p/proj", "/j/12", "/api/v1/nowhere"} {
		resp, err := b.client.Get(b.url + path)
		require.NoError(t, err)
		resp.Body.Close()
	}
	fams := b.scrape(b.admin)
	require.Equal(t, 2.0, metricValue(fams, "aura_http_request_duration_seconds", "route", "(web app)", "method", "GET", "status", "200"))
	require.Equal(t, 1.0, metricValue(fams, "aura_http_request_duration_seconds", "route", "(no route)", "method", "GET", "status", "404"))
}
