package seal_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"testing"

	"github.com/aura-ci/aura/backend/internal/seal"
)

// FuzzOpen opens values read back from the database, damaged or forged:
// ErrOpen, never a panic; only what Seal made opens, to what was sealed.
func FuzzOpen(f *testing.F) {
	old, current := bytes.Repeat([]byte{1}, seal.KeySize), bytes.Repeat([]byte{2}, seal.KeySize)
	box, err := seal.New(current, old)
	if err != nil {
		f.Fatal(err)
	}
	oldBox, _ := seal.New(old)
	f.Add([]byte("secret value"), box.Seal([]byte("secret value")))
	f.Add([]byte("rotated"), oldBox.Seal([]byte("rotated")))
	f.Add([]byte(""), []byte{})
	f.Add([]byte("x"), []byte{1})
	f.Add([]byte("x"), append(box.Seal([]byte("x"))[:20:20], 0))
	f.Fuzz(func(t *testing.T, plain, sealed []byte) {
		got, err := box.Open(sealed)
		if err == nil {
			// Forgery is out of reach: anything that opens was sealed by us, so
			// it must be one of the seeds' values.
			if !bytes.Equal(got, []byte("secret value")) && !bytes.Equal(got, []byte("rotated")) && !bytes.Equal(got, []byte("x")) {
				t.Fatalf("%x opened to %q", sealed, got)
			}
		} else if err != seal.ErrOpen {
			t.Fatalf("error %v", err)
		}
		box.SealedWithCurrent(sealed)
		s := box.Seal(plain)
		back, err := box.Open(s)
		if err != nil || !bytes.Equal(back, plain) || !box.SealedWithCurrent(s) {
			t.Fatalf("%q sealed does not open back: %v", plain, err)
		}
		if _, err := oldBox.Open(s); err == nil {
			t.Fatal("a value sealed under the current key opens with the old one alone")
		}
		if len(s) > 0 {
			bad := bytes.Clone(s)
			bad[len(bad)-1] ^= 1
			if _, err := box.Open(bad); err == nil {
				t.Fatal("a changed value opens")
			}
		}
	})
}

// FuzzParseKey reads --secret-key / AURA_SECRET_KEY and the key file: a key is
// KeySize bytes, and a key's own text forms read back to it.
func FuzzParseKey(f *testing.F) {
	k := bytes.Repeat([]byte{0xfb}, seal.KeySize)
	for _, s := range []string{seal.EncodeKey(k), base64.RawURLEncoding.EncodeToString(k), hex.EncodeToString(k), " \n" + seal.EncodeKey(k) + "\n", "", "=", "zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		key, err := seal.ParseKey(s)
		if err != nil {
			return
		}
		if len(key) != seal.KeySize {
			t.Fatalf("%q: key of %d bytes", s, len(key))
		}
		for _, text := range []string{seal.EncodeKey(key), hex.EncodeToString(key), base64.RawURLEncoding.EncodeToString(key)} {
			back, err := seal.ParseKey(text)
			if err != nil || !bytes.Equal(back, key) {
				t.Fatalf("%q does not read back: %v", text, err)
			}
		}
	})
}
