package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestHookConcurrentDeliveries: deliveries arriving together are submitted in
// groups, yet each gets its own jobs, each once: the same delivery sent twice
// at the same time makes jobs once, and the integration shows a last delivery.
func TestHookConcurrentDeliveries(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.project("forge", false)
	in := b.integration("forge", map[string]any{"kind": "github", "repository": "Codertocat/Hello-World"})
	fixture := readFixture(t, "github/push.json")
	const commits = 12
	type answer struct {
		code int
		res  hookResp
		err  error
	}
	answers := make([]answer, 2*commits)
	var wg sync.WaitGroup
	for i := range answers {
		sha := fmt.Sprintf("%040x", i/2+1)
		body := bytes.ReplaceAll(fixture, []byte("6113728f27ae82c7b1a177c8d03f9e96e0adf246"), []byte(sha))
		h := signedHeaders("github", "push", in.Secret, body)
		h["X-GitHub-Delivery"] = "delivery-" + sha // twice each
		wg.Go(func() {
			req, err := http.NewRequest("POST", fmt.Sprintf("%s/api/v1/hooks/%d", b.url, in.ID), bytes.NewReader(body))
			if err != nil {
				answers[i].err = err
				return
			}
			req.Header.Set("Content-Type", "application/json")
			for k, v := range h {
				req.Header.Set(k, v)
			}
			resp, err := b.client.Do(req)
			if err != nil {
				answers[i].err = err
				return
			}
			defer resp.Body.Close()
			answers[i].code = resp.StatusCode
			answers[i].err = json.NewDecoder(resp.Body).Decode(&answers[i].res)
		})
	}
	wg.Wait()
	seen := map[int64]bool{}
	for c := range commits {
		pair := answers[2*c : 2*c+2]
		made := 0
		for _, a := range pair {
			require.NoError(t, a.err)
			require.Equal(t, 200, a.code)
			if a.res.Duplicate {
				require.Empty(t, a.res.Jobs)
				continue
			}
			made++
			require.Len(t, a.res.Jobs, 1)
			require.False(t, seen[a.res.Jobs[0]], "a job answered to two deliveries")
			seen[a.res.Jobs[0]] = true
		}
		require.Equal(t, 1, made, "commit %d: one delivery made its job, the other was a duplicate", c)
	}
	require.Equal(t, commits, b.count("jobs"))
	require.Equal(t, commits, b.count("entities"))
	var got integrationResp
	b.json(call{method: "GET", path: fmt.Sprintf("/api/v1/projects/forge/integrations/%d", in.ID), token: b.admin}, 200, &got)
	require.Contains(t, got.LastDelivery, "submitted 1 job(s)")
	var keys struct {
		Items []struct {
			Key   string
			Count int
		}
	}
	b.json(call{method: "GET", path: "/api/v1/projects/forge/entities", token: b.admin}, 200, &keys)
	require.Len(t, keys.Items, 1)
	require.Equal(t, commits, keys.Items[0].Count, "each new commit counted once")
}
