package cli

import (
	"context"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/require"
)

// TestTypesMatchTheSpec: every JSON field the command line reads or sends is a
// property of its schema in openapi.yaml, nested types included, so a renamed
// field fails here rather than printing empty columns.
func TestTypesMatchTheSpec(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	doc, err := openapi3.NewLoader().LoadFromFile(filepath.Join(filepath.Dir(file), "..", "..", "..", "openapi.yaml"))
	require.NoError(t, err)
	require.NoError(t, doc.Validate(context.Background()))
	schema := func(name string) *openapi3.Schema {
		ref := doc.Components.Schemas[name]
		require.NotNil(t, ref, "no schema %s", name)
		return ref.Value
	}
	// The event union: the fields of every event the follower reads.
	union := &openapi3.Schema{Properties: openapi3.Schemas{}}
	for _, one := range schema("Event").OneOf {
		for k, v := range one.Value.Properties {
			union.Properties[k] = v
		}
	}
	for _, tc := range []struct {
		name   string
		typ    reflect.Type
		schema *openapi3.Schema
	}{
		{"Job", reflect.TypeFor[Job](), schema("Job")},
		{"JobSubmit", reflect.TypeFor[submitBody](), schema("JobSubmit")},
		{"BuildList", reflect.TypeFor[buildList](), schema("BuildList")},
		{"JobCell", reflect.TypeFor[jobCell](), schema("JobCell")},
		{"RunnerList", reflect.TypeFor[runnerList](), schema("RunnerList")},
		{"Event", reflect.TypeFor[event](), union},
	} {
		checkFields(t, tc.name, tc.typ, tc.schema)
	}
}

func checkFields(t *testing.T, path string, typ reflect.Type, s *openapi3.Schema) {
	t.Helper()
	for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
		if typ == reflect.TypeFor[[]byte]() { // base64 in JSON
			return
		}
		if typ.Kind() == reflect.Slice {
			require.NotNil(t, s.Items, "%s is not an array in the spec", path)
			s = resolve(s.Items.Value)
		}
		typ = typ.Elem()
	}
	if typ.Kind() != reflect.Struct || typ == reflect.TypeFor[time.Time]() {
		return
	}
	props := openapi3.Schemas{}
	for k, v := range s.Properties {
		props[k] = v
	}
	for _, a := range s.AllOf {
		for k, v := range a.Value.Properties {
			props[k] = v
		}
	}
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		p := props[name]
		require.NotNil(t, p, "%s.%s is not in the spec", path, name)
		checkFields(t, path+"."+name, f.Type, resolve(p.Value))
	}
}

// resolve looks through allOf wrappers (nullable references).
func resolve(s *openapi3.Schema) *openapi3.Schema {
	if len(s.Properties) == 0 && len(s.AllOf) == 1 {
		return s.AllOf[0].Value
	}
	return s
}
