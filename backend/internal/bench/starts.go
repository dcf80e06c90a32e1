package bench

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// startWatch notes when jobs' shells start: a job's command begins with a
// builtin that creates a file (`: > name`, no program started), and the watch
// sees the file appear. On Linux inotify wakes it at once; elsewhere it looks
// every millisecond.
type startWatch struct {
	dir  string
	mu   sync.Mutex
	seen map[string]time.Time
	wake chan struct{} // closed and replaced on each new name
	stop func()
}

func (e *Env) watchStarts() *startWatch {
	dir := e.TempDir()
	// The stamps go to memory when the machine has a tmpfs: creating a file on
	// a journalled disk that PostgreSQL is committing to waits for the journal
	// (half a millisecond here), a cost of the measurement and not of the job.
	if d, err := os.MkdirTemp("/dev/shm", "aura-bench-starts"); err == nil {
		dir = d
	}
	w := &startWatch{dir: dir, seen: map[string]time.Time{}, wake: make(chan struct{})}
	stop := w.start()
	w.stop = func() {
		stop()
		if strings.HasPrefix(dir, "/dev/shm/") {
			_ = os.RemoveAll(dir)
		}
	}
	return w
}

// note records that name appeared at t.
func (w *startWatch) note(name string, t time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.seen[name]; !ok {
		w.seen[name] = t
		close(w.wake)
		w.wake = make(chan struct{})
	}
}

// stamp is the start of a job's command that marks its shell's start as name,
// and the time its first program started (date) in the file name.date.
func (w *startWatch) stamp(name string) string {
	p := filepath.Join(w.dir, name)
	return ": > " + p + "; date +%s%N > " + p + ".date"
}

// shellStarted waits for the job stamped name to start its shell.
func (w *startWatch) shellStarted(e *Env, name string, within time.Duration) time.Time {
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		w.mu.Lock()
		t, ok := w.seen[name]
		wake := w.wake
		w.mu.Unlock()
		if ok {
			return t
		}
		select {
		case <-wake:
		case <-deadline.C:
			fail("no job started as %s within %v", name, within)
		case <-e.Ctx.Done():
			fail("interrupted")
		}
	}
}

// programStarted waits for the time the job stamped name wrote as its first
// program (date) started.
func (w *startWatch) programStarted(e *Env, name string, within time.Duration) time.Time {
	path := filepath.Join(w.dir, name+".date")
	deadline := time.Now().Add(within)
	for {
		b, err := os.ReadFile(path)
		if err == nil && len(b) > 0 && b[len(b)-1] == '\n' {
			ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
			check(err, "job start time")
			return time.Unix(0, ns)
		}
		if time.Now().After(deadline) {
			fail("no job wrote %s within %v", path, within)
		}
		e.pause(time.Millisecond)
	}
}

// pollStarts looks for new names every millisecond, where inotify is missing.
func (w *startWatch) pollStarts() func() {
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(time.Millisecond):
			}
			entries, _ := os.ReadDir(w.dir)
			now := time.Now()
			for _, en := range entries {
				if !strings.HasSuffix(en.Name(), ".date") {
					w.note(en.Name(), now)
				}
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done) }) }
}
