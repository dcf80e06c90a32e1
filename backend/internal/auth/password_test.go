package auth

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPassword: argon2id in a PHC string, salted, checked against the password
// only; a malformed or foreign hash matches nothing.
func TestPassword(t *testing.T) {
	t.Parallel()
	h := HashPassword("correct horse")
	require.True(t, strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$"), h)
	require.NotEqual(t, h, HashPassword("correct horse"), "salted")
	require.True(t, CheckPassword(h, "correct horse"))
	require.False(t, CheckPassword(h, "correct horse "))
	require.False(t, CheckPassword(h, ""))
	for _, bad := range []string{"", "correct horse", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
		"$argon2id$v=19$m=0,t=2,p=1$c2FsdA$aGFzaA", "$argon2id$v=19$m=19456,t=2,p=1$!!$aGFzaA",
		strings.Replace(h, "t=2", "t=1", 1)} {
		require.False(t, CheckPassword(bad, "correct horse"), bad)
	}
	SpendPasswordTime("anything") // matches nothing, costs a check
}

// BenchmarkCheckPassword measures what one sign-in costs the server.
func BenchmarkCheckPassword(b *testing.B) {
	h := HashPassword("correct horse")
	for b.Loop() {
		CheckPassword(h, "correct horse")
	}
}
