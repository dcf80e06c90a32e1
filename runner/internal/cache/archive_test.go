package cache

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

type entry struct {
	name, body, link string
	dir              bool
}

// tarball is a tar.gz of entries, written as given (no checks).
func tarball(t *testing.T, entries ...entry) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg}
		switch {
		case e.dir:
			hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeDir, 0o755, 0
		case e.link != "":
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeSymlink, e.link, 0
		}
		require.NoError(t, tw.WriteHeader(hdr))
		_, err := tw.Write([]byte(e.body))
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())
	return buf.Bytes()
}

// TestPackUnpack: what save packs, restore unpacks: files, modes, read-only
// folders (Go's module cache), links kept as links; only the listed paths.
func TestPackUnpack(t *testing.T) {
	src := t.TempDir()
	must := func(err error) { t.Helper(); require.NoError(t, err) }
	must(os.MkdirAll(filepath.Join(src, "cache/mod/pkg"), 0o755))
	must(os.WriteFile(filepath.Join(src, "cache/mod/pkg/a.go"), []byte("package a"), 0o444))
	must(os.WriteFile(filepath.Join(src, "cache/run.sh"), []byte("#!/bin/sh"), 0o755))
	must(os.Symlink("mod/pkg/a.go", filepath.Join(src, "cache/link")))
	must(os.Symlink("/etc", filepath.Join(src, "cache/out"))) // kept as a link, not followed
	must(os.Chmod(filepath.Join(src, "cache/mod/pkg"), 0o555))
	must(os.MkdirAll(filepath.Join(src, "other"), 0o755))
	must(os.WriteFile(filepath.Join(src, "other/x"), []byte("x"), 0o644))
	t.Cleanup(func() { _ = os.Chmod(filepath.Join(src, "cache/mod/pkg"), 0o755) })

	var buf bytes.Buffer
	var warnings []string
	n, err := pack(&buf, src, []string{"cache", "missing", "other/x"}, func(s string) { warnings = append(warnings, s) })
	must(err)
	require.Equal(t, 8, n) // cache, mod, pkg, a.go, run.sh, link, out, other/x
	require.Equal(t, []string{"missing does not exist, skipped"}, warnings)

	dst := t.TempDir()
	n, err = unpack(bytes.NewReader(buf.Bytes()), dst, []string{"cache"})
	must(err)
	require.Equal(t, 7, n)
	b, err := os.ReadFile(filepath.Join(dst, "cache/link"))
	must(err)
	require.Equal(t, "package a", string(b))
	link, err := os.Readlink(filepath.Join(dst, "cache/out"))
	must(err)
	require.Equal(t, "/etc", link)
	info, err := os.Stat(filepath.Join(dst, "cache/run.sh"))
	must(err)
	require.Equal(t, os.FileMode(0o755), info.Mode().Perm())
	require.NoFileExists(t, filepath.Join(dst, "other/x"), "only the listed paths are restored")

	// Restoring again over what is there replaces files and links.
	_, err = unpack(bytes.NewReader(buf.Bytes()), dst, []string{"cache/run.sh", "cache/out"})
	must(err)
}

// TestPackRefusesOutside: a path outside the working directory, or reached
// through a link that leads out of it, is refused.
func TestPackRefusesOutside(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o644))
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "out")))
	for _, p := range []string{"../x", outside, "out/secret", "."} {
		_, err := pack(&bytes.Buffer{}, dir, []string{p}, func(string) {})
		require.Error(t, err, p)
	}
}

// TestUnpackRefusesTraversal: entries with "..", absolute names, or that
// would write through a link out of the target are refused, and nothing lands
// outside it.
func TestUnpackRefusesTraversal(t *testing.T) {
	outside := t.TempDir()
	cases := map[string][]entry{
		"dotdot":         {{name: "cache/../../escaped", body: "x"}},
		"leading dotdot": {{name: "../escaped", body: "x"}},
		"absolute":       {{name: filepath.Join(outside, "escaped"), body: "x"}},
		"through link":   {{name: "cache", link: outside}, {name: "cache/escaped", body: "x"}},
		"through nested": {{name: "cache", dir: true}, {name: "cache/l", link: "../../" + filepath.Base(outside)}, {name: "cache/l/escaped", body: "x"}},
		"link then file": {{name: "cache/f", link: filepath.Join(outside, "escaped")}, {name: "cache/f", body: "x"}},
	}
	for name, entries := range cases {
		t.Run(name, func(t *testing.T) {
			dst := filepath.Join(filepath.Dir(outside), "dst-"+strings.ReplaceAll(name, " ", "-"))
			require.NoError(t, os.Mkdir(dst, 0o755))
			t.Cleanup(func() { os.RemoveAll(dst) })
			_, err := unpack(bytes.NewReader(tarball(t, entries...)), dst, []string{"."})
			if name == "link then file" {
				// The link is replaced by the file: nothing is written through it.
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
			if name == "dotdot" || name == "leading dotdot" || name == "absolute" {
				require.ErrorContains(t, err, "refused entry", "named in the job's log as refused")
			}
			require.NoFileExists(t, filepath.Join(outside, "escaped"))
		})
	}
}

// TestUnpackPreexistingLink: a link already in the working directory that
// leads out is not written through.
func TestUnpackPreexistingLink(t *testing.T) {
	dst, outside := t.TempDir(), t.TempDir()
	require.NoError(t, os.Symlink(outside, filepath.Join(dst, "cache")))
	_, err := unpack(bytes.NewReader(tarball(t, entry{name: "cache/escaped", body: "x"})), dst, []string{"cache"})
	require.Error(t, err)
	require.NoFileExists(t, filepath.Join(outside, "escaped"))
}
