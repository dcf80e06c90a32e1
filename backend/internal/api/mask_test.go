package api_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestServerMasksWrappedBase64: a job prints `base64` of a long secret, which
// wraps it at 76 columns, and its runner masks nothing (a 0.4 runner, or one
// that does not know the form): the log the server stores shows no line of it,
// also where a line straddles two chunks.
func TestServerMasksWrappedBase64(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	_, run := b.runner("r1", "linux")
	secret := "-----BEGIN KEY-----\n" + strings.Repeat("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", 4) + "\n-----END KEY-----"
	j := b.submit(tok, map[string]any{"secretEnv": map[string]string{"DEPLOY_KEY": secret}})
	c := b.claim(run, 1, "linux")[0]
	b.heartbeat(run, c)
	encoded := base64.StdEncoding.EncodeToString([]byte(secret + "\n"))
	var lines []string
	for i := 0; i < len(encoded); i += 76 {
		lines = append(lines, encoded[i:min(i+76, len(encoded))])
	}
	require.Greater(t, len(lines), 2)
	log := "$ echo \"$DEPLOY_KEY\" | base64\n" + strings.Join(lines, "\n") + "\ndone\n"
	cut := strings.Index(log, lines[1]) + 30
	b.json(call{method: "PATCH", path: logPath(c.ID, 1, 0), token: run, raw: []byte(log[:cut]), contentType: "application/octet-stream"}, 200, nil)
	b.json(call{method: "PATCH", path: logPath(c.ID, 1, cut), token: run, raw: []byte(log[cut:]), contentType: "application/octet-stream"}, 200, nil)
	_, body := b.do(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d/log", j.ID)})
	got := string(body)
	require.Len(t, got, len(log), "masking keeps offsets")
	for i, line := range lines[:len(lines)-1] { // the last line may be too short to mask on its own
		require.NotContains(t, got, line[:20], "line %d of the encoding", i+1)
	}
	require.True(t, strings.HasPrefix(got, "$ echo \"$DEPLOY_KEY\" | base64\n"), got)
	require.True(t, strings.HasSuffix(got, "\ndone\n"), got)
}
