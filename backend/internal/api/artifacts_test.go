package api_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// artifactURL is the URL path of a job's artifact, its path escaped as the
// generated clients do (a slash as %2F).
func artifactURL(id int64, path string) string {
	return fmt.Sprintf("/api/v1/jobs/%d/artifacts/%s", id, url.PathEscape(path))
}

// running submits a job into project slug (made if new) and claims it: the
// job is running and c.Token is its job token.
func (b *testBundle) running(slug string, private bool) (projectToken string, c claimed) {
	b.t.Helper()
	projectToken = b.project(slug, private)
	_, runToken := b.runner("r-"+slug, "linux")
	b.submit(projectToken, map[string]any{"project": slug})
	cs := b.claim(runToken, 1, "linux")
	require.Len(b.t, cs, 1)
	b.heartbeat(runToken, cs[0])
	return projectToken, cs[0]
}

// request sends req and validates the exchange against openapi.yaml.
func (b *testBundle) request(req *http.Request, body []byte, checkRequest bool) (*http.Response, []byte) {
	b.t.Helper()
	resp, err := b.client.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	respBody, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	b.validate(req, body, resp, respBody, checkRequest)
	return resp, respBody
}

// putArtifact uploads body as path of job id with token; hdr adds or
// overrides headers (an empty value removes one).
func (b *testBundle) putArtifact(token string, id int64, path string, body []byte, hdr map[string]string) (int, []byte) {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPut, b.url+artifactURL(id, path), bytes.NewReader(body))
	require.NoError(b.t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-Aura-Sha256", sha256Hex(body))
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, respBody := b.request(req, body, false)
	return resp.StatusCode, respBody
}

// getArtifact downloads path of job id with token and the headers in hdr.
func (b *testBundle) getArtifact(token string, id int64, path, query string, hdr map[string]string) (*http.Response, []byte) {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.url+artifactURL(id, path)+query, nil)
	require.NoError(b.t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return b.request(req, nil, true)
}

type artifactResp struct {
	Path        string
	Size        int64
	SHA256      string
	ContentType string
	Attempt     int
	ExpiresAt   *time.Time
}

func (b *testBundle) artifacts(token string, id int64) []artifactResp {
	b.t.Helper()
	var list struct{ Items []artifactResp }
	b.json(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d/artifacts", id), token: token}, 200, &list)
	return list.Items
}

// blobFiles lists every file in the folder store, temporary ones included.
func (b *testBundle) blobFiles() []string {
	b.t.Helper()
	var out []string
	require.NoError(b.t, filepath.WalkDir(b.blobDir, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // the store removed a folder it emptied while we walked it
		}
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return err
	}))
	return out
}

// requireNothingKept fails unless the job has no artifact rows and the store no files.
func (b *testBundle) requireNothingKept() {
	b.t.Helper()
	require.Zero(b.t, b.count("artifacts"))
	require.Empty(b.t, b.blobFiles())
}

// TestArtifactUploadAndServe: uploaded files are listed with their size,
// SHA-256 and content type and served as they are, with ETag, Range and
// Content-Disposition.
func TestArtifactUploadAndServe(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, c := b.running("art", false)
	html := []byte("<!doctype html><h1>coverage</h1><script>fetch('/api/v1/me')</script>")
	bin := bytes.Repeat([]byte{0, 1, 2, 3, 4, 5, 6, 7}, 1000)
	code, body := b.putArtifact(c.Token, c.ID, "report/index.html", html, nil)
	require.Equal(t, 201, code, "%s", body)
	var created artifactResp
	require.NoError(t, json.Unmarshal(body, &created))
	require.NotNil(t, created.ExpiresAt, "the default retention applies")
	created.ExpiresAt = nil
	require.Equal(t, artifactResp{Path: "report/index.html", Size: int64(len(html)), SHA256: sha256Hex(html),
		ContentType: "text/html; charset=utf-8", Attempt: 1}, created)
	code, body = b.putArtifact(c.Token, c.ID, "app", bin, nil)
	require.Equal(t, 201, code, "%s", body)
	code, body = b.putArtifact(c.Token, c.ID, "notes", []byte("plain words\n"), nil)
	require.Equal(t, 201, code, "%s", body)

	list := b.artifacts("", c.ID)
	require.Len(t, list, 3)
	require.Equal(t, []string{"app", "notes", "report/index.html"}, []string{list[0].Path, list[1].Path, list[2].Path})
	require.Equal(t, "application/octet-stream", list[0].ContentType, "sniffed")
	require.Equal(t, "text/plain; charset=utf-8", list[1].ContentType, "sniffed")
	require.Equal(t, sha256Hex(bin), list[0].SHA256)
	require.Equal(t, int64(len(bin)), list[0].Size)

	resp, got := b.getArtifact("", c.ID, "report/index.html", "", nil)
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, html, got)
	require.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	require.Equal(t, `attachment; filename=index.html`, resp.Header.Get("Content-Disposition"))
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	require.Equal(t, `"`+sha256Hex(html)+`"`, resp.Header.Get("ETag"))
	require.Empty(t, resp.Header.Get("Content-Security-Policy"))

	// The slash of a path inside a directory artifact may also come unescaped.
	req, err := http.NewRequest("GET", b.url+fmt.Sprintf("/api/v1/jobs/%d/artifacts/report/index.html", c.ID), nil)
	require.NoError(t, err)
	raw, err := b.client.Do(req)
	require.NoError(t, err)
	rawBody, _ := io.ReadAll(raw.Body)
	raw.Body.Close()
	require.Equal(t, 200, raw.StatusCode)
	require.Equal(t, html, rawBody)

	resp, _ = b.getArtifact("", c.ID, "report/index.html", "", map[string]string{"If-None-Match": `"` + sha256Hex(html) + `"`})
	require.Equal(t, 304, resp.StatusCode)

	resp, got = b.getArtifact("", c.ID, "app", "", map[string]string{"Range": "bytes=4-11"})
	require.Equal(t, 206, resp.StatusCode)
	require.Equal(t, bin[4:12], got)
	require.Equal(t, fmt.Sprintf("bytes 4-11/%d", len(bin)), resp.Header.Get("Content-Range"))
	resp, got = b.getArtifact("", c.ID, "app", "", map[string]string{"Range": "bytes=-3"})
	require.Equal(t, 206, resp.StatusCode)
	require.Equal(t, bin[len(bin)-3:], got)
	resp, _ = b.getArtifact("", c.ID, "app", "", map[string]string{"Range": "bytes=9000-"})
	require.Equal(t, 416, resp.StatusCode)
	// A Range that names an old version of the file (If-Range) gets it all.
	resp, got = b.getArtifact("", c.ID, "app", "", map[string]string{"Range": "bytes=0-1", "If-Range": `"stale"`})
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, bin, got)

	b.fail(call{method: "GET", path: artifactURL(c.ID, "missing.txt")}, 404)
	b.fail(call{method: "GET", path: artifactURL(c.ID, "app") + "?inline=yes", invalid: true}, 400)

	// An empty file is a file too.
	code, body = b.putArtifact(c.Token, c.ID, "empty/.keep", nil, nil)
	require.Equal(t, 201, code, "%s", body)
	resp, got = b.getArtifact("", c.ID, "empty/.keep", "", nil)
	require.Equal(t, 200, resp.StatusCode)
	require.Empty(t, got)
	require.Equal(t, `"`+sha256Hex(nil)+`"`, resp.Header.Get("ETag"))

	// Uploading a path again replaces it, and its old bytes leave the store.
	require.Len(t, b.blobFiles(), 4)
	code, body = b.putArtifact(c.Token, c.ID, "app", []byte("v2"), nil)
	require.Equal(t, 201, code, "%s", body)
	_, got = b.getArtifact("", c.ID, "app", "", nil)
	require.Equal(t, "v2", string(got))
	require.Len(t, b.blobFiles(), 4)
}

// TestArtifactInlineHTMLIsSandboxed: inline content comes with a sandbox CSP,
// so an HTML report's script never runs with the dashboard's origin.
func TestArtifactInlineHTMLIsSandboxed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, c := b.running("inline", false)
	html := []byte(`<html><script>document.cookie; fetch("/api/v1/me")</script></html>`)
	code, body := b.putArtifact(c.Token, c.ID, "r.html", html, nil)
	require.Equal(t, 201, code, "%s", body)
	resp, got := b.getArtifact("", c.ID, "r.html", "?inline=1", nil)
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, html, got)
	require.Equal(t, "inline; filename=r.html", resp.Header.Get("Content-Disposition"))
	csp := resp.Header.Get("Content-Security-Policy")
	require.True(t, strings.HasPrefix(csp, "sandbox;"), csp)
	require.NotContains(t, csp, "allow-scripts")
	require.NotContains(t, csp, "allow-same-origin")
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
}

// TestArtifactPathsChecked: paths that could leave the folder they are
// downloaded into are refused, and nothing is kept.
func TestArtifactPathsChecked(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, c := b.running("paths", false)
	for _, p := range []string{`..\evil`, `a\b`, "a\x00b", "a\x01b", "a//b", "a/./b", "../x", "a/../../x", "/etc/passwd", ".."} {
		code, body := b.putArtifact(c.Token, c.ID, p, []byte("x"), nil)
		require.Equal(t, 400, code, "%q: %s", p, body)
		var e apiErr
		require.NoError(t, json.Unmarshal(body, &e))
		require.Equal(t, "path", e.Field, p)
	}
	// Sent unescaped too.
	for _, p := range []string{"../../x", "a/../../../log", "/x", "a//b", "./a"} {
		req, err := http.NewRequest("PUT", b.url+fmt.Sprintf("/api/v1/jobs/%d/artifacts/", c.ID)+p, strings.NewReader("x"))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+c.Token)
		req.Header.Set("X-Aura-Sha256", sha256Hex([]byte("x")))
		resp, err := b.client.Do(req)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, 400, resp.StatusCode, "%s: %s", p, body)
		require.Contains(t, string(body), `"field":"path"`, p)
	}
	b.requireNothingKept()
}

// TestArtifactSHAMismatch: a body that is not what X-Aura-Sha256 says is
// refused once streamed, and nothing is kept.
func TestArtifactSHAMismatch(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, c := b.running("sha", false)
	code, body := b.putArtifact(c.Token, c.ID, "f.bin", []byte("the real bytes"), map[string]string{"X-Aura-Sha256": sha256Hex([]byte("other bytes"))})
	require.Equal(t, 400, code, "%s", body)
	require.Contains(t, string(body), `"field":"X-Aura-Sha256"`)
	code, body = b.putArtifact(c.Token, c.ID, "f.bin", []byte("x"), map[string]string{"X-Aura-Sha256": "abc"})
	require.Equal(t, 400, code, "%s", body)
	code, _ = b.putArtifact(c.Token, c.ID, "f.bin", []byte("x"), map[string]string{"X-Aura-Sha256": ""})
	require.Equal(t, 400, code)
	b.requireNothingKept()
	require.Empty(t, b.artifacts("", c.ID))
}

// rawRequest writes head (the request line and headers, without the blank
// line) and then body on a fresh connection to the server, and returns it.
func (b *testBundle) rawConn(head string, body []byte) net.Conn {
	b.t.Helper()
	u, err := url.Parse(b.url)
	require.NoError(b.t, err)
	conn, err := net.Dial("tcp", u.Host)
	require.NoError(b.t, err)
	b.t.Cleanup(func() { conn.Close() })
	_, err = io.WriteString(conn, strings.ReplaceAll(head, "\n", "\r\n")+"\r\n\r\n")
	require.NoError(b.t, err)
	if len(body) > 0 {
		_, err = conn.Write(body)
		require.NoError(b.t, err)
	}
	return conn
}

func uploadHead(c claimed, path string, length int64, sum string) string {
	return fmt.Sprintf("PUT %s HTTP/1.1\nHost: aura\nAuthorization: Bearer %s\nX-Aura-Sha256: %s\nContent-Length: %d",
		artifactURL(c.ID, path), c.Token, sum, length)
}

// TestArtifactOversizeRefusedBeforeBody: a file over a limit is refused from
// its Content-Length before a byte of its body is read, with a 413 naming
// the limit; one whose length lies or is not given is cut off while streaming.
func TestArtifactOversizeRefusedBeforeBody(t *testing.T) {
	t.Parallel()
	b := setupWith(t, bundleOptions{artifactMaxFile: 1000, artifactMaxJob: 1500})
	_, c := b.running("big", false)

	// The headers alone (no body follows) get the answer.
	conn := b.rawConn(uploadHead(c, "huge.iso", 10<<30, sha256Hex(nil)), nil)
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err, "the server waited for the body")
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, 413, resp.StatusCode, "%s", body)
	require.Contains(t, string(body), "AURA_ARTIFACT_MAX_FILE")

	code, body := b.putArtifact(c.Token, c.ID, "a", make([]byte, 900), nil)
	require.Equal(t, 201, code, "%s", body)
	code, body = b.putArtifact(c.Token, c.ID, "b", make([]byte, 700), nil)
	require.Equal(t, 413, code, "%s", body)
	require.Contains(t, string(body), "AURA_ARTIFACT_MAX_JOB")
	// Replacing a file counts its new size, not both.
	code, body = b.putArtifact(c.Token, c.ID, "a", make([]byte, 1000), nil)
	require.Equal(t, 201, code, "%s", body)

	// A body without a length (chunked) is cut off at the bound.
	big := make([]byte, 5000)
	req, err := http.NewRequest("PUT", b.url+artifactURL(c.ID, "chunked"), io.MultiReader(bytes.NewReader(big)))
	require.NoError(t, err)
	req.ContentLength = -1
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("X-Aura-Sha256", sha256Hex(big))
	r, respBody := b.request(req, big, false)
	require.Equal(t, 413, r.StatusCode, "%s", respBody)
	require.Contains(t, string(respBody), "AURA_ARTIFACT_MAX")
	require.Len(t, b.artifacts("", c.ID), 1)
	require.Len(t, b.blobFiles(), 1)
}

// TestArtifactInterruptedUpload: a connection closed halfway through the body
// leaves nothing, not even a partial file, and the same upload then succeeds.
func TestArtifactInterruptedUpload(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, c := b.running("cut", false)
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	conn := b.rawConn(uploadHead(c, "dist/app.tar", int64(len(data)), sha256Hex(data)), data[:len(data)/2])
	time.Sleep(100 * time.Millisecond) // let the server stream the half into the store
	require.NoError(t, conn.Close())
	require.Eventually(t, func() bool { return len(b.blobFiles()) == 0 }, 10*time.Second, 20*time.Millisecond,
		"the half upload stays in the store: %v", b.blobFiles())
	b.requireNothingKept()
	require.Empty(t, b.artifacts("", c.ID))

	code, body := b.putArtifact(c.Token, c.ID, "dist/app.tar", data, nil)
	require.Equal(t, 201, code, "%s", body)
	_, got := b.getArtifact("", c.ID, "dist/app.tar", "", nil)
	require.Equal(t, sha256Hex(data), sha256Hex(got))
}

// TestArtifactStalledUpload: a client that stops sending halfway is cut
// after the idle time; nothing is kept.
func TestArtifactStalledUpload(t *testing.T) {
	t.Parallel()
	b := setupWith(t, bundleOptions{artifactIdle: 2 * time.Second})
	_, c := b.running("stall", false)
	data := bytes.Repeat([]byte("x"), 1<<20)
	conn := b.rawConn(uploadHead(c, "slow.bin", int64(len(data)), sha256Hex(data)), data[:1000])
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(15*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err == nil { // the server may answer, or just close the connection
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, 408, resp.StatusCode, "%s", got)
	} else {
		require.NotErrorIs(t, err, context.DeadlineExceeded)
		var ne net.Error
		require.False(t, errors.As(err, &ne) && ne.Timeout(), "the stalled upload was never cut: %v", err)
	}
	require.Eventually(t, func() bool { return len(b.blobFiles()) == 0 }, 5*time.Second, 20*time.Millisecond)
	b.requireNothingKept()
}

// TestArtifactAccess: only the job token of the job's running attempt
// uploads; reading follows the job's read permission.
func TestArtifactAccess(t *testing.T) {
	t.Parallel()
	b := setup(t)
	projectToken, c := b.running("secret", true)
	_, other := b.running("other", true)
	code, body := b.putArtifact(c.Token, c.ID, "ok.txt", []byte("mine"), nil)
	require.Equal(t, 201, code, "%s", body)

	for name, tok := range map[string]string{"another job's token": other.Token, "a project token": projectToken, "the admin": b.admin} {
		code, body := b.putArtifact(tok, c.ID, "x.txt", []byte("x"), nil)
		require.Equal(t, 403, code, "%s: %s", name, body)
	}
	code, _ = b.putArtifact("", c.ID, "x.txt", []byte("x"), map[string]string{"Authorization": ""})
	require.Equal(t, 401, code)
	_, runToken := b.runner("r2", "linux")
	code, body = b.putArtifact(runToken, c.ID, "x.txt", []byte("x"), nil)
	require.Equal(t, 403, code, "a runner token: %s", body)
	require.Contains(t, string(body), "job token")

	// A private project's artifacts are hidden from those who may not read it.
	b.fail(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d/artifacts", c.ID)}, 404)
	b.fail(call{method: "GET", path: artifactURL(c.ID, "ok.txt")}, 404)
	b.fail(call{method: "GET", path: artifactURL(c.ID, "ok.txt"), token: other.Token}, 404)
	require.Len(t, b.artifacts(projectToken, c.ID), 1)
	resp, got := b.getArtifact(c.Token, c.ID, "ok.txt", "", nil)
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, "mine", string(got))

	// Once the attempt is over its token uploads nothing.
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/complete", c.ID), token: c.Token,
		body: map[string]any{"attempt": c.Attempt, "exitCode": 0}}, 200, nil)
	code, _ = b.putArtifact(c.Token, c.ID, "late.txt", []byte("x"), nil)
	require.Contains(t, []int{401, 410}, code)
	require.Len(t, b.artifacts(projectToken, c.ID), 1)
	require.Equal(t, 1, b.count("artifacts"))
}

// TestArtifactExpiry: an upload may ask to expire; an expired artifact
// answers 410 saying when it expired.
func TestArtifactExpiry(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, c := b.running("exp", false)
	code, body := b.putArtifact(c.Token, c.ID, "log.txt", []byte("x"), map[string]string{"X-Aura-Expire-Seconds": "3600"})
	require.Equal(t, 201, code, "%s", body)
	list := b.artifacts("", c.ID)
	require.Len(t, list, 1)
	require.NotNil(t, list[0].ExpiresAt)
	require.WithinDuration(t, time.Now().Add(time.Hour), *list[0].ExpiresAt, time.Minute)
	code, _ = b.putArtifact(c.Token, c.ID, "log.txt", []byte("x"), map[string]string{"X-Aura-Expire-Seconds": "0"})
	require.Equal(t, 400, code)
	// Without its own expiry an upload keeps the instance default retention.
	code, body = b.putArtifact(c.Token, c.ID, "plain.txt", []byte("y"), nil)
	require.Equal(t, 201, code, "%s", body)
	list = b.artifacts("", c.ID)
	require.Len(t, list, 2)
	require.Equal(t, "plain.txt", list[1].Path)
	require.NotNil(t, list[1].ExpiresAt, "an upload without expiry gets the default retention")
	require.WithinDuration(t, time.Now().Add(30*24*time.Hour), *list[1].ExpiresAt, time.Minute)
	// A project's own retention wins over the instance default.
	b.json(call{method: "PATCH", path: "/api/v1/projects/exp", token: b.admin, body: map[string]any{"artifactRetention": 120}}, 200, nil)
	code, body = b.putArtifact(c.Token, c.ID, "short.txt", []byte("z"), nil)
	require.Equal(t, 201, code, "%s", body)
	list = b.artifacts("", c.ID)
	require.Len(t, list, 3)
	require.Equal(t, "short.txt", list[2].Path)
	require.WithinDuration(t, time.Now().Add(2*time.Minute), *list[2].ExpiresAt, 30*time.Second)

	_, err := b.pool.Exec(context.Background(), `UPDATE artifacts SET expires_at = now() - interval '1 minute'`)
	require.NoError(t, err)
	e := b.fail(call{method: "GET", path: artifactURL(c.ID, "log.txt")}, 410)
	require.Contains(t, e.Message, "expired on")
}
