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

// TestUserNameFrom: a provider's login becomes a valid user name.
func TestUserNameFrom(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Alice":                 "alice",
		"alice.smith@corp.com":  "alice.smith",
		"Zoë Ådams":             "zo---dams",
		"__x":                   "x",
		"":                      "user",
		"@corp.com":             "user",
		strings.Repeat("a", 50): strings.Repeat("a", 34),
	} {
		got := UserNameFrom(in)
		require.Equal(t, want, got, in)
		require.Regexp(t, UserNamePattern, got+"-1000")
	}
}
