// Package testsignal lets a test wait for the moment a background goroutine
// reached a state (a long poll is waiting, the listener is back, the hub
// re-read a project) instead of sleeping and hoping it did. Production code
// signals unconditionally; a signal no test initialised costs one atomic load.
// After River's rivershared/testsignal.
package testsignal

import (
	"sync/atomic"
	"time"
)

// TB is the part of testing.TB a signal reports through, so this package does
// not import testing.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}

// Timeout bounds every Wait: long enough for a loaded machine, short enough to
// fail a test that waits for something that never comes.
const Timeout = 10 * time.Second

// Signal carries values of T from the code under test to a test. The zero value
// is ready to Signal into and ignores everything until a test calls Init.
type Signal[T any] struct {
	ch atomic.Pointer[chan T]
	tb TB // set by Init, before ch
}

// buffered is how many signals wait for a test before more are dropped.
const buffered = 256

// Init makes s keep what is signalled from now on, for tb to Wait for. Call it
// only from tests, before what is to be signalled.
func (s *Signal[T]) Init(tb TB) {
	ch := make(chan T, buffered)
	s.tb = tb
	s.ch.Store(&ch)
}

// Signal records v for a test, if one initialised s; it never blocks.
func (s *Signal[T]) Signal(v T) {
	ch := s.ch.Load()
	if ch == nil {
		return
	}
	select {
	case *ch <- v:
	default: // a test that waits for more than 256 of them is not one
	}
}

// Wait returns the next value signalled, failing the test after Timeout.
func (s *Signal[T]) Wait() T {
	s.tb.Helper()
	ch := s.ch.Load()
	if ch == nil {
		panic("testsignal: Wait before Init")
	}
	select {
	case v := <-*ch:
		return v
	case <-time.After(Timeout):
		s.tb.Fatalf("testsignal: nothing signalled within %s", Timeout)
	}
	var zero T
	return zero
}

// WaitFor returns the next value signalled for which match holds, skipping
// others, failing the test after Timeout.
func (s *Signal[T]) WaitFor(match func(T) bool) T {
	s.tb.Helper()
	deadline := time.After(Timeout)
	ch := s.ch.Load()
	if ch == nil {
		panic("testsignal: WaitFor before Init")
	}
	for {
		select {
		case v := <-*ch:
			if match(v) {
				return v
			}
		case <-deadline:
			s.tb.Fatalf("testsignal: nothing matching signalled within %s", Timeout)
			var zero T
			return zero
		}
	}
}

// C is the channel of what is signalled, for a test's own goroutine (which
// must not fail the test): Wait and WaitFor are for the test's.
func (s *Signal[T]) C() <-chan T {
	ch := s.ch.Load()
	if ch == nil {
		panic("testsignal: C before Init")
	}
	return *ch
}
