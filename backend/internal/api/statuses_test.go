package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/integrations"
	"github.com/aura-ci/aura/backend/internal/store"
)

// fakeForge is a real HTTP server on loopback that takes commit statuses.
type fakeForge struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []forgeStatus
	failNext int // answer 500 to this many requests first
	hits     int
}

type forgeStatus struct {
	Path, Auth, PrivateToken                     string
	State, Context, Name, Description, TargetURL string
}

func newFakeForge(t *testing.T) *fakeForge {
	f := &fakeForge{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			// The repository, read when the integration is saved.
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"id":1,"full_name":"owner/repo"}`))
			return
		}
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.hits++
		if f.failNext > 0 {
			f.failNext--
			http.Error(w, `{"message":"forge is down"}`, http.StatusInternalServerError)
			return
		}
		var s struct {
			State, Context, Name, Description string
			TargetURL                         string `json:"target_url"`
		}
		if err := json.Unmarshal(body, &s); err != nil {
			http.Error(w, "bad json", 400)
			return
		}
		f.statuses = append(f.statuses, forgeStatus{Path: r.URL.Path, Auth: r.Header.Get("Authorization"),
			PrivateToken: r.Header.Get("PRIVATE-TOKEN"), State: s.State, Context: s.Context, Name: s.Name,
			Description: s.Description, TargetURL: s.TargetURL})
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeForge) hitCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits
}

func (f *fakeForge) received() []forgeStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]forgeStatus(nil), f.statuses...)
}

// statusBundle is an API with a fake forge connected to project "forge".
type statusBundle struct {
	*testBundle
	forge  *fakeForge
	in     integrationResp
	runner int64
}

func setupStatuses(t *testing.T, kind, repo string, extra map[string]any) *statusBundle {
	b := setup(t)
	b.project("forge", false)
	f := newFakeForge(t)
	apiPath := map[string]string{"gitlab": "/api/v4", "github": "/api/v3"}[kind] // GitHub Enterprise's
	if apiPath == "" {
		apiPath = "/api/v1"
	}
	body := map[string]any{"kind": kind, "repository": repo, "apiUrl": f.URL + apiPath,
		"accessToken": "forge-token-1234", "allowPrivateNetwork": true}
	for k, v := range extra {
		body[k] = v
	}
	in := b.integration("forge", body)
	rid, _ := b.runner("r1", "native,linux")
	return &statusBundle{testBundle: b, forge: f, in: in, runner: rid}
}

func (s *statusBundle) sender() *integrations.Sender {
	return integrations.NewSender(s.testBundle.forge, integrations.SenderConfig{Poll: 5 * time.Millisecond,
		BackoffMin: time.Millisecond, BackoffMax: 5 * time.Millisecond, Lease: 10 * time.Second}, nil)
}

// push delivers a Gitea push of sha to main.
func (s *statusBundle) push(sha string) []int64 {
	s.t.Helper()
	body := []byte(fmt.Sprintf(`{"ref":"refs/heads/main","before":"%s","after":"%s","repository":{"full_name":"owner/repo","clone_url":"http://forge.test/owner/repo.git"}}`,
		strings.Repeat("1", 40), sha))
	code, res, bad := s.hook(s.in.ID, signedHeaders("gitea", "push", s.in.Secret, body), body)
	require.Equal(s.t, 200, code, bad.Message)
	return res.Jobs
}

// run claims and completes every queued job with exitCode.
func (s *statusBundle) run(exitCode int) {
	s.t.Helper()
	ctx := context.Background()
	jobs, err := s.store.JobClaim(ctx, &store.JobClaimParams{RunnerID: s.runner, Tag: "native,linux", Limit: 100, Lease: time.Minute, Acked: true})
	require.NoError(s.t, err)
	for _, j := range jobs {
		_, err := s.store.JobComplete(ctx, &store.JobCompleteParams{Holder: store.Holder{JobID: j.ID, Attempt: j.Attempt, RunnerID: s.runner}, ExitCode: exitCode})
		require.NoError(s.t, err)
	}
}

func sha(i int) string { return fmt.Sprintf("%040x", 0xabc000+i) }

// drain sends until nothing is due.
func drainOutbox(t *testing.T, senders ...*integrations.Sender) {
	t.Helper()
	for range 100 {
		n := 0
		for _, s := range senders {
			k, err := s.SendDue(context.Background())
			require.NoError(t, err)
			n += k
		}
		if n == 0 {
			return
		}
	}
	t.Fatal("the outbox never drained")
}

func TestStatusPendingToSuccess(t *testing.T) {
	t.Parallel()
	s := setupStatuses(t, "gitea", "owner/repo", nil)
	snd := s.sender()
	s.push(sha(1))
	drainOutbox(t, snd)
	got := s.forge.received()
	require.Len(t, got, 1)
	require.Equal(t, forgeStatus{Path: "/api/v1/repos/owner/repo/statuses/" + sha(1), Auth: "token forge-token-1234",
		State: "pending", Context: "aura", Description: "1 queued", TargetURL: "http://aura.test/p/forge/commit/" + sha(1)}, got[0])

	s.run(0)
	drainOutbox(t, snd)
	got = s.forge.received()
	require.Len(t, got, 2)
	require.Equal(t, "success", got[1].State)
	require.Equal(t, "1 succeeded", got[1].Description)
	drainOutbox(t, snd)
	require.Len(t, s.forge.received(), 2, "nothing new to say, nothing sent")

	var in integrationResp
	s.json(call{method: "GET", path: fmt.Sprintf("/api/v1/projects/forge/integrations/%d", s.in.ID), token: s.admin}, 200, &in)
	require.NotNil(t, in.LastStatusAt)
	require.Empty(t, in.LastFailure)
}

// TestStatusCoalescing: a burst of changes sends only the newest state.
func TestStatusCoalescing(t *testing.T) {
	t.Parallel()
	s := setupStatuses(t, "github", "owner/repo", map[string]any{"jobs": []map[string]any{
		{"name": "a", "cmd": "x", "tag": "native,linux"}, {"name": "b", "cmd": "x", "tag": "native,linux"},
		{"name": "c", "cmd": "x", "tag": "native,linux"}}})
	body := []byte(fmt.Sprintf(`{"ref":"refs/heads/main","before":"%s","after":"%s","repository":{"full_name":"owner/repo"}}`, strings.Repeat("1", 40), sha(2)))
	code, _, bad := s.hook(s.in.ID, signedHeaders("github", "push", s.in.Secret, body), body)
	require.Equal(t, 200, code, bad.Message)
	s.run(1)
	drainOutbox(t, s.sender())
	got := s.forge.received()
	require.Len(t, got, 1, "seven transitions, one status")
	require.Equal(t, "failure", got[0].State)
	require.Equal(t, "3 failed", got[0].Description)
	require.Equal(t, "Bearer forge-token-1234", got[0].Auth)
	require.Equal(t, "/api/v3/repos/owner/repo/statuses/"+sha(2), got[0].Path)
}

func TestStatusRetriesWhileForgeFails(t *testing.T) {
	t.Parallel()
	s := setupStatuses(t, "gitlab", "42", map[string]any{"contextPerJob": true})
	s.forge.mu.Lock()
	s.forge.failNext = 3
	s.forge.mu.Unlock()
	snd := s.sender()
	body := readFixture(t, "gitlab/push.json")
	// The fixture's project is 15; this integration is for project 42.
	body = []byte(strings.Replace(string(body), `"project_id": 15`, `"project_id": 42`, 1))
	code, _, bad := s.hook(s.in.ID, signedHeaders("gitlab", "Push Hook", s.in.Secret, body), body)
	require.Equal(t, 200, code, bad.Message)

	_, err := snd.SendDue(context.Background())
	require.NoError(t, err)
	var in integrationResp
	s.json(call{method: "GET", path: fmt.Sprintf("/api/v1/projects/forge/integrations/%d", s.in.ID), token: s.admin}, 200, &in)
	require.Contains(t, in.LastFailure, "500")

	// The retry is due after its backoff: send until it went.
	require.Eventually(t, func() bool {
		_, err := snd.SendDue(context.Background())
		return err == nil && len(s.forge.received()) > 0
	}, 10*time.Second, 2*time.Millisecond)
	got := s.forge.received()
	require.Len(t, got, 1)
	require.Equal(t, forgeStatus{Path: "/api/v4/projects/42/statuses/da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
		PrivateToken: "forge-token-1234", State: "pending", Name: "aura/build", Description: "build queued",
		TargetURL: "http://aura.test/p/forge/commit/da1560886d4f094c3e6c9ef40349f7d38b5d27d7"}, got[0])
	s.run(1)
	drainOutbox(t, snd)
	require.Equal(t, "failed", s.forge.received()[1].State, "GitLab says failed")
}

// TestStatusAfterRestart: what changed while no server sent, and what a server
// claimed but never finished sending, is delivered by the next server.
func TestStatusAfterRestart(t *testing.T) {
	t.Parallel()
	s := setupStatuses(t, "forgejo", "owner/repo", nil)
	s.push(sha(3))
	// A server claims the row, then dies before sending.
	rows, err := s.store.StatusClaim(context.Background(), 10, time.Minute)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	// The next server, with its own service and reporter, on the same database.
	restarted := integrations.NewSender(&integrations.Service{Store: store.New(s.pool, s.testBundle.box),
		BaseURL: "http://aura.test", Reporter: integrations.NewReporter(time.Second)}, integrations.SenderConfig{}, nil)
	n, err := restarted.SendDue(context.Background())
	require.NoError(t, err)
	require.Zero(t, n, "the claim still holds")
	// Its lease runs out (as if a minute had passed).
	_, err = s.pool.Exec(context.Background(), `UPDATE status_outbox SET locked_until = now() - interval '1 second'`)
	require.NoError(t, err)
	drainOutbox(t, restarted)
	require.Len(t, s.forge.received(), 1)
	require.Equal(t, "pending", s.forge.received()[0].State)
}

// TestStatusTwoServers: two senders on one database never send a state twice.
func TestStatusTwoServers(t *testing.T) {
	t.Parallel()
	s := setupStatuses(t, "gitea", "owner/repo", nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 2 {
		other := integrations.NewSender(&integrations.Service{Store: store.New(s.pool, s.testBundle.box),
			BaseURL: "http://aura.test", Reporter: integrations.NewReporter(time.Second)},
			integrations.SenderConfig{Poll: time.Millisecond, Batch: 3}, nil)
		wg.Go(func() { other.Run(ctx) })
	}
	const commits = 30
	for i := range commits {
		s.push(sha(100 + i))
	}
	s.run(0)
	require.Eventually(t, func() bool {
		n := 0
		for _, st := range s.forge.received() {
			if st.State == "success" {
				n++
			}
		}
		return n == commits
	}, 20*time.Second, 10*time.Millisecond)
	cancel()
	wg.Wait()
	seen := map[string]int{}
	success := 0
	for _, st := range s.forge.received() {
		seen[st.Path+" "+st.State+" "+st.Description]++
		if st.State == "success" {
			success++
		}
	}
	require.Equal(t, commits, success)
	for k, n := range seen {
		require.Equal(t, 1, n, "sent twice: %s", k)
	}
}

// TestStatusOnlyToAllowedAddresses: the dialler refuses a loopback forge once the
// admin withdraws the private network, and redirects are never followed.
func TestStatusOnlyToAllowedAddresses(t *testing.T) {
	t.Parallel()
	s := setupStatuses(t, "gitea", "owner/repo", nil)
	_, err := s.pool.Exec(context.Background(), `UPDATE integrations SET allow_private_network = false`)
	require.NoError(t, err)
	s.push(sha(4))
	_, err = s.sender().SendDue(context.Background())
	require.NoError(t, err)
	require.Zero(t, s.forge.hitCount())
	var in integrationResp
	s.json(call{method: "GET", path: fmt.Sprintf("/api/v1/projects/forge/integrations/%d", s.in.ID), token: s.admin}, 200, &in)
	require.Contains(t, in.LastFailure, "private")

	elsewhere := newFakeForge(t)
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirect.Close)
	_, err = s.pool.Exec(context.Background(), `UPDATE integrations SET allow_private_network = true, api_url = $1`, redirect.URL)
	require.NoError(t, err)
	var res struct {
		Delivered bool
		Message   string
	}
	s.json(call{method: "POST", path: fmt.Sprintf("/api/v1/projects/forge/integrations/%d/test", s.in.ID), token: s.admin,
		body: map[string]any{"sha": sha(4)}}, 200, &res)
	require.False(t, res.Delivered)
	require.Contains(t, res.Message, "307")
	require.Zero(t, elsewhere.hitCount())

	_, err = s.pool.Exec(context.Background(), `UPDATE integrations SET api_url = $1`, s.forge.URL+"/api/v1")
	require.NoError(t, err)
	s.json(call{method: "POST", path: fmt.Sprintf("/api/v1/projects/forge/integrations/%d/test", s.in.ID), token: s.admin,
		body: map[string]any{"sha": sha(4)}}, 200, &res)
	require.True(t, res.Delivered, res.Message)
	require.Equal(t, "Aura test status", s.forge.received()[0].Description)
	s.fail(call{method: "POST", path: fmt.Sprintf("/api/v1/projects/forge/integrations/%d/test", s.in.ID), token: s.admin,
		body: map[string]any{"sha": "nope"}}, 400)
}
