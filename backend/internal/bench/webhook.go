package bench

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"time"
)

// capture is one real Gitea 1.27 delivery: its body and headers as Gitea sent them.
type capture struct {
	body    []byte
	headers [][2]string
}

func readCapture(root, name string) capture {
	dir := filepath.Join(root, "backend", "internal", "integrations", "testdata", "webhooks", "gitea-1.27-real")
	body, err := os.ReadFile(filepath.Join(dir, name+".body"))
	check(err, "captured delivery")
	raw, err := os.ReadFile(filepath.Join(dir, name+".headers.json"))
	check(err, "captured delivery")
	var rec struct{ Headers [][2]string }
	check(json.Unmarshal(raw, &rec), "captured headers")
	return capture{body: body, headers: rec.Headers}
}

var afterSHA = regexp.MustCompile(`"after": *"([0-9a-f]{40})"`)

// delivery is one request as a forge sends it: a body and its signed headers.
type delivery struct {
	body   []byte
	header http.Header
}

// replay is the capture as a new push: its commit replaced by sha, a new
// delivery id, signed with secret as Gitea signs.
func (c capture) replay(secret, sha string) delivery {
	old := afterSHA.FindSubmatch(c.body)
	if old == nil {
		fail("the capture names no commit")
	}
	body := bytes.ReplaceAll(c.body, old[1], []byte(sha))
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	id := fmt.Sprintf("%x-%x-%x-%x-%x", raw[0:4], raw[4:6], raw[6:8], raw[8:10], raw[10:])
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	sig := hex.EncodeToString(m.Sum(nil))
	m1 := hmac.New(sha1.New, []byte(secret))
	m1.Write(body)
	h := http.Header{}
	for _, kv := range c.headers {
		v := kv[1]
		switch kv[0] {
		case "Host", "Content-Length", "Accept-Encoding":
			continue
		case "X-GitHub-Delivery", "X-Gitea-Delivery", "X-Gogs-Delivery":
			v = id
		case "X-Gitea-Signature", "X-Gogs-Signature":
			v = sig
		case "X-Hub-Signature-256":
			v = "sha256=" + sig
		case "X-Hub-Signature":
			v = "sha1=" + hex.EncodeToString(m1.Sum(nil))
		}
		h.Add(kv[0], v)
	}
	return delivery{body: body, header: h}
}

// replays are deliveries first to last, each a new commit, alternating
// between the captures.
func replays(captures []capture, secret string, first, last int) []delivery {
	ds := make([]delivery, 0, last-first+1)
	for i := first; i <= last; i++ {
		ds = append(ds, captures[i%len(captures)].replay(secret, fmt.Sprintf("%040x", i)))
	}
	return ds
}

// fakeForge answers the status reports of a Gitea integration.
func fakeForge() (string, func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err, "forge listener")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPost {
			w.WriteHeader(http.StatusCreated)
		}
		_, _ = w.Write([]byte(`{"id":1,"full_name":"aura-admin/demo"}`))
	})}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }
}

// Webhook measures: 20 clients replay real captured Gitea push deliveries (each a new
// commit, signed again with the integration's secret) to a Gitea integration;
// the figure counts deliveries answered with their job persisted, per second.
func Webhook(e *Env) {
	forge, closeForge := fakeForge()
	defer closeForge()
	s := e.StartServer()
	s.Project("demo")
	var in struct {
		ID     int64
		Secret string // shown once, in this answer
	}
	s.Call("POST", "/api/v1/projects/demo/integrations", s.Admin, map[string]any{
		"kind": "gitea", "repository": "aura-admin/demo", "apiUrl": forge, "accessToken": "forge-token",
		"allowPrivateNetwork": true,
		"jobs":                []map[string]any{{"name": "build", "cmd": "true", "tag": "linux"}},
	}, &in, 201)

	captures := []capture{readCapture(e.Root, "push.main"), readCapture(e.Root, "push.feature-1")}
	url := fmt.Sprintf("%s/api/v1/hooks/%d", s.URL, in.ID)
	c := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	// The figure is the steady state of a server in use: a fresh database has no
	// planner statistics until autovacuum's first pass (a minute or more), and
	// point lookups planned without them scan a project's commits. The warm-up
	// deliveries and an ANALYZE stand for that first pass.
	warm := e.pick(500, 2000)
	deliver(e.Ctx, url, c, replays(captures, in.Secret, 1, warm))
	s.Exec(`ANALYZE`)
	// The deliveries are signed before the clock starts: a forge signs on its
	// own machine, not on the CPUs the server is measured on.
	total := e.pick(1000, 20000)
	ds := replays(captures, in.Secret, warm+1, warm+total)
	var n0 float64
	if e.StatStatements {
		n0, _ = s.statementCount("")
	}
	start := time.Now()
	jobs := deliver(e.Ctx, url, c, ds)
	elapsed := time.Since(start)
	e.emit(atLeast(Figure{Key: "webhook_jobs_per_s", Label: "webhook deliveries persisted, 20 clients", Value: float64(jobs) / elapsed.Seconds(),
		Unit: "jobs/s", Note: fmt.Sprintf("real Gitea pushes, re-signed before the clock starts; after %d warm-up deliveries and ANALYZE", warm)}, 2000))
	// What each delivery costs the database, which a busy machine does not
	// change: the figure to compare two builds by on a shared one. (Counted
	// transactions, the fallback without pg_stat_statements, reach the
	// statistics up to a second late: no figure then.)
	if e.StatStatements {
		n1, _ := s.statementCount("")
		e.emit(Figure{Key: "webhook_sql_per_delivery", Label: "SQL statements per webhook delivery", Value: (n1 - n0) / float64(jobs),
			Note: "pg_stat_statements, while the deliveries above were made, the status sender's included"})
	}
}

// deliver sends ds from 20 clients and returns how many were answered with
// their job.
func deliver(ctx context.Context, url string, c *http.Client, ds []delivery) int64 {
	var next, jobs atomic.Int64
	var errOnce atomic.Value
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(ds)) || errOnce.Load() != nil {
					return
				}
				req, _ := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(ds[i].body))
				req.Header = ds[i].header
				resp, err := c.Do(req)
				if err != nil {
					errOnce.Store(err)
					return
				}
				var res struct{ Jobs []int64 }
				err = json.NewDecoder(resp.Body).Decode(&res)
				resp.Body.Close()
				if resp.StatusCode != 200 || err != nil || len(res.Jobs) != 1 {
					errOnce.Store(fmt.Errorf("delivery %d: %d, jobs %v (%v)", i, resp.StatusCode, res.Jobs, err))
					return
				}
				jobs.Add(1)
			}
		})
	}
	wg.Wait()
	if err := errOnce.Load(); err != nil {
		fail("%v", err)
	}
	return jobs.Load()
}
