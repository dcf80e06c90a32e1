package cache

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// inside returns p (absolute, or relative to dir) as a clean slash-separated
// path relative to dir, or an error when it leaves dir.
func inside(dir, p string) (string, error) {
	abs := p
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(dir, p)
	}
	rel, err := filepath.Rel(dir, filepath.Clean(abs))
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("%s is outside the working directory %s", p, dir)
	}
	return filepath.ToSlash(rel), nil
}

// pack writes a tar.gz of paths (relative to dir, inside it) to w. Symbolic
// links are stored as links, never followed; a path whose parent folders lead
// out of dir through a link is refused. Paths that do not exist are reported
// to warn and skipped. It returns how many entries it wrote.
func pack(w io.Writer, dir string, paths []string, warn func(string)) (int, error) {
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return 0, err
	}
	gz, err := gzip.NewWriterLevel(w, gzip.BestSpeed)
	if err != nil {
		return 0, err
	}
	tw := tar.NewWriter(gz)
	n := 0
	for _, p := range paths {
		rel, err := inside(dir, p)
		if err != nil {
			return n, err
		}
		if rel == "." {
			return n, fmt.Errorf("%s is the working directory itself: name the folders to keep", p)
		}
		parent, err := filepath.EvalSymlinks(filepath.Join(dir, filepath.Dir(rel)))
		if errors.Is(err, fs.ErrNotExist) {
			warn(p + " does not exist, skipped")
			continue
		}
		if err != nil {
			return n, err
		}
		if _, err := inside(realDir, parent); err != nil {
			return n, fmt.Errorf("%s leads out of the working directory through a symbolic link", p)
		}
		root := filepath.Join(dir, filepath.FromSlash(rel))
		if _, err := os.Lstat(root); errors.Is(err, fs.ErrNotExist) {
			warn(p + " does not exist, skipped")
			continue
		}
		err = filepath.WalkDir(root, func(file string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name, err := inside(dir, file)
			if err != nil {
				return err
			}
			if err := addEntry(tw, file, name, d); err != nil {
				return err
			}
			n++
			return nil
		})
		if err != nil {
			return n, err
		}
	}
	if err := tw.Close(); err != nil {
		return n, err
	}
	return n, gz.Close()
}

// addEntry writes file, named name in the archive, to tw.
func addEntry(tw *tar.Writer, file, name string, d fs.DirEntry) error {
	info, err := d.Info()
	if err != nil {
		return err
	}
	link := ""
	switch {
	case info.Mode()&fs.ModeSymlink != 0:
		if link, err = os.Readlink(file); err != nil {
			return err
		}
	case info.Mode().IsRegular(), info.IsDir():
	default:
		return nil // sockets, devices, pipes: nothing a cache needs
	}
	hdr, err := tar.FileInfoHeader(info, link)
	if err != nil {
		return err
	}
	hdr.Name = name
	if info.IsDir() {
		hdr.Name += "/"
	}
	hdr.Uname, hdr.Gname, hdr.Uid, hdr.Gid = "", "", 0, 0
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.CopyN(tw, f, hdr.Size); err != nil {
		return fmt.Errorf("%s changed while it was archived: %w", file, err)
	}
	return nil
}

// unpack extracts from the tar.gz r into dir the entries at or under one of
// paths (clean, relative to dir). It refuses (and stops at) an entry with an
// absolute name or a ".." segment, and every write goes through an os.Root of
// dir, so none reaches outside it through a symbolic link. It returns how many
// entries it extracted.
func unpack(r io.Reader, dir string, paths []string) (int, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return 0, err
	}
	defer root.Close()
	gz, err := gzip.NewReader(r)
	if err != nil {
		return 0, fmt.Errorf("the cache is no gzip archive: %w", err)
	}
	tr := tar.NewReader(gz)
	n := 0
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("reading the cache: %w", err)
		}
		name, err := entryName(hdr.Name)
		if err != nil {
			return n, err
		}
		if !wanted(name, paths) {
			continue
		}
		if err := extract(root, tr, hdr, name); err != nil {
			return n, fmt.Errorf("extracting %s: %w", hdr.Name, err)
		}
		n++
	}
}

// entryName is a tar entry's name, checked: relative, no ".." segment.
func entryName(raw string) (string, error) {
	if strings.HasPrefix(raw, "/") || filepath.IsAbs(raw) || strings.ContainsRune(raw, '\\') {
		return "", fmt.Errorf("refused entry %q: an absolute path", raw)
	}
	for seg := range strings.SplitSeq(raw, "/") {
		if seg == ".." {
			return "", fmt.Errorf("refused entry %q: it leads out with a .. segment", raw)
		}
	}
	name := path.Clean(raw)
	if name == "." {
		return "", fmt.Errorf("refused entry %q: no name", raw)
	}
	return name, nil
}

// wanted reports whether name is one of paths or under one.
func wanted(name string, paths []string) bool {
	for _, p := range paths {
		if p == "." || name == p || strings.HasPrefix(name, p+"/") {
			return true
		}
	}
	return false
}

// extract writes one entry through root.
func extract(root *os.Root, r io.Reader, hdr *tar.Header, name string) error {
	local := filepath.FromSlash(name)
	mode := fs.FileMode(hdr.Mode).Perm()
	if dir := filepath.Dir(local); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := root.MkdirAll(local, 0o755); err != nil {
			return err
		}
		// Owner-writable, so that what follows can be written into it (Go's module cache is read-only).
		return root.Chmod(local, mode|0o700)
	case tar.TypeReg:
		if err := removeOld(root, local); err != nil {
			return err
		}
		f, err := root.OpenFile(local, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, r); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		return root.Chtimes(local, hdr.ModTime, hdr.ModTime)
	case tar.TypeSymlink:
		if err := removeOld(root, local); err != nil {
			return err
		}
		return root.Symlink(hdr.Linkname, local)
	}
	return nil // other kinds: not written by save
}

// removeOld removes what is at name, unless it is a folder, so that a link
// there is replaced rather than written through.
func removeOld(root *os.Root, name string) error {
	info, err := root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if info.IsDir() {
		return fmt.Errorf("a folder is in the way")
	}
	return root.Remove(name)
}
