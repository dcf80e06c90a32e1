package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/aura-ci/aura/backend/internal/auth"
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
	errUnauthorized = errorf(http.StatusUnauthorized, "", "a valid bearer token is required")
	errForbidden    = errorf(http.StatusForbidden, "", "this token may not do that")
)

// writeError answers err as JSON. Errors the API does not know are logged and
// answered 500 without their text, which may hold internals.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	var inv *store.InvalidError
	var conflict *store.ConflictError
	var limit *store.LimitError
	var notFound *store.NotFoundError
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &inv):
		ae = errorf(http.StatusBadRequest, inv.Field, inv.Message)
	case errors.As(err, &conflict):
		ae = errorf(http.StatusConflict, "", conflict.Message)
	case errors.As(err, &notFound):
		ae = errorf(http.StatusNotFound, "", notFound.Message)
	case errors.Is(err, store.ErrNotFound):
		ae = errorf(http.StatusNotFound, "", "nothing found at "+r.URL.Path)
	case errors.Is(err, store.ErrConflict):
		ae = errorf(http.StatusConflict, "", "already exists")
	case errors.As(err, &limit):
		ae = errorf(limit.Code, "", limit.Message)
	case errors.Is(err, store.ErrGone):
		ae = errorf(http.StatusGone, "", "this attempt of the job has ended or is not yours: stop it")
	case errors.Is(err, auth.ErrInvalidToken), errors.Is(err, auth.ErrJobEnded):
		ae = errorf(http.StatusUnauthorized, "", err.Error())
	case r.Context().Err() != nil && !errors.Is(context.Cause(r.Context()), store.ErrStalled):
		return // the client went away; nobody reads an answer
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
	var nf *store.NotFoundError
	if errors.Is(err, store.ErrNotFound) && !errors.As(err, &nf) {
		return &store.NotFoundError{Message: fmt.Sprintf(format, a...) + " does not exist"}
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

// writeUnavailable answers 503 while the database cannot be reached.
func writeUnavailable(w http.ResponseWriter) {
	w.Header().Set("Retry-After", retryAfterSeconds)
	writeJSON(w, http.StatusServiceUnavailable, errorf(http.StatusServiceUnavailable, "",
		"the database is unreachable; retry later"))
}
