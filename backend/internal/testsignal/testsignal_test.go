package testsignal_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/testsignal"
)

func TestSignal(t *testing.T) {
	t.Parallel()
	var s testsignal.Signal[int]
	s.Signal(1) // before Init: ignored, as in production
	s.Init(t)
	s.Signal(2)
	s.Signal(3)
	require.Equal(t, 2, s.Wait())
	s.Signal(4)
	require.Equal(t, 4, s.WaitFor(func(v int) bool { return v == 4 }), "3 is skipped")
	s.Signal(5)
	s.Init(t) // a fresh channel forgets what came before
	s.Signal(6)
	require.Equal(t, 6, <-s.C())
}
