package api_test

import (
	"context"
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/integrations"
	"github.com/aura-ci/aura/backend/internal/store"
)

// receiver is a real HTTP server on loopback that takes notifications.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	got      []received
	failNext int // answer 500 to this many requests first
	hits     int
}

type received struct {
	Path   string
	Header http.Header
	Body   []byte
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		rc.hits++
		if rc.failNext > 0 {
			rc.failNext--
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		rc.got = append(rc.got, received{Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
		w.WriteHeader(http.StatusNoContent) // as Discord answers
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) received() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

type notificationResp struct {
	ID          int64
	Kind        string
	URL         string
	To          []string
	On          []string
	Collections map[string]string
	HasSecret   bool
	Secret      string
	LastSentAt  *time.Time
	LastFailure string
}

// notifyBundle is an API with project "proj", its token and a runner.
type notifyBundle struct {
	*testBundle
	tok, run string
}

func setupNotify(t *testing.T) *notifyBundle {
	b := setup(t)
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	return &notifyBundle{testBundle: b, tok: tok, run: run}
}

func (n *notifyBundle) rule(body map[string]any) notificationResp {
	n.t.Helper()
	if _, ok := body["allowPrivateNetwork"]; !ok && body["kind"] != "email" {
		body["allowPrivateNetwork"] = true // the receivers are on loopback
	}
	var r notificationResp
	n.json(call{method: "POST", path: "/api/v1/projects/proj/notifications", token: n.admin, body: body}, 201, &r)
	return r
}

func (n *notifyBundle) sender() *integrations.Sender {
	return integrations.NewSender(n.forge, integrations.SenderConfig{Poll: 5 * time.Millisecond,
		BackoffMin: time.Millisecond, BackoffMax: 5 * time.Millisecond, Lease: 10 * time.Second}, nil)
}

// build submits jobs (name to exit code) for commit sha in collections and runs them all.
func (n *notifyBundle) build(sha string, collections map[string]string, jobs map[string]int) {
	n.t.Helper()
	if collections == nil {
		collections = map[string]string{}
	}
	for name := range jobs {
		n.submit(n.tok, map[string]any{"entityVal": sha, "name": name, "collections": collections})
	}
	for _, c := range n.claim(n.run, 100, "linux") {
		n.finish(n.run, c, jobs[c.Name])
	}
}

func drainNotify(t *testing.T, senders ...*integrations.Sender) {
	t.Helper()
	for range 100 {
		total := 0
		for _, s := range senders {
			k, err := s.SendNotificationsDue(context.Background())
			require.NoError(t, err)
			total += k
		}
		if total == 0 {
			return
		}
	}
	t.Fatal("the notify outbox never drained")
}

func TestNotifyWebhookSigned(t *testing.T) {
	t.Parallel()
	n := setupNotify(t)
	rc := newReceiver(t)
	r := n.rule(map[string]any{"kind": "webhook", "url": rc.URL + "/hook", "on": []string{"failure"}})
	require.True(t, r.HasSecret)
	require.Len(t, r.Secret, 64, "the signing secret is shown once")
	var list struct{ Items []notificationResp }
	n.json(call{method: "GET", path: "/api/v1/projects/proj/notifications", token: n.admin}, 200, &list)
	require.Len(t, list.Items, 1)
	require.Empty(t, list.Items[0].Secret, "and never again")
	require.Equal(t, rc.URL+"/hook", list.Items[0].URL)
	var sealed []byte
	require.NoError(t, n.pool.QueryRow(context.Background(), `SELECT url_sealed || secret_sealed FROM notification_rules`).Scan(&sealed))
	require.NotContains(t, string(sealed), "/hook", "the URL is sealed")
	require.NotContains(t, string(sealed), r.Secret, "the secret is sealed")

	snd := n.sender()
	n.build(sha(1), map[string]string{"branch": "main"}, map[string]int{"test": 1, "lint": 0})
	drainNotify(t, snd)
	got := rc.received()
	require.Len(t, got, 1, "one build, one notification")
	require.Equal(t, "/hook", got[0].Path)
	sig := got[0].Header.Get("X-Aura-Signature-256")
	require.True(t, hmac.Equal([]byte(integrations.Sign(r.Secret, got[0].Body)), []byte(sig)), "the signature verifies")
	require.NotEqual(t, integrations.Sign("wrong", got[0].Body), sig)
	require.Equal(t, "failure", got[0].Header.Get("X-Aura-Event"))
	var p integrations.Notice
	require.NoError(t, json.Unmarshal(got[0].Body, &p))
	require.Equal(t, integrations.Notice{Event: "failure", Project: "proj", EntityKey: "commit", EntityValue: sha(1),
		Result: "failure", Summary: "1 failed, 1 succeeded", FailedJobs: []string{"test"},
		Collections: map[string][]string{"branch": {"main"}}, URL: "http://aura.test/p/proj/commit/" + sha(1)}, p)

	drainNotify(t, snd)
	require.Len(t, rc.received(), 1, "nothing new, nothing sent")
	n.json(call{method: "GET", path: "/api/v1/projects/proj/notifications", token: n.admin}, 200, &list)
	require.NotNil(t, list.Items[0].LastSentAt)
}

func TestNotifyChatShapes(t *testing.T) {
	t.Parallel()
	n := setupNotify(t)
	rc := newReceiver(t)
	for _, kind := range []string{"slack", "matrix", "discord"} {
		n.rule(map[string]any{"kind": kind, "url": rc.URL + "/" + kind, "on": []string{"failure", "success"}})
	}
	// A title a chat would read as markup or a mention.
	n.submit(n.tok, map[string]any{"entityVal": sha(2), "name": "build"})
	_, err := n.pool.Exec(context.Background(), `UPDATE entities SET title = 'Fix <b>&</b> @everyone'`)
	require.NoError(t, err)
	for _, c := range n.claim(n.run, 10, "linux") {
		n.finish(n.run, c, 0)
	}
	drainNotify(t, n.sender())
	bodies := map[string]map[string]any{}
	for _, g := range rc.received() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(g.Body, &m))
		bodies[g.Path] = m
		require.Empty(t, g.Header.Get("X-Aura-Signature-256"), "only generic webhooks are signed")
	}
	require.Len(t, bodies, 3)
	head := "proj: commit " + sha(2)[:12] + " succeeded"
	url := "http://aura.test/p/proj/commit/" + sha(2)
	require.Equal(t, map[string]any{"text": "<" + url + "|" + head + ">\nFix &lt;b&gt;&amp;&lt;/b&gt; @everyone\n1 succeeded"}, bodies["/slack"])
	require.Equal(t, map[string]any{"username": "Aura", "text": head + "\nFix <b>&</b> @everyone\n1 succeeded\n" + url,
		"html": `<a href="` + url + `">` + head + `</a><br>Fix &lt;b&gt;&amp;&lt;/b&gt; @everyone` + "\n1 succeeded"}, bodies["/matrix"])
	require.Equal(t, map[string]any{"username": "Aura", "content": head + "\nFix <b>&</b> @everyone\n1 succeeded\n" + url,
		"allowed_mentions": map[string]any{"parse": []any{}}}, bodies["/discord"])
}

func TestNotifyRulesMatch(t *testing.T) {
	t.Parallel()
	n := setupNotify(t)
	rc := newReceiver(t)
	n.rule(map[string]any{"kind": "webhook", "url": rc.URL + "/fixed-main", "on": []string{"fixed"},
		"collections": map[string]string{"branch": "main"}})
	n.rule(map[string]any{"kind": "webhook", "url": rc.URL + "/failure-main", "on": []string{"failure"},
		"collections": map[string]string{"branch": "main"}})
	n.rule(map[string]any{"kind": "webhook", "url": rc.URL + "/all", "on": []string{"failure", "fixed", "success"}})
	n.rule(map[string]any{"kind": "webhook", "url": rc.URL + "/any-branch-success", "on": []string{"success"},
		"collections": map[string]string{"branch": "*"}})
	snd := n.sender()
	events := func() map[string][]string {
		out := map[string][]string{}
		for _, g := range rc.received() {
			out[g.Path] = append(out[g.Path], g.Header.Get("X-Aura-Event"))
		}
		return out
	}
	main := map[string]string{"branch": "main"}
	n.build(sha(10), main, map[string]int{"a": 1})
	drainNotify(t, snd)
	require.Equal(t, map[string][]string{"/failure-main": {"failure"}, "/all": {"failure"}}, events())
	n.build(sha(11), map[string]string{"branch": "dev"}, map[string]int{"a": 0})
	drainNotify(t, snd)
	require.Equal(t, map[string][]string{"/failure-main": {"failure"}, "/all": {"failure", "success"},
		"/any-branch-success": {"success"}}, events(), "dev's previous build did not fail: not fixed")
	n.build(sha(12), main, map[string]int{"a": 0, "b": 0})
	drainNotify(t, snd)
	require.Equal(t, map[string][]string{"/failure-main": {"failure"}, "/all": {"failure", "success", "fixed"},
		"/any-branch-success": {"success", "success"}, "/fixed-main": {"fixed"}}, events(),
		"main's previous build failed: fixed (and told once, as fixed, where a rule is on both)")
	n.build(sha(13), main, map[string]int{"a": 0})
	drainNotify(t, snd)
	require.Equal(t, []string{"fixed"}, events()["/fixed-main"], "fixed once only")
	require.Equal(t, []string{"failure", "success", "fixed", "success"}, events()["/all"])
	n.build(sha(14), nil, map[string]int{"a": 1})
	drainNotify(t, snd)
	require.Len(t, events()["/failure-main"], 1, "a build of no collection is not main's")
	require.Equal(t, "failure", events()["/all"][4])
}

// TestNotifyRetriedBuild: a build is told when all its jobs ended, and a retry
// that ends is a new result.
func TestNotifyRetriedBuild(t *testing.T) {
	t.Parallel()
	n := setupNotify(t)
	rc := newReceiver(t)
	n.rule(map[string]any{"kind": "webhook", "url": rc.URL, "on": []string{"failure", "fixed", "success"}})
	snd := n.sender()
	first := n.submit(n.tok, map[string]any{"entityVal": sha(20), "name": "a"})
	n.submit(n.tok, map[string]any{"entityVal": sha(20), "name": "b"})
	cs := n.claim(n.run, 10, "linux")
	require.Len(t, cs, 2)
	byName := map[string]claimed{cs[0].Name: cs[0], cs[1].Name: cs[1]}
	n.finish(n.run, byName["a"], 1)
	drainNotify(t, snd)
	require.Empty(t, rc.received(), "b still runs: no result yet")
	n.finish(n.run, byName["b"], 0)
	drainNotify(t, snd)
	require.Len(t, rc.received(), 1)
	n.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/retry", first.ID), token: n.admin, body: map[string]any{}}, 200, nil)
	for _, c := range n.claim(n.run, 10, "linux") {
		n.finish(n.run, c, 0)
	}
	drainNotify(t, snd)
	got := rc.received()
	require.Len(t, got, 2)
	require.Equal(t, "success", got[1].Header.Get("X-Aura-Event"), "the same build, not a fix of another")
}

func TestNotifyRetriesUntilReceiverRecovers(t *testing.T) {
	t.Parallel()
	n := setupNotify(t)
	rc := newReceiver(t)
	rc.failNext = 3
	r := n.rule(map[string]any{"kind": "discord", "url": rc.URL + "/api/webhooks/1/secret-token", "on": []string{"failure"}})
	snd := n.sender()
	n.build(sha(30), nil, map[string]int{"a": 1})
	_, err := snd.SendNotificationsDue(context.Background())
	require.NoError(t, err)
	var list struct{ Items []notificationResp }
	n.json(call{method: "GET", path: "/api/v1/projects/proj/notifications", token: n.admin}, 200, &list)
	require.Contains(t, list.Items[0].LastFailure, "500")
	require.NotContains(t, list.Items[0].LastFailure, "secret-token", "the failure does not show the URL")
	require.Eventually(t, func() bool {
		_, err := snd.SendNotificationsDue(context.Background())
		return err == nil && len(rc.received()) > 0
	}, 10*time.Second, 2*time.Millisecond)
	drainNotify(t, snd)
	require.Len(t, rc.received(), 1)
	rc.mu.Lock()
	require.Equal(t, 4, rc.hits, "three failures, one delivery")
	rc.mu.Unlock()
	list.Items = nil
	n.json(call{method: "GET", path: "/api/v1/projects/proj/notifications", token: n.admin}, 200, &list)
	require.Empty(t, list.Items[0].LastFailure)
	require.NotNil(t, list.Items[0].LastSentAt)
	require.Equal(t, r.ID, list.Items[0].ID)
}

// TestNotifyAfterRestart: a notification claimed by a server that died is sent
// by the next one, once; a delivered one is never sent again.
func TestNotifyAfterRestart(t *testing.T) {
	t.Parallel()
	n := setupNotify(t)
	rc := newReceiver(t)
	n.rule(map[string]any{"kind": "slack", "url": rc.URL, "on": []string{"failure"}})
	n.build(sha(40), nil, map[string]int{"a": 1})
	rows, err := n.store.NotificationClaim(context.Background(), 10, time.Minute)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	restart := func() *integrations.Sender {
		return integrations.NewSender(&integrations.Service{Store: store.New(n.pool, n.testBundle.box),
			BaseURL: "http://aura.test", Reporter: integrations.NewReporter(time.Second)}, integrations.SenderConfig{}, nil)
	}
	next := restart()
	k, err := next.SendNotificationsDue(context.Background())
	require.NoError(t, err)
	require.Zero(t, k, "the claim still holds")
	_, err = n.pool.Exec(context.Background(), `UPDATE notify_outbox SET locked_until = now() - interval '1 second'`)
	require.NoError(t, err)
	drainNotify(t, next)
	require.Len(t, rc.received(), 1)
	// Another restart, and the same result bumped again (as a late transition would).
	_, err = n.pool.Exec(context.Background(), `UPDATE notify_outbox SET version = version + 1`)
	require.NoError(t, err)
	drainNotify(t, restart(), n.sender())
	require.Len(t, rc.received(), 1, "a result is told once")
}

// smtpSink is a real SMTP server on loopback that keeps what it receives.
type smtpSink struct {
	mu   sync.Mutex
	msgs []smtpMsg
}

type smtpMsg struct {
	From string
	To   []string
	Data string
}

type smtpSession struct {
	sink *smtpSink
	msg  smtpMsg
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error { s.msg.From = from; return nil }
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.msg.To = append(s.msg.To, to)
	return nil
}
func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.msg.Data = string(b)
	s.sink.mu.Lock()
	s.sink.msgs = append(s.sink.msgs, s.msg)
	s.sink.mu.Unlock()
	return nil
}
func (s *smtpSession) Reset()        { s.msg = smtpMsg{} }
func (s *smtpSession) Logout() error { return nil }

func newSMTPSink(t *testing.T) (*smtpSink, int) {
	sink := &smtpSink{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &smtpSession{sink: sink}, nil }))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return sink, l.Addr().(*net.TCPAddr).Port
}

func TestNotifyEmail(t *testing.T) {
	t.Parallel()
	n := setupNotify(t)
	sink, port := newSMTPSink(t)
	n.rule(map[string]any{"kind": "email", "to": []string{"dev@example.com", "ops@example.com"}, "on": []string{"failure"}})
	snd := n.sender()
	n.build(sha(50), nil, map[string]int{"test": 1})
	_, err := snd.SendNotificationsDue(context.Background())
	require.NoError(t, err)
	var list struct{ Items []notificationResp }
	n.json(call{method: "GET", path: "/api/v1/projects/proj/notifications", token: n.admin}, 200, &list)
	require.Contains(t, list.Items[0].LastFailure, "no SMTP server", "without a server the rule says why")

	n.forge.Mail = &integrations.MailConfig{Host: "127.0.0.1", Port: port, From: "aura@ci.test", TLS: "none"}
	require.Eventually(t, func() bool {
		_, err := snd.SendNotificationsDue(context.Background())
		sink.mu.Lock()
		defer sink.mu.Unlock()
		return err == nil && len(sink.msgs) > 0
	}, 10*time.Second, 2*time.Millisecond)
	drainNotify(t, snd)
	sink.mu.Lock()
	defer sink.mu.Unlock()
	require.Len(t, sink.msgs, 1)
	m := sink.msgs[0]
	require.Equal(t, "aura@ci.test", m.From)
	require.ElementsMatch(t, []string{"dev@example.com", "ops@example.com"}, m.To)
	require.Contains(t, m.Data, "Subject: [Aura] proj: commit "+sha(50)[:12]+" failed")
	require.Contains(t, m.Data, "1 failed; not succeeded: test")
	require.Contains(t, m.Data, "http://aura.test/p/proj/commit/"+sha(50))
}

func TestNotificationRulesCRUD(t *testing.T) {
	t.Parallel()
	n := setupNotify(t)
	r := n.rule(map[string]any{"kind": "webhook", "url": "https://hooks.test/a", "on": []string{"failure", "failure"},
		"collections": map[string]string{"branch": "main"}})
	require.Equal(t, []string{"failure"}, r.On)
	path := fmt.Sprintf("/api/v1/projects/proj/notifications/%d", r.ID)
	var up notificationResp
	n.json(call{method: "PATCH", path: path, token: n.admin, body: map[string]any{"on": []string{"success", "fixed"},
		"url": "https://hooks.test/b", "regenerateSecret": true}}, 200, &up)
	require.Equal(t, []string{"fixed", "success"}, up.On)
	require.Equal(t, "https://hooks.test/b", up.URL)
	require.Equal(t, map[string]string{"branch": "main"}, up.Collections)
	require.Len(t, up.Secret, 64)
	require.NotEqual(t, r.Secret, up.Secret)

	bad := []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"kind": "webhook", "url": "ftp://hooks.test/", "on": []string{"failure"}}, "url"},
		{map[string]any{"kind": "slack", "url": "file:///etc/passwd", "on": []string{"failure"}}, "url"},
		{map[string]any{"kind": "slack", "url": "https://u:p@hooks.test/", "on": []string{"failure"}}, "url"},
		{map[string]any{"kind": "discord", "on": []string{"failure"}}, "url"},
		{map[string]any{"kind": "email", "on": []string{"failure"}}, "to"},
		{map[string]any{"kind": "email", "to": []string{"not an address"}, "on": []string{"failure"}}, "to[0]"},
		{map[string]any{"kind": "email", "to": []string{"a@b.test"}, "url": "https://x.test", "on": []string{"failure"}}, "url"},
		{map[string]any{"kind": "sms", "url": "https://x.test", "on": []string{"failure"}}, "kind"},
		{map[string]any{"kind": "slack", "url": "https://x.test", "on": []string{"sometimes"}}, "on[0]"},
		{map[string]any{"kind": "slack", "url": "https://x.test"}, "on"},
	}
	for _, c := range bad {
		e := n.fail(call{method: "POST", path: "/api/v1/projects/proj/notifications", token: n.admin, body: c.body, invalid: true}, 400)
		require.Equal(t, c.field, e.Field, "%v: %s", c.body, e.Message)
	}
	e := n.fail(call{method: "PATCH", path: path, token: n.admin, body: map[string]any{"url": "gopher://x"}, invalid: true}, 400)
	require.Equal(t, "url", e.Field)
	var list struct{ Items []notificationResp }
	n.json(call{method: "GET", path: "/api/v1/projects/proj/notifications", token: n.admin}, 200, &list)
	require.Len(t, list.Items, 1, "nothing half-written")
	require.Equal(t, "https://hooks.test/b", list.Items[0].URL)

	// A project token, a job's token and another project's rule: none of them may.
	n.fail(call{method: "GET", path: "/api/v1/projects/proj/notifications", token: n.tok}, 403)
	n.project("other", false)
	n.fail(call{method: "DELETE", path: fmt.Sprintf("/api/v1/projects/other/notifications/%d", r.ID), token: n.admin}, 404)
	n.json(call{method: "DELETE", path: path, token: n.admin}, 204, nil)
	n.fail(call{method: "DELETE", path: path, token: n.admin}, 404)
}

// TestNotifyRefusesPrivateAddress: a rule posts to loopback and private
// addresses only when it says allowPrivateNetwork (the server posts where a
// maintainer says; its own network is not theirs).
func TestNotifyRefusesPrivateAddress(t *testing.T) {
	t.Parallel()
	n := setupNotify(t)
	rc := newReceiver(t)
	n.rule(map[string]any{"kind": "webhook", "url": rc.URL, "on": []string{"failure"}, "allowPrivateNetwork": false})
	n.build(sha(60), nil, map[string]int{"a": 1})
	_, err := n.sender().SendNotificationsDue(context.Background())
	require.NoError(t, err)
	var list struct{ Items []notificationResp }
	n.json(call{method: "GET", path: "/api/v1/projects/proj/notifications", token: n.admin}, 200, &list)
	require.Contains(t, list.Items[0].LastFailure, "loopback or private address")
	require.Empty(t, rc.received())
}

// TestNotifyDiscordLongContent: Discord takes at most 2000 characters; a long
// title is cut there, on a character boundary.
func TestNotifyDiscordLongContent(t *testing.T) {
	t.Parallel()
	n := setupNotify(t)
	rc := newReceiver(t)
	n.rule(map[string]any{"kind": "discord", "url": rc.URL, "on": []string{"failure"}})
	n.submit(n.tok, map[string]any{"entityVal": sha(70), "name": "build"})
	_, err := n.pool.Exec(context.Background(), `UPDATE entities SET title = repeat('é', 3000)`)
	require.NoError(t, err)
	for _, c := range n.claim(n.run, 10, "linux") {
		n.finish(n.run, c, 1)
	}
	drainNotify(t, n.sender())
	got := rc.received()
	require.Len(t, got, 1)
	var m struct{ Content string }
	require.NoError(t, json.Unmarshal(got[0].Body, &m))
	require.Equal(t, 2000, utf8.RuneCountInString(m.Content))
	require.True(t, utf8.ValidString(m.Content))
}

// TestNotifyConcurrentEnds: the last two jobs of a build ending at the same
// time, in two transactions, still make one notification.
func TestNotifyConcurrentEnds(t *testing.T) {
	t.Parallel()
	n := setupNotify(t)
	rc := newReceiver(t)
	n.rule(map[string]any{"kind": "webhook", "url": rc.URL, "on": []string{"failure", "success"}})
	runnerID, _ := n.runner("r2", "pair")
	ctx := context.Background()
	const builds = 15
	for i := range builds {
		for _, name := range []string{"a", "b"} {
			n.submit(n.tok, map[string]any{"entityVal": sha(100 + i), "name": name, "tag": "pair"})
		}
		jobs, err := n.store.JobClaim(ctx, &store.JobClaimParams{RunnerID: runnerID, Tag: "pair", Limit: 2, Lease: time.Minute, Acked: true})
		require.NoError(t, err)
		require.Len(t, jobs, 2)
		var wg sync.WaitGroup
		for _, j := range jobs {
			wg.Go(func() {
				_, err := n.store.JobComplete(ctx, &store.JobCompleteParams{Holder: store.Holder{JobID: j.ID, Attempt: j.Attempt, RunnerID: runnerID}})
				require.NoError(t, err)
			})
		}
		wg.Wait()
	}
	drainNotify(t, n.sender())
	require.Len(t, rc.received(), builds, "every build told once")
}
