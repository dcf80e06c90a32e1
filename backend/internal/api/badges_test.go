package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/stretchr/testify/require"
)

// Badges are SVG text; the contract check reads them as a plain string.
func init() { openapi3filter.RegisterBodyDecoder("image/svg+xml", openapi3filter.FileBodyDecoder) }

// badge fetches a badge with token and If-None-Match, checking the answer against openapi.yaml.
func (b *testBundle) badge(path, token, etag string) (int, http.Header, string) {
	b.t.Helper()
	req, err := http.NewRequest("GET", b.url+path, nil)
	require.NoError(b.t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := b.client.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	b.validate(req, nil, resp, body, true)
	return resp.StatusCode, resp.Header, string(body)
}

func TestBadges(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("pub", false)
	first := b.submit(tok, map[string]any{"entityKey": "commit", "entityVal": "aaa", "name": "build", "cmd": "true", "tag": "linux", "collections": map[string]string{"ref": "main"}})
	b.submit(tok, map[string]any{"entityKey": "commit", "entityVal": "bbb", "name": "build", "cmd": "true", "tag": "linux", "collections": map[string]string{"ref": "main"}})
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/cancel", first.ID), token: tok}, 200, nil)

	code, h, svg := b.badge("/badge/pub/commit/aaa.svg", "", "")
	require.Equal(t, 200, code)
	require.Equal(t, "image/svg+xml; charset=utf-8", h.Get("Content-Type"))
	require.Contains(t, h.Get("Cache-Control"), "max-age=30")
	require.Contains(t, svg, "failing")
	require.True(t, strings.HasPrefix(svg, "<svg "))
	etag := h.Get("ETag")
	require.NotEmpty(t, etag)
	code, _, _ = b.badge("/badge/pub/commit/aaa.svg", "", etag)
	require.Equal(t, 304, code)

	// The collection's newest entity is bbb, still pending.
	code, h, svg = b.badge("/badge/pub/c/ref/main.svg", "", etag)
	require.Equal(t, 200, code)
	require.Contains(t, svg, "pending")
	require.NotEqual(t, etag, h.Get("ETag"))
	code, _, _ = b.badge("/badge/pub/c/ref/nope.svg", "", "")
	require.Equal(t, 404, code)
	code, _, _ = b.badge("/badge/pub/commit/zzz.svg", "", "")
	require.Equal(t, 404, code)

	privTok := b.project("priv", true)
	b.submit(privTok, map[string]any{"entityKey": "commit", "entityVal": "ccc", "name": "build", "cmd": "true", "tag": "linux"})
	code, _, _ = b.badge("/badge/priv/commit/ccc.svg", "", "")
	require.Equal(t, 404, code, "no badge without access")
	code, _, _ = b.badge("/badge/priv/commit/ccc.svg", tok, "")
	require.Equal(t, 404, code, "another project's token is no access")
	code, h, _ = b.badge("/badge/priv/commit/ccc.svg", privTok, "")
	require.Equal(t, 200, code)
	require.Contains(t, h.Get("Cache-Control"), "private")
}

// TestCompatWebhooks: the 0.4 endpoints reach the integration whose secret signs
// the delivery.
func TestCompatWebhooks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.project("forge", false)
	b.integration("forge", map[string]any{"kind": "gitea", "repository": "other/repo"})
	in := b.integration("forge", map[string]any{"kind": "gitea", "repository": "gitea/webhooks"})
	post := func(path string, headers map[string]string, body []byte) (int, hookResp) {
		req, err := http.NewRequest("POST", b.url+path, strings.NewReader(string(body)))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := b.client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		respBody, _ := io.ReadAll(resp.Body)
		b.validate(req, body, resp, respBody, true)
		var res hookResp
		_ = jsonUnmarshal(respBody, &res)
		return resp.StatusCode, res
	}
	body := readFixture(t, "gitea/push.json")
	// 0.4 senders sent the signature and no event header.
	code, res := post("/api/submit/gitea", map[string]string{"X-Hub-Signature-256": "sha256=" + hexHMAC(in.Secret, body)}, body)
	require.Equal(t, 200, code, res.Message)
	require.Len(t, res.Jobs, 1)
	code, _ = post("/api/submit/gitea", map[string]string{"X-Gitea-Signature": hexHMAC("not the secret", body)}, body)
	require.Equal(t, 401, code)

	dk := b.integration("forge", map[string]any{"kind": "darke", "repository": "Ann/Tools"})
	darke := []byte(`{"OWNER":"ann","Repo":"tools","refName":"refs/heads/feature/x","commit":"6113728f27ae82c7b1a177c8d03f9e96e0adf246"}`)
	code, res = post("/api/submit/darke", map[string]string{"X-Hub-Signature-256": "sha256=" + hexHMAC(dk.Secret, darke)}, darke)
	require.Equal(t, 200, code, res.Message)
	require.Len(t, res.Jobs, 1)
	var e entityResp
	b.json(call{method: "GET", path: "/api/v1/projects/forge/entities/commit/6113728f27ae82c7b1a177c8d03f9e96e0adf246"}, 200, &e)
	require.Equal(t, "ref", e.Collections[0].Key)
	require.Equal(t, "x", e.Collections[0].Value, "0.4 took the last part of the ref")
	darke2 := []byte(`{"owner":"ann","repo":"tools","refName":"main","commit":"d2b75aa7797ec26b088fa2dd527e9d2c052fcedd"}`)
	code, res = post("/api/submit/darke", map[string]string{"Authorization": "Bearer " + dk.Secret}, darke2)
	require.Equal(t, 200, code, res.Message)
	require.Len(t, res.Jobs, 1)
	code, _ = post("/api/submit/darke", map[string]string{"Authorization": "Bearer wrong-secret"}, darke2)
	require.Equal(t, 401, code)
	require.Equal(t, 3, b.count("jobs"))
}

func jsonUnmarshal(b []byte, out any) error { return json.Unmarshal(b, out) }
