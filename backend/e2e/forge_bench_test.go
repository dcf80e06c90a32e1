package e2e

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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
	time.Sleep(time.Second) // the runner is long-polling now
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
