// Package events carries Aura's cross-process signals: one LISTEN connection per
// server process, fanned out to whoever handles each channel.
package events

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// HandlerFunc handles one notification.
type HandlerFunc func(channel, payload string)

// Listener holds one dedicated connection (not from the pool) that LISTENs on a set
// of channels. It reconnects with backoff and then calls its resync func, since
// notifications sent while it was away are lost.
type Listener struct {
	url        string
	channels   []string
	handle     HandlerFunc
	resyncFunc func()

	readyOnce sync.Once
	ready     chan struct{}
}

// NewListener returns a Listener for channels on the database at url.
func NewListener(url string, channels []string, handle HandlerFunc, resync func()) *Listener {
	return &Listener{url: url, channels: channels, handle: handle, resyncFunc: resync, ready: make(chan struct{})}
}

// Ready is closed once the first LISTEN is in place.
func (l *Listener) Ready() <-chan struct{} { return l.ready }

// Run listens until ctx ends.
func (l *Listener) Run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for first := true; ctx.Err() == nil; first = false {
		err := l.listen(ctx, !first)
		if ctx.Err() != nil {
			return
		}
		slog.Warn("event listener disconnected, reconnecting", "err", err, "in", backoff)
		select {
		case <-time.After(backoff + rand.N(backoff/2)):
		case <-ctx.Done():
			return
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (l *Listener) listen(ctx context.Context, resync bool) error {
	conn, err := pgx.Connect(ctx, l.url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for _, ch := range l.channels {
		if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ch}.Sanitize()); err != nil {
			return err
		}
	}
	l.readyOnce.Do(func() { close(l.ready) })
	if resync && l.resyncFunc != nil {
		l.resyncFunc()
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		l.handle(n.Channel, n.Payload)
	}
}
