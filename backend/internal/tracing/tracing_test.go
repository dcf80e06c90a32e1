package tracing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestEndpointURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"http://localhost:4318", "http://localhost:4318/v1/traces"},
		{"http://localhost:4318/", "http://localhost:4318/v1/traces"},
		{"https://otel.example/prefix", "https://otel.example/prefix/v1/traces"},
		{"http://localhost:4318/v1/traces", "http://localhost:4318/v1/traces"},
	} {
		got, err := endpointURL(tc.in)
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got, tc.in)
	}
	for _, bad := range []string{"localhost:4318", "grpc://x:4317", "http://", "::"} {
		require.Error(t, CheckEndpoint(bad), bad)
	}
}

// TestOffByDefault: with no endpoint and no OTEL_ variable, Setup turns
// nothing on, and every helper is a no-op: the handler is the one given, no
// job keeps a trace context.
func TestOffByDefault(t *testing.T) {
	t.Parallel()
	env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": " ", "OTEL_SERVICE_NAME": "x"}
	stop, on, err := Setup(context.Background(), Config{LookupEnv: func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}})
	require.NoError(t, err)
	require.False(t, on)
	require.False(t, Enabled())
	require.NoError(t, stop(context.Background()))

	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Route(r, "/api/v1/jobs/{id}")
		require.Nil(t, TraceParent(r.Context()))
	})
	wrapped := Handler(h)
	require.NotNil(t, wrapped)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/api/v1/jobs/1", nil)
	req.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	wrapped.ServeHTTP(rec, req)

	q := StartQueued(3)
	require.Nil(t, q)
	require.Nil(t, q.Start(context.Background(), 0, nil))
	q.End(0, Job{ID: 1})
	Phase(context.Background(), "job.claimed", nil, time.Now(), time.Now(), Job{ID: 1})
}

// BenchmarkOff measures what tracing costs a submit and a request when off.
func BenchmarkOff(b *testing.B) {
	ctx := context.Background()
	req := httptest.NewRequest("GET", "/api/v1/jobs/1", nil)
	for b.Loop() {
		q := StartQueued(1)
		_ = q.Start(ctx, 0, nil)
		q.End(0, Job{ID: 1})
		Route(req, "/api/v1/jobs/{id}")
		Phase(ctx, "job.claimed", nil, time.Time{}, time.Time{}, Job{ID: 1})
	}
}

// BenchmarkRequest measures a traced request through Handler and Route, off
// and on (spans exported to a collector on loopback that drops them), and a
// job phase span.
func BenchmarkRequest(b *testing.B) {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		Route(r, "/api/v1/jobs/{id}")
		w.WriteHeader(http.StatusNoContent)
	})
	run := func(b *testing.B) {
		h := Handler(inner)
		req := httptest.NewRequest("GET", "/api/v1/jobs/1", nil)
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(httptest.NewRecorder(), req)
			Phase(req.Context(), "job.claimed", nil, time.Now(), time.Now(), Job{ID: 1, Project: "p", Attempt: 1, Status: "running"})
		}
	}
	b.Run("off", run)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	defer collector.Close()
	stop, on, err := Setup(context.Background(), Config{Endpoint: collector.URL})
	require.NoError(b, err)
	require.True(b, on)
	defer func() { require.NoError(b, stop(context.Background())) }()
	b.Run("on", run)
}
