package store

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestEntityMetaOverlayEveryField: overlay knows every field of EntityMeta,
// so a field added to it is not dropped from submissions that set it.
func TestEntityMetaOverlayEveryField(t *testing.T) {
	var o EntityMeta
	v := reflect.ValueOf(&o).Elem()
	for i := range v.NumField() {
		switch f := v.Field(i); f.Kind() {
		case reflect.String:
			f.SetString("set " + v.Type().Field(i).Name)
		case reflect.Int:
			f.SetInt(int64(i + 1))
		default:
			t.Fatalf("overlay does not know the kind of field %s", v.Type().Field(i).Name)
		}
	}
	var m EntityMeta
	m.overlay(&o)
	require.Equal(t, o, m)
	m.overlay(&EntityMeta{})
	require.Equal(t, o, m, "unset fields keep what was there")
}
