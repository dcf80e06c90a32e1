package job

import (
	"io"
	"os"
	"sync"
	"testing"
	"time"
)

// BenchmarkRunTrue measures what running a job costs the runner: workspace,
// supervisor, shell, and cleaning up, for `true`.
func BenchmarkRunTrue(b *testing.B) {
	dir := b.TempDir()
	for b.Loop() {
		p, err := Start(Spec{ID: 1, Attempt: 1, Cmd: "true", Shell: "sh", Env: os.Environ(),
			WorkDir: dir, Grace: time.Second, Output: io.Discard})
		if err != nil {
			b.Fatal(err)
		}
		if res := p.Wait(); res.ExitCode != 0 {
			b.Fatal(res)
		}
	}
}

// BenchmarkStartIdle measures how long Start takes, the job's wait before its
// shell runs, for a runner that was idle a moment before the job came.
func BenchmarkStartIdle(b *testing.B) {
	dir := b.TempDir()
	for b.Loop() {
		b.StopTimer()
		time.Sleep(50 * time.Millisecond) // idle a moment: what is measured
		b.StartTimer()
		p, err := Start(Spec{ID: 1, Attempt: 1, Cmd: "true", Shell: "sh", Env: os.Environ(),
			WorkDir: dir, Grace: time.Second, Output: io.Discard})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if res := p.Wait(); res.ExitCode != 0 {
			b.Fatal(res)
		}
		b.StartTimer()
	}
}

// BenchmarkFirstCommandIdle measures a job's wait for its first command, from
// Start to its first output (echo, a builtin), for a runner that was idle a
// moment before the job came: a spare with the workspace and, for dash, the
// shell started ahead.
func BenchmarkFirstCommandIdle(b *testing.B) {
	dir := b.TempDir()
	for b.Loop() {
		b.StopTimer()
		time.Sleep(150 * time.Millisecond) // idle a moment, the spare refilled: what is measured
		first := &firstWrite{wrote: make(chan struct{})}
		b.StartTimer()
		p, err := Start(Spec{ID: 1, Attempt: 1, Cmd: "echo started", Shell: "sh", Env: os.Environ(),
			WorkDir: dir, Grace: time.Second, Output: first})
		if err != nil {
			b.Fatal(err)
		}
		<-first.wrote
		b.StopTimer()
		if res := p.Wait(); res.ExitCode != 0 {
			b.Fatal(res)
		}
		b.StartTimer()
	}
}

// firstWrite closes wrote at its first write.
type firstWrite struct {
	once  sync.Once
	wrote chan struct{}
}

func (w *firstWrite) Write(b []byte) (int, error) {
	w.once.Do(func() { close(w.wrote) })
	return len(b), nil
}
