package integrations

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestForgeKindsDeclareEverything: every registered forge has a unique kind, a
// name, known events, a signature check and a parser, and one that takes
// statuses has every part of its status API, whose API base keeps an address
// that is the API base already.
func TestForgeKindsDeclareEverything(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, f := range forgeKinds {
		require.NotEmpty(t, f.kind)
		require.False(t, seen[f.kind], "kind %s is registered twice", f.kind)
		seen[f.kind] = true
		require.NotEmpty(t, f.name, f.kind)
		require.NotEmpty(t, f.events, f.kind)
		for _, e := range f.events {
			require.Contains(t, allEvents, e, f.kind)
		}
		require.NotNil(t, f.verify, f.kind)
		require.NotNil(t, f.parse, f.kind)
		require.ErrorIs(t, f.verify([]byte("secret"), nil, []byte("{}")), ErrSignature, "%s accepts an unsigned delivery", f.kind)
		require.Same(t, f, lookup(f.kind))
		require.Equal(t, f.status != nil, ReportsStatus(f.kind))
		if f.status == nil {
			continue
		}
		api := f.status
		require.NotNil(t, api.apiBase, f.kind)
		require.NotNil(t, api.auth, f.kind)
		require.NotNil(t, api.repositoryURL, f.kind)
		require.NotNil(t, api.request, f.kind)
		base, err := APIBase(f.kind, "https://forge.example")
		require.NoError(t, err)
		again, err := APIBase(f.kind, base)
		require.NoError(t, err)
		require.Equal(t, base, again, "%s derives a second API base from its API base", f.kind)
		_, err = url.Parse(base)
		require.NoError(t, err)
	}
	require.False(t, Known("svn"))
	require.Nil(t, Events("svn"))
}
