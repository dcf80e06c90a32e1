package integrations

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/store"
)

// TestPushMetaOnePass: a GitHub, Gitea or Forgejo push is read in one pass
// over its body, and its entity gets the title and meta that reading the
// body again for them (readMeta) gives.
func TestPushMetaOnePass(t *testing.T) {
	t.Parallel()
	const secret = "meta-secret"
	for _, file := range []string{"gitea-1.27-real/push.main.body", "gitea-1.27-real/push.feature-1.body",
		"gitea-1.27-real/push.feature-1.new-branch.body", "gitea/push.json", "gitea/push-multi-commit.json",
		"gitea/push-new-branch.json", "forgejo/push.json", "forgejo/push-new-branch.json", "github/push.json", "github/push-tag-created.json"} {
		body := fixture(t, file)
		kind := KindGitea
		h := http.Header{"X-Gitea-Event": {"push"}, "X-Gitea-Signature": {sign(secret, body)}}
		if strings.HasPrefix(file, "github/") {
			kind = KindGitHub
			h = http.Header{"X-Github-Event": {"push"}, "X-Hub-Signature-256": {"sha256=" + sign(secret, body)}}
		}
		e, err := Parse(kind, []byte(secret), h, body)
		require.NoError(t, err, file)
		require.True(t, e.metaRead, file)
		again := *e
		again.Title, again.Meta = "", store.EntityMeta{}
		readMeta(&again, body)
		require.Equal(t, again.Title, e.Title, file)
		require.Equal(t, again.Meta, e.Meta, file)
		require.NotEmpty(t, e.Meta.CommitURL, file)
	}
}
