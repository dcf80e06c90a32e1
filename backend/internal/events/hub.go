package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aura-ci/aura/backend/internal/auth"
	"github.com/aura-ci/aura/backend/internal/event"
	"github.com/aura-ci/aura/backend/internal/store"
	"github.com/aura-ci/aura/backend/internal/testsignal"
	"github.com/aura-ci/aura/backend/internal/topic"
)

// HubConfig tunes a Hub; zero values take the defaults.
type HubConfig struct {
	// QueueSize bounds each client's queue of messages; a client that lets it
	// fill up is dropped (it reconnects and refetches) rather than slowing anyone.
	QueueSize int
	// QueueBytes bounds the bytes a client's queue holds. Past it, log bytes are
	// left in the database (the client's writer reads them when it gets there)
	// and any other message drops the client, as a full queue does.
	QueueBytes int64
	// MaxPerAddress and MaxPerToken bound the sockets open from one remote
	// address (the TCP peer) and with one token; past them an upgrade is refused.
	MaxPerAddress, MaxPerToken int
	// Backlog bounds the notifications waiting for the hub; past it they are
	// dropped and every client is told to resync.
	Backlog int
	// WriteWait bounds each write to a socket; a client that takes longer is gone.
	WriteWait time.Duration
	// Recheck is how often the tokens of open sockets are checked again (1 min),
	// a backstop: a token revoked, a user disabled or a job token whose attempt
	// ended loses its socket at once, from the database's events, and a
	// reconnected listener (events may have been missed) checks every token at
	// once. What is left to it is time: a session reaching its end. Each check
	// costs statements per open token, so an idle server with the app open in a
	// few browsers should not ask every few seconds.
	Recheck time.Duration
	Logger  *slog.Logger
}

// Defaults of HubConfig's bounds.
const (
	DefaultQueueBytes    = 1 << 20
	DefaultMaxPerAddress = 64
	DefaultMaxPerToken   = 32
)

// Hub fans the events of the one LISTEN connection out to websocket clients by
// topic, filtered by what each client may read. It never blocks its caller: the
// listener hands it events (Listen), and every client has a bounded queue.
type Hub struct {
	store *store.Store
	auth  *auth.Authenticator
	cfg   HubConfig
	log   *slog.Logger

	// TestSignals tell tests what the hub did.
	TestSignals HubTestSignals

	in      chan event.Event
	resync  chan string   // a reason; capacity 1, so resyncs coalesce
	recheck chan struct{} // capacity 1: check every token now

	mu      sync.Mutex
	clients map[*client]struct{}
	topics  map[string]map[*client]struct{}
	// collectionSubs counts collection: subscriptions per project, so job events
	// of projects nobody watches by collection cost no entity query.
	collectionSubs map[string]int

	// perAddress and perToken count the open sockets by remote address and by
	// token; jobSockets indexes the sockets opened with a job token by job.
	perAddress map[string]int
	perToken   map[string]int
	jobSockets map[int64]map[*client]struct{}

	projects projectCache
	// logProjects is the project of each job whose log someone follows (a job
	// never changes project), so log events are filtered by privacy like the rest.
	logProjects map[int64]string // guarded by mu

	// closing is set by Shutdown (guarded by mu): a socket opened from then on
	// is closed as going away at once. served counts the sockets being served.
	closing bool
	served  atomic.Int64
}

// HubTestSignals are the moments a test may wait for (package testsignal).
type HubTestSignals struct {
	// PrivacyRefreshed gets the slug of a project whose visibility changed once
	// the hub forgot what it knew of it: nothing of it is delivered from then
	// on without a fresh read.
	PrivacyRefreshed testsignal.Signal[string]
}

// Init makes every signal keep what it gets, for tb.
func (s *HubTestSignals) Init(tb testsignal.TB) { s.PrivacyRefreshed.Init(tb) }

// NewHub returns a Hub reading logs and entities from st and checking tokens with a.
func NewHub(st *store.Store, a *auth.Authenticator, cfg HubConfig) *Hub {
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 256
	}
	if cfg.QueueBytes <= 0 {
		cfg.QueueBytes = DefaultQueueBytes
	}
	if cfg.MaxPerAddress <= 0 {
		cfg.MaxPerAddress = DefaultMaxPerAddress
	}
	if cfg.MaxPerToken <= 0 {
		cfg.MaxPerToken = DefaultMaxPerToken
	}
	if cfg.Backlog <= 0 {
		cfg.Backlog = 8192
	}
	if cfg.WriteWait <= 0 {
		cfg.WriteWait = 10 * time.Second
	}
	if cfg.Recheck <= 0 {
		cfg.Recheck = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Hub{
		store: st, auth: a, cfg: cfg, log: cfg.Logger,
		in:             make(chan event.Event, cfg.Backlog),
		resync:         make(chan string, 1),
		recheck:        make(chan struct{}, 1),
		perAddress:     map[string]int{},
		perToken:       map[string]int{},
		jobSockets:     map[int64]map[*client]struct{}{},
		clients:        map[*client]struct{}{},
		topics:         map[string]map[*client]struct{}{},
		collectionSubs: map[string]int{},
		projects:       projectCache{st: st, entries: map[string]projectEntry{}},
		logProjects:    map[int64]string{},
	}
}

// Listen has l hand the hub its events and tell it when it reconnected.
func (h *Hub) Listen(l *Listener) {
	l.HandleEvents(h.notify)
	l.OnReconnect(func() { h.Resync("the server reconnected to the database") })
}

// notify takes one event from the listener. An access event is acted on at
// once, ahead of every event still waiting for the hub; the others queue for
// Run. It never blocks: when the hub is behind, the event is dropped and
// clients are told to resync.
func (h *Hub) notify(e event.Event) {
	if a, ok := e.(event.Access); ok {
		h.access(a)
		return
	}
	select {
	case h.in <- e:
	default:
		h.Resync("the server fell behind on events")
	}
}

// Resync tells every client that events may have been missed (the listener
// reconnected, or the hub fell behind): they refetch, and log subscriptions are
// caught up from the database.
func (h *Hub) Resync(reason string) {
	select {
	case h.resync <- reason:
	default:
	}
}

// Run delivers events until ctx ends, then closes every client.
func (h *Hub) Run(ctx context.Context) {
	defer h.closeAll()
	go h.recheckTokens(ctx)
	dirty := map[entityRef]*pendingEntity{}
	lastFlush := time.Now()
	for {
		select {
		case e := <-h.in:
			h.handle(ctx, e, dirty)
			// Entity updates wait until the backlog is drained, so a burst of
			// transitions on one entity costs one query; under a steady flood
			// they still go out every entityEvery.
			if len(dirty) > 0 && (len(h.in) == 0 || time.Since(lastFlush) > entityEvery) {
				h.flushEntities(ctx, dirty)
				lastFlush = time.Now()
			}
		case reason := <-h.resync:
			h.flushEntities(ctx, dirty)
			h.projects.clear()
			// A revocation may have been among the notifications missed.
			select {
			case h.recheck <- struct{}{}:
			default:
			}
			h.broadcastResync(reason)
		case <-ctx.Done():
			return
		}
	}
}

// entityEvery bounds how long entity events wait behind a flood of notifications.
const entityEvery = 200 * time.Millisecond

type entityRef struct{ project, key, val string }

// pendingEntity is an entity whose jobs changed since the last flush, with the
// job events still owed to its collections' topics. It keeps no project: the
// flush filters by the project's privacy as it reads the entity.
type pendingEntity struct {
	collections []event.Job
}

func (h *Hub) handle(ctx context.Context, e event.Event, dirty map[entityRef]*pendingEntity) {
	switch e := e.(type) {
	case event.Job:
		h.closeJobSockets(ctx, e.JobID)
		h.mu.Lock()
		nobody := len(h.clients) == 0
		h.mu.Unlock()
		if nobody {
			return
		}
		proj, ok := h.projects.get(ctx, e.Project)
		if !ok {
			return // deleted meanwhile
		}
		ref := entityRef{e.Project, e.EntityKey, e.EntityVal}
		entityTopic := topic.Entity(e.Project, e.EntityKey, e.EntityVal)
		projectTopic := topic.Project(e.Project)
		h.deliver(item{event: e}, auth.ReadJob, proj, e.JobID, topic.Job(e.JobID), projectTopic, entityTopic, topic.Queue)
		h.mu.Lock()
		watched := len(h.topics[entityTopic]) > 0 || len(h.topics[projectTopic]) > 0
		byCollection := h.collectionSubs[e.Project] > 0
		h.mu.Unlock()
		if !watched && !byCollection {
			return
		}
		p := dirty[ref]
		if p == nil {
			p = &pendingEntity{}
			dirty[ref] = p
		}
		if byCollection {
			p.collections = append(p.collections, e)
		}
	case event.Log:
		h.handleLog(ctx, e)
	case event.Runner:
		h.deliver(item{event: e}, auth.ReadRunners, nil, 0, topic.Runners)
	case event.Integration:
		proj, ok := h.projects.get(ctx, e.Project)
		if !ok {
			return
		}
		h.deliver(item{event: e}, auth.ManageIntegrations, proj, 0, topic.Project(e.Project))
	}
}

// closeJobSockets checks the job tokens of jobID's sockets again when the job
// changed, and closes those whose hand-out is over before any later event
// reaches them: a job token is worth nothing once its attempt ended. The event
// itself cannot tell: it may be older than the hand-out (the queued event of
// the claim that gave the token arrives after its socket opened), and a
// hand-out is more than its attempt number.
func (h *Hub) closeJobSockets(ctx context.Context, jobID int64) {
	h.mu.Lock()
	byToken := map[string][]*client{}
	for c := range h.jobSockets[jobID] {
		id := c.who.Load()
		byToken[id.token] = append(byToken[id.token], c)
	}
	h.mu.Unlock()
	for token, cs := range byToken {
		actx, cancel := context.WithTimeout(ctx, authTimeout)
		_, err := h.auth.Authenticate(actx, "Bearer "+token)
		cancel()
		if !errors.Is(err, auth.ErrInvalidToken) && !errors.Is(err, auth.ErrJobEnded) {
			continue // still valid, or the database could not say: the periodic check will
		}
		h.mu.Lock()
		for _, c := range cs {
			h.dropLocked(c, closeTokenGone, "the job token's attempt ended")
		}
		h.mu.Unlock()
	}
}

// access acts on an access event as soon as the listener receives it, ahead of
// every event still waiting for the hub: the sockets of a revoked token or a
// deleted runner close, and a project whose visibility changed is re-read
// before any of its events is delivered.
func (h *Hub) access(a event.Access) {
	if a.Project != "" {
		h.projects.invalidate(a.Project)
		h.TestSignals.PrivacyRefreshed.Signal(a.Project)
	}
	if a.TokenHash == "" && a.RunnerID == 0 && a.UserID == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		id := c.who.Load()
		if (a.TokenHash != "" && id.hash == a.TokenHash) ||
			(a.RunnerID != 0 && id.p != nil && id.p.Kind == auth.KindRunner && id.p.RunnerID == a.RunnerID) ||
			(a.UserID != 0 && id.p != nil && id.p.Kind == auth.KindUser && id.p.UserID == a.UserID) {
			h.dropLocked(c, closeTokenGone, "the token was revoked: reconnect with a valid one, or none")
		}
	}
}

// handleLog reads an appended chunk once and hands it to every subscriber of
// the job's log; each client's writer keeps its own offset.
func (h *Hub) handleLog(ctx context.Context, e event.Log) {
	logTopic := topic.Log(e.JobID)
	h.mu.Lock()
	n := len(h.topics[logTopic])
	slug := h.logProjects[e.JobID]
	h.mu.Unlock()
	if n == 0 {
		return
	}
	proj, ok := h.projects.get(ctx, slug)
	if !ok {
		return // deleted meanwhile
	}
	chunks, attempt, err := h.store.LogChunksRead(ctx, e.JobID, e.Attempt, e.Offset, e.Offset+e.Length, 16, 0)
	if err != nil {
		// The subscribers' writers fill the gap from the next chunk on.
		h.log.Warn("event hub: read log chunk", "job", e.JobID, "err", err)
		return
	}
	for _, c := range chunks {
		h.deliver(item{log: &logItem{jobID: e.JobID, attempt: attempt, offset: c.Offset, data: c.Data, time: c.Time}}, auth.ReadJob, proj, e.JobID, logTopic)
	}
}

// flushEntities sends the status of every entity whose jobs changed, and the job
// events its collections' subscribers are owed.
func (h *Hub) flushEntities(ctx context.Context, dirty map[entityRef]*pendingEntity) {
	for ref, p := range dirty {
		delete(dirty, ref)
		ee, err := h.store.EntityEventGet(ctx, ref.project, ref.key, ref.val)
		if err != nil {
			if err != store.ErrNotFound {
				h.log.Warn("event hub: entity status", "err", err)
			}
			continue
		}
		// Filtered by the visibility the entity was read under: made private
		// since, the project's events stop here, even before its notification.
		proj := &projectEntry{id: ee.ProjectID, private: ee.ProjectPrivate}
		var colTopics []string
		for _, c := range ee.Collections {
			colTopics = append(colTopics, topic.Collection(ref.project, c.Key, c.Value))
		}
		for _, je := range p.collections {
			h.deliver(item{event: je}, auth.ReadJob, proj, je.JobID, colTopics...)
		}
		topics := append([]string{topic.Project(ref.project), topic.Entity(ref.project, ref.key, ref.val)}, colTopics...)
		h.deliver(item{event: *ee.Event}, auth.ReadProjectJobs, proj, 0, topics...)
	}
}

// deliver queues it for every client subscribed to any of topics (once per
// client, naming the topics it matched) that the policy lets do a on it: on
// job jobID of proj, or on proj (jobID 0), or on the instance (proj nil).
func (h *Hub) deliver(it item, a auth.Action, proj *projectEntry, jobID int64, topics ...string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var matched map[*client][]string
	for _, t := range topics {
		for c := range h.topics[t] {
			if matched == nil {
				matched = map[*client][]string{}
			}
			matched[c] = append(matched[c], t)
		}
	}
	for c, ts := range matched {
		var res auth.Resource
		switch {
		case jobID != 0:
			res = c.jobResourceLocked(proj, jobID)
		case proj != nil:
			res.Project = proj.ref()
		}
		if !auth.Allows(c.principal(), a, res) {
			continue
		}
		ci := it
		ci.topics = ts
		h.enqueueLocked(c, ci)
	}
}

// enqueueLocked queues it for c, dropping c when its queue is full. h.mu is held.
// A log item that would take c's queue past its byte budget goes without its
// bytes: c's writer reads them from the database when it gets there, so a
// client that does not read holds at most QueueBytes (or one chunk) of log,
// however fast the log grows. Other messages are small, and bounded by QueueSize.
func (h *Hub) enqueueLocked(c *client, it item) {
	n, held := it.size(), c.queued.Load()
	if it.log != nil && it.log.data != nil && held > 0 && held+n > h.cfg.QueueBytes {
		l := *it.log
		l.length, l.data = int64(len(l.data)), nil
		it.log = &l
		n = it.size()
	}
	select {
	case c.send <- it:
		c.queued.Add(n)
	default:
		h.dropLocked(c, closeTooSlow, "too slow to keep up: reconnect and refetch")
	}
}

// enqueue queues it for c from outside the hub loop.
func (h *Hub) enqueue(c *client, it item) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.clients[c]; ok {
		h.enqueueLocked(c, it)
	}
}

func (h *Hub) broadcastResync(reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		h.enqueueLocked(c, item{resync: reason})
	}
}

// admit counts c's socket against the bounds of its address and token, or
// refuses it. release gives the count back.
func (h *Hub) admit(c *client) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	token := c.who.Load().token
	if h.perAddress[c.addr] >= h.cfg.MaxPerAddress {
		return &LimitError{fmt.Sprintf("too many event sockets from this address (at most %d, AURA_EVENTS_PER_ADDRESS): close some first", h.cfg.MaxPerAddress)}
	}
	if token != "" && h.perToken[token] >= h.cfg.MaxPerToken {
		return &LimitError{fmt.Sprintf("too many event sockets with this token (at most %d, AURA_EVENTS_PER_TOKEN): close some first", h.cfg.MaxPerToken)}
	}
	h.perAddress[c.addr]++
	if token != "" {
		h.perToken[token]++
	}
	c.counted = token
	return nil
}

func (h *Hub) release(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	uncount(h.perAddress, c.addr)
	if c.counted != "" {
		uncount(h.perToken, c.counted)
	}
}

func uncount(m map[string]int, key string) {
	if m[key]--; m[key] <= 0 {
		delete(m, key)
	}
}

// LimitError refuses a socket past the bounds of its address or token.
type LimitError struct{ Message string }

func (e *LimitError) Error() string { return e.Message }

func (h *Hub) register(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.clients[c] = struct{}{}
	h.indexLocked(c, true)
	if h.closing {
		h.dropLocked(c, closeGoingAway, "server shutting down")
	}
}

// indexLocked adds c to (or removes it from) jobSockets when it holds a job token.
func (h *Hub) indexLocked(c *client, add bool) {
	p := c.principal()
	if p == nil || p.Kind != auth.KindJob {
		return
	}
	cs := h.jobSockets[p.JobID]
	if add {
		if cs == nil {
			cs = map[*client]struct{}{}
			h.jobSockets[p.JobID] = cs
		}
		cs[c] = struct{}{}
		return
	}
	delete(cs, c)
	if len(cs) == 0 {
		delete(h.jobSockets, p.JobID)
	}
}

// reauth makes c be p, by token, from now on, unless that token has all the
// sockets it may have.
func (h *Hub) reauth(c *client, p *auth.Principal, token string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if token != c.counted {
		if h.perToken[token] >= h.cfg.MaxPerToken {
			return &LimitError{fmt.Sprintf("too many event sockets with this token (at most %d, AURA_EVENTS_PER_TOKEN)", h.cfg.MaxPerToken)}
		}
		h.perToken[token]++
		if c.counted != "" {
			uncount(h.perToken, c.counted)
		}
		c.counted = token
	}
	_, live := h.clients[c]
	if live {
		h.indexLocked(c, false)
	}
	c.who.Store(newIdentity(p, token))
	if live {
		h.indexLocked(c, true)
	}
	return nil
}

// subscribe adds c to t and queues the answer (and a log catch-up) in the
// same critical section, so every live event for t comes after them.
func (h *Hub) subscribe(c *client, t string, collectionOf string, first item) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.clients[c]; !ok {
		return
	}
	subs := h.topics[t]
	if subs == nil {
		subs = map[*client]struct{}{}
		h.topics[t] = subs
	}
	if _, again := subs[c]; !again && collectionOf != "" {
		h.collectionSubs[collectionOf]++
	}
	subs[c] = struct{}{}
	h.enqueueLocked(c, item{raw: subscribedMessage(t)})
	if first.catchUp != nil {
		h.logProjects[first.catchUp.jobID] = first.catchUp.project
		h.enqueueLocked(c, first)
	}
}

func (h *Hub) unsubscribe(c *client, t string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.unsubscribeLocked(c, t)
}

func (h *Hub) unsubscribeLocked(c *client, t string) {
	subs := h.topics[t]
	if _, ok := subs[c]; !ok {
		return
	}
	delete(subs, c)
	// Only topics that parse are ever subscribed.
	parsed, _ := topic.Parse(t)
	if len(subs) == 0 {
		delete(h.topics, t)
		if parsed.Kind == topic.KindLog {
			delete(h.logProjects, parsed.JobID)
		}
	}
	if parsed.Kind == topic.KindJob || parsed.Kind == topic.KindLog {
		_, job := c.topics[topic.Job(parsed.JobID)]
		_, log := c.topics[topic.Log(parsed.JobID)]
		if !job && !log {
			delete(c.submittedBy, parsed.JobID)
		}
	}
	if parsed.Kind == topic.KindCollection {
		p := parsed.Project
		if h.collectionSubs[p]--; h.collectionSubs[p] <= 0 {
			delete(h.collectionSubs, p)
		}
	}
}

// unregister removes c and all its subscriptions.
func (h *Hub) unregister(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dropLocked(c, 0, "")
}

// dropLocked removes c and tells its writer to close the socket with code and reason.
func (h *Hub) dropLocked(c *client, code int, reason string) {
	if _, ok := h.clients[c]; !ok {
		return
	}
	delete(h.clients, c)
	h.indexLocked(c, false)
	for t := range c.topics {
		h.unsubscribeLocked(c, t)
	}
	c.kill(code, reason)
	// What it had queued is never sent: let it go now, not when the writer ends.
	for {
		select {
		case it := <-c.send:
			c.queued.Add(-it.size())
		default:
			return
		}
	}
}

// Stats is what the hub holds, for tests and metrics.
type Stats struct {
	Clients     int   // sockets served (a dropped one leaves at once)
	Sockets     int   // sockets open (a dropped one stays until its writer let go of it)
	QueuedBytes int64 // bytes held in the clients' queues
}

// Stats returns what the hub holds now.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := Stats{Clients: len(h.clients)}
	for _, n := range h.perAddress {
		s.Sockets += n
	}
	for c := range h.clients {
		s.QueuedBytes += c.queued.Load()
	}
	return s
}

// Shutdown closes every socket with a going-away close frame (1001), so
// clients reconnect, and any opened later too. It waits until each socket's
// close frame was written and the socket closed, or ctx ends, and returns how
// many sockets it closed.
func (h *Hub) Shutdown(ctx context.Context) int {
	h.mu.Lock()
	h.closing = true
	n := len(h.clients)
	h.mu.Unlock()
	h.closeAll()
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for h.served.Load() > 0 {
		select {
		case <-ctx.Done():
			return n
		case <-t.C:
		}
	}
	return n
}

func (h *Hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		h.dropLocked(c, closeGoingAway, "server shutting down")
	}
}

// projectEntry is what the hub needs of a project to filter its events.
type projectEntry struct {
	id      int64
	private bool
	at      time.Time
}

func (e *projectEntry) ref() *auth.ProjectRef {
	return &auth.ProjectRef{ID: e.id, Private: e.private}
}

// projectCache keeps projects' privacy for a moment: events of one project come
// in bursts, and a project made private is filtered within projectTTL.
type projectCache struct {
	st      *store.Store
	mu      sync.Mutex
	entries map[string]projectEntry
	// gen counts invalidations: a read that began before one is not cached.
	gen uint64
}

const projectTTL = 2 * time.Second

func (pc *projectCache) get(ctx context.Context, slug string) (*projectEntry, bool) {
	pc.mu.Lock()
	e, ok := pc.entries[slug]
	gen := pc.gen
	pc.mu.Unlock()
	if ok && time.Since(e.at) < projectTTL {
		return &e, true
	}
	p, err := pc.st.ProjectGet(ctx, slug)
	if err != nil {
		return nil, false
	}
	e = projectEntry{id: p.ID, private: p.Private, at: time.Now()}
	pc.mu.Lock()
	if pc.gen == gen {
		pc.entries[slug] = e
	}
	pc.mu.Unlock()
	return &e, true
}

// invalidate forgets slug: its next event re-reads it.
func (pc *projectCache) invalidate(slug string) {
	pc.mu.Lock()
	delete(pc.entries, slug)
	pc.gen++
	pc.mu.Unlock()
}

func (pc *projectCache) clear() {
	pc.mu.Lock()
	clear(pc.entries)
	pc.gen++
	pc.mu.Unlock()
}

// recheckTokens checks the token of every authenticated socket again every
// cfg.Recheck, and at once after the listener reconnected, and closes the
// sockets whose token no longer holds (revoked, expired, or a job token whose
// attempt ended): events are filtered by the principal a socket had, so it must
// not outlive its token. Revocations normally close sockets sooner (access).
func (h *Hub) recheckTokens(ctx context.Context) {
	t := time.NewTicker(h.cfg.Recheck)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-h.recheck:
		case <-ctx.Done():
			return
		}
		h.mu.Lock()
		byToken := map[string][]*client{}
		for c := range h.clients {
			if id := c.who.Load(); id.token != "" {
				byToken[id.token] = append(byToken[id.token], c)
			}
		}
		h.mu.Unlock()
		for token, cs := range byToken {
			actx, cancel := context.WithTimeout(ctx, authTimeout)
			_, err := h.auth.Credential(actx, token)
			cancel()
			if !auth.Revoked(err) {
				continue // still valid, or the database could not say: keep it
			}
			h.mu.Lock()
			for _, c := range cs {
				if c.who.Load().token == token {
					h.dropLocked(c, closeTokenGone, "the token is no longer valid: reconnect with a valid one, or none")
				}
			}
			h.mu.Unlock()
		}
	}
}
