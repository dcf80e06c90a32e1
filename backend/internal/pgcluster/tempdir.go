package pgcluster

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// shmDir is a RAM-backed file system on most Linux machines.
const shmDir = "/dev/shm"

// minShmFree is the free space /dev/shm needs to be chosen for a throw-away cluster.
const minShmFree = 2 << 30

// TempDir creates a new, empty data directory for a throw-away (Fast) cluster, one the
// postgres user can reach when running as root. It lies in /dev/shm when that is a
// tmpfs with 2 GiB free, since creating a database from a template there takes ~15 ms
// instead of hundreds on a disk (each CREATE DATABASE creates and later unlinks some
// 300 files); otherwise in os.TempDir(). Directories of the same prefix left behind by
// processes that were killed are removed on the way.
func TempDir(prefix string) (string, error) {
	parent := os.TempDir()
	var fs syscall.Statfs_t
	if err := syscall.Statfs(shmDir, &fs); err == nil && fs.Type == 0x01021994 && // TMPFS_MAGIC
		fs.Bavail*uint64(fs.Bsize) >= minShmFree && syscall.Access(shmDir, 0o2) == nil {
		parent = shmDir
	}
	removeLeftovers(parent, prefix)
	dir, err := os.MkdirTemp(parent, prefix)
	if err != nil {
		return "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// removeLeftovers removes parent/prefix* directories older than a minute whose
// cluster is not running. A cluster stops when the process that started it dies
// (see spawn), but its folder stays.
func removeLeftovers(parent, prefix string) {
	matches, _ := filepath.Glob(filepath.Join(parent, prefix+"*"))
	for _, m := range matches {
		fi, err := os.Lstat(m)
		if err != nil || !fi.IsDir() || time.Since(fi.ModTime()) < time.Minute {
			continue
		}
		base := strings.TrimSuffix(m, ".initdb")
		if running(base) || running(base+".initdb/data") {
			continue
		}
		os.RemoveAll(m)
	}
}

// running tells whether dir holds the pid file of a live postmaster.
func running(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return !errors.Is(err, os.ErrNotExist) // unreadable: leave it alone
	}
	pid, err := strconv.Atoi(strings.SplitN(string(b), "\n", 2)[0])
	if err != nil || pid <= 0 {
		return false
	}
	err = syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
