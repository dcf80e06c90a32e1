package agent

import (
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

	"github.com/aura-ci/aura/runner/internal/config"
)

var metricsAt = regexp.MustCompile(`metrics are served at (http://\S+/metrics)`)

// TestMetricsEndpoint: with --metrics-addr the runner serves its own metrics
// over HTTP: jobs started and running, log bytes the server acknowledged, and
// retried calls (claims and completes the server failed).
func TestMetricsEndpoint(t *testing.T) {
	t.Parallel()
	b := setupConfig(t, 1, func(c *config.Config) { c.MetricsAddr = "127.0.0.1:0" }, func(p *peer) {
		p.claimFailures = []int{http.StatusServiceUnavailable}
		p.completeFailures = 2
	})
	b.peer.add(claimedJob(7, `echo hello metrics`))
	b.waitCompleted(t, 7)
	var url string
	require.Eventually(t, func() bool {
		m := metricsAt.FindStringSubmatch(b.out.String())
		if m != nil {
			url = m[1]
		}
		return m != nil
	}, 5*time.Second, 5*time.Millisecond)

	var fams map[string]*dto.MetricFamily
	value := func(name string, label ...string) float64 {
		f := fams[name]
		if f == nil {
			return -1
		}
		for _, m := range f.Metric {
			if len(label) == 2 && (len(m.Label) == 0 || m.Label[0].GetValue() != label[1]) {
				continue
			}
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
		return -1
	}
	scrape := func() {
		resp, err := http.Get(url)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err = p.TextToMetricFamilies(resp.Body)
		require.NoError(t, err)
	}
	// The job's task is let go just after its end is reported.
	require.Eventually(t, func() bool { scrape(); return value("aura_runner_jobs_running") == 0 }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, 1.0, value("aura_runner_jobs_started_total"))
	require.Equal(t, float64(len("hello metrics\n")), value("aura_runner_log_upload_bytes_total"))
	require.Equal(t, 1.0, value("aura_runner_retries_total", "call", "claim"))
	require.Equal(t, 2.0, value("aura_runner_retries_total", "call", "complete"))
	require.Equal(t, 0.0, value("aura_runner_retries_total", "call", "log"))
	require.Contains(t, fams, "go_goroutines")

	// The README names exactly the runner's own.
	text, err := os.ReadFile("../../../README.md")
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(text), "\n## Metrics\n")
	require.True(t, ok)
	section, _, _ = strings.Cut(section, "\n## ")
	var documented, exposed []string
	for _, m := range readmeRunnerMetric.FindAllStringSubmatch(section, -1) {
		documented = append(documented, m[1])
	}
	for name := range fams {
		if strings.HasPrefix(name, "aura_") {
			exposed = append(exposed, name)
		}
	}
	slices.Sort(documented)
	slices.Sort(exposed)
	require.Equal(t, exposed, documented, "README.md, ## Metrics")
}

var readmeRunnerMetric = regexp.MustCompile("`(aura_runner_[a-z_]+)[`{]")
