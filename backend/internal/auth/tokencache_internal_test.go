package auth

import (
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/event"
)

// TestTokenCacheTrust: the cache answers only under the listener connection
// it was filled under, never with what a lookup read before a revocation
// arrived, and it stays bounded.
func TestTokenCacheTrust(t *testing.T) {
	t.Parallel()
	conn := uint32(7)
	c := &tokenCache{listening: func() uint32 { return conn }, entries: map[string]tokenEntry{}}
	a := &Authenticator{tokens: c}
	hash := Hash("AURA_RUNNERKEY_r1-secret")
	p := &Principal{Kind: KindRunner, RunnerID: 1}

	got, key, cn, gen := c.lookup(hash)
	require.Nil(t, got)
	c.store(key, cn, gen, p)
	got, _, _, _ = c.lookup(hash)
	require.Equal(t, p, got, "remembered")

	conn = 0
	got, _, _, _ = c.lookup(hash)
	require.Nil(t, got, "not trusted while the listener is away")
	conn = 8
	got, _, _, _ = c.lookup(hash)
	require.Nil(t, got, "not trusted under another connection: revocations may have been missed")

	// A lookup that began before a revocation arrived remembers nothing.
	_, key, cn, gen = c.lookup(hash)
	a.ForgetAccess(event.Access{TokenHash: hex.EncodeToString(Hash("AURA_RUNNERKEY_other"))})
	c.store(key, cn, gen, p)
	got, _, _, _ = c.lookup(hash)
	require.Nil(t, got, "read before a revocation: not remembered")

	_, key, cn, gen = c.lookup(hash)
	c.store(key, cn, gen, p)
	a.ForgetAccess(event.Access{RunnerID: 1})
	got, _, _, _ = c.lookup(hash)
	require.Nil(t, got, "the runner was deleted")

	_, key, cn, gen = c.lookup(hash)
	c.store(key, cn, gen, p)
	a.ForgetAccess(event.Access{TokenHash: key})
	got, _, _, _ = c.lookup(hash)
	require.Nil(t, got, "the token was revoked")

	for i := range tokenCacheMax + 10 {
		c.store(hex.EncodeToString([]byte{byte(i), byte(i >> 8), byte(i >> 16)}), conn, c.gen, p)
	}
	require.LessOrEqual(t, len(c.entries), tokenCacheMax)
}
