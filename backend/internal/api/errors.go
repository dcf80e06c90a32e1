package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/aura-ci/aura/backend/internal/auth"
	"github.com/aura-ci/aura/backend/internal/events"
	"github.com/aura-ci/aura/backend/internal/integrations"
	"github.com/aura-ci/aura/backend/internal/store"
)

// apiError is an error with its own HTTP status, answered as {"code","message","field"}.
type apiError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	Length  *int64 `json:"length,omitempty"` // 416 of a log append: what the server has
}

func (e *apiError) Error() string { return e.Message }

func errorf(code int, field, message string) *apiError {
	return &apiError{Code: code, Message: message, Field: field}
}

var (
	errUnauthorized = errorf(http.StatusUnauthorized, "", "sign in, or send a valid bearer token")
	errForbidden    = errorf(http.StatusForbidden, "", "you may not do that (this token, or your role, does not allow it)")
)

// statusOf is the HTTP status of each kind of store error; only writeError reads it.
var statusOf = map[store.ErrorKind]int{
	store.NotFound: http.StatusNotFound,
	store.Invalid:  http.StatusBadRequest,
	store.Conflict: http.StatusConflict,
	store.TooLarge: http.StatusUnprocessableEntity,
	store.TooMany:  http.StatusTooManyRequests,
	store.Gone:     http.StatusGone,
}

// writeError answers err as JSON. Errors the API does not know are logged and
// answered 500 without their text, which may hold internals.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	var se *store.Error
	var socketLimit *events.LimitError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &se) && statusOf[se.Kind] != 0:
		ae = errorf(statusOf[se.Kind], se.Field, se.Message)
		if error(se) == store.ErrNotFound {
			ae.Message = "nothing found at " + r.URL.Path
		}
	case errors.As(err, &socketLimit):
		ae = errorf(http.StatusTooManyRequests, "", socketLimit.Message)
	case errors.Is(err, auth.ErrInvalidToken), errors.Is(err, auth.ErrJobEnded), errors.Is(err, integrations.ErrSignature),
		errors.Is(err, auth.ErrInvalidSession), errors.Is(err, auth.ErrUserDisabled):
		ae = errorf(http.StatusUnauthorized, "", err.Error())
	case r.Context().Err() != nil && !errors.Is(context.Cause(r.Context()), store.ErrStalled):
		return // the client went away; nobody reads an answer
	case errors.Is(err, store.ErrPoolExhausted), errors.Is(context.Cause(r.Context()), store.ErrPoolExhausted):
		writeBusy(w)
		return
	case store.OutOfSpace(err):
		slog.Error("out of space", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", retryAfterSeconds)
		ae = errorf(http.StatusInsufficientStorage, "", "the server's storage is full; retry later")
	case store.Unavailable(err), r.Context().Err() != nil,
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		// The database is unreachable or stalled (frozen): the request's
		// context, or that of one database call, ended while the client waits.
		writeUnavailable(w)
		return
	default:
		slog.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		ae = errorf(http.StatusInternalServerError, "", "internal server error")
	}
	writeJSON(w, ae.Code, ae)
}

// named turns a bare "not found" from the store into one that says what was
// not found.
func named(err error, format string, a ...any) error {
	var se *store.Error
	if errors.As(err, &se) && error(se) == store.ErrNotFound {
		return &store.Error{Kind: store.NotFound, Message: fmt.Sprintf(format, a...) + " does not exist"}
	}
	return err
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// retryAfterSeconds is what an outage answer suggests: the server serves again
// within a second of the database coming back.
const retryAfterSeconds = "2"

// writeBusy answers 503 while every connection to the database is taken.
func writeBusy(w http.ResponseWriter) {
	w.Header().Set("Retry-After", retryAfterSeconds)
	writeJSON(w, http.StatusServiceUnavailable, errorf(http.StatusServiceUnavailable, "",
		"every database connection is busy; retry later"))
}

// writeUnavailable answers 503 while the database cannot be reached.
func writeUnavailable(w http.ResponseWriter) {
	w.Header().Set("Retry-After", retryAfterSeconds)
	writeJSON(w, http.StatusServiceUnavailable, errorf(http.StatusServiceUnavailable, "",
		"the database is unreachable; retry later"))
}
