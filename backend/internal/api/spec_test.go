package api_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gorilla/mux"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/api"
)

// routeVarPattern is a route variable with a regexp, {name:pattern}.
var routeVarPattern = regexp.MustCompile(`\{([^{}:]+):[^{}]+\}`)

// TestSpecMatchesRouter fails when a route exists in the router but not in
// openapi.yaml, or the other way round.
func TestSpecMatchesRouter(t *testing.T) {
	t.Parallel()
	doc, err := spec()
	require.NoError(t, err)
	var inSpec []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			inSpec = append(inSpec, method+" "+path)
		}
	}
	var inRouter []string
	err = api.NewRouter(api.Deps{}).Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return nil
		}
		// {path:.+} takes slashes in the router; OpenAPI names it {path}.
		tpl = routeVarPattern.ReplaceAllString(tpl, "{$1}")
		methods, err := route.GetMethods()
		if err != nil {
			return nil // a subrouter's prefix, not a route
		}
		for _, m := range methods {
			inRouter = append(inRouter, m+" "+tpl)
		}
		return nil
	})
	require.NoError(t, err)
	var onlySpec, onlyRouter []string
	for _, r := range inSpec {
		if !slices.Contains(inRouter, r) {
			onlySpec = append(onlySpec, r)
		}
	}
	for _, r := range inRouter {
		if !slices.Contains(inSpec, r) {
			onlyRouter = append(onlyRouter, r)
		}
	}
	slices.Sort(onlySpec)
	slices.Sort(onlyRouter)
	require.Empty(t, onlySpec, "in openapi.yaml but not in the router:\n%s", strings.Join(onlySpec, "\n"))
	require.Empty(t, onlyRouter, "in the router but not in openapi.yaml:\n%s", strings.Join(onlyRouter, "\n"))
	require.NotEmpty(t, inRouter)
}
