package api

import (
	"github.com/aura-ci/aura/backend/internal/auth"
	"github.com/aura-ci/aura/backend/internal/event"
	"github.com/aura-ci/aura/backend/internal/events"
)

// CacheTokens has a remember admin, project and runner tokens, so parked
// runners' long polls and every request of a runner or a script cost no token
// lookup, and keeps the cache true through l: every server's revocation (a
// deleted token, runner or project, its sockets closed by the same event)
// drops its entries as soon as l hears it, and a reconnect of l, after which
// revocations may have been missed, drops them all. While l is disconnected
// every token is looked up. Call it before l runs.
func CacheTokens(a *auth.Authenticator, l *events.Listener) {
	a.CacheTokens(l.PID)
	l.HandleEvents(func(e event.Event) {
		if x, ok := e.(event.Access); ok {
			a.ForgetAccess(x)
		}
	})
	l.OnReconnect(a.ForgetAll)
}
