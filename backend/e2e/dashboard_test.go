package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// grafanaPanel is what the test reads of a dashboard panel.
type grafanaPanel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	Panels  []grafanaPanel           `json:"panels"` // a collapsed row's
}

var auraMetricName = regexp.MustCompile(`\baura_[a-z0-9_]+\b`)

// dashboardMetrics reads docs/grafana-dashboard.json, checks its shape, and
// returns the aura_ metric names its queries use, by panel title.
func dashboardMetrics(t testing.TB) map[string][]string {
	data, err := os.ReadFile("../../docs/grafana-dashboard.json")
	require.NoError(t, err)
	var dash struct {
		Title         string         `json:"title"`
		UID           string         `json:"uid"`
		SchemaVersion int            `json:"schemaVersion"`
		Panels        []grafanaPanel `json:"panels"`
		Templating    struct {
			List []struct{ Name, Type, Query string } `json:"list"`
		} `json:"templating"`
	}
	require.NoError(t, json.Unmarshal(data, &dash), "the dashboard is JSON")
	require.NotEmpty(t, dash.Title)
	require.NotEmpty(t, dash.UID)
	require.GreaterOrEqual(t, dash.SchemaVersion, 36, "a dashboard of a current Grafana")
	require.Len(t, dash.Templating.List, 1)
	require.Equal(t, "datasource", dash.Templating.List[0].Type)
	require.Equal(t, "prometheus", dash.Templating.List[0].Query)

	used := map[string][]string{}
	ids := map[int]bool{}
	var walk func([]grafanaPanel)
	walk = func(panels []grafanaPanel) {
		for _, p := range panels {
			require.False(t, ids[p.ID], "panel id %d twice", p.ID)
			ids[p.ID] = true
			require.NotEmpty(t, p.Title, "panel %d has no title", p.ID)
			require.True(t, p.GridPos.W > 0 && p.GridPos.H > 0 && p.GridPos.X+p.GridPos.W <= 24, "panel %q: grid position %+v", p.Title, p.GridPos)
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			require.NotNil(t, p.Datasource, "panel %q has no data source", p.Title)
			require.Equal(t, "${datasource}", p.Datasource.UID, "panel %q", p.Title)
			require.NotEmpty(t, p.Targets, "panel %q has no query", p.Title)
			for _, tg := range p.Targets {
				names := auraMetricName.FindAllString(tg.Expr, -1)
				require.NotEmpty(t, names, "panel %q query %s reads no aura_ metric: %s", p.Title, tg.RefID, tg.Expr)
				require.Equal(t, strings.Count(tg.Expr, "("), strings.Count(tg.Expr, ")"), "panel %q: unbalanced %s", p.Title, tg.Expr)
				for _, n := range names {
					if !slices.Contains(used[n], p.Title) {
						used[n] = append(used[n], p.Title)
					}
				}
			}
		}
	}
	walk(dash.Panels)
	return used
}

// scrapeNames is every sample name (a histogram's _bucket, _sum and _count
// included) and family name a real server's /metrics exposes.
func scrapeNames(t testing.TB, s *server) map[string]bool {
	req, err := http.NewRequest("GET", s.url+"/metrics", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+s.admin)
	resp, err := httpClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	names := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			names[strings.Fields(rest)[0]] = true
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		names[strings.FieldsFunc(line, func(r rune) bool { return r == '{' || r == ' ' })[0]] = true
	}
	require.NoError(t, sc.Err())
	return names
}

// TestGrafanaDashboardMetricsExist: every metric docs/grafana-dashboard.json
// queries is one a real server exposes at /metrics, scraped once a webhook
// delivered a job that a runner ran, and another job waits on a tag no runner
// serves (so the per-tag and per-status series exist too).
func TestGrafanaDashboardMetricsExist(t *testing.T) {
	t.Parallel()
	used := dashboardMetrics(t)
	// The figures issue 18 asks the dashboard to show.
	for _, want := range []string{"aura_queue_depth", "aura_queue_oldest_wait_seconds", "aura_dispatch_latency_seconds_bucket",
		"aura_job_duration_seconds_bucket", "aura_runners", "aura_http_request_duration_seconds_bucket",
		"aura_db_pool_acquired_connections", "aura_outbox_backlog", "aura_webhook_deliveries_total"} {
		require.Contains(t, used, want, "the dashboard shows %s", want)
	}

	s := startServer(t)
	tok := s.project("proj")
	push := genericHook(t, s, "proj", "echo measured")
	startRunner(t, s, "r1", "--tag", "linux")
	push("3333333333333333333333333333333333333333", nil)
	s.waitStatus(s.lastJobID(t), 30*time.Second, "succeeded")
	s.submit(tok, map[string]any{"tag": "nobody-serves-this", "name": "stuck"})

	// The database figures are kept for a second: the queued job may need a new read.
	var missing []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		names := scrapeNames(t, s)
		missing = missing[:0]
		for n := range used {
			if !names[n] {
				missing = append(missing, fmt.Sprintf("%s (panels %q)", n, used[n]))
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	slices.Sort(missing)
	require.Empty(t, missing, "the dashboard queries metrics the server does not expose")
}
