// Package tracing holds Aura's optional OpenTelemetry traces: a tracer provider
// that exports over OTLP/HTTP (JSON, by the small exporter in otlp.go), a span
// per HTTP request named by its route template, and a span per job phase
// (job.queued, job.claimed, job.running, job.finished) joined into the trace
// that submitted the job.
//
// Tracing is off unless an endpoint is configured (--otlp-endpoint, or the
// standard OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT).
// Off, every function here returns at once: no span is made, nothing is sent.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// ServiceName is the service.name of every span Aura exports.
const ServiceName = "aura"

// Environment variables that turn tracing on besides --otlp-endpoint: the
// OpenTelemetry SDK's own.
const (
	EnvEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
)

// Span attribute keys of the job phase spans.
const (
	AttrJobID   = attribute.Key("aura.job.id")
	AttrProject = attribute.Key("aura.project")
	AttrAttempt = attribute.Key("aura.attempt")
	AttrStatus  = attribute.Key("aura.job.status")
	AttrName    = attribute.Key("aura.job.name")
	AttrTag     = attribute.Key("aura.job.tag")
	AttrRunner  = attribute.Key("aura.runner.id")
	AttrExit    = attribute.Key("aura.job.exit_code")
	AttrWait    = attribute.Key("aura.job.queued_seconds")
)

// enabled is set by Setup when spans are exported: every other function checks
// it first, so a server without tracing pays one atomic load.
var enabled atomic.Bool

// tracer makes Aura's own spans (the job phases).
var tracer trace.Tracer = otel.Tracer("github.com/aura-ci/aura/backend")

// Enabled reports whether spans are exported.
func Enabled() bool { return enabled.Load() }

// Config says where spans go.
type Config struct {
	// Endpoint is --otlp-endpoint: the collector's OTLP/HTTP base URL, e.g.
	// http://localhost:4318 (spans go to its /v1/traces), or a URL that already
	// ends in /v1/traces. Empty: the OTEL_EXPORTER_OTLP_* variables decide.
	Endpoint string
	// Version is the service.version.
	Version string
	// LookupEnv reads the environment (os.LookupEnv).
	LookupEnv func(string) (string, bool)
}

// Setup turns tracing on when an endpoint is configured, as the process's
// tracer provider and W3C trace-context propagator. It returns a shutdown that
// flushes the spans not yet sent (call it once the HTTP server has stopped),
// and whether tracing is on. Off, shutdown does nothing.
func Setup(ctx context.Context, cfg Config) (shutdown func(context.Context) error, on bool, err error) {
	noop := func(context.Context) error { return nil }
	lookup := cfg.LookupEnv
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	endpoint := ""
	if cfg.Endpoint != "" {
		u, err := endpointURL(cfg.Endpoint)
		if err != nil {
			return noop, false, err
		}
		endpoint = u
	} else if !set(lookup, EnvEndpoint) && !set(lookup, EnvTracesEndpoint) {
		return noop, false, nil
	}
	exporter, err := newExporter(endpoint, lookup)
	if err != nil {
		return noop, false, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	res := resource.NewWithAttributes(semconv.SchemaURL,
		semconv.ServiceName(ServiceName), semconv.ServiceVersion(cfg.Version))
	// The sampler is the SDK's default (parent-based, always on), or what
	// OTEL_TRACES_SAMPLER says.
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	enabled.Store(true)
	return func(ctx context.Context) error {
		enabled.Store(false)
		return errors.Join(tp.ForceFlush(ctx), tp.Shutdown(ctx))
	}, true, nil
}

func set(lookup func(string) (string, bool), name string) bool {
	v, ok := lookup(name)
	return ok && strings.TrimSpace(v) != ""
}

// endpointURL is where the exporter posts: the base URL plus /v1/traces, as
// OTEL_EXPORTER_OTLP_ENDPOINT is read, unless the URL names that path already.
func endpointURL(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("otlp-endpoint %q: use the collector's OTLP/HTTP URL, e.g. http://localhost:4318", endpoint)
	}
	if !strings.HasSuffix(u.Path, "/v1/traces") {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
	}
	return u.String(), nil
}

// CheckEndpoint refuses an --otlp-endpoint that is no OTLP/HTTP URL.
func CheckEndpoint(endpoint string) error {
	_, err := endpointURL(endpoint)
	return err
}

// routeKey holds a request's *route: the name its span takes once the router
// has matched it.
type routeKey struct{}

type route struct{ name string }

// Handler gives every request through h a server span, continuing the trace a
// W3C traceparent header names. The span is named by the method until the
// router names its route (Route); a websocket is one span for its whole life,
// its frames none. Off, Handler returns h itself.
func Handler(h http.Handler) http.Handler {
	if !Enabled() {
		return h
	}
	// The raw path may carry a secret (an invitation's token in
	// /api/v1/invitations/{token}), so url.path holds the route template
	// only, set by Route; like the request log, spans never keep the path.
	redacted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		trace.SpanFromContext(r.Context()).SetAttributes(semconv.URLPath(""))
		h.ServeHTTP(w, r)
	})
	traced := otelhttp.NewHandler(redacted, "aura",
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			if rt, ok := r.Context().Value(routeKey{}).(*route); ok && rt.name != "" {
				return rt.name
			}
			// The outer ServeMux's pattern ("/") says nothing: the method only.
			return r.Method
		}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		traced.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), routeKey{}, &route{})))
	})
}

// Route names the request's span after its route template ("GET
// /api/v1/jobs/{id}"), never its path, so ids in paths do not make a span name
// each, and sets http.route and url.path to the template. The router calls it
// once it has matched the route.
func Route(r *http.Request, template string) {
	if !Enabled() {
		return
	}
	span := trace.SpanFromContext(r.Context())
	if !span.IsRecording() {
		return
	}
	name := r.Method + " " + template
	if rt, ok := r.Context().Value(routeKey{}).(*route); ok {
		rt.name = name
	}
	span.SetName(name)
	span.SetAttributes(semconv.HTTPRoute(template), semconv.URLPath(template))
}

// TraceParent is the W3C traceparent of ctx's span, what a job keeps
// (jobs.trace_parent) so its later phases join the trace; nil when tracing is
// off or ctx has no span.
func TraceParent(ctx context.Context) *string {
	if !Enabled() {
		return nil
	}
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return nil
	}
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(trace.ContextWithSpanContext(context.Background(), sc), carrier)
	tp := carrier.Get("traceparent")
	if tp == "" {
		return nil
	}
	return &tp
}

// Job names the job a phase span is about.
type Job struct {
	ID      int64
	Project string
	Attempt int
	Status  string
}

func (j Job) attributes() []attribute.KeyValue {
	return []attribute.KeyValue{AttrJobID.Int64(j.ID), AttrProject.String(j.Project),
		AttrAttempt.Int(j.Attempt), AttrStatus.String(j.Status)}
}

// parentContext is the context a phase span starts from: the span traceParent
// names as its parent when there is one, linked to ctx's own span (the request
// that made the phase happen: a claim, a complete); otherwise ctx's span.
func parentContext(ctx context.Context, traceParent *string) (context.Context, []trace.SpanStartOption) {
	if traceParent == nil || *traceParent == "" {
		return ctx, nil
	}
	parent := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": *traceParent})
	psc := trace.SpanContextFromContext(parent)
	if !psc.IsValid() {
		return ctx, nil
	}
	var opts []trace.SpanStartOption
	if here := trace.SpanContextFromContext(ctx); here.IsValid() && here.TraceID() != psc.TraceID() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: here}))
	}
	return parent, opts
}

// Phase records one phase of a job, from start to end, in the trace
// traceParent names (see parentContext), with attrs besides the job's own.
func Phase(ctx context.Context, name string, traceParent *string, start, end time.Time, job Job, attrs ...attribute.KeyValue) {
	if !Enabled() {
		return
	}
	pctx, opts := parentContext(ctx, traceParent)
	opts = append(opts, trace.WithTimestamp(start), trace.WithAttributes(job.attributes()...),
		trace.WithAttributes(attrs...), trace.WithSpanKind(trace.SpanKindInternal))
	_, span := tracer.Start(pctx, name, opts...)
	switch job.Status {
	case "failed", "timed_out", "lost":
		span.SetStatus(codes.Error, "job "+job.Status)
	}
	span.End(trace.WithTimestamp(end))
}

// Queued is a batch of job.queued spans, one per submitted job, started before
// the jobs are written so each job can keep its span's context.
type Queued struct {
	start time.Time
	spans []trace.Span
}

// StartQueued begins a submit of n jobs; nil when tracing is off (every method
// of a nil *Queued does nothing and returns nil).
func StartQueued(n int) *Queued {
	if !Enabled() {
		return nil
	}
	return &Queued{start: time.Now(), spans: make([]trace.Span, n)}
}

// Start starts the i-th job's span and returns its traceparent, what the job
// keeps. The span is a child of ctx's span (the submitting request), or, for a
// job submitted by another job (parentJob: that job's traceparent), a child of
// the other job's span linked to the request, so a build whose first job
// submits the rest is one trace.
func (q *Queued) Start(ctx context.Context, i int, parentJob *string) *string {
	if q == nil {
		return nil
	}
	pctx, opts := parentContext(ctx, parentJob)
	opts = append(opts, trace.WithTimestamp(q.start), trace.WithSpanKind(trace.SpanKindInternal))
	_, q.spans[i] = tracer.Start(pctx, "job.queued", opts...)
	return TraceParent(trace.ContextWithSpan(context.Background(), q.spans[i]))
}

// End ends the i-th job's span, naming the job and the status it was given
// (queued, or waiting for preceding jobs or its earliest start).
func (q *Queued) End(i int, job Job, attrs ...attribute.KeyValue) {
	if q == nil || q.spans[i] == nil {
		return
	}
	q.spans[i].SetAttributes(job.attributes()...)
	q.spans[i].SetAttributes(attrs...)
	q.spans[i].End()
}
