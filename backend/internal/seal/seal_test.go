package seal_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/seal"
)

func TestSealOpen(t *testing.T) {
	t.Parallel()
	box, err := seal.New(seal.NewKey())
	require.NoError(t, err)
	plain := []byte("hunter2-hunter2")
	a, b := box.Seal(plain), box.Seal(plain)
	require.NotEqual(t, a, b, "a fresh nonce each time")
	require.False(t, bytes.Contains(a, plain))
	got, err := box.Open(a)
	require.NoError(t, err)
	require.Equal(t, plain, got)

	a[len(a)-1] ^= 1
	_, err = box.Open(a)
	require.ErrorIs(t, err, seal.ErrOpen, "tampering is detected")

	other, err := seal.New(seal.NewKey())
	require.NoError(t, err)
	_, err = other.Open(b)
	require.ErrorIs(t, err, seal.ErrOpen, "another key cannot open it")
	_, err = box.Open(nil)
	require.ErrorIs(t, err, seal.ErrOpen)
}

func TestRotationBox(t *testing.T) {
	t.Parallel()
	oldKey, newKey := seal.NewKey(), seal.NewKey()
	old, err := seal.New(oldKey)
	require.NoError(t, err)
	sealed := old.Seal([]byte("value"))
	both, err := seal.New(newKey, oldKey)
	require.NoError(t, err)
	require.False(t, both.SealedWithCurrent(sealed))
	got, err := both.Open(sealed)
	require.NoError(t, err)
	resealed := both.Seal(got)
	require.True(t, both.SealedWithCurrent(resealed))
	onlyNew, err := seal.New(newKey)
	require.NoError(t, err)
	got, err = onlyNew.Open(resealed)
	require.NoError(t, err)
	require.Equal(t, "value", string(got))
}

func TestLoadKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	k1, err := seal.LoadKey("", dir)
	require.NoError(t, err)
	info, err := os.Stat(filepath.Join(dir, seal.KeyFile))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	k2, err := seal.LoadKey("", dir)
	require.NoError(t, err)
	require.Equal(t, k1, k2, "the key file is kept")

	given := seal.NewKey()
	k3, err := seal.LoadKey(seal.EncodeKey(given), dir)
	require.NoError(t, err)
	require.Equal(t, given, k3)
	_, err = seal.LoadKey("too-short", dir)
	require.ErrorContains(t, err, "32 bytes")
}

// TestLoadKeyRefusesExposedFile: a key file its group or others may read is
// refused, naming the fix; at 0600 (or stricter) it loads.
func TestLoadKeyRefusesExposedFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	want, err := seal.LoadKey("", dir)
	require.NoError(t, err)
	path := filepath.Join(dir, seal.KeyFile)
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		require.NoError(t, os.Chmod(path, mode))
		_, err := seal.LoadKey("", dir)
		require.ErrorIs(t, err, seal.ErrKeyExposed, "mode %04o", mode)
		require.Contains(t, err.Error(), "chmod 600 "+path)
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		require.NoError(t, os.Chmod(path, mode))
		got, err := seal.LoadKey("", dir)
		require.NoError(t, err, "mode %04o", mode)
		require.Equal(t, want, got)
	}
}

// TestDeriveKey: derived keys are stable, differ by purpose and change with the
// server key, so a rotation of the server key rotates them too.
func TestDeriveKey(t *testing.T) {
	t.Parallel()
	k1, k2 := seal.NewKey(), seal.NewKey()
	a := seal.DeriveKey(k1, "job tokens")
	require.Len(t, a, seal.KeySize)
	require.Equal(t, a, seal.DeriveKey(k1, "job tokens"))
	require.NotEqual(t, a, seal.DeriveKey(k1, "something else"))
	require.NotEqual(t, a, seal.DeriveKey(k2, "job tokens"))
	require.NotEqual(t, k1, a)
}
