// Package pgcluster runs a private PostgreSQL cluster from the installed PostgreSQL
// server binaries: initdb on the first start, then postgres listening on loopback
// only. `aura serve` uses it as its embedded default database, and the tests use it
// as their database server.
//
// postgres runs as a child of the calling process, in its own session (a Ctrl-C in
// the terminal reaches only the caller, which then shuts it down in order), and is
// told to shut down fast if the caller dies without calling Stop, so a killed test
// binary or server never leaves a cluster behind.
package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Superuser is the name of the cluster's superuser.
const Superuser = "aura"

// Config says where and how to run a cluster.
type Config struct {
	// Dir is the data directory; initdb runs when it holds no PG_VERSION.
	Dir string
	// Port is the loopback port to listen on; 0 picks a free one.
	Port int
	// Password, when set, is required (scram-sha-256) from the superuser "aura";
	// empty trusts every loopback connection, which suits tests only.
	Password string
	// Fast turns off fsync, synchronous_commit and full_page_writes (a crash may
	// lose or corrupt data, which is fine for tests and nothing else), skips initdb's
	// sync, and caps the WAL at max_wal_size=256MB so a cluster in RAM (TempDir)
	// stays small.
	Fast bool
	// Settings are extra server settings (-c name=value), e.g. max_connections,
	// whose default here is 200.
	Settings map[string]string
	// Logf, if not nil, receives progress messages.
	Logf func(format string, args ...any)
}

// Cluster is a running PostgreSQL server.
type Cluster struct {
	dir      string
	port     int
	password string
	bin      *binaries
	owner    *osUser // nil: run as the current user
	logf     func(format string, args ...any)

	proc    *os.Process
	exited  chan struct{} // closed once postgres has exited and waitErr is set
	waitErr error

	stopOnce sync.Once
	stopErr  error
	stopping atomic.Bool // Stop was called: an exit is expected

	freezeMu sync.Mutex
	frozen   []int // the processes Freeze stopped; nil when not frozen
}

const (
	logFile      = "postgres.log"
	startTimeout = 5 * time.Minute // crash recovery of a big embedded database may take a while
	stopTimeout  = 60 * time.Second
	portAttempts = 8
	// shmWait bounds how long a start waits for the orphaned backends of a killed
	// postmaster to exit: they hold its shared memory block, and postgres refuses
	// to start while it is in use.
	shmWait     = 30 * time.Second
	shmPatience = 2 * time.Second // before the orphans are told to quit
)

// Start runs initdb in cfg.Dir if it holds no cluster yet, then starts postgres and
// returns once it accepts connections. ctx bounds only the start; the cluster runs
// until Stop (or until the calling process exits).
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.Dir == "" {
		return nil, errors.New("pgcluster: no data directory given")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	c := &Cluster{dir: dir, password: cfg.Password, logf: cfg.Logf}
	if c.logf == nil {
		c.logf = func(string, ...any) {}
	}
	if os.Geteuid() == 0 {
		if c.owner, err = lookupPostgresUser(); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	if c.owner != nil {
		if err := c.owner.checkReachable(dir); err != nil {
			return nil, err
		}
	}

	version, err := os.ReadFile(filepath.Join(dir, "PG_VERSION"))
	exists := err == nil
	switch {
	case exists:
	case errors.Is(err, fs.ErrNotExist):
		if err := checkEmpty(dir); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	if c.bin, err = findBinaries(strings.TrimSpace(string(version))); err != nil {
		return nil, err
	}
	if !exists {
		if err := c.initdb(ctx, cfg.Fast); err != nil {
			return nil, err
		}
	}

	settings := map[string]string{"max_connections": "200"}
	if cfg.Fast {
		settings["fsync"] = "off"
		settings["synchronous_commit"] = "off"
		settings["full_page_writes"] = "off"
		settings["max_wal_size"] = "256MB"
	}
	for k, v := range cfg.Settings {
		settings[k] = v
	}
	shmDeadline := time.Now().Add(shmWait)
	for attempt := 1; ; attempt++ {
		c.port = cfg.Port
		if c.port == 0 {
			if c.port, err = freePort(); err != nil {
				return nil, fmt.Errorf("pgcluster: find a free port: %w", err)
			}
		}
		err = c.start(ctx, settings)
		if err == nil {
			break
		}
		if errors.Is(err, errShmInUse) && time.Now().Before(shmDeadline) {
			if attempt == 1 {
				c.logf("the previous postgres left backends running; waiting for them to exit")
			}
			if time.Until(shmDeadline) < shmWait-shmPatience {
				// Busy in a long query, they only notice at its end: stop them as
				// postgres' own hint says ("terminate any old server processes").
				quitOrphans(dir, c.logf)
			}
			select {
			case <-time.After(100 * time.Millisecond):
			case <-ctx.Done():
				return nil, fmt.Errorf("pgcluster: start postgres: %w", ctx.Err())
			}
			continue
		}
		if !errors.Is(err, errPortTaken) || cfg.Port != 0 || attempt >= portAttempts {
			return nil, err
		}
		c.logf("PostgreSQL port %d was taken meanwhile, trying another", c.port)
	}
	c.logf("PostgreSQL %s listening on 127.0.0.1:%d (data in %s)", c.bin.version, c.port, dir)
	return c, nil
}

// URL returns the connection URL of database as the superuser.
func (c *Cluster) URL(database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(Superuser),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	if c.password != "" {
		u.User = url.UserPassword(Superuser, c.password)
	}
	return u.String()
}

// Port returns the loopback port the cluster listens on.
func (c *Cluster) Port() int { return c.port }

// BinDir returns the folder of the PostgreSQL programs the cluster runs (where
// pgbench and psql of the same version are, when installed).
func (c *Cluster) BinDir() string { return filepath.Dir(c.bin.postgres) }

// Dir returns the cluster's data directory.
func (c *Cluster) Dir() string { return c.dir }

// Exited is closed when postgres has exited, whether by Stop or on its own.
func (c *Cluster) Exited() <-chan struct{} { return c.exited }

// ExitErr says how postgres exited, with the end of its log, once Exited is closed.
func (c *Cluster) ExitErr() error {
	<-c.exited
	return fmt.Errorf("postgres exited (%v)%s", c.waitErr, c.logTail(0))
}

// Stopping reports whether Stop was called, so an exit is no surprise.
func (c *Cluster) Stopping() bool { return c.stopping.Load() }

// Stop shuts the cluster down with `pg_ctl stop -m fast` (active sessions are
// disconnected, then a checkpoint is written) and waits for postgres to exit.
// Later calls return the first call's result.
func (c *Cluster) Stop() error {
	c.stopping.Store(true)
	if err := c.Thaw(); err != nil {
		c.logf("%v", err)
	}
	c.stopOnce.Do(func() { c.stopErr = c.stop() })
	return c.stopErr
}

func (c *Cluster) stop() error {
	select {
	case <-c.exited:
		return fmt.Errorf("pgcluster: postgres had already exited: %v%s", c.waitErr, c.logTail(0))
	default:
	}
	cmd := c.command(context.Background(), c.bin.pgCtl, "stop", "-D", c.dir, "-m", "fast", "-w", "-t", strconv.Itoa(int(stopTimeout/time.Second)))
	out, ctlErr := cmd.CombinedOutput()
	if ctlErr != nil {
		// SIGINT is what pg_ctl sends for a fast shutdown; do it ourselves.
		c.logf("pg_ctl stop: %v: %s", ctlErr, strings.TrimSpace(string(out)))
		_ = c.proc.Signal(syscall.SIGINT)
	}
	select {
	case <-c.exited:
	case <-time.After(stopTimeout):
		_ = c.proc.Kill()
		<-c.exited
		return fmt.Errorf("pgcluster: postgres did not shut down within %v and was killed%s", stopTimeout, c.logTail(0))
	}
	if c.waitErr != nil {
		return fmt.Errorf("pgcluster: postgres: %w%s", c.waitErr, c.logTail(0))
	}
	c.logf("PostgreSQL on port %d stopped", c.port)
	return nil
}

// initdb creates the cluster in a work directory beside Dir and renames it into
// place once complete, so an interrupted initdb never leaves a half-made cluster.
func (c *Cluster) initdb(ctx context.Context, fast bool) error {
	start := time.Now()
	work := c.dir + ".initdb"
	if err := os.RemoveAll(work); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if err := os.Mkdir(work, 0o700); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	defer os.RemoveAll(work)
	if err := c.chown(work); err != nil {
		return err
	}
	data := filepath.Join(work, "data")
	args := []string{"-D", data, "-U", Superuser, "--no-locale", "-E", "UTF8", "--no-instructions"}
	if fast {
		args = append(args, "--no-sync")
	}
	if c.password == "" {
		args = append(args, "--auth=trust")
	} else {
		pwfile := filepath.Join(work, "pwfile")
		if err := os.WriteFile(pwfile, []byte(c.password+"\n"), 0o600); err != nil {
			return fmt.Errorf("pgcluster: %w", err)
		}
		if err := c.chown(pwfile); err != nil {
			return err
		}
		args = append(args, "--auth=scram-sha-256", "--pwfile="+pwfile)
	}
	c.logf("creating a PostgreSQL %s cluster in %s", c.bin.version, c.dir)
	cmd := c.command(ctx, c.bin.initdb, args...)
	// SIGINT lets initdb remove what it made.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("pgcluster: initdb: %w", ctx.Err())
		}
		return fmt.Errorf("pgcluster: initdb %s: %w\n%s", c.dir, err, strings.TrimSpace(string(out)))
	}
	// rename(2) replaces Dir if it exists and is empty; os.Rename refuses to.
	if err := syscall.Rename(data, c.dir); err != nil {
		return fmt.Errorf("pgcluster: move the new cluster into place: %w", err)
	}
	c.logf("created the cluster in %v", time.Since(start).Round(time.Millisecond))
	return nil
}

var (
	errPortTaken = errors.New("port taken")
	errShmInUse  = errors.New("shared memory block still in use")
)

// start runs postgres and waits until it is ready.
func (c *Cluster) start(ctx context.Context, settings map[string]string) error {
	logPath := filepath.Join(c.dir, logFile)
	logf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("pgcluster: open the log: %w", err)
	}
	defer logf.Close()
	if err := c.chown(logPath); err != nil {
		return err
	}
	fi, err := logf.Stat()
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	logStart := fi.Size()

	args := []string{"-D", c.dir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port=" + strconv.Itoa(c.port),
		// No unix socket: its path would be limited to ~100 bytes, and loopback TCP is enough.
		"-c", "unix_socket_directories=",
	}
	names := make([]string, 0, len(settings))
	for k := range settings {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		args = append(args, "-c", k+"="+settings[k])
	}
	cmd := c.command(context.Background(), c.bin.postgres, args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr.Setsid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGINT
	if err := c.spawn(cmd); err != nil {
		return fmt.Errorf("pgcluster: start postgres: %w", err)
	}

	pidFile := filepath.Join(c.dir, "postmaster.pid")
	pid := strconv.Itoa(c.proc.Pid)
	deadline := time.NewTimer(startTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-c.exited:
			tail := c.logTail(logStart)
			if strings.Contains(tail, "Address already in use") || strings.Contains(tail, "could not create any TCP/IP sockets") {
				return fmt.Errorf("pgcluster: postgres could not listen on port %d: %w%s", c.port, errPortTaken, tail)
			}
			if strings.Contains(tail, "pre-existing shared memory block") {
				return fmt.Errorf("pgcluster: postgres: %w%s", errShmInUse, tail)
			}
			return fmt.Errorf("pgcluster: postgres exited while starting (%v)%s", c.waitErr, tail)
		case <-ctx.Done():
			c.abort()
			return fmt.Errorf("pgcluster: start postgres: %w", ctx.Err())
		case <-deadline.C:
			c.abort()
			return fmt.Errorf("pgcluster: postgres was not ready after %v%s", startTimeout, c.logTail(logStart))
		case <-tick.C:
			// pg_ctl -w waits the same way: the postmaster writes "ready" as the 8th
			// line of its pid file once it accepts connections.
			b, err := os.ReadFile(pidFile)
			if err != nil {
				continue
			}
			lines := strings.Split(string(b), "\n")
			if len(lines) >= 8 && lines[0] == pid && strings.TrimSpace(lines[7]) == "ready" {
				return nil
			}
		}
	}
}

// spawn starts cmd from a goroutine locked to its OS thread for postgres' whole
// life: Pdeathsig fires when the thread that started the child ends, not the process.
func (c *Cluster) spawn(cmd *exec.Cmd) error {
	c.exited = make(chan struct{})
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		c.proc = cmd.Process
		started <- nil
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()
	return <-started
}

// abort stops a postgres that did not become ready.
func (c *Cluster) abort() {
	_ = c.proc.Signal(syscall.SIGQUIT)
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		_ = c.proc.Kill()
		<-c.exited
	}
}

// command prepares a PostgreSQL program to run as the cluster's owner.
func (c *Cluster) command(ctx context.Context, path string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, path, args...)
	// The caller's working directory may be closed to the postgres user (/root).
	cmd.Dir = "/"
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	if c.owner != nil {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: c.owner.uid, Gid: c.owner.gid, Groups: c.owner.groups}
	}
	return cmd
}

func (c *Cluster) chown(path string) error {
	if c.owner == nil {
		return nil
	}
	if err := os.Chown(path, int(c.owner.uid), int(c.owner.gid)); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	return nil
}

// logTail returns the last lines of the server log written after offset, formatted
// to follow an error message.
func (c *Cluster) logTail(offset int64) string {
	f, err := os.Open(filepath.Join(c.dir, logFile))
	if err != nil {
		return ""
	}
	defer f.Close()
	const max = 4096
	if fi, err := f.Stat(); err == nil && fi.Size()-offset > max {
		offset = fi.Size() - max
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	tail := strings.TrimSpace(strings.Join(lines, "\n"))
	if tail == "" {
		return ""
	}
	return fmt.Sprintf("\n--- end of %s ---\n%s", filepath.Join(c.dir, logFile), tail)
}

// checkEmpty fails when dir exists with files in it but no cluster: initdb would
// refuse it, and it is likely not meant as a data directory.
func checkEmpty(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("pgcluster: %s is not empty but holds no PostgreSQL cluster (no PG_VERSION): empty it or choose another folder", dir)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// quitOrphans sends SIGQUIT to the processes working in dir, the orphaned backends
// of a postmaster that died (postgres reported its shared memory still in use,
// which it only does once it found that postmaster gone). Backends run with the
// data directory as their working directory.
func quitOrphans(dir string, logf func(string, ...any)) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cwd")
	for _, p := range procs {
		cwd, err := os.Readlink(p)
		if err != nil || cwd != dir {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil || pid == os.Getpid() {
			continue
		}
		if syscall.Kill(pid, syscall.SIGQUIT) == nil {
			logf("stopped orphaned postgres backend %d", pid)
		}
	}
}
