package main

import (
	"os"
	"runtime/debug"
	"testing"
)

func TestSetGCPercent(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))

	t.Setenv("GOGC", "")
	os.Unsetenv("GOGC")
	setGCPercent()
	if got := debug.SetGCPercent(100); got != defaultGCPercent {
		t.Fatalf("without GOGC the target is %d, want %d", got, defaultGCPercent)
	}

	// The operator's GOGC stands: the runtime read it at start, and it is left alone.
	t.Setenv("GOGC", "150")
	debug.SetGCPercent(150)
	setGCPercent()
	if got := debug.SetGCPercent(100); got != 150 {
		t.Fatalf("with GOGC=150 the target is %d", got)
	}
}
