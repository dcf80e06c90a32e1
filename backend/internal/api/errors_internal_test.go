package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/events"
	"github.com/aura-ci/aura/backend/internal/integrations"
	"github.com/aura-ci/aura/backend/internal/store"
)

// TestWriteErrorKinds: the store says what kind of refusal an error is, and
// writeError alone turns the kind into an HTTP status, keeping the store's
// message and field.
func TestWriteErrorKinds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantBody   apiError
	}{
		{"not found, named", &store.Error{Kind: store.NotFound, Message: "project x does not exist"},
			404, apiError{Code: 404, Message: "project x does not exist"}},
		{"not found, bare", store.ErrNotFound, 404, apiError{Code: 404, Message: "nothing found at /api/v1/things/7"}},
		{"not found, bare and wrapped", fmt.Errorf("get thing: %w", store.ErrNotFound),
			404, apiError{Code: 404, Message: "nothing found at /api/v1/things/7"}},
		{"invalid", &store.Error{Kind: store.Invalid, Field: "precedingJobs", Message: "job 9 does not exist"},
			400, apiError{Code: 400, Field: "precedingJobs", Message: "job 9 does not exist"}},
		{"conflict", &store.Error{Kind: store.Conflict, Message: "job 3 is running and cannot be retried"},
			409, apiError{Code: 409, Message: "job 3 is running and cannot be retried"}},
		{"conflict, bare", store.ErrConflict, 409, apiError{Code: 409, Message: "already exists"}},
		{"too large", &store.Error{Kind: store.TooLarge, Setting: "AURA_MAX_DEPTH", Message: "too deep"},
			422, apiError{Code: 422, Message: "too deep"}},
		{"too many", &store.Error{Kind: store.TooMany, Setting: "AURA_MAX_CHILDREN", Message: "too many"},
			429, apiError{Code: 429, Message: "too many"}},
		{"gone", store.ErrGone, 410, apiError{Code: 410, Message: "this attempt of the job has ended or is not yours: stop it"}},
		{"bad webhook signature", integrations.ErrUnknownHook,
			401, apiError{Code: 401, Message: "the webhook signature is missing or does not match"}},
		{"too many event sockets", &events.LimitError{Message: "too many event sockets from this address"},
			429, apiError{Code: 429, Message: "too many event sockets from this address"}},
		{"no kind is a bug", &store.Error{Message: "secret internals"},
			500, apiError{Code: 500, Message: "internal server error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			writeError(rec, httptest.NewRequest(http.MethodGet, "/api/v1/things/7", nil), tt.err)
			require.Equal(t, tt.wantStatus, rec.Code)
			var got apiError
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
			require.Equal(t, tt.wantBody, got)
		})
	}
}

// TestNamed: a bare not-found gets the name of what was asked for; any other
// error, a named not-found included, passes unchanged.
func TestNamed(t *testing.T) {
	t.Parallel()
	err := named(store.ErrNotFound, "job %d", 7)
	require.ErrorIs(t, err, store.ErrNotFound)
	require.EqualError(t, err, "job 7 does not exist")
	own := &store.Error{Kind: store.NotFound, Message: "job 7 has no attempt 3"}
	require.Same(t, own, named(own, "job %d", 7))
	require.Same(t, store.ErrConflict, named(store.ErrConflict, "job %d", 7))
}
