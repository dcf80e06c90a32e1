package api_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/integrations"
)

// stallingDelivery is an attacker's raw connection: it announces a body of
// announced bytes on path, sends sent of them, and then sends nothing more.
func stallingDelivery(t *testing.T, base, path string, announced, sent int) net.Conn {
	t.Helper()
	u, err := url.Parse(base)
	require.NoError(t, err)
	conn, err := net.Dial("tcp", u.Host)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nX-Gitea-Event: push\r\nContent-Length: %d\r\n\r\n", path, u.Host, announced)
	_, err = conn.Write([]byte(head))
	require.NoError(t, err)
	if sent > 0 {
		_, err = conn.Write(bytes.Repeat([]byte{'{'}, sent))
		require.NoError(t, err)
	}
	return conn
}

// answerOf reads what the server says on conn, waiting at most wait: the
// response (nil if the server closed without one), or an error if the
// connection is still open and silent after wait.
func answerOf(conn net.Conn, wait time.Duration) (*http.Response, []byte, error) {
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil, nil, fmt.Errorf("the server kept the connection open for %s without answering", wait)
	}
	if err != nil {
		return nil, nil, nil // closed
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// After its answer the server must close a connection whose body it did not read.
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	if _, err := conn.Read(make([]byte, 1)); err != nil && errors.As(err, &ne) && ne.Timeout() {
		return resp, body, fmt.Errorf("the server answered %d but kept the connection open", resp.StatusCode)
	}
	return resp, body, nil
}

// TestHookStalledBodiesAreCutOff is the memory attack: anonymous connections
// announce a 4 MiB body to a real integration, send part of it and stall. The
// server may hold only its byte budget for them (the rest are refused at once
// with 503 and Retry-After), cuts every one off at its read deadline, and has
// the whole budget back afterwards.
func TestHookStalledBodiesAreCutOff(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const budget = 8 << 20
	b.forge.BodyBudget = integrations.NewBudget(budget)
	b.forge.ReadTimeout = 700 * time.Millisecond
	b.project("forge", false)
	in := b.integration("forge", map[string]any{"kind": "gitea", "repository": "owner/repo"})

	const attackers = 40
	start := time.Now()
	conns := make([]net.Conn, attackers)
	for i := range conns {
		conns[i] = stallingDelivery(t, b.url, fmt.Sprintf("/api/v1/hooks/%d", in.ID), integrations.MaxBodyBytes, 1<<20)
	}
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			resp, body, err := answerOf(c, 5*time.Second)
			mu.Lock()
			defer mu.Unlock()
			require.NoError(t, err)
			if resp == nil {
				codes[0]++
				return
			}
			codes[resp.StatusCode]++
			if resp.StatusCode == 503 {
				require.NotEmpty(t, resp.Header.Get("Retry-After"))
				require.Contains(t, string(body), "retry later")
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	t.Logf("answers: %v in %s", codes, elapsed)
	require.Less(t, elapsed, 3*time.Second, "every stalled connection is cut off at its deadline")
	require.Positive(t, codes[503], "past the budget, deliveries are refused at once")
	require.Positive(t, codes[408]+codes[0], "the stalled ones in the budget are timed out")
	require.Eventually(t, func() bool { return b.forge.Budget().Free() == budget }, 2*time.Second, 10*time.Millisecond,
		"the budget is released")

	// And a real delivery goes through afterwards.
	body := []byte(fmt.Sprintf(`{"ref":"refs/heads/main","before":"%s","after":"%s","repository":{"full_name":"owner/repo"}}`, strings.Repeat("1", 40), sha(900)))
	code, res, bad := b.hook(in.ID, signedHeaders("gitea", "push", in.Secret, body), body)
	require.Equal(t, 200, code, bad.Message)
	require.Len(t, res.Jobs, 1)
}

// TestHookUnknownIntegrationBeforeBody: a delivery to an integration that does
// not exist is answered without waiting for (or holding) its body, and the
// answer is the one a bad signature gets, so ids cannot be enumerated.
func TestHookUnknownIntegrationBeforeBody(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.project("forge", false)
	in := b.integration("forge", map[string]any{"kind": "github", "repository": "Codertocat/Hello-World"})
	noSecret := b.integration("forge", map[string]any{"kind": "github", "repository": "Codertocat/Other"})
	_, err := b.pool.Exec(t.Context(), `UPDATE integrations SET secret_sealed = NULL WHERE id = $1`, noSecret.ID)
	require.NoError(t, err)

	conn := stallingDelivery(t, b.url, "/api/v1/hooks/99999", integrations.MaxBodyBytes, 10)
	resp, unknownBody, err := answerOf(conn, 2*time.Second)
	require.NoError(t, err)
	require.NotNil(t, resp, "answered before the body arrived")
	require.Equal(t, 401, resp.StatusCode)
	require.Equal(t, int64(integrations.DefaultBodyBudget), b.forge.Budget().Free(), "nothing held for it")

	push := readFixture(t, "github/push.json")
	badSig := map[string]string{"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + strings.Repeat("ab", 32)}
	answers := map[string]string{}
	for name, id := range map[string]int64{"unknown": 99999, "bad signature": in.ID, "no secret": noSecret.ID} {
		code, _, bad := b.hook(id, badSig, push)
		require.Equal(t, 401, code, name)
		answers[name] = bad.Message
	}
	require.Equal(t, answers["unknown"], answers["bad signature"])
	require.Equal(t, answers["unknown"], answers["no secret"])
	require.Contains(t, string(unknownBody), answers["bad signature"])
}

// cpuTime is the CPU time this process has used.
func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestCompatHookCostIsBounded is the CPU attack on the 0.4 webhook, which
// names no integration: an unsigned 4 MiB form body must cost the same CPU
// with 50 integrations as with one (it used to open every integration's
// secret and HMAC the body with each). Not parallel: it measures the process's
// CPU time, so nothing else may run meanwhile.
func TestCompatHookCostIsBounded(t *testing.T) {
	b := setup(t)
	b.project("forge", false)
	payload := fmt.Sprintf(`{"ref":"refs/heads/main","repository":{"full_name":"owner/repo-0"},"filler":"%s"}`,
		strings.Repeat("a", integrations.MaxBodyBytes-200))
	body := []byte(url.Values{"payload": {payload}}.Encode())
	require.LessOrEqual(t, len(body), integrations.MaxBodyBytes)
	attack := func() time.Duration {
		best := time.Hour
		for range 3 {
			req, err := http.NewRequest("POST", b.url+"/api/submit/gitea", bytes.NewReader(body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Gitea-Event", "push")
			req.Header.Set("X-Gitea-Signature", strings.Repeat("ab", 32))
			before := cpuTime(t)
			resp, err := b.client.Do(req)
			require.NoError(t, err)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			best = min(best, cpuTime(t)-before)
			require.Equal(t, 401, resp.StatusCode)
		}
		return best
	}
	b.integration("forge", map[string]any{"kind": "gitea", "repository": "owner/repo-0"})
	one := attack()
	for i := 1; i < 50; i++ {
		b.integration("forge", map[string]any{"kind": "gitea", "repository": fmt.Sprintf("owner/repo-%d", i)})
	}
	// Even integrations of the very repository named are tried only a few at a time.
	for range 10 {
		b.integration("forge", map[string]any{"kind": "forgejo", "repository": "owner/repo-0"})
	}
	many := attack()
	t.Logf("CPU of one unsigned 4 MiB delivery: %s with 1 integration, %s with 60", one, many)
	require.Less(t, many, 3*one+50*time.Millisecond, "the cost grows with the number of integrations")
}
