package job

import (
	"os"
	"testing"
)

// The runner adopts its jobs' orphans (aura-runner calls AdoptOrphans first);
// the tests run the same way.
func TestMain(m *testing.M) {
	if err := AdoptOrphans(); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}
