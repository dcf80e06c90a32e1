package integrations

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestReporterReusesConnections: statuses sent one after another to a forge
// go over one connection, the forge's answer read to its end, rather than a
// new connection (and a dial) per status.
func TestReporterReusesConnections(t *testing.T) {
	t.Parallel()
	var conns atomic.Int64
	forge := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		// Gitea answers a status with the status it created.
		_, _ = fmt.Fprintf(w, `{"id":1,"state":"pending","context":"aura","description":"%0200d"}`, 0)
	}))
	forge.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	forge.Start()
	t.Cleanup(forge.Close)
	r := NewReporter(5 * time.Second)
	f := &Forge{Kind: KindGitea, APIURL: forge.URL + "/api/v1", Token: "t", Repository: "owner/repo", AllowPrivateNetwork: true}
	for i := range 10 {
		require.NoError(t, r.Send(context.Background(), f, &Status{SHA: fmt.Sprintf("%040x", i), Context: "aura", State: "pending"}))
	}
	require.EqualValues(t, 1, conns.Load())
}
