package api_test

import (
	"context"
	"testing"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"
)

// TestEventsShutdown: a stopping server closes every event socket with a
// going-away close frame (1001, so clients reconnect elsewhere) and waits
// until they are closed; a socket opened after that is closed likewise at once.
func TestEventsShutdown(t *testing.T) {
	b := setup(t)
	a := openEvents(t, b.url, b.admin)
	c := openEvents(t, b.url, b.admin)
	// Subscribed: the hub holds both sockets.
	a.subscribe("queue")
	c.subscribe("runners")
	require.Equal(t, 2, b.hub.Shutdown(context.Background()))
	require.Equal(t, websocket.CloseGoingAway, a.closed())
	require.Equal(t, websocket.CloseGoingAway, c.closed())

	late := openEvents(t, b.url, "")
	require.Equal(t, websocket.CloseGoingAway, late.closed())
	require.Zero(t, b.hub.Shutdown(context.Background()), "nothing is left open")
}
