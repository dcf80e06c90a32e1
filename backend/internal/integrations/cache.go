package integrations

import (
	"context"
	"sync"
	"time"

	"github.com/aura-ci/aura/backend/internal/store"
)

// openedCache keeps the integrations deliveries went to, opened, so that a
// delivery costs no read of its integration (nor the opening of its secrets).
// A delivery handled on a cached integration is submitted only while its
// settings hold (store.HookSubmitParams.IntegrationVersion, checked in the
// submission's first round trip); any other outcome is decided again on
// settings read afresh (Service.Receive), so a change made on any server
// applies to the next delivery.
type openedCache struct {
	mu sync.Mutex
	m  map[int64]cachedIntegration
}

type cachedIntegration struct {
	in *store.IntegrationOpened
	at time.Time
}

const (
	// openedCacheTTL bounds how long an integration no delivery went to is kept.
	openedCacheTTL = time.Minute
	// openedCacheMax bounds the integrations kept: past it, the cache starts over.
	openedCacheMax = 1024
)

// get returns the cached integration id, or nil.
func (c *openedCache) get(id int64) *store.IntegrationOpened {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	if !ok || time.Since(e.at) > openedCacheTTL {
		return nil
	}
	return e.in
}

// holds reports whether in is the cached integration of its id.
func (c *openedCache) holds(in *store.IntegrationOpened) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[in.ID].in == in
}

func (c *openedCache) put(in *store.IntegrationOpened) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= openedCacheMax {
		c.m = map[int64]cachedIntegration{}
	}
	c.m[in.ID] = cachedIntegration{in: in, at: time.Now()}
}

// Forget drops integration id from the cache, once this server changed or
// removed it (the next delivery reads it; another server's change is found
// by the submission's check).
func (s *Service) Forget(id int64) {
	s.opened.mu.Lock()
	defer s.opened.mu.Unlock()
	delete(s.opened.m, id)
}

// open reads integration id afresh and caches it.
func (s *Service) open(ctx context.Context, id int64) (*store.IntegrationOpened, error) {
	in, err := s.Store.IntegrationOpen(ctx, id)
	if err != nil {
		return nil, err
	}
	s.opened.put(in)
	return in, nil
}
