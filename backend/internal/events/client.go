package events

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/aura-ci/aura/backend/internal/auth"
	"github.com/aura-ci/aura/backend/internal/event"
	"github.com/aura-ci/aura/backend/internal/store"
	"github.com/aura-ci/aura/backend/internal/topic"
)

// Close codes the server ends a socket with, besides the standard ones.
const (
	closeGoingAway = websocket.CloseGoingAway
	// closeTooSlow: the client's queue filled up. Reconnect, resubscribe (logs with
	// the offset held) and refetch.
	closeTooSlow = 4008
	// closeTokenGone: the token the socket was opened with was revoked or expired
	// (a job token whose attempt ended). Reconnect with a valid token, or none.
	closeTokenGone = 4001
)

const (
	pongWait   = 60 * time.Second
	pingEvery  = pongWait * 9 / 10
	maxMessage = 4096
	logPiece   = 16 // chunks per database read when catching a log up
	// logPieceBytes bounds the bytes of one such read past its first chunk: a
	// writer holds what it read until its client takes it.
	logPieceBytes = 256 << 10
	logMaxFrame   = 1 << 20 // bytes of log per message, before base64
	maxTopics     = 1000    // subscriptions per socket
	authTimeout   = 10 * time.Second
	sendBuffer    = 256 << 10 // the kernel's send buffer of a socket
)

var upgrader = websocket.Upgrader{
	// 0 reuses the HTTP server's 4 KiB read buffer. The write buffer comes
	// from a pool and is held only while a message is written, so an idle
	// socket costs none.
	ReadBufferSize:  0,
	WriteBufferSize: 16384,
	WriteBufferPool: &sync.Pool{},
	// Any origin may connect: the socket carries no ambient credentials (no
	// cookies; tokens come in the request or the first message), so a foreign
	// page learns only what it could fetch itself.
	CheckOrigin: func(*http.Request) bool { return true },
}

// item is one entry of a client's queue: exactly one field is set.
type item struct {
	raw     []byte
	event   event.Event
	log     *logItem
	catchUp *logCatchUp
	resync  string
	topics  []string
}

// logItem is log bytes of a job attempt at offset. Without data, it says that
// length bytes came at offset, for the writer to read from the database.
type logItem struct {
	jobID   int64
	attempt int
	offset  int64
	length  int64
	data    []byte
	time    time.Time
}

// size is about what it holds in memory, for the queue's byte budget.
func (it item) size() int64 {
	const overhead = 128
	switch {
	case it.raw != nil:
		return overhead + int64(len(it.raw))
	case it.log != nil:
		return overhead + int64(len(it.log.data))
	case it.event != nil:
		return 2 * overhead
	}
	return overhead
}

// logCatchUp starts (or restarts) a log subscription at offset of attempt (0: current).
type logCatchUp struct {
	jobID   int64
	attempt int
	offset  int64
	project string // the job's project, whose privacy filters the live chunks
}

// logCursor is how far a client has been sent a job's log.
type logCursor struct {
	attempt int
	next    int64
	project string // whose privacy says whether the client may still read it
}

// client is one websocket. The reader goroutine handles client messages; the
// writer goroutine owns every write, drains the queue and keeps log cursors.
type client struct {
	hub  *Hub
	conn *websocket.Conn
	addr string // the remote address, as counted against MaxPerAddress
	send chan item
	who  atomic.Pointer[identity]
	// queued is the size of the items in send (item.size).
	queued atomic.Int64

	// topics, submittedBy and the token counted against MaxPerToken are guarded by hub.mu.
	topics map[string]struct{}
	// submittedBy holds, for a job followed by a job token, the jobs found to
	// have submitted it (auth.JobRef.SubmittedBy).
	submittedBy map[int64][]int64
	counted     string

	killOnce sync.Once
	killed   chan struct{}
	killCode int
	killWhy  string
	cursors  map[int64]*logCursor // writer only
}

// identity is who a client is, and the token that said so: the hub checks the
// token again now and then, so a revoked token does not keep its access.
type identity struct {
	p     *auth.Principal
	token string
	hash  string // hex of the token's stored hash, as revocations name it
}

func newIdentity(p *auth.Principal, token string) *identity {
	id := &identity{p: p, token: token}
	if token != "" {
		id.hash = hex.EncodeToString(auth.Hash(token))
	}
	return id
}

func (c *client) principal() *auth.Principal { return c.who.Load().p }

// kill makes the writer close the socket with code (0: just close). Never blocks.
func (c *client) kill(code int, reason string) {
	c.killOnce.Do(func() {
		c.killCode, c.killWhy = code, reason
		close(c.killed)
	})
}

// Serve upgrades the request to the event websocket of a caller who is p, by
// token (nil and "": anonymous, until an auth message says otherwise), and
// serves it until it closes. It refuses, with a *LimitError and before
// upgrading, a socket past the bounds of its remote address or token.
func (h *Hub) Serve(w http.ResponseWriter, r *http.Request, p *auth.Principal, token string) error {
	c := &client{
		hub: h, addr: remoteHost(r), send: make(chan item, h.cfg.QueueSize),
		topics: map[string]struct{}{}, submittedBy: map[int64][]int64{}, killed: make(chan struct{}), cursors: map[int64]*logCursor{},
	}
	c.who.Store(newIdentity(p, token))
	if err := h.admit(c); err != nil {
		return err
	}
	defer h.release(c)
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return nil // the upgrader answered the error
	}
	c.conn = conn
	h.served.Add(1)
	defer h.served.Add(-1)
	if tcp, ok := conn.NetConn().(*net.TCPConn); ok {
		// Left to itself the kernel grows a socket's send buffer to megabytes
		// for a client that does not read.
		_ = tcp.SetWriteBuffer(sendBuffer)
	}
	h.register(c)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go c.writeLoop(ctx)
	c.readLoop(ctx)
	h.unregister(c)
	return nil
}

// remoteHost is the TCP peer's address without its port. Behind a reverse
// proxy, that is the proxy: there is no trusted-proxy setting to read
// X-Forwarded-For from, so raise MaxPerAddress there.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// clientMessage is any EventClientMessage.
type clientMessage struct {
	Op      string `json:"op"`
	Topic   string `json:"topic"`
	Offset  int64  `json:"offset"`
	Attempt int    `json:"attempt"`
	Token   string `json:"token"`
}

func (c *client) readLoop(ctx context.Context) {
	c.conn.SetReadLimit(maxMessage)
	_ = c.conn.SetReadDeadline(time.Now().Add(pongWait))
	c.conn.SetPongHandler(func(string) error { return c.conn.SetReadDeadline(time.Now().Add(pongWait)) })
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			return
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(pongWait))
		var m clientMessage
		if err := json.Unmarshal(data, &m); err != nil {
			c.hub.enqueue(c, item{raw: errorMessage(400, "message is not JSON", "")})
			continue
		}
		switch m.Op {
		case "subscribe":
			c.handleSubscribe(ctx, &m)
		case "unsubscribe":
			c.hub.unsubscribe(c, m.Topic)
			c.hub.mu.Lock()
			delete(c.topics, m.Topic)
			c.hub.mu.Unlock()
		case "auth":
			actx, cancel := context.WithTimeout(ctx, authTimeout)
			p, err := c.hub.auth.Authenticate(actx, "Bearer "+m.Token)
			cancel()
			if err != nil {
				c.hub.enqueue(c, item{raw: errorMessage(401, "invalid or expired token", "")})
				continue
			}
			if err := c.hub.reauth(c, p, m.Token); err != nil {
				c.hub.enqueue(c, item{raw: errorMessage(429, err.Error(), "")})
			}
		default:
			c.hub.enqueue(c, item{raw: errorMessage(400, "op must be subscribe, unsubscribe or auth", m.Topic)})
		}
	}
}

// errNoTopic answers topics that do not exist or that the caller may not read alike.
var errNoTopic = errors.New("no such topic")

func (c *client) handleSubscribe(ctx context.Context, m *clientMessage) {
	it, collectionOf, submittedBy, err := c.authorize(ctx, m)
	if err != nil {
		code, msg := 404, "no such topic, or not yours to read: "+m.Topic
		if !errors.Is(err, errNoTopic) && !errors.Is(err, store.ErrNotFound) {
			code, msg = 500, "could not subscribe; try again"
		}
		c.hub.enqueue(c, item{raw: errorMessage(code, msg, m.Topic)})
		return
	}
	c.hub.mu.Lock()
	n := len(c.topics)
	_, again := c.topics[m.Topic]
	if n >= maxTopics && !again {
		c.hub.mu.Unlock()
		c.hub.enqueue(c, item{raw: errorMessage(400, "too many subscriptions on one socket", m.Topic)})
		return
	}
	c.topics[m.Topic] = struct{}{}
	if submittedBy != nil {
		// A job's ancestry never changes: what was found holds for its later events.
		if t, _ := topic.Parse(m.Topic); t.JobID != 0 {
			c.submittedBy[t.JobID] = submittedBy
		}
	}
	c.hub.mu.Unlock()
	c.hub.subscribe(c, m.Topic, collectionOf, it)
}

// authorize checks that topic exists and asks the policy whether the caller
// may follow it. For a log topic it returns the catch-up to queue; for a
// collection topic, its project; for a job or log topic, the jobs known to have
// submitted it, which later events of it are judged with.
func (c *client) authorize(ctx context.Context, m *clientMessage) (item, string, []int64, error) {
	t, ok := topic.Parse(m.Topic)
	if !ok {
		return item{}, "", nil, errNoTopic
	}
	st := c.hub.store
	p := c.principal()
	allowed := func(a auth.Action, res auth.Resource) error {
		if auth.Check(p, a, res) != auth.Allowed {
			return errNoTopic
		}
		return nil
	}
	projectRes := func(slug string) (auth.Resource, error) {
		pr, err := st.ProjectGet(ctx, slug)
		if err != nil {
			return auth.Resource{}, err
		}
		return auth.Resource{Project: &auth.ProjectRef{ID: pr.ID, Private: pr.Private}}, nil
	}
	switch t.Kind {
	case topic.KindRunners:
		return item{}, "", nil, allowed(auth.ReadRunners, auth.Resource{})
	case topic.KindQueue:
		// The queue shows each job to those who may read it (Hub.deliver).
		if auth.CheckKind(p, auth.ReadProjectJobs) != auth.Allowed {
			return item{}, "", nil, errNoTopic
		}
		return item{}, "", nil, nil
	case topic.KindProject, topic.KindEntity, topic.KindCollection:
		res, err := projectRes(t.Project)
		if err != nil {
			return item{}, "", nil, err
		}
		collectionOf := ""
		if t.Kind == topic.KindCollection {
			collectionOf = t.Project
		}
		return item{}, collectionOf, nil, allowed(auth.ReadProjectJobs, res)
	case topic.KindJob, topic.KindLog:
		id := t.JobID
		j, err := st.JobBriefGet(ctx, id)
		if err != nil {
			return item{}, "", nil, err
		}
		res, err := projectRes(j.Project)
		if err != nil {
			return item{}, "", nil, err
		}
		if res.Job, err = c.hub.auth.JobRef(ctx, p, j.ProjectID, id); err != nil {
			return item{}, "", nil, err
		}
		if err := allowed(auth.ReadJob, res); err != nil {
			return item{}, "", nil, err
		}
		if t.Kind == topic.KindLog {
			if m.Offset < 0 || m.Attempt < 0 {
				return item{}, "", nil, errNoTopic
			}
			return item{catchUp: &logCatchUp{jobID: id, attempt: m.Attempt, offset: m.Offset, project: j.Project}}, "", res.Job.SubmittedBy, nil
		}
		return item{}, "", res.Job.SubmittedBy, nil
	}
	return item{}, "", nil, errNoTopic
}

// jobResource is the job jobID of proj as the policy sees it for c: with the
// jobs c was told submitted it when it subscribed. h.mu is held.
func (c *client) jobResourceLocked(proj *projectEntry, jobID int64) auth.Resource {
	return auth.Resource{Project: proj.ref(), Job: &auth.JobRef{ID: jobID, SubmittedBy: c.submittedBy[jobID]}}
}

func (c *client) writeLoop(ctx context.Context) {
	ping := time.NewTicker(pingEvery)
	defer func() {
		ping.Stop()
		c.conn.Close()
	}()
	for {
		// A dropped client gets its close frame next, not the rest of its queue.
		select {
		case <-c.killed:
			c.writeClose()
			return
		default:
		}
		select {
		case it := <-c.send:
			err := c.write(ctx, it)
			c.queued.Add(-it.size())
			if errors.Is(err, errKilled) {
				c.writeClose()
				return
			}
			if err != nil {
				c.hub.unregister(c)
				return
			}
		case <-ping.C:
			if err := c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.hub.cfg.WriteWait)); err != nil {
				c.hub.unregister(c)
				return
			}
		case <-c.killed:
			c.writeClose()
			return
		case <-ctx.Done():
			return
		}
	}
}

// writeClose sends the close frame of a kill, after whatever message is in
// flight: a slow client reads its backlog and then learns why it was dropped.
func (c *client) writeClose() {
	if c.killCode != 0 {
		msg := websocket.FormatCloseMessage(c.killCode, c.killWhy)
		_ = c.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(c.hub.cfg.WriteWait))
	}
}

// errKilled stops a writer that the hub dropped in the middle of an item.
var errKilled = errors.New("client dropped")

func (c *client) isKilled() bool {
	select {
	case <-c.killed:
		return true
	default:
		return false
	}
}

func (c *client) writeMessage(b []byte) error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.hub.cfg.WriteWait))
	return c.conn.WriteMessage(websocket.TextMessage, b)
}

func (c *client) write(ctx context.Context, it item) error {
	switch {
	case it.raw != nil:
		return c.writeMessage(it.raw)
	case it.event != nil:
		return c.writeMessage(eventMessage(it.event, it.topics))
	case it.resync != "":
		if err := c.writeMessage(resyncMessage(it.resync)); err != nil {
			return err
		}
		// Logs need no refetch: catch every followed log up from the database.
		for id, cur := range c.cursors {
			if err := c.fill(ctx, id, cur, 0); err != nil {
				return err
			}
		}
		return nil
	case it.catchUp != nil:
		return c.startLog(ctx, it.catchUp)
	case it.log != nil:
		return c.writeLog(ctx, it.log)
	}
	return nil
}

// startLog (re)starts following a job's log: the stored bytes from the offset
// asked for, then (as they come) the live ones.
func (c *client) startLog(ctx context.Context, cu *logCatchUp) error {
	cur := &logCursor{attempt: cu.attempt, next: cu.offset, project: cu.project}
	if cur.attempt == 0 {
		j, err := c.hub.store.JobBriefGet(ctx, cu.jobID)
		if err != nil {
			return nil // deleted meanwhile: nothing to follow
		}
		cur.attempt = j.Attempt
	}
	c.cursors[cu.jobID] = cur
	return c.fill(ctx, cu.jobID, cur, 0)
}

// writeLog sends a live chunk past what the client has, first filling any gap
// from the database, so the client gets every byte once and in order.
func (c *client) writeLog(ctx context.Context, l *logItem) error {
	cur := c.cursors[l.jobID]
	if cur == nil {
		return nil // not (or no longer) following this log
	}
	c.hub.mu.Lock()
	_, following := c.topics[topic.Log(l.jobID)]
	c.hub.mu.Unlock()
	if !following {
		delete(c.cursors, l.jobID)
		return nil
	}
	switch {
	case l.attempt < cur.attempt:
		return nil
	case l.attempt > cur.attempt:
		// A new attempt: its log starts over.
		cur.attempt, cur.next = l.attempt, 0
	}
	end := l.offset + int64(len(l.data))
	if l.data == nil {
		// Its bytes were left in the database: read them from there.
		return c.fill(ctx, l.jobID, cur, l.offset+l.length)
	}
	if end <= cur.next {
		return nil
	}
	if l.offset > cur.next {
		if err := c.fill(ctx, l.jobID, cur, l.offset); err != nil {
			return err
		}
	}
	if end <= cur.next {
		return nil
	}
	from := max(cur.next, l.offset)
	return c.sendLog(l.jobID, cur, from, l.data[from-l.offset:], l.time)
}

// fill sends the stored bytes of a followed log from the cursor up to to (0: the
// end), if the client may still read the log: its project may have been made
// private since the subscription.
func (c *client) fill(ctx context.Context, jobID int64, cur *logCursor, to int64) error {
	proj, ok := c.hub.projects.get(ctx, cur.project)
	if !ok {
		return nil
	}
	c.hub.mu.Lock()
	res := c.jobResourceLocked(proj, jobID)
	c.hub.mu.Unlock()
	if !auth.Allows(c.principal(), auth.ReadJob, res) {
		return nil
	}
	for to == 0 || cur.next < to {
		chunks, _, err := c.hub.store.LogChunksRead(ctx, jobID, cur.attempt, cur.next, to, logPiece, logPieceBytes)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			c.hub.log.Warn("event hub: catch a log up", "job", jobID, "err", err)
			return nil // the next live chunk tries again
		}
		if len(chunks) == 0 {
			return nil
		}
		for _, ch := range chunks {
			if ch.Private && !auth.Allows(c.principal(), auth.ReadJob, auth.Resource{
				Project: &auth.ProjectRef{ID: proj.id, Private: true}, Job: res.Job}) {
				// Made private while the catch-up ran: the read says so itself.
				return nil
			}
			if ch.Offset+int64(len(ch.Data)) <= cur.next {
				continue
			}
			from := max(cur.next, ch.Offset)
			if err := c.sendLog(jobID, cur, from, ch.Data[from-ch.Offset:], ch.Time); err != nil {
				return err
			}
		}
	}
	return nil
}

// sendLog writes data at offset in messages of at most logMaxFrame bytes and
// moves the cursor. It stops when the hub dropped the client meanwhile.
func (c *client) sendLog(jobID int64, cur *logCursor, offset int64, data []byte, at time.Time) error {
	topics := []string{topic.Log(jobID)}
	for len(data) > 0 {
		if c.isKilled() {
			return errKilled
		}
		n := min(len(data), logMaxFrame)
		head := logHead{Type: event.TypeLog, Topics: topics, JobID: jobID, Attempt: cur.attempt, Offset: offset, Length: int64(n)}
		if err := c.writeLogMessage(&head, data[:n], at); err != nil {
			return err
		}
		offset += int64(n)
		data = data[n:]
		cur.next = offset
	}
	return nil
}

// logHead is openapi.yaml's LogEvent but for its data and time.
type logHead struct {
	Type    event.Type `json:"type"`
	Topics  []string   `json:"topics"`
	JobID   int64      `json:"jobId"`
	Attempt int        `json:"attempt"`
	Offset  int64      `json:"offset"`
	Length  int64      `json:"length"`
}

// writeLogMessage writes a LogEvent, encoding its data as base64 straight into
// the socket's (pooled) write buffer: a client that does not read holds that
// buffer, not a copy of the message.
func (c *client) writeLogMessage(head *logHead, data []byte, at time.Time) error {
	h, _ := json.Marshal(head)
	t, _ := at.MarshalJSON()
	_ = c.conn.SetWriteDeadline(time.Now().Add(c.hub.cfg.WriteWait))
	w, err := c.conn.NextWriter(websocket.TextMessage)
	if err != nil {
		return err
	}
	if _, err := w.Write(append(h[:len(h)-1], `,"data":"`...)); err != nil {
		return err
	}
	enc := base64.NewEncoder(base64.StdEncoding, w)
	if _, err := enc.Write(data); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	if _, err := w.Write(append(append([]byte(`","time":`), t...), '}')); err != nil {
		return err
	}
	return w.Close()
}

// eventMessage is an event with the topics it was sent for.
func eventMessage(e event.Event, topics []string) []byte {
	b := event.Marshal(e)
	t, _ := json.Marshal(topics)
	// {"type":"job", ... } → {"type":"job","topics":[...], ... }
	head := len(`{"type":"` + string(e.EventType()) + `"`)
	out := make([]byte, 0, len(b)+len(t)+12)
	out = append(out, b[:head]...)
	out = append(out, `,"topics":`...)
	out = append(out, t...)
	return append(out, b[head:]...)
}

func subscribedMessage(topic string) []byte {
	b, _ := json.Marshal(map[string]string{"type": "subscribed", "topic": topic})
	return b
}

func resyncMessage(reason string) []byte {
	b, _ := json.Marshal(map[string]string{"type": "resync", "reason": reason})
	return b
}

func errorMessage(code int, message, topic string) []byte {
	m := map[string]any{"type": "error", "code": code, "message": message}
	if topic != "" {
		m["topic"] = topic
	}
	b, _ := json.Marshal(m)
	return b
}
