package blob

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDirContract(t *testing.T) {
	s, err := NewDir(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	testContract(t, s)
	// Nothing but finished objects is left behind: no temporary files, no empty folders.
	var left []string
	_ = filepath.WalkDir(s.Root(), func(p string, e os.DirEntry, err error) error {
		if strings.Contains(e.Name(), tempPrefix) {
			left = append(left, p)
		}
		return nil
	})
	if len(left) > 0 {
		t.Fatalf("temporary files left: %q", left)
	}
}

func TestDirDeleteRemovesEmptyFolders(t *testing.T) {
	s, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, "a/b/c/d", "x", 1)
	put(t, s, "a/keep", "x", 1)
	if err := s.Delete(t.Context(), "a/b/c/d"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.Root(), "a", "b")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("empty folder a/b kept: %v", err)
	}
	if _, err := os.Stat(filepath.Join(s.Root(), "a", "keep")); err != nil {
		t.Fatalf("sibling lost: %v", err)
	}
}

func TestOpenSpec(t *testing.T) {
	data := t.TempDir()
	s, err := Open(t.Context(), "", data, S3Config{})
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := s.(*Dir); !ok || d.Root() != filepath.Join(data, "store") {
		t.Fatalf("default store: %#v", s)
	}
	other := filepath.Join(t.TempDir(), "elsewhere")
	s, err = Open(t.Context(), "dir:"+other, data, S3Config{})
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := s.(*Dir); !ok || d.Root() != other {
		t.Fatalf("dir store: %#v", s)
	}
	for _, bad := range []string{"dir:", "ftp://x", "s3://", "s3:///prefix", "/plain/path"} {
		if _, err := Open(t.Context(), bad, data, S3Config{}); err == nil {
			t.Errorf("spec %q accepted", bad)
		}
	}
}
