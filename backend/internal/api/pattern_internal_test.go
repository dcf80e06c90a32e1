package api

import (
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestBoundedPatternsMatchTheirRegexps: each bounded pattern accepts exactly
// what its regexp with the bound spelled out accepts.
func TestBoundedPatternsMatchTheirRegexps(t *testing.T) {
	t.Parallel()
	inputs := []string{"", "a", "A-z_0.9:x", "a b", "a\tb", "a/b", "../x", "é", "\xff", "日本",
		strings.Repeat("a", 255), strings.Repeat("a", 256), strings.Repeat("a", 260), strings.Repeat("a", 261),
		strings.Repeat("é", 260), strings.Repeat("é", 261), strings.Repeat("\xff", 260), strings.Repeat("\xff", 261),
		strings.Repeat("a", 259) + " ", "a\n", "\na"}
	for _, c := range []struct {
		name string
		got  boundedPattern
		want string
	}{
		{"slug", slugPattern, `^[0-9A-Za-z_:.-]{1,260}$`},
		{"tag", tagPattern, `^\S{1,260}$`},
		{"cache key", cacheKeyChars, `^[A-Za-z0-9._/-]{1,255}$`},
	} {
		want := regexp.MustCompile(c.want)
		for _, in := range inputs {
			require.Equal(t, want.MatchString(in), c.got.MatchString(in), "%s %q", c.name, in)
		}
	}
}
