package auth

import (
	"encoding/hex"
	"sync"
	"time"

	"github.com/aura-ci/aura/backend/internal/event"
)

// Token cache bounds.
const (
	// tokenCacheMax bounds the tokens remembered; past it the cache starts
	// over (it costs lookups, never a refusal).
	tokenCacheMax = 10000
	// tokenCacheTTL is a safety net: an entry is looked up again after it,
	// whatever the notifications said.
	tokenCacheTTL = 5 * time.Minute
)

// tokenCache remembers the principals of admin, project and runner tokens, so
// a runner's long polls, which come back every 30 s, its completions, and a
// script's submissions cost no token lookup. It is trusted only
// while the event listener that carries revocations is connected, and only
// with entries filled under its current connection: a revocation NOTIFYed
// while it was away is never seen, so a reconnect starts over.
type tokenCache struct {
	// listening returns the listener's current connection (its backend pid),
	// 0 while it has none.
	listening func() uint32

	mu      sync.Mutex
	entries map[string]tokenEntry // by token hash, hex
	// gen moves with every forget: a lookup that began before one stores
	// nothing, since the token it read may be the one revoked.
	gen uint64
}

type tokenEntry struct {
	p    Principal
	conn uint32 // the listener connection it was filled under
	at   time.Time
}

// CacheTokens has a remember the principals of admin, project and runner
// tokens. listening reports the connection of the listener that delivers
// access events (its backend pid, 0 while disconnected); the caller hands
// every access event to ForgetAccess and calls ForgetAll after every reconnect
// (api.CacheTokens wires both), and after revoking tokens itself.
func (a *Authenticator) CacheTokens(listening func() uint32) {
	a.tokens = &tokenCache{listening: listening, entries: map[string]tokenEntry{}}
}

// ForgetAccess drops what an access event revokes: a deleted token (by its
// hash) or runner (by its id).
func (a *Authenticator) ForgetAccess(e event.Access) {
	c := a.tokens
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

// ForgetAll drops every token: notifications may have been missed, or this
// server revoked tokens whose revocation has not come back yet.
func (a *Authenticator) ForgetAll() {
	c := a.tokens
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
func (c *tokenCache) lookup(hash []byte) (p *Principal, key string, conn uint32, gen uint64) {
	key = hex.EncodeToString(hash)
	conn = c.listening()
	c.mu.Lock()
	defer c.mu.Unlock()
	en, ok := c.entries[key]
	if ok && conn != 0 && en.conn == conn && time.Since(en.at) < tokenCacheTTL {
		cp := en.p
		return &cp, key, conn, c.gen
	}
	return nil, key, conn, c.gen
}

// store remembers p, read from the database after lookup returned conn and
// gen, unless something was forgotten or the listener changed meanwhile.
func (c *tokenCache) store(key string, conn uint32, gen uint64, p *Principal) {
	if conn == 0 || c.listening() != conn {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if len(c.entries) >= tokenCacheMax {
		clear(c.entries)
	}
	c.entries[key] = tokenEntry{p: *p, conn: conn, at: time.Now()}
}
