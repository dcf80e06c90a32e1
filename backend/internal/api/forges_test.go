package api_test

import (
	"context"
	"regexp"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/backend/internal/integrations"
)

// TestForgeKindsAgree: the kinds of integration the registry knows are the
// ones openapi.yaml documents (in one enum, which every kind field refers to)
// and the ones the database's CHECK constraint admits, and every forge's
// events are in the spec's events enum. A forge added in one place only
// fails here.
func TestForgeKindsAgree(t *testing.T) {
	t.Parallel()
	registry := integrations.Kinds()

	doc, err := spec()
	require.NoError(t, err)
	kindSchema := doc.Components.Schemas["IntegrationKind"]
	require.NotNil(t, kindSchema, "openapi.yaml has no IntegrationKind schema")
	var inSpec []string
	for _, v := range kindSchema.Value.Enum {
		inSpec = append(inSpec, v.(string))
	}
	require.Equal(t, registry, inSpec, "integrations.Kinds() and openapi.yaml's IntegrationKind enum differ (the spec lists them in the registry's order)")
	for _, name := range []string{"Integration", "IntegrationCreate"} {
		kind := doc.Components.Schemas[name].Value.Properties["kind"]
		require.Equal(t, "#/components/schemas/IntegrationKind", kind.Ref, "%s.kind must refer to IntegrationKind, not repeat its enum", name)
	}

	var eventsInSpec []string
	for _, v := range doc.Components.Schemas["IntegrationCreate"].Value.Properties["events"].Value.Items.Value.Enum {
		eventsInSpec = append(eventsInSpec, v.(string))
	}
	for _, kind := range registry {
		events := integrations.Events(kind)
		require.NotEmpty(t, events, kind)
		for _, e := range events {
			require.Contains(t, eventsInSpec, e, "%s declares event %s, which openapi.yaml's events enum lacks", kind, e)
		}
	}

	pool := dbtest.New(t)
	var check string
	require.NoError(t, pool.QueryRow(context.Background(), `
		SELECT pg_get_constraintdef(c.oid)
		FROM pg_constraint c
		JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
		WHERE c.conrelid = 'integrations'::regclass AND c.contype = 'c' AND a.attname = 'kind'`).Scan(&check))
	var inDB []string
	for _, m := range regexp.MustCompile(`'([^']*)'::text`).FindAllStringSubmatch(check, -1) {
		inDB = append(inDB, m[1])
	}
	require.NotEmpty(t, inDB, "cannot read the kinds from %s", check)
	slices.Sort(inDB)
	sorted := slices.Sorted(slices.Values(registry))
	require.Equal(t, sorted, inDB, "integrations.Kinds() and the integrations.kind CHECK (%s) differ: add a migration", check)
}
