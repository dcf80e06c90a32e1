package pgcluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// binaries are the PostgreSQL server programs of one installed version.
type binaries struct {
	initdb, pgCtl, postgres string
	version                 string // as postgres -V says, e.g. "15.14"
}

// libDir is where Debian installs each PostgreSQL major version's programs.
const libDir = "/usr/lib/postgresql"

// findBinaries looks for initdb, pg_ctl and postgres on PATH, then in the highest
// /usr/lib/postgresql/*/bin. With wantMajor set (the PG_VERSION of an existing
// cluster), a directory of that major version is preferred.
func findBinaries(wantMajor string) (*binaries, error) {
	var dirs []string
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			dirs = append(dirs, filepath.Dir(real))
		}
		dirs = append(dirs, filepath.Dir(p))
	}
	versioned, _ := filepath.Glob(filepath.Join(libDir, "*", "bin"))
	slices.SortFunc(versioned, func(a, b string) int { return versionKey(b) - versionKey(a) })
	dirs = append(dirs, versioned...)

	var found []*binaries
	for _, d := range dirs {
		b := &binaries{initdb: filepath.Join(d, "initdb"), pgCtl: filepath.Join(d, "pg_ctl"), postgres: filepath.Join(d, "postgres")}
		if !isExecutable(b.initdb) || !isExecutable(b.pgCtl) || !isExecutable(b.postgres) {
			continue
		}
		out, err := exec.Command(b.postgres, "-V").Output()
		if err != nil {
			continue
		}
		// "postgres (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)"
		if f := strings.Fields(string(out)); len(f) >= 3 {
			b.version = f[2]
		}
		if wantMajor == "" || major(b.version) == wantMajor {
			return b, nil
		}
		found = append(found, b)
	}
	if len(found) > 0 {
		// postgres itself will explain the version mismatch.
		return found[0], nil
	}
	return nil, errors.New("pgcluster: the PostgreSQL server programs (initdb, pg_ctl, postgres) are neither on PATH nor in " +
		libDir + "/*/bin: install them (Debian: apt-get install postgresql) or give a database URL")
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// versionKey orders /usr/lib/postgresql/<version>/bin by version: 9.6 < 10 < 15.
func versionKey(dir string) int {
	v := filepath.Base(filepath.Dir(dir))
	maj, minor, _ := strings.Cut(v, ".")
	a, _ := strconv.Atoi(maj)
	b, _ := strconv.Atoi(minor)
	return a*1000 + b
}

func major(version string) string {
	m, _, _ := strings.Cut(version, ".")
	return m
}

// osUser is the account PostgreSQL runs as when the caller is root.
type osUser struct {
	name     string
	uid, gid uint32
	groups   []uint32
}

// lookupPostgresUser finds the postgres account: PostgreSQL refuses to run as root.
func lookupPostgresUser() (*osUser, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgcluster: running as root, but PostgreSQL refuses to run as root and there is no "+
			"postgres user to run it as (%v): install PostgreSQL from your distribution (it creates that user), "+
			"create it (useradd --system postgres) or run as another user", err)
	}
	o := &osUser{name: u.Username}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("pgcluster: postgres user: %w", err)
	}
	o.uid, o.gid = uint32(uid), uint32(gid)
	gids, _ := u.GroupIds()
	for _, g := range gids {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil {
			o.groups = append(o.groups, uint32(n))
		}
	}
	return o, nil
}

// checkReachable fails unless u may enter every directory above dir.
func (u *osUser) checkReachable(dir string) error {
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("pgcluster: %w", err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		perm := fi.Mode().Perm()
		var may bool
		switch {
		case st.Uid == u.uid:
			may = perm&0o100 != 0
		case st.Gid == u.gid || slices.Contains(u.groups, st.Gid):
			may = perm&0o010 != 0
		default:
			may = perm&0o001 != 0
		}
		if !may {
			return fmt.Errorf("pgcluster: PostgreSQL refuses to run as root, so it runs as the %s user, "+
				"which cannot enter %s (mode %v, owner uid %d): choose a --data folder the %s user can reach, "+
				"e.g. under /var/lib or /tmp", u.name, d, perm, st.Uid, u.name)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// Reachable reports (as an error saying why not) whether a cluster could live in
// dir: always when not root, otherwise when the postgres user may enter every
// directory above it.
func Reachable(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := lookupPostgresUser()
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	return u.checkReachable(abs)
}
