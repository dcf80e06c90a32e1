package blob

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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
	data := filepath.Join(t.TempDir(), "data")
	s, err := Open(t.Context(), "", data, S3Config{})
	if err != nil {
		t.Fatal(err)
	}
	// Opened before the database, the store must not make the data folder
	// closed to the embedded PostgreSQL's own user.
	umask := syscall.Umask(0)
	syscall.Umask(umask)
	if st, err := os.Stat(data); err != nil || st.Mode().Perm() != 0o755&^fs.FileMode(umask) {
		t.Fatalf("data folder made with %v, %v; want 0755 (less the umask %03o)", st.Mode().Perm(), err, umask)
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

// TestDirRemoveStale: the temporary file a crashed Put left is removed once
// old enough; a fresh one (a Put in progress) and the objects stay.
func TestDirRemoveStale(t *testing.T) {
	s, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, "a/b/obj", "x", 1)
	old := filepath.Join(s.Root(), "a", "b", tempPrefix+"crashed")
	fresh := filepath.Join(s.Root(), "a", tempPrefix+"writing")
	for _, p := range []string{old, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chtimes(old, time.Now().Add(-2*time.Hour), time.Now().Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := keys(t, s, ""); fmt.Sprint(got) != "[a/b/obj]" {
		t.Fatalf("list shows temporary files: %q", got)
	}
	n, err := s.RemoveStale(t.Context(), time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("removed %d, %v", n, err)
	}
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale file kept: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Fatalf("fresh file removed: %v", err)
	}
	if got := read(t, s, "a/b/obj", 0, -1); got != "x" {
		t.Fatalf("object: %q", got)
	}
}
