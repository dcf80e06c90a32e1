package auth

import (
	"encoding/hex"
	"sync"
	"time"

	"github.com/aura-ci/aura/backend/internal/event"
)

// Runner-token cache bounds.
const (
	// runnerCacheMax bounds the runner tokens remembered; past it the cache
	// starts over (it costs lookups, never a refusal).
	runnerCacheMax = 10000
	// runnerCacheTTL is a safety net: an entry is looked up again after it,
	// whatever the notifications said.
	runnerCacheTTL = 5 * time.Minute
)

// runnerCache remembers the principals of runner tokens, so a runner's long
// polls, which come back every 30 s, cost no token lookup. It is trusted only
// while the event listener that carries revocations is connected, and only
// with entries filled under its current connection: a revocation NOTIFYed
// while it was away is never seen, so a reconnect starts over.
type runnerCache struct {
	// listening returns the listener's current connection (its backend pid),
	// 0 while it has none.
	listening func() uint32

	mu      sync.Mutex
	entries map[string]runnerEntry // by token hash, hex
	// gen moves with every forget: a lookup that began before one stores
	// nothing, since the token it read may be the one revoked.
	gen uint64
}

type runnerEntry struct {
	p    Principal
	conn uint32 // the listener connection it was filled under
	at   time.Time
}

// CacheRunnerTokens has a remember the principals of runner tokens. listening
// reports the connection of the listener that delivers access events (its
// backend pid, 0 while disconnected); the caller hands every access event to
// ForgetAccess and calls ForgetAll after every reconnect (api.CacheRunnerTokens
// wires both).
func (a *Authenticator) CacheRunnerTokens(listening func() uint32) {
	a.runners = &runnerCache{listening: listening, entries: map[string]runnerEntry{}}
}

// ForgetAccess drops what an access event revokes: a deleted token (by its
// hash) or runner (by its id).
func (a *Authenticator) ForgetAccess(e event.Access) {
	c := a.runners
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if e.TokenHash != "" {
		delete(c.entries, e.TokenHash)
	}
	if e.RunnerID != 0 {
		for h, en := range c.entries {
			if en.p.RunnerID == e.RunnerID {
				delete(c.entries, h)
			}
		}
	}
}

// ForgetRunner drops the runner's tokens at once: its deletion on this server
// is refused here before its notification comes back.
func (a *Authenticator) ForgetRunner(id int64) { a.ForgetAccess(event.Access{RunnerID: id}) }

// ForgetAll drops every runner token: notifications may have been missed.
func (a *Authenticator) ForgetAll() {
	c := a.runners
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.entries)
}

// lookup returns the cached principal of hash, or nil, and the state a lookup
// in the database beginning now passes to store.
func (c *runnerCache) lookup(hash []byte) (p *Principal, key string, conn uint32, gen uint64) {
	key = hex.EncodeToString(hash)
	conn = c.listening()
	c.mu.Lock()
	defer c.mu.Unlock()
	en, ok := c.entries[key]
	if ok && conn != 0 && en.conn == conn && time.Since(en.at) < runnerCacheTTL {
		cp := en.p
		return &cp, key, conn, c.gen
	}
	return nil, key, conn, c.gen
}

// store remembers p, read from the database after lookup returned conn and
// gen, unless something was forgotten or the listener changed meanwhile.
func (c *runnerCache) store(key string, conn uint32, gen uint64, p *Principal) {
	if conn == 0 || c.listening() != conn {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if len(c.entries) >= runnerCacheMax {
		clear(c.entries)
	}
	c.entries[key] = runnerEntry{p: *p, conn: conn, at: time.Now()}
}
