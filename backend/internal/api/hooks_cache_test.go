package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/backend/internal/store"
)

// realPush is Gitea 1.27's captured push to main as a push of sha, signed with
// secret as Gitea signs, under a new delivery id.
func realPush(t *testing.T, sha, secret string, delivery int) ([]byte, map[string]string) {
	t.Helper()
	body := readFixture(t, "gitea-1.27-real/push.main.body")
	old := regexp.MustCompile(`"after": *"([0-9a-f]{40})"`).FindSubmatch(body)
	require.NotNil(t, old)
	body = bytes.ReplaceAll(body, old[1], []byte(sha))
	var rec struct{ Headers [][2]string }
	require.NoError(t, json.Unmarshal(readFixture(t, "gitea-1.27-real/push.main.headers.json"), &rec))
	h := map[string]string{}
	for _, kv := range rec.Headers {
		switch kv[0] {
		case "Host", "Content-Length", "Accept-Encoding", "X-Hub-Signature", "X-Gogs-Signature":
		case "X-Gitea-Signature":
			h[kv[0]] = hexHMAC(secret, body)
		case "X-Hub-Signature-256":
			h[kv[0]] = "sha256=" + hexHMAC(secret, body)
		case "X-Gitea-Delivery", "X-GitHub-Delivery", "X-Gogs-Delivery":
			h[kv[0]] = fmt.Sprintf("delivery-%d", delivery)
		default:
			h[kv[0]] = kv[1]
		}
	}
	return body, h
}

// TestHookIntegrationCached: a delivery to an integration a delivery went to
// before reads nothing on its request (the integration is kept, opened),
// yet every change of its settings, made on any server, applies to the next
// delivery: a new secret, events, jobs, its removal.
func TestHookIntegrationCached(t *testing.T) {
	t.Parallel()
	rec := &dbtest.SQLRecorder{Only: func(ctx context.Context) bool { return ctx.Value(http.ServerContextKey) != nil }}
	b := setupWith(t, bundleOptions{tracer: rec})
	b.project("demo", false)
	in := b.integration("demo", map[string]any{"kind": "gitea", "repository": "aura-admin/demo"})
	n := 0
	push := func(secret string) (int, hookResp, apiErr) {
		t.Helper()
		n++
		body, h := realPush(t, fmt.Sprintf("%040x", n), secret, n)
		return b.hook(in.ID, h, body)
	}
	for i, want := range []int{1, 0, 0} {
		var code int
		var res hookResp
		trips := rec.Trips(func() { code, res, _ = push(in.Secret) })
		require.Equal(t, 200, code)
		require.Len(t, res.Jobs, 1)
		require.Len(t, trips, want, "delivery %d: %q", i, trips)
	}

	// Another server (a store of its own) changes the settings: no server
	// but the one that changed them knows until a delivery comes.
	other := store.New(b.pool, b.box)
	ctx := context.Background()
	_, err := other.IntegrationUpdate(ctx, in.ID, &store.IntegrationParams{Secret: "rotated-secret"}, nil)
	require.NoError(t, err)
	code, _, _ := push(in.Secret)
	require.Equal(t, 401, code, "the old secret is refused at once")
	code, res, bad := push("rotated-secret")
	require.Equal(t, 200, code, bad.Message)
	require.Len(t, res.Jobs, 1)

	_, err = other.IntegrationUpdate(ctx, in.ID, &store.IntegrationParams{Jobs: []store.JobTemplate{
		{Name: "lint", Cmd: "make lint", Tag: "linux"}, {Name: "test", Cmd: "make test", Tag: "linux"}}}, nil)
	require.NoError(t, err)
	code, res, bad = push("rotated-secret")
	require.Equal(t, 200, code, bad.Message)
	require.Len(t, res.Jobs, 2, "the new jobs")
	var j jobResp
	b.json(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d", res.Jobs[0]), token: b.admin}, 200, &j)
	require.Equal(t, "lint", j.Name)

	// Without a secret it refuses every delivery; given one again, it takes
	// the deliveries signed with it.
	_, err = b.pool.Exec(ctx, `UPDATE integrations SET secret_sealed = NULL WHERE id = $1`, in.ID)
	require.NoError(t, err)
	code, _, _ = push("rotated-secret")
	require.Equal(t, 401, code)
	_, err = other.IntegrationUpdate(ctx, in.ID, &store.IntegrationParams{Secret: "another-secret"}, nil)
	require.NoError(t, err)
	code, res, bad = push("another-secret")
	require.Equal(t, 200, code, bad.Message)
	require.Len(t, res.Jobs, 2)

	_, err = other.IntegrationUpdate(ctx, in.ID, &store.IntegrationParams{Events: []string{"tag"}}, nil)
	require.NoError(t, err)
	jobs := b.count("jobs")
	code, res, bad = push("another-secret")
	require.Equal(t, 200, code, bad.Message)
	require.Empty(t, res.Jobs)
	require.Equal(t, "push events are not enabled on this integration", res.Message)
	require.Equal(t, jobs, b.count("jobs"))

	require.NoError(t, other.IntegrationDelete(ctx, in.ID, nil))
	code, _, _ = push("another-secret")
	require.Equal(t, 401, code, "an integration removed is unknown")
	require.Equal(t, jobs, b.count("jobs"))
}
