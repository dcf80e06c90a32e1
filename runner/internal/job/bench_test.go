package job

import (
	"io"
	"os"
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
