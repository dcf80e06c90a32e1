package store_test

import (
	"errors"
	"testing"

	"github.com/aura-ci/aura/backend/internal/store"
)

// FuzzCursor reads a page's ?cursor= as a client sends it: a positive id or
// an Invalid error on the cursor field (a 400), and a cursor Aura made reads
// back to its id.
func FuzzCursor(f *testing.F) {
	for _, s := range []string{"", store.EncodeCursor(1), store.EncodeCursor(9223372036854775807), "MA", "LTE", "==", "AAAA", "%%", "MTIz\n"} {
		f.Add(s, int64(42))
	}
	f.Fuzz(func(t *testing.T, cursor string, id int64) {
		got, err := store.DecodeCursor(cursor)
		if err != nil {
			var se *store.Error
			if !errors.As(err, &se) || se.Kind != store.Invalid || se.Field != "cursor" {
				t.Fatalf("%q: error %T %v", cursor, err, err)
			}
		} else if got < 0 || (got == 0) != (cursor == "") {
			t.Fatalf("%q read as %d", cursor, got)
		}
		if id > 0 {
			if back, err := store.DecodeCursor(store.EncodeCursor(id)); err != nil || back != id {
				t.Fatalf("cursor of %d reads back as %d, %v", id, back, err)
			}
		}
	})
}
