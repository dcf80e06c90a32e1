package api

import (
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadBodyAsItArrives: a client that announces 60 MiB and sends ten bytes
// costs ten bytes, not 60 MiB. Not parallel: it measures this process's allocations.
func TestReadBodyAsItArrives(t *testing.T) {
	req := httptest.NewRequest("PATCH", "/", strings.NewReader("0123456789"))
	req.ContentLength = 60 << 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	body, err := readLogBody(httptest.NewRecorder(), req, 64<<20)
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	require.Equal(t, "0123456789", body.String())
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(1<<20), "bytes allocated")
}
