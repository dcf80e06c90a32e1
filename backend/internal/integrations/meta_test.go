package integrations

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/store"
)

// TestMetaFromFixtures reads each forge's real (or documented) deliveries and
// checks the title and meta an entity gets from them.
func TestMetaFromFixtures(t *testing.T) {
	t.Parallel()
	const secret = "meta-secret"
	for _, tc := range []struct {
		file, kind string
		header     http.Header
		title      string
		meta       store.EntityMeta
	}{
		{"github/push.json", KindGitHub, http.Header{"X-Github-Event": {"push"}}, "Initial commit", store.EntityMeta{
			Message: "Initial commit", AuthorName: "Codertocat", AuthorLogin: "Codertocat", Branch: "master",
			CommitURL: "https://github.com/Codertocat/Hello-World/commit/6113728f27ae82c7b1a177c8d03f9e96e0adf246"}},
		{"github/pull_request-opened.json", KindGitHub, http.Header{"X-Github-Event": {"pull_request"}},
			"Update the README with new information.", store.EntityMeta{
				AuthorLogin: "Codertocat", Branch: "changes", RequestNumber: 2,
				RequestTitle: "Update the README with new information.",
				RequestURL:   "https://github.com/Codertocat/Hello-World/pull/2",
				CommitURL:    "https://github.com/Codertocat/Hello-World/commit/ec26c3e57ca3a959ca5aad62de7213c562f8c821"}},
		{"gitea-1.27-real/push.main.body", KindGitea, http.Header{"X-Gitea-Event": {"push"}},
			"push.sh: change pushes.txt on main", store.EntityMeta{
				Message: "push.sh: change pushes.txt on main", AuthorName: "aura-admin", AuthorLogin: "aura-admin", Branch: "main",
				CommitURL: "http://127.0.0.1:3312/aura-admin/demo/commit/71d078c2942996ed8f7403d88404ceb68ff91ca8"}},
		{"gitea-1.27-real/pull_request.opened.body", KindGitea, http.Header{"X-Gitea-Event": {"pull_request"}},
			"Sample PR", store.EntityMeta{AuthorLogin: "aura-admin", Branch: "feature-1", RequestNumber: 1, RequestTitle: "Sample PR",
				CommitURL:  "http://127.0.0.1:3312/aura-admin/demo/commit/a0302836ca3dfc800dc8cae986ddedab6b4e4b52",
				RequestURL: "http://127.0.0.1:3312/aura-admin/demo/pulls/1"}},
		{"gitlab/push.json", KindGitLab, http.Header{"X-Gitlab-Event": {"Push Hook"}},
			"fixed readme", store.EntityMeta{Message: "fixed readme", AuthorName: "GitLab dev user", Branch: "master",
				CommitURL: "http://example.com/mike/diaspora/commit/da1560886d4f094c3e6c9ef40349f7d38b5d27d7"}},
		{"gitlab/merge_request-opened.json", KindGitLab, http.Header{"X-Gitlab-Event": {"Merge Request Hook"}},
			"fixed readme", store.EntityMeta{Message: "fixed readme", AuthorName: "GitLab dev user", Branch: "ms-viewport",
				RequestNumber: 1, RequestTitle: "MS-Viewport", RequestURL: "http://example.com/diaspora/merge_requests/1",
				CommitURL: "http://example.com/awesome_space/awesome_project/commits/da1560886d4f094c3e6c9ef40349f7d38b5d27d7"}},
		{"forgejo/push.json", KindForgejo, http.Header{"X-Forgejo-Event": {"push"}}, "Webhooks Yay!", store.EntityMeta{
			Message: "Webhooks Yay!", AuthorName: "Forgejo", AuthorLogin: "forgejo", Branch: "develop",
			CommitURL: "http://localhost:3000/forgejo/webhooks/commit/bffeb74224043ba2feb48d137756c8a9331c449a"}},
	} {
		body := fixture(t, tc.file)
		h := tc.header.Clone()
		switch tc.kind {
		case KindGitHub:
			h.Set("X-Hub-Signature-256", "sha256="+sign(secret, body))
		case KindGitea:
			h.Set("X-Gitea-Signature", sign(secret, body))
		case KindForgejo:
			h.Set("X-Forgejo-Signature", sign(secret, body))
		case KindGitLab:
			h.Set("X-Gitlab-Token", secret)
		}
		e, err := Parse(tc.kind, []byte(secret), h, body)
		require.NoError(t, err, tc.file)
		t.Logf("%s: %q %+v", tc.file, e.Title, e.Meta)
		require.Equal(t, tc.title, e.Title, tc.file)
		require.Equal(t, tc.meta, e.Meta, tc.file)
	}
}
