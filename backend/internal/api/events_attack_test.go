package api_test

// Attacks on the event websocket: each test is a client that tries to hold more
// than it should, or to read past the moment its access ended.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/api"
	"github.com/aura-ci/aura/backend/internal/auth"
	"github.com/aura-ci/aura/backend/internal/dispatch"
	"github.com/aura-ci/aura/backend/internal/events"
	"github.com/aura-ci/aura/backend/internal/store"
)

// hubServer starts another API server on b's database whose hub has cfg, and
// returns its URL and hub.
func (b *testBundle) hubServer(t *testing.T, cfg events.HubConfig) (string, *events.Hub) {
	t.Helper()
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, b.dbURL)
	require.NoError(t, err)
	st := store.New(pool, b.box)
	a := auth.New(st, b.tokenKey)
	disp := dispatch.New(st, dispatch.Config{Lease: 30 * time.Second, AckTimeout: 10 * time.Second})
	hub := events.NewHub(st, a, cfg)
	listener := events.NewListener(b.dbURL)
	disp.Listen(listener)
	hub.Listen(listener)
	bg, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { listener.Run(bg) })
	wg.Go(func() { disp.Run(bg) })
	wg.Go(func() { hub.Run(bg) })
	<-listener.Ready()
	srv := httptest.NewServer(api.NewRouter(api.Deps{Store: st, Auth: a, Dispatcher: disp, Events: hub, LogLimit: 64 << 20}))
	t.Cleanup(func() {
		disp.Stop()
		cancel()
		srv.Close()
		wg.Wait()
		pool.Close()
	})
	return srv.URL, hub
}

// rawSocket dials the event websocket of url with a small receive buffer and
// subscribes to topic, then leaves it unread: the attacker's client.
func rawSocket(t *testing.T, url, topic string) *websocket.Conn {
	t.Helper()
	dialer := websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			_ = conn.(*net.TCPConn).SetReadBuffer(4 << 10)
		}
		return conn, err
	}}
	conn, resp, err := dialer.Dial("ws"+strings.TrimPrefix(url, "http")+"/api/v1/events", nil)
	require.NoError(t, err)
	resp.Body.Close()
	t.Cleanup(func() { conn.Close() })
	require.NoError(t, conn.WriteJSON(map[string]any{"op": "subscribe", "topic": topic}))
	return conn
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestEventsSocketThatNeverReads: sockets that subscribe to a log and never
// read, while the job streams megabytes, hold a bounded amount of the server's
// memory each, and are closed. Not parallel: it measures the process's heap.
func TestEventsSocketThatNeverReads(t *testing.T) {
	b := setup(t)
	url, hub := b.hubServer(t, events.HubConfig{WriteWait: 3 * time.Second, MaxPerAddress: 100})
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	j := b.submit(tok, nil)
	c := b.claim(run, 1, "linux")[0]
	b.heartbeat(run, c)
	topic := fmt.Sprintf("log:%d", j.ID)
	reader := openEvents(t, url, "")
	reader.subscribe(topic)

	const sockets = 40
	before := heapAlloc()
	slow := make([]*websocket.Conn, sockets)
	for i := range slow {
		slow[i] = rawSocket(t, url, topic)
	}
	// 1 MiB chunks, as the runner sends them when a job floods its output.
	chunk := strings.Repeat("y", 1<<20-1) + "\n"
	const chunks = 16
	for i := range chunks {
		b.heartbeat(run, c) // a slow machine may take longer than the lease
		b.appendLog(run, j.ID, c.Attempt, i*len(chunk), chunk)
		require.Len(t, reader.readLog(j.ID, int64(i*len(chunk)), len(chunk)), len(chunk))
	}
	held := int64(heapAlloc()) - int64(before)
	stats := hub.Stats()
	t.Logf("%d sockets that never read, %d MiB of log streamed: heap +%.1f MiB (%.0f KiB a socket), %d KiB queued in all",
		sockets, chunks, float64(held)/(1<<20), float64(held)/sockets/1024, stats.QueuedBytes>>10)
	// Each socket's queue holds at most its byte budget of log, or one chunk
	// (1 MiB by default, shared with every other reader of the same chunks).
	require.LessOrEqual(t, stats.QueuedBytes, int64(sockets)*(events.DefaultQueueBytes+64<<10))
	require.Less(t, held, int64(sockets)*256<<10+int64(chunks)<<20, "the server holds what the sockets do not read")

	// None outlives its write deadline: the server closes them (a close frame
	// would wait behind the message they do not read), and keeps the reader.
	require.Eventually(t, func() bool { return hub.Stats().Sockets == 1 }, 10*time.Second, 20*time.Millisecond,
		"the sockets that never read are closed")
	require.Equal(t, 1, hub.Stats().Clients)
	b.appendLog(run, j.ID, c.Attempt, chunks*len(chunk), "still here\n")
	require.Equal(t, "still here\n", string(reader.readLog(j.ID, int64(chunks*len(chunk)), 11)))
}

// TestEventsSocketsPerAddressAndToken: one address, or one token, may hold only
// so many sockets; the next upgrade is refused with a 429 JSON error.
func TestEventsSocketsPerAddressAndToken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	url, hub := b.hubServer(t, events.HubConfig{MaxPerAddress: 5, MaxPerToken: 2})
	wsURL := "ws" + strings.TrimPrefix(url, "http") + "/api/v1/events"
	refused := func(h http.Header) string {
		t.Helper()
		conn, resp, err := websocket.DefaultDialer.Dial(wsURL, h)
		if conn != nil {
			conn.Close()
		}
		require.Error(t, err, "the upgrade is refused")
		require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
		body, _ := io.ReadAll(resp.Body)
		var e struct {
			Code    int
			Message string
		}
		require.NoError(t, json.Unmarshal(body, &e), string(body))
		require.Equal(t, 429, e.Code)
		return e.Message
	}
	admin := http.Header{"Authorization": {"Bearer " + b.admin}}
	first := openEvents(t, url, b.admin)
	dialEvents(t, url, admin)
	require.Contains(t, refused(admin), "with this token")

	var anon []*socket
	for range 3 {
		anon = append(anon, openEvents(t, url, ""))
	}
	require.Contains(t, refused(nil), "from this address")
	require.Contains(t, refused(admin), "from this address")

	// A socket that closes gives its place back.
	anon[0].conn.Close()
	require.Eventually(t, func() bool { return hub.Stats().Sockets == 4 }, 5*time.Second, 10*time.Millisecond)
	late := openEvents(t, url, "")
	// An anonymous socket cannot take the token past its bound with an auth message.
	late.send(map[string]any{"op": "auth", "token": b.admin})
	e := late.nextOf("error")
	require.EqualValues(t, 429, e["code"])
	late.subscribe("queue")
	b.project("secret", true)
	first.subscribe("project:secret")
	late.send(map[string]any{"op": "subscribe", "topic": "project:secret"})
	require.EqualValues(t, 404, late.nextOf("error")["code"], "the refused auth left it anonymous")
}

// streamLog appends a line to the log of the attempt c every few milliseconds
// until the test ends; length is the log's length the runner was answered.
func (b *testBundle) streamLog(t *testing.T, run string, c claimed) *atomic.Int64 {
	t.Helper()
	var length atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			line := fmt.Sprintf("line %d\n", i)
			req, _ := http.NewRequest("PATCH", b.url+logPath(c.ID, c.Attempt, int(length.Load())), bytes.NewReader([]byte(line)))
			req.Header.Set("Authorization", "Bearer "+run)
			req.Header.Set("Content-Type", "application/octet-stream")
			resp, err := b.client.Do(req)
			if err != nil {
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return // the attempt ended
			}
			length.Add(int64(len(line)))
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return &length
}

// logLength is the stored length of job id's log.
func (b *testBundle) logLength(id int64) int64 {
	var n int64
	require.NoError(b.t, b.pool.QueryRow(context.Background(), `SELECT log_length FROM jobs WHERE id = $1`, id).Scan(&n))
	return n
}

// closedWithin waits d at most for the server to close s, and returns the close
// code and the messages received meanwhile.
func (s *socket) closedWithin(d time.Duration) (int, []map[string]any) {
	s.t.Helper()
	var got []map[string]any
	timeout := time.After(d)
	for {
		select {
		case m, ok := <-s.msgs:
			if !ok {
				var ce *websocket.CloseError
				require.ErrorAs(s.t, <-s.err, &ce)
				return ce.Code, got
			}
			got = append(got, m)
		case <-timeout:
			s.t.Fatalf("the socket is still open after %v, having received %d more messages", d, len(got))
		}
	}
}

// noLogFrom requires that none of msgs is log bytes at or past offset.
func noLogFrom(t *testing.T, msgs []map[string]any, offset int64) {
	t.Helper()
	for _, m := range msgs {
		if m["type"] == "log" {
			require.Less(t, int64(m["offset"].(float64)), offset, "log bytes written after access ended were delivered")
		}
	}
}

// TestEventsRevocationClosesAtOnce: revoking a project token, deleting a
// runner and ending a job attempt close their sockets at once with 4001, before
// anything written after the revocation reaches them (not at the next periodic
// check of the tokens, seconds later).
func TestEventsRevocationClosesAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t) // the periodic check runs every 5 s
	b.project("secret", true)
	var tok struct {
		ID    int64
		Token string
	}
	b.json(call{method: "POST", path: "/api/v1/projects/secret/tokens", token: b.admin, body: map[string]any{"name": "ci"}}, 201, &tok)
	runnerID, run := b.runner("r1", "linux")
	j := b.submit(tok.Token, nil)
	c := b.claim(run, 1, "linux")[0]
	b.heartbeat(run, c)
	length := b.streamLog(t, run, c)
	topic := fmt.Sprintf("log:%d", j.ID)

	viaHeader := openEvents(t, b.url, tok.Token)
	viaHeader.subscribe(topic)
	viaAuth := openEvents(t, b.url, "")
	viaAuth.send(map[string]any{"op": "auth", "token": tok.Token})
	viaAuth.subscribe(topic)
	admin := openEvents(t, b.url, b.admin)
	admin.subscribe(topic)
	viaHeader.nextOf("log")
	viaAuth.nextOf("log")

	code, _ := b.do(call{method: "DELETE", path: fmt.Sprintf("/api/v1/projects/secret/tokens/%d", tok.ID), token: b.admin})
	require.Equal(t, 204, code)
	revokedAt := b.logLength(j.ID)
	for _, s := range []*socket{viaHeader, viaAuth} {
		code, msgs := s.closedWithin(time.Second)
		require.Equal(t, 4001, code)
		noLogFrom(t, msgs, revokedAt)
	}
	for length.Load() < revokedAt+100 {
		admin.nextOf("log") // the admin's socket carries on
	}

	// A runner's socket closes when the runner is deleted.
	runnerSocket := openEvents(t, b.url, run)
	runnerSocket.subscribe("runners")
	code, _ = b.do(call{method: "DELETE", path: fmt.Sprintf("/api/v1/runners/%d", runnerID), token: b.admin})
	require.Equal(t, 204, code)
	code, _ = runnerSocket.closedWithin(time.Second)
	require.Equal(t, 4001, code)

	// A job token's socket closes when its attempt ends.
	pub := b.project("pub", false)
	_, run2 := b.runner("r2", "other")
	j2 := b.submit(pub, map[string]any{"tag": "other"})
	c2 := b.claim(run2, 1, "other")[0]
	jobSocket := openEvents(t, b.url, c2.Token)
	jobSocket.subscribe(fmt.Sprintf("job:%d", j2.ID))
	b.finish(run2, c2, 0)
	code, _ = jobSocket.closedWithin(time.Second)
	require.Equal(t, 4001, code)
}

// TestEventsPrivateAtOnce: once a project is made private, an anonymous socket
// gets none of its events, logs included, not even through a resync's catch-up.
func TestEventsPrivateAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("pub", false)
	_, run := b.runner("r1", "linux")
	j := b.submit(tok, nil)
	c := b.claim(run, 1, "linux")[0]
	b.heartbeat(run, c)
	length := b.streamLog(t, run, c)
	anon := openEvents(t, b.url, "")
	anon.subscribe("project:pub")
	anon.subscribe(fmt.Sprintf("log:%d", j.ID))
	owner := openEvents(t, b.url, tok)
	owner.subscribe(fmt.Sprintf("log:%d", j.ID))
	anon.nextOf("log")

	b.json(call{method: "PATCH", path: "/api/v1/projects/pub", token: b.admin, body: map[string]any{"private": true}}, 200, nil)
	privateAt := b.logLength(j.ID)
	b.submit(tok, map[string]any{"name": "after"})
	for length.Load() < privateAt+200 {
		owner.nextOf("log")
	}
	// A resync catches followed logs up from the database: not this one any more.
	b.listener.TestSignals.Init(t)
	var killed int
	require.NoError(t, b.pool.QueryRow(context.Background(), `
		SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query ILIKE 'listen%'`).Scan(&killed))
	require.Equal(t, 1, killed)
	b.listener.TestSignals.Reconnected.Wait()
	// What was read while the project was public may still be on its way: log
	// bytes from before, an entity's status without the job submitted after.
	allowed := func(m map[string]any) {
		t.Helper()
		switch m["type"] {
		case "log":
			require.Less(t, int64(m["offset"].(float64)), privateAt, "log bytes written after the project became private were delivered")
		case "entity":
			total := 0.0
			for _, n := range m["counts"].(map[string]any) {
				total += n.(float64)
			}
			require.Equal(t, 1.0, total, "an entity's status read after the project became private was delivered: %v", m)
		default:
			require.Fail(t, "an event of the private project was delivered", "%v", m)
		}
	}
	for m := anon.next(); m["type"] != "resync"; m = anon.next() {
		allowed(m)
	}
	// The writer sends a resync's catch-up right after it: all of it comes
	// before the answer to a later subscription.
	anon.subscribe("runners")
	for _, m := range anon.pending {
		allowed(m)
	}
}

// TestEventsProjectDeletionClosesItsTokens: deleting a project revokes its
// tokens, and their sockets close at once, not at the periodic check.
func TestEventsProjectDeletionClosesItsTokens(t *testing.T) {
	t.Parallel()
	b := setup(t) // the periodic check runs every 5 s
	tok := b.project("doomed", true)
	s := openEvents(t, b.url, tok)
	s.subscribe("project:doomed")
	s.stillOpen(100 * time.Millisecond)
	code, _ := b.do(call{method: "DELETE", path: "/api/v1/projects/doomed", token: b.admin})
	require.Equal(t, 204, code)
	code, _ = s.closedWithin(time.Second)
	require.Equal(t, 4001, code)
}
