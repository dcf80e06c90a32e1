package api_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/api"
	"github.com/aura-ci/aura/backend/internal/events"
	"github.com/aura-ci/aura/backend/internal/store"
)

// socket is a test client of GET /api/v1/events. Every message it receives is
// validated against openapi.yaml's Event schema.
type socket struct {
	t       testing.TB
	conn    *websocket.Conn
	msgs    chan map[string]any
	err     chan error
	pending []map[string]any // received while waiting for a subscribe's answer
}

// events opens the event websocket of the server at url, with token in the header.
func openEvents(t testing.TB, url, token string) *socket {
	t.Helper()
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return dialEvents(t, url, h)
}

func dialEvents(t testing.TB, url string, h http.Header) *socket {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http")+"/api/v1/events", h)
	require.NoError(t, err)
	resp.Body.Close()
	s := &socket{t: t, conn: conn, msgs: make(chan map[string]any, 10000), err: make(chan error, 1)}
	doc, err := spec()
	require.NoError(t, err)
	schema := doc.Components.Schemas["Event"].Value
	go func() {
		for {
			_, data, err := conn.ReadMessage()
			if err != nil {
				s.err <- err
				close(s.msgs)
				return
			}
			var m map[string]any
			if err := json.Unmarshal(data, &m); err != nil {
				s.err <- err
				close(s.msgs)
				return
			}
			// Big log frames are left out: the schema's base64 check is slow on them.
			if len(data) > 64<<10 {
				s.msgs <- m
				continue
			}
			if err := schema.VisitJSON(m); err != nil {
				s.err <- fmt.Errorf("event %s breaks openapi.yaml: %w", data, err)
				close(s.msgs)
				return
			}
			s.msgs <- m
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return s
}

func (s *socket) send(m map[string]any) {
	s.t.Helper()
	require.NoError(s.t, s.conn.WriteJSON(m))
}

// subscribe subscribes to topic and waits for the answer.
func (s *socket) subscribe(topic string, extra ...any) {
	s.t.Helper()
	m := map[string]any{"op": "subscribe", "topic": topic}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i].(string)] = extra[i+1]
	}
	s.send(m)
	for {
		got := s.receive()
		if got["type"] == "subscribed" {
			require.Equal(s.t, topic, got["topic"])
			return
		}
		require.NotEqual(s.t, "error", got["type"], "subscribe %s: %v", topic, got)
		s.pending = append(s.pending, got)
	}
}

// next returns the next message, failing after 5 s.
func (s *socket) next() map[string]any {
	s.t.Helper()
	if len(s.pending) > 0 {
		m := s.pending[0]
		s.pending = s.pending[1:]
		return m
	}
	return s.receive()
}

func (s *socket) receive() map[string]any {
	s.t.Helper()
	select {
	case m, ok := <-s.msgs:
		if !ok {
			require.NoError(s.t, <-s.err)
		}
		return m
	case <-time.After(5 * time.Second):
		s.t.Fatal("no event within 5 s")
	}
	return nil
}

// nextOf returns the next message of type typ, skipping others.
func (s *socket) nextOf(typ string) map[string]any {
	s.t.Helper()
	for {
		if m := s.next(); m["type"] == typ {
			return m
		}
	}
}

// readLog collects log bytes of job id until the log holds n bytes, checking
// that each event continues exactly where the last ended.
func (s *socket) readLog(id int64, from int64, n int) []byte {
	s.t.Helper()
	var out []byte
	next := from
	for int64(len(out)) < int64(n) {
		m := s.nextOf("log")
		require.EqualValues(s.t, id, m["jobId"])
		require.EqualValues(s.t, next, m["offset"], "a log event continues where the last ended")
		data, err := base64.StdEncoding.DecodeString(m["data"].(string))
		require.NoError(s.t, err)
		require.EqualValues(s.t, len(data), m["length"])
		out = append(out, data...)
		next += int64(len(data))
	}
	require.Len(s.t, out, n, "no byte more than appended")
	return out
}

func (b *testBundle) appendLog(runner string, id int64, attempt int, offset int, data string) {
	b.t.Helper()
	b.json(call{method: "PATCH", path: logPath(id, attempt, offset), token: runner, raw: []byte(data),
		contentType: "application/octet-stream"}, 200, nil)
}

func TestEventsFollowAJob(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	runnerID, run := b.runner("r1", "linux")
	ws := openEvents(t, b.url, "")
	ws.subscribe("queue")
	ws.subscribe("runners")
	ws.subscribe("entity:proj/commit/abc")
	ws.subscribe("collection:proj/ref/main")

	j := b.submit(tok, map[string]any{"collections": map[string]string{"ref": "main"}})
	ws.subscribe(fmt.Sprintf("job:%d", j.ID))
	m := ws.nextOf("job")
	require.Equal(t, "queued", m["status"])
	require.Subset(t, m["topics"], []any{"queue", "entity:proj/commit/abc"})
	// The collection hears of its entity's jobs too, with the entity's new status.
	m = ws.nextOf("job")
	require.Equal(t, []any{"collection:proj/ref/main"}, m["topics"])
	e := ws.nextOf("entity")
	require.Equal(t, "pending", e["status"])
	require.Equal(t, "1 queued", e["summary"])
	require.ElementsMatch(t, []any{"entity:proj/commit/abc", "collection:proj/ref/main"}, e["topics"])

	c := b.claim(run, 1, "linux")[0]
	r := ws.nextOf("runner")
	require.EqualValues(t, runnerID, r["runnerId"])
	require.Equal(t, []any{"runners"}, r["topics"])
	m = ws.nextOf("job")
	require.Equal(t, "running", m["status"])
	require.EqualValues(t, runnerID, m["runnerId"])
	require.ElementsMatch(t, []any{"queue", "entity:proj/commit/abc", fmt.Sprintf("job:%d", j.ID)}, m["topics"])

	b.finish(run, c, 0)
	for {
		e := ws.nextOf("entity")
		if e["status"] == "success" {
			require.Equal(t, "1 succeeded", e["summary"])
			break
		}
	}
}

// TestEventsLogResume follows a log across reconnects: every byte arrives once,
// in order, whether it was appended before the subscription, during it or while
// the client was away.
func TestEventsLogResume(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	j := b.submit(tok, nil)
	c := b.claim(run, 1, "linux")[0]
	b.heartbeat(run, c)
	var log strings.Builder
	write := func(s string) {
		b.appendLog(run, j.ID, c.Attempt, log.Len(), s)
		log.WriteString(s)
	}
	write("line 1\n")
	write("line 2\n")

	ws := openEvents(t, b.url, "")
	ws.subscribe(fmt.Sprintf("log:%d", j.ID), "offset", 3)
	got := ws.readLog(j.ID, 3, log.Len()-3)
	require.Equal(t, log.String()[3:], string(got))
	write("line 3\n")
	got = append(got, ws.readLog(j.ID, int64(log.Len()-7), 7)...)
	require.Equal(t, log.String()[3:], string(got))

	// Appends race the subscription: none is lost or doubled.
	ws2 := openEvents(t, b.url, "")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 4; i < 40; i++ {
			b.appendLog(run, j.ID, c.Attempt, log.Len(), fmt.Sprintf("line %d\n", i))
			log.WriteString(fmt.Sprintf("line %d\n", i))
		}
	}()
	ws2.subscribe(fmt.Sprintf("log:%d", j.ID))
	<-done
	require.Equal(t, log.String(), string(ws2.readLog(j.ID, 0, log.Len())))
	// Nothing doubled comes later: the next event continues where the log ended.
	write("fence\n")
	require.Equal(t, "fence\n", string(ws2.readLog(j.ID, int64(log.Len()-6), 6)))

	// Away and back: resubscribing with the length held sends only what is new.
	held := log.Len()
	ws.conn.Close()
	write("while away 1\n")
	write("while away 2\n")
	ws3 := openEvents(t, b.url, "")
	ws3.subscribe(fmt.Sprintf("log:%d", j.ID), "offset", held, "attempt", 1)
	require.Equal(t, log.String()[held:], string(ws3.readLog(j.ID, int64(held), log.Len()-held)))
	write("live\n")
	require.Equal(t, "live\n", string(ws3.readLog(j.ID, int64(log.Len()-5), 5)))

	// A new attempt's log starts over at offset 0.
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/cancel", j.ID), token: tok}, 200, nil)
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/complete", j.ID), token: run, body: map[string]any{"attempt": 1, "exitCode": 1}}, 200, nil)
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/retry", j.ID), token: tok}, 200, nil)
	c2 := b.claim(run, 1, "linux")[0]
	require.Equal(t, 2, c2.Attempt)
	b.appendLog(run, j.ID, 2, 0, "second attempt\n")
	m := ws3.nextOf("log")
	require.EqualValues(t, 2, m["attempt"])
	require.EqualValues(t, 0, m["offset"])
}

func TestEventsPrivateProjects(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("secret", true)
	other := b.project("other", false)
	anon := openEvents(t, b.url, "")
	anon.subscribe("queue")
	admin := openEvents(t, b.url, b.admin)
	admin.subscribe("queue")
	// The token in the query string, as a browser sends it.
	conn, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(b.url, "http")+"/api/v1/events?token="+tok, nil)
	require.NoError(t, err)
	resp.Body.Close()
	conn.Close()
	_, resp, err = websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(b.url, "http")+"/api/v1/events?token=AURA_ADMINKEY_wrong", nil)
	require.Error(t, err)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	// The token in a first message.
	viaAuth := openEvents(t, b.url, "")
	viaAuth.send(map[string]any{"op": "auth", "token": tok})
	viaAuth.subscribe("project:secret")
	viaAuth.send(map[string]any{"op": "auth", "token": "nope"})
	require.EqualValues(t, 401, viaAuth.nextOf("error")["code"])

	for _, topic := range []string{"project:secret", "entity:secret/commit/abc", "collection:secret/ref/main", "project:nope", "log:999", "job:x", "bogus", "queue:x"} {
		anon.send(map[string]any{"op": "subscribe", "topic": topic})
		e := anon.nextOf("error")
		require.EqualValues(t, 404, e["code"], topic)
		require.Equal(t, topic, e["topic"])
	}
	j := b.submit(tok, nil)
	anon.send(map[string]any{"op": "subscribe", "topic": fmt.Sprintf("log:%d", j.ID)})
	require.EqualValues(t, 404, anon.nextOf("error")["code"])

	pub := b.submit(other, nil)
	m := admin.nextOf("job")
	require.EqualValues(t, j.ID, m["jobId"], "the admin sees the private job")
	m = anon.nextOf("job")
	require.EqualValues(t, pub.ID, m["jobId"], "anonymous sees only the public one")
	require.EqualValues(t, j.ID, viaAuth.nextOf("job")["jobId"])
}

// closed waits for the server to close the socket and returns the close code.
func (s *socket) closed() int {
	s.t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-s.msgs:
			if !ok {
				var ce *websocket.CloseError
				require.ErrorAs(s.t, <-s.err, &ce)
				return ce.Code
			}
		case <-timeout:
			s.t.Fatal("the socket is still open after 5 s")
		}
	}
}

// stillOpen requires the socket to stay open for d, whatever it receives.
func (s *socket) stillOpen(d time.Duration) {
	s.t.Helper()
	end := time.After(d)
	for {
		select {
		case _, ok := <-s.msgs:
			if !ok {
				s.t.Fatalf("the socket closed: %v", <-s.err)
			}
		case <-end:
			return
		}
	}
}

// TestEventsTokenRevoked: a socket does not outlive its token. A revoked project
// token, or a job token whose attempt ended, loses its socket; and a project
// made private stops sending its log to those who may no longer read it.
func TestEventsTokenRevoked(t *testing.T) {
	t.Parallel()
	b := setupWith(t, bundleOptions{eventRecheck: 20 * time.Millisecond})
	b.project("secret", true)
	var tok struct {
		ID    int64
		Token string
	}
	b.json(call{method: "POST", path: "/api/v1/projects/secret/tokens", token: b.admin, body: map[string]any{"name": "ci"}}, 201, &tok)
	viaHeader := openEvents(t, b.url, tok.Token)
	viaHeader.subscribe("project:secret")
	viaAuth := openEvents(t, b.url, "")
	viaAuth.send(map[string]any{"op": "auth", "token": tok.Token})
	viaAuth.subscribe("project:secret")
	admin := openEvents(t, b.url, b.admin)
	admin.subscribe("project:secret")
	viaHeader.stillOpen(100 * time.Millisecond) // rechecked a few times: still valid

	code, _ := b.do(call{method: "DELETE", path: fmt.Sprintf("/api/v1/projects/secret/tokens/%d", tok.ID), token: b.admin})
	require.Equal(t, 204, code)
	require.Equal(t, 4001, viaHeader.closed())
	require.Equal(t, 4001, viaAuth.closed())
	b.submit(b.admin, map[string]any{"project": "secret", "tag": "elsewhere"})
	admin.nextOf("job") // the admin's socket carries on

	// A job token's socket ends with its attempt.
	pubTok := b.project("pub", false)
	_, runner := b.runner("r", "linux")
	j := b.submit(pubTok, nil)
	c := b.claim(runner, 1, "linux")
	require.Len(t, c, 1)
	require.Equal(t, j.ID, c[0].ID)
	jobSocket := openEvents(t, b.url, c[0].Token)
	jobSocket.subscribe(fmt.Sprintf("job:%d", j.ID))
	jobSocket.stillOpen(100 * time.Millisecond)
	b.finish(runner, c[0], 0)
	require.Equal(t, 4001, jobSocket.closed())

	// An anonymous reader of a public job's log stops getting it once the
	// project is private.
	j2 := b.submit(pubTok, map[string]any{"name": "second"})
	c = b.claim(runner, 1, "linux")
	require.Len(t, c, 1)
	require.Equal(t, j2.ID, c[0].ID)
	anon := openEvents(t, b.url, "")
	anon.subscribe(fmt.Sprintf("log:%d", j2.ID))
	fence := b.project("fence", false)
	anon.subscribe("project:fence")
	b.heartbeat(runner, c[0])
	b.appendLog(runner, j2.ID, c[0].Attempt, 0, "public\n")
	require.Equal(t, "public\n", string(anon.readLog(j2.ID, 0, 7)))
	b.hub.TestSignals.Init(t)
	b.json(call{method: "PATCH", path: "/api/v1/projects/pub", token: b.admin, body: map[string]any{"private": true}}, 200, nil)
	// The hub forgets the project's privacy it holds (it would keep it for
	// projectTTL), whenever the appends come.
	require.Equal(t, "pub", b.hub.TestSignals.PrivacyRefreshed.Wait())
	b.appendLog(runner, j2.ID, c[0].Attempt, 7, "private\n")
	// A later event of another project comes after whatever the append sent.
	f := b.submit(fence, nil)
	m := anon.next()
	require.Equal(t, "job", m["type"], "the first message after the append is the fence's job, not %v", m)
	require.EqualValues(t, f.ID, m["jobId"])
}

// TestEventsSlowClientIsDropped fills the queue of a client that does not read:
// it is closed with 4008, while another client and the appends carry on.
func TestEventsSlowClientIsDropped(t *testing.T) {
	t.Parallel()
	// A 1 MiB append is stored as four rows, each an item of the queue: a queue
	// of 4 dropped even the reader that kept up whenever its writer was one behind.
	b := setupWith(t, bundleOptions{eventQueue: 16, eventWriteWait: time.Minute})
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	j := b.submit(tok, nil)
	c := b.claim(run, 1, "linux")[0]
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/heartbeat", c.ID), token: run, body: map[string]any{"attempt": 1}}, 200, nil)
	// The slow client subscribes and then reads nothing until the end, through a
	// small receive buffer (not tiny: that would make draining it slow).
	dialer := websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			_ = conn.(*net.TCPConn).SetReadBuffer(256 << 10)
		}
		return conn, err
	}}
	slow, resp, err := dialer.Dial("ws"+strings.TrimPrefix(b.url, "http")+"/api/v1/events", nil)
	require.NoError(t, err)
	resp.Body.Close()
	defer slow.Close()
	require.NoError(t, slow.WriteJSON(map[string]any{"op": "subscribe", "topic": fmt.Sprintf("log:%d", j.ID)}))
	fast := openEvents(t, b.url, "")
	fast.subscribe(fmt.Sprintf("log:%d", j.ID))
	chunk := strings.Repeat("x", 1<<20-1) + "\n"
	// Far more than the server's socket buffer and the queue of 16 hold.
	for i := range 16 {
		b.heartbeat(run, c) // a slow machine (-race) may take longer than the lease
		b.appendLog(run, j.ID, c.Attempt, i*len(chunk), chunk)
		require.Len(t, fast.readLog(j.ID, int64(i*len(chunk)), len(chunk)), len(chunk))
	}
	// Draining what it was sent, the slow client finds the close at the end.
	require.NoError(t, slow.SetReadDeadline(time.Now().Add(20*time.Second)))
	for {
		_, _, err := slow.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		require.ErrorAs(t, err, &ce)
		require.Equal(t, 4008, ce.Code)
		require.Contains(t, ce.Text, "too slow")
		return
	}
}

// replica starts a second API server process-alike (its own pool, listener,
// dispatcher and hub) on b's database and returns its URL.
func (b *testBundle) replica(t *testing.T) string {
	t.Helper()
	url, _ := b.hubServer(t, events.HubConfig{})
	return url
}

// TestEventsAcrossTwoServers watches through one server what happens through
// another on the same database.
func TestEventsAcrossTwoServers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	other := b.replica(t)
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	ws := openEvents(t, other, "")
	ws.subscribe("project:proj")
	j := b.submit(tok, nil)
	require.Equal(t, "queued", ws.nextOf("job")["status"])
	ws.subscribe(fmt.Sprintf("log:%d", j.ID))
	c := b.claim(run, 1, "linux")[0]
	b.appendLog(run, j.ID, c.Attempt, 0, "hello from server one\n")
	require.Equal(t, "hello from server one\n", string(ws.readLog(j.ID, 0, 22)))
}

func TestLogTimes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	j := b.submit(tok, nil)
	c := b.claim(run, 1, "linux")[0]
	var none struct {
		Attempt int
		Chunks  []store.LogTime
	}
	b.json(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d/log/times", j.ID)}, 200, &none)
	require.Equal(t, 1, none.Attempt)
	require.Empty(t, none.Chunks)
	before := time.Now()
	b.appendLog(run, j.ID, c.Attempt, 0, "one\n")
	time.Sleep(20 * time.Millisecond) // the chunks' arrival times must differ: here a duration is the point
	b.appendLog(run, j.ID, c.Attempt, 4, "two\n")
	var lt struct {
		Attempt   int
		StartedAt *time.Time
		Chunks    []store.LogTime
	}
	b.json(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d/log/times", j.ID)}, 200, &lt)
	require.NotNil(t, lt.StartedAt)
	require.Len(t, lt.Chunks, 2)
	require.EqualValues(t, 0, lt.Chunks[0].Offset)
	require.EqualValues(t, 4, lt.Chunks[1].Offset)
	require.WithinDuration(t, before, lt.Chunks[0].Time, 5*time.Second)
	require.True(t, lt.Chunks[1].Time.After(lt.Chunks[0].Time))
	b.fail(call{method: "GET", path: "/api/v1/jobs/999/log/times"}, 404)

	// Live log events carry the same times.
	ws := openEvents(t, b.url, "")
	ws.subscribe(fmt.Sprintf("log:%d", j.ID))
	m := ws.nextOf("log")
	at, err := time.Parse(time.RFC3339Nano, m["time"].(string))
	require.NoError(t, err)
	require.True(t, at.Equal(lt.Chunks[0].Time))
}

// TestWebFallback: the app answers deep links, never /api paths.
func TestWebFallback(t *testing.T) {
	t.Parallel()
	r := api.NewRouter(api.Deps{Web: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("the app"))
	})})
	for path, want := range map[string]string{"/j/42": "the app", "/p/proj/commit/abc": "the app", "/": "the app",
		"/api/v1/nope": `"code":404`, "/api": `"code":404`, "/api/nope": `"code":404`} {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		require.Contains(t, rec.Body.String(), want, path)
	}
}

func TestEventsNeedsAWebsocket(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.fail(call{method: "GET", path: "/api/v1/events"}, 400)
	b.fail(call{method: "GET", path: "/api/v1/events?token=AURA_ADMINKEY_wrong"}, 400)
}

// TestEventsListenerReconnect cuts the server's LISTEN connection: clients are
// told to resync, and a followed log catches up the bytes whose notifications
// were lost meanwhile.
func TestEventsListenerReconnect(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	j := b.submit(tok, nil)
	c := b.claim(run, 1, "linux")[0]
	ws := openEvents(t, b.url, "")
	ws.subscribe(fmt.Sprintf("log:%d", j.ID))
	b.appendLog(run, j.ID, c.Attempt, 0, "before\n")
	require.Equal(t, "before\n", string(ws.readLog(j.ID, 0, 7)))

	var killed int
	require.NoError(t, b.pool.QueryRow(context.Background(), `
		SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query ILIKE 'listen%'`).Scan(&killed))
	require.Equal(t, 1, killed)
	// Appended before the listener is back (it waits 100 ms at least): its NOTIFY is lost.
	b.appendLog(run, j.ID, c.Attempt, 7, "during\n")
	// The bytes come with the resync, before any further append; or before it,
	// when the append beat the cut (or the subscription's catch-up read them).
	var during []byte
	for resynced := false; !resynced || len(during) < 7; {
		switch m := ws.next(); m["type"] {
		case "resync":
			resynced = true
		case "log":
			require.EqualValues(t, 7+len(during), m["offset"], "a log event continues where the last ended")
			data, err := base64.StdEncoding.DecodeString(m["data"].(string))
			require.NoError(t, err)
			during = append(during, data...)
		default:
			require.Fail(t, "unexpected event", "%v", m)
		}
	}
	require.Equal(t, "during\n", string(during))
	b.appendLog(run, j.ID, c.Attempt, 14, "after\n")
	var got strings.Builder
	got.WriteString("during\n")
	for got.Len() < 13 {
		m := ws.nextOf("log")
		data, err := base64.StdEncoding.DecodeString(m["data"].(string))
		require.NoError(t, err)
		require.EqualValues(t, 7+got.Len(), m["offset"])
		got.Write(data)
	}
	require.Equal(t, "during\nafter\n", got.String())
	// Nothing doubled comes later: the next event continues where the log ended.
	b.appendLog(run, j.ID, c.Attempt, 20, "fence\n")
	require.Equal(t, "fence\n", string(ws.readLog(j.ID, 20, 6)))
}

// TestEventsIntegration: a delivery (even one that starts nothing) and a status
// report tell the project's managers to refetch the integration, live; an
// anonymous reader of the public project hears nothing of it.
func TestEventsIntegration(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("forge", false)
	in := b.integration("forge", map[string]any{"kind": "github", "repository": "Octocoders/Hello-World"})
	admin := openEvents(t, b.url, b.admin)
	admin.subscribe("project:forge")
	owner := openEvents(t, b.url, tok)
	owner.subscribe("project:forge")
	anon := openEvents(t, b.url, "")
	anon.subscribe("project:forge")

	body := readFixture(t, "github/ping.json")
	code, _, bad := b.hook(in.ID, signedHeaders("github", "ping", in.Secret, body), body)
	require.Equal(t, 200, code, bad.Message)
	e := admin.nextOf("integration")
	require.EqualValues(t, in.ID, e["integrationId"])
	require.Equal(t, "forge", e["project"])
	require.Equal(t, []any{"project:forge"}, e["topics"])
	require.NoError(t, b.store.IntegrationStatusReported(context.Background(), in.ID, "the forge answered 500"))
	require.EqualValues(t, in.ID, admin.nextOf("integration")["integrationId"])
	// Integration events go to those who may manage integrations, as the
	// integrations API does: a project token gets 403 there, and nothing here.
	// A later event of the project comes after whatever those two sent.
	j := b.submit(tok, nil)
	for _, c := range []*socket{anon, owner} {
		m := c.next()
		require.Equal(t, "job", m["type"], "the first message a non-manager gets is the job's, not %v", m)
		require.EqualValues(t, j.ID, m["jobId"])
	}
}
