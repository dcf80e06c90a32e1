package api_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestEventsTokenRevokedAtOnce: a revoked project token's socket, and a job
// token's once its attempt ended, close at once, from the database's events,
// not at the hub's periodic check (an hour here): that check is a backstop.
func TestEventsTokenRevokedAtOnce(t *testing.T) {
	t.Parallel()
	b := setupWith(t, bundleOptions{eventRecheck: time.Hour})
	b.project("secret", true)
	var tok struct {
		ID    int64
		Token string
	}
	b.json(call{method: "POST", path: "/api/v1/projects/secret/tokens", token: b.admin, body: map[string]any{"name": "ci"}}, 201, &tok)
	s := openEvents(t, b.url, tok.Token)
	s.subscribe("project:secret")
	code, _ := b.do(call{method: "DELETE", path: fmt.Sprintf("/api/v1/projects/secret/tokens/%d", tok.ID), token: b.admin})
	require.Equal(t, 204, code)
	require.Equal(t, 4001, s.closed())

	pubTok := b.project("pub", false)
	_, runner := b.runner("r", "linux")
	j := b.submit(pubTok, nil)
	c := b.claim(runner, 1, "linux")
	require.Len(t, c, 1)
	jobSocket := openEvents(t, b.url, c[0].Token)
	jobSocket.subscribe(fmt.Sprintf("job:%d", j.ID))
	b.finish(runner, c[0], 0)
	require.Equal(t, 4001, jobSocket.closed())
}
