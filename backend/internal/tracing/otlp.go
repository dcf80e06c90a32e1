package tracing

// The exporter: OTLP/HTTP with the JSON encoding, in-house, so the server
// links neither protobuf's OTLP types nor gRPC (what the SDK's otlptracehttp
// brings, 7 MB of binary and 2.5 MiB of idle RSS even with tracing off).

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Retry: the statuses OTLP/HTTP says to retry, and the backoff between tries.
const (
	retryFirst   = time.Second
	retryMax     = 30 * time.Second
	retryElapsed = time.Minute
	// DefaultTimeout bounds each export request (OTEL_EXPORTER_OTLP_TIMEOUT).
	DefaultTimeout = 10 * time.Second
)

// exporter sends spans to one OTLP/HTTP traces URL as JSON. It implements
// sdktrace.SpanExporter; the batch span processor in front of it bounds how
// many spans one export carries and does the flushing.
type exporter struct {
	url     string
	headers map[string]string
	gzip    bool
	timeout time.Duration
	client  *http.Client
	// retryFirst and retryElapsed: the first backoff and the most time spent
	// retrying one export (tests shorten them).
	retryFirst, retryElapsed time.Duration

	stopOnce sync.Once
	stop     chan struct{}
}

var _ sdktrace.SpanExporter = (*exporter)(nil)

// newExporter reads the OTEL_EXPORTER_OTLP_* variables (the TRACES_ one of
// each pair winning), with endpoint, when not empty, as the traces URL.
func newExporter(endpoint string, lookup func(string) (string, bool)) (*exporter, error) {
	env := func(name string) string {
		if v, ok := lookup("OTEL_EXPORTER_OTLP_TRACES_" + name); ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
		v, _ := lookup("OTEL_EXPORTER_OTLP_" + name)
		return strings.TrimSpace(v)
	}
	e := &exporter{url: endpoint, timeout: DefaultTimeout, retryFirst: retryFirst, retryElapsed: retryElapsed,
		stop: make(chan struct{})}
	if e.url == "" {
		if v, _ := lookup(EnvTracesEndpoint); strings.TrimSpace(v) != "" {
			// The traces URL is used as it is.
			e.url = strings.TrimSpace(v)
			if u, err := url.Parse(e.url); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return nil, fmt.Errorf("%s %q: not an http(s) URL", EnvTracesEndpoint, e.url)
			}
		} else if v, _ := lookup(EnvEndpoint); strings.TrimSpace(v) != "" {
			u, err := url.Parse(strings.TrimSpace(v))
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return nil, fmt.Errorf("%s %q: not an http(s) URL", EnvEndpoint, v)
			}
			// The base URL, the signal's path appended.
			u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
			e.url = u.String()
		}
	}
	e.headers = parseHeaders(env("HEADERS"))
	switch c := env("COMPRESSION"); c {
	case "gzip":
		e.gzip = true
	case "", "none":
	default:
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_COMPRESSION %q: use gzip or none", c)
	}
	if v := env("TIMEOUT"); v != "" {
		ms, err := strconv.Atoi(v)
		if err != nil || ms <= 0 {
			return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_TIMEOUT %q: milliseconds, e.g. 10000", v)
		}
		e.timeout = time.Duration(ms) * time.Millisecond
	}
	tlsConfig, err := tlsFromEnv(env)
	if err != nil {
		return nil, err
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if tlsConfig != nil {
		transport.TLSClientConfig = tlsConfig
	}
	e.client = &http.Client{Transport: transport}
	return e, nil
}

// parseHeaders reads OTEL_EXPORTER_OTLP_HEADERS: k=v,k2=v2, each key and
// value URL-decoded; an entry that does not parse is skipped.
func parseHeaders(s string) map[string]string {
	h := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		k, err1 := url.PathUnescape(strings.TrimSpace(k))
		v, err2 := url.PathUnescape(strings.TrimSpace(v))
		if err1 != nil || err2 != nil || k == "" {
			continue
		}
		h[k] = v
	}
	return h
}

// tlsFromEnv reads the CA (CERTIFICATE) and the client's certificate and key
// (CLIENT_CERTIFICATE, CLIENT_KEY), PEM files; nil when none is set.
func tlsFromEnv(env func(string) string) (*tls.Config, error) {
	ca, cert, key := env("CERTIFICATE"), env("CLIENT_CERTIFICATE"), env("CLIENT_KEY")
	if ca == "" && cert == "" && key == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_CERTIFICATE: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_CERTIFICATE %s: no PEM certificate", ca)
		}
	}
	if cert != "" || key != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE/_KEY: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// errStopped is what an export after Shutdown returns.
var errStopped = errors.New("tracing: exporter is shut down")

// ExportSpans posts spans, retrying a 429, 502, 503 or 504 (or a connection
// error) with a growing backoff until ctx is done, Shutdown is called or a
// minute has passed. Each request gets the exporter's timeout.
func (e *exporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if len(spans) == 0 {
		return nil
	}
	select {
	case <-e.stop:
		return errStopped
	default:
	}
	body, err := json.Marshal(encodeSpans(spans))
	if err != nil {
		return fmt.Errorf("tracing: encode spans: %w", err)
	}
	if e.gzip {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(body)
		if err := zw.Close(); err != nil {
			return fmt.Errorf("tracing: gzip spans: %w", err)
		}
		body = buf.Bytes()
	}
	// Shutdown ends a retrying export at once.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-e.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	deadline := time.Now().Add(e.retryElapsed)
	wait := e.retryFirst
	for {
		retry, after, err := e.post(ctx, body)
		if err == nil || !retry {
			return err
		}
		if after <= 0 {
			after = wait
			wait = min(2*wait, retryMax)
		}
		if time.Now().Add(after).After(deadline) {
			return err
		}
		t := time.NewTimer(after)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up: %w)", err, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// post makes one request: whether to retry it, after how long the collector
// asked (Retry-After), and what went wrong.
func (e *exporter) post(ctx context.Context, body []byte) (retry bool, after time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return false, 0, fmt.Errorf("tracing: export: %w", err)
	}
	for k, v := range e.headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	if e.gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := e.client.Do(req)
	if err != nil {
		// The collector is down or slow: worth another try while ctx lasts.
		return ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded), 0, fmt.Errorf("tracing: export: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch resp.StatusCode {
	case http.StatusOK, http.StatusAccepted, http.StatusNoContent:
		partialSuccess(msg)
		return false, 0, nil
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			after = time.Duration(s) * time.Second
		}
		return true, after, fmt.Errorf("tracing: export: collector answered %s", resp.Status)
	}
	const most = 256
	if len(msg) > most {
		msg = msg[:most]
	}
	return false, 0, fmt.Errorf("tracing: export: collector answered %s: %s", resp.Status, bytes.TrimSpace(msg))
}

// partialSuccess reports the spans a collector says it rejected.
func partialSuccess(body []byte) {
	var resp struct {
		PartialSuccess struct {
			RejectedSpans json.Number `json:"rejectedSpans"`
			ErrorMessage  string      `json:"errorMessage"`
		} `json:"partialSuccess"`
	}
	if len(body) == 0 || json.Unmarshal(body, &resp) != nil {
		return
	}
	p := resp.PartialSuccess
	if n := strings.Trim(string(p.RejectedSpans), `"`); (n != "" && n != "0") || p.ErrorMessage != "" {
		otel.Handle(fmt.Errorf("tracing: collector rejected %s spans: %s", n, p.ErrorMessage))
	}
}

// Shutdown stops the exporter: an export under way gives up, later ones fail.
// The provider flushes the batch processor before it calls this.
func (e *exporter) Shutdown(ctx context.Context) error {
	e.stopOnce.Do(func() {
		close(e.stop)
		e.client.CloseIdleConnections()
	})
	return ctx.Err()
}

// The OTLP JSON mapping (protobuf's canonical JSON of
// opentelemetry/proto/collector/trace/v1 ExportTraceServiceRequest): ids as
// lowercase hex, 64-bit integers as decimal strings, enums as integers,
// lowerCamelCase field names.
type (
	otlpRequest struct {
		ResourceSpans []*otlpResourceSpans `json:"resourceSpans"`
	}
	otlpResourceSpans struct {
		Resource   otlpResource      `json:"resource"`
		ScopeSpans []*otlpScopeSpans `json:"scopeSpans"`
		SchemaURL  string            `json:"schemaUrl,omitempty"`
	}
	otlpResource struct {
		Attributes []otlpKeyValue `json:"attributes,omitempty"`
	}
	otlpScopeSpans struct {
		Scope     otlpScope  `json:"scope"`
		Spans     []otlpSpan `json:"spans"`
		SchemaURL string     `json:"schemaUrl,omitempty"`
	}
	otlpScope struct {
		Name       string         `json:"name,omitempty"`
		Version    string         `json:"version,omitempty"`
		Attributes []otlpKeyValue `json:"attributes,omitempty"`
	}
	otlpSpan struct {
		TraceID                string         `json:"traceId"`
		SpanID                 string         `json:"spanId"`
		TraceState             string         `json:"traceState,omitempty"`
		ParentSpanID           string         `json:"parentSpanId,omitempty"`
		Flags                  uint32         `json:"flags,omitempty"`
		Name                   string         `json:"name"`
		Kind                   int            `json:"kind"`
		StartTimeUnixNano      uint64         `json:"startTimeUnixNano,string"`
		EndTimeUnixNano        uint64         `json:"endTimeUnixNano,string"`
		Attributes             []otlpKeyValue `json:"attributes,omitempty"`
		DroppedAttributesCount int            `json:"droppedAttributesCount,omitempty"`
		Events                 []otlpEvent    `json:"events,omitempty"`
		DroppedEventsCount     int            `json:"droppedEventsCount,omitempty"`
		Links                  []otlpLink     `json:"links,omitempty"`
		DroppedLinksCount      int            `json:"droppedLinksCount,omitempty"`
		Status                 *otlpStatus    `json:"status,omitempty"`
	}
	otlpEvent struct {
		TimeUnixNano           uint64         `json:"timeUnixNano,string"`
		Name                   string         `json:"name"`
		Attributes             []otlpKeyValue `json:"attributes,omitempty"`
		DroppedAttributesCount int            `json:"droppedAttributesCount,omitempty"`
	}
	otlpLink struct {
		TraceID                string         `json:"traceId"`
		SpanID                 string         `json:"spanId"`
		TraceState             string         `json:"traceState,omitempty"`
		Attributes             []otlpKeyValue `json:"attributes,omitempty"`
		DroppedAttributesCount int            `json:"droppedAttributesCount,omitempty"`
		Flags                  uint32         `json:"flags,omitempty"`
	}
	otlpStatus struct {
		Message string `json:"message,omitempty"`
		Code    int    `json:"code,omitempty"`
	}
	otlpKeyValue struct {
		Key   string       `json:"key"`
		Value otlpAnyValue `json:"value"`
	}
	// otlpAnyValue has one field set, or none for an empty value.
	otlpAnyValue struct {
		StringValue *string          `json:"stringValue,omitempty"`
		BoolValue   *bool            `json:"boolValue,omitempty"`
		IntValue    *int64           `json:"intValue,omitempty,string"`
		DoubleValue *otlpDouble      `json:"doubleValue,omitempty"`
		ArrayValue  *otlpArrayValue  `json:"arrayValue,omitempty"`
		KvlistValue *otlpKvlistValue `json:"kvlistValue,omitempty"`
		BytesValue  *string          `json:"bytesValue,omitempty"`
	}
	otlpArrayValue struct {
		Values []otlpAnyValue `json:"values"`
	}
	otlpKvlistValue struct {
		Values []otlpKeyValue `json:"values"`
	}
	// otlpDouble is a double as protobuf's JSON writes it: NaN and the
	// infinities as strings.
	otlpDouble float64
)

func (d otlpDouble) MarshalJSON() ([]byte, error) {
	f := float64(d)
	switch {
	case math.IsNaN(f):
		return []byte(`"NaN"`), nil
	case math.IsInf(f, 1):
		return []byte(`"Infinity"`), nil
	case math.IsInf(f, -1):
		return []byte(`"-Infinity"`), nil
	}
	return json.Marshal(f)
}

// OTLP's span flags: the W3C trace flags, and whether the parent (or the
// linked span) is remote.
const (
	flagHasIsRemote = 0x100
	flagIsRemote    = 0x200
)

func spanFlags(tf trace.TraceFlags, other trace.SpanContext) uint32 {
	f := uint32(tf) | flagHasIsRemote
	if other.IsRemote() {
		f |= flagIsRemote
	}
	return f
}

func unixNano(t time.Time) uint64 {
	if t.IsZero() || t.UnixNano() < 0 {
		return 0
	}
	return uint64(t.UnixNano())
}

// encodeSpans groups spans by resource, then by instrumentation scope.
func encodeSpans(spans []sdktrace.ReadOnlySpan) otlpRequest {
	type scopeKey struct {
		res                   attribute.Distinct
		name, version, schema string
		attrs                 attribute.Distinct
	}
	var req otlpRequest
	resources := map[attribute.Distinct]*otlpResourceSpans{}
	scopes := map[scopeKey]*otlpScopeSpans{}
	for _, s := range spans {
		res := s.Resource()
		var resKey attribute.Distinct
		if res != nil {
			resKey = res.Equivalent()
		}
		rs := resources[resKey]
		if rs == nil {
			rs = &otlpResourceSpans{}
			if res != nil {
				rs.Resource.Attributes = keyValues(res.Attributes())
				rs.SchemaURL = res.SchemaURL()
			}
			resources[resKey] = rs
			req.ResourceSpans = append(req.ResourceSpans, rs)
		}
		is := s.InstrumentationScope()
		sk := scopeKey{resKey, is.Name, is.Version, is.SchemaURL, is.Attributes.Equivalent()}
		ss := scopes[sk]
		if ss == nil {
			ss = &otlpScopeSpans{Scope: otlpScope{Name: is.Name, Version: is.Version,
				Attributes: keyValues(is.Attributes.ToSlice())}, SchemaURL: is.SchemaURL}
			scopes[sk] = ss
			rs.ScopeSpans = append(rs.ScopeSpans, ss)
		}
		ss.Spans = append(ss.Spans, encodeSpan(s))
	}
	return req
}

func encodeSpan(s sdktrace.ReadOnlySpan) otlpSpan {
	sc, parent := s.SpanContext(), s.Parent()
	out := otlpSpan{
		TraceID:                sc.TraceID().String(),
		SpanID:                 sc.SpanID().String(),
		TraceState:             sc.TraceState().String(),
		Flags:                  spanFlags(sc.TraceFlags(), parent),
		Name:                   s.Name(),
		Kind:                   int(s.SpanKind()), // the same numbers as OTLP's SpanKind
		StartTimeUnixNano:      unixNano(s.StartTime()),
		EndTimeUnixNano:        unixNano(s.EndTime()),
		Attributes:             keyValues(s.Attributes()),
		DroppedAttributesCount: s.DroppedAttributes(),
		DroppedEventsCount:     s.DroppedEvents(),
		DroppedLinksCount:      s.DroppedLinks(),
	}
	if parent.SpanID().IsValid() {
		out.ParentSpanID = parent.SpanID().String()
	}
	for _, ev := range s.Events() {
		out.Events = append(out.Events, otlpEvent{TimeUnixNano: unixNano(ev.Time), Name: ev.Name,
			Attributes: keyValues(ev.Attributes), DroppedAttributesCount: ev.DroppedAttributeCount})
	}
	for _, l := range s.Links() {
		out.Links = append(out.Links, otlpLink{TraceID: l.SpanContext.TraceID().String(),
			SpanID: l.SpanContext.SpanID().String(), TraceState: l.SpanContext.TraceState().String(),
			Attributes: keyValues(l.Attributes), DroppedAttributesCount: l.DroppedAttributeCount,
			Flags: spanFlags(l.SpanContext.TraceFlags(), l.SpanContext)})
	}
	// The SDK's codes (Unset 0, Error 1, Ok 2) are not OTLP's (Unset 0, Ok 1, Error 2).
	switch st := s.Status(); st.Code {
	case codes.Error:
		out.Status = &otlpStatus{Code: 2, Message: st.Description}
	case codes.Ok:
		out.Status = &otlpStatus{Code: 1}
	}
	return out
}

func keyValues(attrs []attribute.KeyValue) []otlpKeyValue {
	if len(attrs) == 0 {
		return nil
	}
	out := make([]otlpKeyValue, len(attrs))
	for i, kv := range attrs {
		out[i] = otlpKeyValue{Key: string(kv.Key), Value: anyValue(kv.Value)}
	}
	return out
}

func anyValue(v attribute.Value) otlpAnyValue {
	switch v.Type() {
	case attribute.BOOL:
		b := v.AsBool()
		return otlpAnyValue{BoolValue: &b}
	case attribute.INT64:
		n := v.AsInt64()
		return otlpAnyValue{IntValue: &n}
	case attribute.FLOAT64:
		d := otlpDouble(v.AsFloat64())
		return otlpAnyValue{DoubleValue: &d}
	case attribute.STRING:
		s := v.AsString()
		return otlpAnyValue{StringValue: &s}
	case attribute.BYTESLICE:
		s := base64.StdEncoding.EncodeToString(v.AsByteSlice())
		return otlpAnyValue{BytesValue: &s}
	case attribute.BOOLSLICE:
		return array(v.AsBoolSlice(), attribute.BoolValue)
	case attribute.INT64SLICE:
		return array(v.AsInt64Slice(), attribute.Int64Value)
	case attribute.FLOAT64SLICE:
		return array(v.AsFloat64Slice(), attribute.Float64Value)
	case attribute.STRINGSLICE:
		return array(v.AsStringSlice(), attribute.StringValue)
	case attribute.SLICE:
		return array(v.AsSlice(), func(v attribute.Value) attribute.Value { return v })
	case attribute.MAP:
		return otlpAnyValue{KvlistValue: &otlpKvlistValue{Values: append([]otlpKeyValue{}, keyValues(v.AsMap())...)}}
	}
	return otlpAnyValue{} // EMPTY: an empty AnyValue
}

func array[T any](vs []T, value func(T) attribute.Value) otlpAnyValue {
	out := &otlpArrayValue{Values: make([]otlpAnyValue, len(vs))}
	for i, v := range vs {
		out.Values[i] = anyValue(value(v))
	}
	return otlpAnyValue{ArrayValue: out}
}
