package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/seal"
)

// Forge webhook figures over loopback with the real binaries; run with scripts/bench.

// forgeHook is a generic integration on a fresh server, and a way to push to it.
type forgeHook struct {
	s      *server
	id     int64
	secret string
}

func newForgeHook(b *testing.B, cmd string) *forgeHook {
	s := startServer(b)
	s.project("proj")
	var in struct {
		ID     int64
		Secret string
	}
	s.call("POST", "/api/v1/projects/proj/integrations", s.admin, map[string]any{
		"kind": "generic", "repository": "owner/repo",
		"jobs": []map[string]any{{"name": "build", "cmd": cmd, "tag": "linux"}},
	}, &in, 201)
	return &forgeHook{s: s, id: in.ID, secret: in.Secret}
}

// push delivers a signed push of sha and requires it to submit one job.
func (f *forgeHook) push(b *testing.B, sha string) {
	body := fmt.Appendf(nil, `{"repository":"owner/repo","ref":"refs/heads/main","sha":"%s","cloneUrl":"http://forge.test/owner/repo.git"}`, sha)
	m := hmac.New(sha256.New, []byte(f.secret))
	m.Write(body)
	req, _ := http.NewRequest("POST", fmt.Sprintf("%s/api/v1/hooks/%d", f.s.url, f.id), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Error(err)
		return
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Errorf("webhook answered %d", resp.StatusCode)
	}
}

func benchSHA(i int64) string { return fmt.Sprintf("%040x", i) }

// BenchmarkWebhookDeliveries: signed push deliveries accepted per second, each
// submitting a job, from 8 concurrent senders.
func BenchmarkWebhookDeliveries(b *testing.B) {
	f := newForgeHook(b, "true")
	var n atomic.Int64
	start := time.Now()
	b.ResetTimer()
	var wg sync.WaitGroup
	per := max(b.N/8, 1)
	for range 8 {
		wg.Go(func() {
			for range per {
				f.push(b, benchSHA(n.Add(1)))
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "deliveries/s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkWebhookPushToStart: from sending a push to the first job's process
// starting on a runner that was already long-polling.
func BenchmarkWebhookPushToStart(b *testing.B) {
	dir := b.TempDir()
	f := newForgeHook(b, "date +%s%N > "+filepath.Join(dir, "$AURA_GIT_SHA"))
	startRunner(b, f.s, "r0", "--tag", "linux", "--concurrency", "1")
	f.s.waitCheckedIn(b, 1) // the runner is long-polling now
	var ds []time.Duration
	var i int64
	for b.Loop() {
		i++
		sha := benchSHA(1000 + i)
		sent := time.Now()
		f.push(b, sha)
		ds = append(ds, startedAt(b, filepath.Join(dir, sha)).Sub(sent))
	}
	quantiles(b, "push_to_start", ds)
}

// giteaCapture is one real delivery of Gitea 1.27 (testdata of the integrations
// package): its body and every header as Gitea sent them, signatures included.
type giteaCapture struct {
	name    string
	body    []byte
	headers [][2]string
}

func readGiteaCaptures(b *testing.B, names ...string) []giteaCapture {
	dir := filepath.Join("..", "internal", "integrations", "testdata", "webhooks", "gitea-1.27-real")
	var out []giteaCapture
	for _, name := range names {
		body, err := os.ReadFile(filepath.Join(dir, name+".body"))
		require.NoError(b, err)
		raw, err := os.ReadFile(filepath.Join(dir, name+".headers.json"))
		require.NoError(b, err)
		var rec struct{ Headers [][2]string }
		require.NoError(b, json.Unmarshal(raw, &rec))
		out = append(out, giteaCapture{name: name, body: body, headers: rec.Headers})
	}
	return out
}

// BenchmarkGiteaDelivery replays real Gitea 1.27 deliveries (pushes and pull
// requests, with the headers and signatures Gitea sent) to a server whose
// integration reports statuses to a forge on loopback, with one runner
// long-polling. It reports the delivery's round trip (the webhook request) and
// delivery → the job's process starting, p50/p99. Between iterations the
// delivery records are forgotten, so each replay submits again.
//
//	go test -run '^$' -bench GiteaDelivery -benchtime 200x ./backend/e2e/
func BenchmarkGiteaDelivery(b *testing.B) {
	forge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusCreated)
		}
		_, _ = w.Write([]byte(`{"id":1,"full_name":"aura-admin/demo"}`))
	}))
	b.Cleanup(forge.Close)
	s := startServer(b)
	s.project("demo")
	dir := b.TempDir()
	var in struct{ ID int64 }
	s.call("POST", "/api/v1/projects/demo/integrations", s.admin, map[string]any{
		"kind": "gitea", "repository": "aura-admin/demo", "apiUrl": forge.URL, "accessToken": "forge-token",
		"allowPrivateNetwork": true,
		"jobs":                []map[string]any{{"name": "build", "cmd": "date +%s%N > " + filepath.Join(dir, "$AURA_JOB_ID"), "tag": "linux"}},
	}, &in, 201)
	// The captures are signed with the secret Gitea had: give the integration that one.
	key, err := hex.DecodeString(testSecretKey)
	require.NoError(b, err)
	box, err := seal.New(key)
	require.NoError(b, err)
	conn, err := pgx.Connect(context.Background(), s.dbURL)
	require.NoError(b, err)
	b.Cleanup(func() { conn.Close(context.Background()) })
	_, err = conn.Exec(context.Background(), `UPDATE integrations SET secret_sealed = $2 WHERE id = $1`, in.ID, box.Seal([]byte("aura-sample-secret")))
	require.NoError(b, err)

	captures := readGiteaCaptures(b, "push.main", "push.feature-1", "pull_request.opened", "pull_request_sync.synchronized")
	startRunner(b, s, "r0", "--tag", "linux", "--concurrency", "1")
	s.waitCheckedIn(b, 1) // the runner is long-polling now
	client := &http.Client{}
	var delivery, toStart []time.Duration
	i := 0
	for b.Loop() {
		c := captures[i%len(captures)]
		i++
		b.StopTimer()
		_, err := conn.Exec(context.Background(), `DELETE FROM webhook_deliveries`)
		require.NoError(b, err)
		req, err := http.NewRequest("POST", fmt.Sprintf("%s/api/v1/hooks/%d", s.url, in.ID), bytes.NewReader(c.body))
		require.NoError(b, err)
		for _, kv := range c.headers {
			if kv[0] != "Host" && kv[0] != "Content-Length" {
				req.Header.Add(kv[0], kv[1])
			}
		}
		b.StartTimer()
		sent := time.Now()
		resp, err := client.Do(req)
		require.NoError(b, err)
		answered := time.Now()
		var res struct{ Jobs []int64 }
		require.NoError(b, json.NewDecoder(resp.Body).Decode(&res))
		resp.Body.Close()
		require.Equal(b, 200, resp.StatusCode)
		require.Len(b, res.Jobs, 1, c.name)
		delivery = append(delivery, answered.Sub(sent))
		toStart = append(toStart, startedAt(b, filepath.Join(dir, fmt.Sprint(res.Jobs[0]))).Sub(sent))
		s.waitStatus(res.Jobs[0], 10*time.Second, "succeeded")
	}
	// The server's own time for each delivery, from its request log.
	var onServer []time.Duration
	for _, line := range strings.Split(s.out.String(), "\n") {
		if !strings.Contains(line, "route=/api/v1/hooks/{integration}") {
			continue
		}
		_, rest, ok := strings.Cut(line, " duration=")
		if !ok {
			continue
		}
		d, err := time.ParseDuration(strings.Fields(rest)[0])
		if err == nil {
			onServer = append(onServer, d)
		}
	}
	require.NotEmpty(b, onServer)
	slices.Sort(onServer)
	slices.Sort(delivery)
	slices.Sort(toStart)
	b.ReportMetric(ms(onServer, 0.5), "server_p50_ms")
	b.ReportMetric(ms(onServer, 0.99), "server_p99_ms")
	b.ReportMetric(ms(delivery, 0.5), "delivery_p50_ms")
	b.ReportMetric(ms(delivery, 0.99), "delivery_p99_ms")
	b.ReportMetric(ms(toStart, 0.5), "delivery_to_start_p50_ms")
	b.ReportMetric(ms(toStart, 0.99), "delivery_to_start_p99_ms")
	b.ReportMetric(0, "ns/op")
}

// ms is the q-quantile of sorted ds in milliseconds.
func ms(ds []time.Duration, q float64) float64 {
	return float64(ds[min(len(ds)-1, int(float64(len(ds))*q))].Microseconds()) / 1000
}
