package agent

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSecretsMaskedInEveryForm: a multi-line secret printed whole by env, line by
// line, by tail -1 and base64-encoded, and the job and runner tokens, never
// reach the server.
func TestSecretsMaskedInEveryForm(t *testing.T) {
	t.Parallel()

	b := setup(t, 1)
	secret := "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END KEY-----"
	j := claimedJob(9, `env | grep -A2 '^KEY='; printf '%s\n' "$KEY" | tail -1; printf '%s\n' "$KEY" | sed -n 2p
		printf %s "$KEY" | base64 -w0; echo; echo "$KEY" | base64; printf %s "$AURA_JOB_TOKEN" | base64; echo
		echo "runner: $RUNNER_TOKEN_SEEN"; echo done`)
	j.SecretEnv = map[string]string{"KEY": secret}
	j.Env = map[string]string{"RUNNER_TOKEN_SEEN": "AURA_RUNNERKEY_test-x"}
	b.peer.add(j)
	b.waitCompleted(t, 9)
	log := b.peer.log(9)
	require.True(t, strings.HasSuffix(log, "done\n"), log)
	for _, leak := range []string{
		"BEGIN KEY", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "END KEY",
		base64.StdEncoding.EncodeToString([]byte(secret))[:40],
		base64.StdEncoding.EncodeToString([]byte(j.Token))[:20],
		"AURA_RUNNERKEY_test-x",
	} {
		require.NotContains(t, log, leak)
	}
	require.Contains(t, log, "KEY=***")
	require.Contains(t, log, "runner: ***")
}
