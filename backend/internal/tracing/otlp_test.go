package tracing

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aura-ci/aura/backend/internal/tracing/otlpjson"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
)

// collector is an OTLP/HTTP receiver on loopback answering each POST with the
// next of its statuses (200 once they run out), keeping every request.
type collector struct {
	*httptest.Server
	mu       sync.Mutex
	statuses []int
	requests []*http.Request
	bodies   [][]byte
}

func newCollector(t *testing.T, statuses ...int) *collector {
	c := &collector{statuses: statuses}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		data, _ := io.ReadAll(body)
		c.mu.Lock()
		c.requests = append(c.requests, r)
		c.bodies = append(c.bodies, data)
		status := http.StatusOK
		if len(c.statuses) > 0 {
			status, c.statuses = c.statuses[0], c.statuses[1:]
		}
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, "{}")
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.requests)
}

func testExporter(t *testing.T, endpoint string, env map[string]string) *exporter {
	t.Helper()
	e, err := newExporter(endpoint, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	require.NoError(t, err)
	e.retryFirst = 10 * time.Millisecond
	t.Cleanup(func() { _ = e.Shutdown(context.Background()) })
	return e
}

// testSpans makes two ended spans of the real SDK: a server span, child of a
// remote parent, with attributes of every kind, an event, a link and an error
// status; and a client span in another scope.
func testSpans(t *testing.T) []sdktrace.ReadOnlySpan {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec),
		sdktrace.WithResource(resource.NewWithAttributes("https://opentelemetry.io/schemas/1.40.0",
			attribute.String("service.name", "aura"))))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	parent := trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true}))
	linked := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled})
	start := time.Unix(1700000000, 123456789)
	_, span := tp.Tracer("aura-test", trace.WithInstrumentationVersion("1.2.3")).Start(parent, "GET /api/v1/jobs/{id}",
		trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(start),
		trace.WithLinks(trace.Link{SpanContext: linked, Attributes: []attribute.KeyValue{attribute.String("why", "claim")}}),
		trace.WithAttributes(
			attribute.String("s", "x"), attribute.String("empty", ""), attribute.Int64("big", math.MaxInt64),
			attribute.Int("neg", -3), attribute.Bool("b", true), attribute.Float64("f", 1.5),
			attribute.Float64("nan", math.NaN()), attribute.Float64("inf", math.Inf(-1)),
			attribute.StringSlice("ss", []string{"a", "b"}), attribute.Int64Slice("is", []int64{1, 2}),
			attribute.BoolSlice("bs", []bool{false}), attribute.Float64Slice("fs", []float64{0.25})))
	span.AddEvent("exception", trace.WithTimestamp(start.Add(time.Millisecond)),
		trace.WithAttributes(attribute.String("exception.message", "boom")))
	span.SetStatus(codes.Error, "job failed")
	span.End(trace.WithTimestamp(start.Add(2 * time.Second)))
	_, other := tp.Tracer("other").Start(context.Background(), "job.queued", trace.WithSpanKind(trace.SpanKindClient))
	other.SetStatus(codes.Ok, "")
	other.End()
	return rec.Ended()
}

// TestExporterJSON: the body is OTLP's JSON encoding, as protojson reads it
// into the collector's own types (unknown fields refused), with the
// configured headers, gzip, and every field of the spans.
func TestExporterJSON(t *testing.T) {
	t.Parallel()
	c := newCollector(t)
	e := testExporter(t, c.URL+"/v1/traces", map[string]string{
		"OTEL_EXPORTER_OTLP_HEADERS":     "Authorization=Bearer%20abc, x-team = ci,broken",
		"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
	})
	require.NoError(t, e.ExportSpans(context.Background(), testSpans(t)))
	require.Equal(t, 1, c.count())
	r := c.requests[0]
	require.Equal(t, "POST", r.Method)
	require.Equal(t, "/v1/traces", r.URL.Path)
	require.Equal(t, "application/json", r.Header.Get("Content-Type"))
	require.Equal(t, "gzip", r.Header.Get("Content-Encoding"))
	require.Equal(t, "Bearer abc", r.Header.Get("Authorization"))
	require.Equal(t, "ci", r.Header.Get("X-Team"))

	var req collectortrace.ExportTraceServiceRequest
	require.NoError(t, otlpjson.Decode(c.bodies[0], &req), string(c.bodies[0]))
	require.Len(t, req.ResourceSpans, 1)
	rs := req.ResourceSpans[0]
	require.Equal(t, "https://opentelemetry.io/schemas/1.40.0", rs.SchemaUrl)
	require.Equal(t, "service.name", rs.Resource.Attributes[0].Key)
	require.Equal(t, "aura", rs.Resource.Attributes[0].Value.GetStringValue())
	require.Len(t, rs.ScopeSpans, 2)
	ss := rs.ScopeSpans[0]
	require.Equal(t, "aura-test", ss.Scope.Name)
	require.Equal(t, "1.2.3", ss.Scope.Version)
	require.Len(t, ss.Spans, 1)
	s := ss.Spans[0]
	require.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", hex.EncodeToString(s.TraceId))
	require.Len(t, s.SpanId, 8)
	require.Equal(t, "00f067aa0ba902b7", hex.EncodeToString(s.ParentSpanId))
	require.Equal(t, uint32(0x301), s.Flags, "sampled, parent known remote")
	require.Equal(t, "GET /api/v1/jobs/{id}", s.Name)
	require.Equal(t, tracepb.Span_SPAN_KIND_SERVER, s.Kind)
	require.Equal(t, uint64(1700000000123456789), s.StartTimeUnixNano)
	require.Equal(t, uint64(1700000002123456789), s.EndTimeUnixNano)
	require.Len(t, s.Attributes, 12)
	for _, a := range s.Attributes {
		switch a.Key {
		case "s":
			require.Equal(t, "x", a.Value.GetStringValue())
		case "empty":
			require.NotNil(t, a.Value.GetValue(), "an empty string is a stringValue")
			require.Equal(t, "", a.Value.GetStringValue())
		case "big":
			require.Equal(t, int64(math.MaxInt64), a.Value.GetIntValue())
		case "neg":
			require.Equal(t, int64(-3), a.Value.GetIntValue())
		case "b":
			require.True(t, a.Value.GetBoolValue())
		case "f":
			require.Equal(t, 1.5, a.Value.GetDoubleValue())
		case "nan":
			require.True(t, math.IsNaN(a.Value.GetDoubleValue()))
		case "inf":
			require.True(t, math.IsInf(a.Value.GetDoubleValue(), -1))
		case "ss":
			vs := a.Value.GetArrayValue().GetValues()
			require.Len(t, vs, 2)
			require.Equal(t, "b", vs[1].GetStringValue())
		case "is":
			require.Equal(t, int64(2), a.Value.GetArrayValue().GetValues()[1].GetIntValue())
		case "bs":
			require.NotNil(t, a.Value.GetArrayValue().GetValues()[0].GetValue())
		case "fs":
			require.Equal(t, 0.25, a.Value.GetArrayValue().GetValues()[0].GetDoubleValue())
		default:
			t.Errorf("unexpected attribute %s", a.Key)
		}
	}
	require.Len(t, s.Events, 1)
	require.Equal(t, "exception", s.Events[0].Name)
	require.Equal(t, uint64(1700000000124456789), s.Events[0].TimeUnixNano)
	require.Equal(t, "boom", s.Events[0].Attributes[0].Value.GetStringValue())
	require.Len(t, s.Links, 1)
	require.Equal(t, "01000000000000000000000000000000", hex.EncodeToString(s.Links[0].TraceId))
	require.Equal(t, "0200000000000000", hex.EncodeToString(s.Links[0].SpanId))
	require.Equal(t, "claim", s.Links[0].Attributes[0].Value.GetStringValue())
	require.Equal(t, tracepb.Status_STATUS_CODE_ERROR, s.Status.Code)
	require.Equal(t, "job failed", s.Status.Message)

	other := rs.ScopeSpans[1]
	require.Equal(t, "other", other.Scope.Name)
	require.Equal(t, tracepb.Span_SPAN_KIND_CLIENT, other.Spans[0].Kind)
	require.Empty(t, other.Spans[0].ParentSpanId)
	require.Equal(t, tracepb.Status_STATUS_CODE_OK, other.Spans[0].Status.Code)
	require.NotZero(t, other.Spans[0].StartTimeUnixNano)
}

// TestExporterRetries: a 503 (or 429, 502, 504) is tried again after a
// backoff; a 400 is not, and the export fails with the collector's answer.
func TestExporterRetries(t *testing.T) {
	t.Parallel()
	spans := testSpans(t)

	c := newCollector(t, 503, 503)
	e := testExporter(t, c.URL+"/v1/traces", nil)
	require.NoError(t, e.ExportSpans(context.Background(), spans))
	require.Equal(t, 3, c.count())

	c = newCollector(t, 400)
	e = testExporter(t, c.URL+"/v1/traces", nil)
	err := e.ExportSpans(context.Background(), spans)
	require.ErrorContains(t, err, "400 Bad Request")
	require.Equal(t, 1, c.count())

	// Always unavailable: the retries end with ctx.
	c = newCollector(t, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503)
	e = testExporter(t, c.URL+"/v1/traces", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	began := time.Now()
	require.Error(t, e.ExportSpans(ctx, spans))
	require.Less(t, time.Since(began), 10*time.Second, "retried past ctx (the retries alone may take a minute)")
	require.GreaterOrEqual(t, c.count(), 1)

	// Shutdown ends a retrying export, and refuses later ones.
	c = newCollector(t, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503, 503)
	e = testExporter(t, c.URL+"/v1/traces", nil)
	e.retryFirst = 30 * time.Second
	done := make(chan error, 1)
	go func() { done <- e.ExportSpans(context.Background(), spans) }()
	require.Eventually(t, func() bool { return c.count() == 1 }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, e.Shutdown(context.Background()))
	select {
	case err := <-done:
		require.Error(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("Shutdown did not end the export")
	}
	require.ErrorIs(t, e.ExportSpans(context.Background(), spans), errStopped)
	require.Equal(t, 1, c.count())
}

// TestExporterEnv: where spans go and how, from the OTEL_EXPORTER_OTLP_*
// variables, the traces-only one of each pair winning.
func TestExporterEnv(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		endpoint string
		env      map[string]string
		want     string
	}{
		{"", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, "http://c:4318/v1/traces"},
		{"", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://c/otlp/"}, "https://c/otlp/v1/traces"},
		{"", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:9/custom"}, "http://t:9/custom"},
		{"http://flag/v1/traces", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t:9/custom"}, "http://flag/v1/traces"},
	} {
		e := testExporter(t, tc.endpoint, tc.env)
		require.Equal(t, tc.want, e.url, tc.env)
		require.Equal(t, DefaultTimeout, e.timeout)
		require.False(t, e.gzip)
	}
	e := testExporter(t, "http://x/v1/traces", map[string]string{
		"OTEL_EXPORTER_OTLP_HEADERS":        "a=1,b=2",
		"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "c=3",
		"OTEL_EXPORTER_OTLP_TIMEOUT":        "2500",
	})
	require.Equal(t, map[string]string{"c": "3"}, e.headers)
	require.Equal(t, 2500*time.Millisecond, e.timeout)
	for _, bad := range []map[string]string{
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "c:4318"},
		{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "grpc://c:4317"},
		{"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"},
		{"OTEL_EXPORTER_OTLP_TIMEOUT": "10s"},
		{"OTEL_EXPORTER_OTLP_CERTIFICATE": "/nonexistent.pem"},
	} {
		_, err := newExporter("", func(k string) (string, bool) { v, ok := bad[k]; return v, ok })
		require.Error(t, err, bad)
	}
}
