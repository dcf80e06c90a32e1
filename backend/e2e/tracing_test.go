package e2e

import (
	"bytes"
	"compress/gzip"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aura-ci/aura/backend/internal/tracing/otlpjson"
	"github.com/stretchr/testify/require"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
)

// otlpReceiver is an OTLP/HTTP collector on loopback: it decodes the JSON
// POSTed to /v1/traces and keeps the spans.
type otlpReceiver struct {
	*httptest.Server
	mu       sync.Mutex
	requests int
	spans    []receivedSpan
}

// receivedSpan is one span with the service.name of its resource.
type receivedSpan struct {
	*tracepb.Span
	service string
}

func newOTLPReceiver(t testing.TB) *otlpReceiver {
	rec := &otlpReceiver{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.requests++
		rec.mu.Unlock()
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
			http.Error(w, "not an OTLP traces export", http.StatusNotFound)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		data, err := io.ReadAll(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		// Aura sends OTLP's JSON encoding; protojson reads it into the
		// collector's own types and refuses unknown fields.
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("OTLP receiver: Content-Type %q, want application/json", ct)
			http.Error(w, "unsupported content type", http.StatusUnsupportedMediaType)
			return
		}
		var req collectortrace.ExportTraceServiceRequest
		if err := otlpjson.Decode(data, &req); err != nil {
			t.Errorf("OTLP receiver: body does not decode: %v", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rec.mu.Lock()
		for _, rs := range req.ResourceSpans {
			service := ""
			for _, a := range rs.GetResource().GetAttributes() {
				if a.Key == "service.name" {
					service = a.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					rec.spans = append(rec.spans, receivedSpan{Span: s, service: service})
				}
			}
		}
		rec.mu.Unlock()
		out, _ := protojson.Marshal(&collectortrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(out)
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (rec *otlpReceiver) received() (int, []receivedSpan) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.requests, append([]receivedSpan(nil), rec.spans...)
}

func spanAttr(s *tracepb.Span, key string) *commonpb.AnyValue {
	for _, a := range s.Attributes {
		if a.Key == key {
			return a.Value
		}
	}
	return nil
}

// genericHook creates a generic integration of project proj submitting one
// job of cmd, and returns a signed push delivery of sha to it.
func genericHook(t testing.TB, s *server, proj, cmd string) func(sha string, header http.Header) {
	var in struct {
		ID     int64
		Secret string
	}
	s.call("POST", "/api/v1/projects/"+proj+"/integrations", s.admin, map[string]any{
		"kind": "generic", "repository": "owner/repo",
		"jobs": []map[string]any{{"name": "build", "cmd": cmd, "tag": "linux"}},
	}, &in, 201)
	return func(sha string, header http.Header) {
		t.Helper()
		body := fmt.Appendf(nil, `{"repository":"owner/repo","ref":"refs/heads/main","sha":"%s","cloneUrl":"http://forge.test/owner/repo.git"}`, sha)
		m := hmac.New(sha256.New, []byte(in.Secret))
		m.Write(body)
		req, err := http.NewRequest("POST", fmt.Sprintf("%s/api/v1/hooks/%d", s.url, in.ID), bytes.NewReader(body))
		require.NoError(t, err)
		for k, v := range header {
			req.Header[k] = v
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
		resp, err := httpClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
	}
}

// jobIDByName is the id of the job named name.
func (s *server) jobIDByName(t testing.TB, name string) int64 {
	var id int64
	require.Eventually(t, func() bool {
		return dbQueryRow(t, s.dbURL, fmt.Sprintf(`SELECT coalesce(max(id), 0) FROM jobs WHERE name = '%s'`, name), &id) == nil && id > 0
	}, 20*time.Second, 10*time.Millisecond, "no job %s", name)
	return id
}

// lastJobID is the newest job's id.
func (s *server) lastJobID(t testing.TB) int64 {
	var id int64
	require.Eventually(t, func() bool {
		return dbQueryRow(t, s.dbURL, `SELECT coalesce(max(id), 0) FROM jobs`, &id) == nil && id > 0
	}, 10*time.Second, 10*time.Millisecond)
	return id
}

// TestTracesFollowAJob: with --otlp-endpoint, a job delivered by a webhook
// that carries a W3C traceparent can be followed in one trace: the delivery's
// request span (a child of the caller's span), then job.queued, job.claimed,
// job.running and job.finished, all naming the job; the job a job submits with
// its token joins that trace; the graceful stop sends what was not sent yet.
// Request spans are named by route template.
func TestTracesFollowAJob(t *testing.T) {
	t.Parallel()
	rec := newOTLPReceiver(t)
	s := startServer(t, "--otlp-endpoint", rec.URL)
	tok := s.project("proj")
	push := genericHook(t, s, "proj", "aura-runner submit --name child --cmd 'echo child' --tag linux")
	startRunner(t, s, "r1", "--tag", "linux")
	s.waitCheckedIn(t, 1)
	// A browser tab: the event websocket works through the traced handler.
	tab := dialViewer(t, s, "")
	tab.subscribe(t, "project:proj")

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	const callerSpan = "00f067aa0ba902b7"
	push("1111111111111111111111111111111111111111", http.Header{"Traceparent": {"00-" + traceID + "-" + callerSpan + "-01"}})
	id := s.jobIDByName(t, "build")
	for {
		if m := tab.read(t); m.Type == "job" && m.JobID == id && m.Status == "succeeded" {
			break
		}
	}
	s.waitStatus(id, 30*time.Second, "succeeded")
	child := s.jobIDByName(t, "child")
	s.waitStatus(child, 30*time.Second, "succeeded")
	var stored *string
	require.NoError(t, dbQueryRow(t, s.dbURL, fmt.Sprintf(`SELECT trace_parent FROM jobs WHERE id = %d`, id), &stored))
	require.NotNil(t, stored, "the job keeps its trace context")
	require.Contains(t, *stored, traceID)

	// A job submitted over the API and cancelled before any runner took it.
	const trace2 = "0af7651916cd43dd8448eb211c80319c"
	body := strings.NewReader(`{"entityKey":"commit","entityVal":"abc","name":"stuck","cmd":"true","tag":"nobody-serves-this"}`)
	req, err := http.NewRequest("POST", s.url+"/api/v1/jobs", body)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Traceparent", "00-"+trace2+"-b7ad6b7169203331-01")
	resp, err := httpClient.Do(req)
	require.NoError(t, err)
	var stuck job
	require.NoError(t, jsonDecode(resp, &stuck))
	resp.Body.Close()
	require.Equal(t, 201, resp.StatusCode)
	s.call("POST", fmt.Sprintf("/api/v1/jobs/%d/cancel", stuck.ID), s.admin, nil, nil, 200)

	// Spans are sent in batches every few seconds; the graceful stop sends the rest.
	s.stop()
	_, spans := rec.received()
	require.NotEmpty(t, spans)

	var hook *tracepb.Span
	phases := map[string]*tracepb.Span{}
	names := map[string]bool{}
	for _, sp := range spans {
		require.Equal(t, "aura", sp.service)
		names[sp.Name] = true
		require.NotContains(t, sp.Name, fmt.Sprintf("/%d", id), "a span named by a raw path")
		if sp.Kind == tracepb.Span_SPAN_KIND_SERVER {
			require.NotContains(t, spanAttr(sp.Span, "url.path").GetStringValue(), fmt.Sprintf("/%d", id), "a raw path kept")
		}
		if sp.Name == "POST /api/v1/hooks/{integration}" {
			hook = sp.Span
		}
		if strings.HasPrefix(sp.Name, "job.") {
			if v := spanAttr(sp.Span, "aura.job.id"); v != nil && v.GetIntValue() == id {
				require.Nil(t, phases[sp.Name], "two %s spans for one attempt", sp.Name)
				phases[sp.Name] = sp.Span
			}
		}
	}
	require.NotNil(t, hook, "no span of the webhook delivery; got %v", names)
	require.Equal(t, traceID, hex.EncodeToString(hook.TraceId), "the delivery continues the caller's trace")
	require.Equal(t, callerSpan, hex.EncodeToString(hook.ParentSpanId))
	require.Equal(t, tracepb.Span_SPAN_KIND_SERVER, hook.Kind)
	require.Equal(t, "POST", spanAttr(hook, "http.request.method").GetStringValue())
	require.EqualValues(t, 200, spanAttr(hook, "http.response.status_code").GetIntValue())
	require.Equal(t, "/api/v1/hooks/{integration}", spanAttr(hook, "http.route").GetStringValue())
	require.Equal(t, "/api/v1/hooks/{integration}", spanAttr(hook, "url.path").GetStringValue())
	require.True(t, names["POST /api/v1/runner/claim"], "no claim request span; got %v", names)
	require.True(t, names["POST /api/v1/jobs/{id}/complete"], "no complete request span; got %v", names)
	require.True(t, names["GET /api/v1/events"], "no span of the websocket (one for its whole life); got %v", names)

	for _, name := range []string{"job.queued", "job.claimed", "job.running", "job.finished"} {
		sp := phases[name]
		require.NotNil(t, sp, "no %s span for job %d; got %v", name, id, names)
		require.Equal(t, traceID, hex.EncodeToString(sp.TraceId), "%s is in the webhook's trace", name)
		require.Equal(t, "proj", spanAttr(sp, "aura.project").GetStringValue(), name)
		require.EqualValues(t, 1, spanAttr(sp, "aura.attempt").GetIntValue(), name)
	}
	queued, claimed := phases["job.queued"], phases["job.claimed"]
	require.Equal(t, hook.SpanId, queued.ParentSpanId, "job.queued is a child of the delivery")
	require.Equal(t, "queued", spanAttr(queued, "aura.job.status").GetStringValue())
	for _, name := range []string{"job.claimed", "job.running", "job.finished"} {
		require.Equal(t, queued.SpanId, phases[name].ParentSpanId, "%s is a child of job.queued", name)
	}
	// The hand-out happened in the runner's claim request: linked, not parent.
	require.Len(t, claimed.Links, 1)
	require.Equal(t, "succeeded", spanAttr(phases["job.finished"], "aura.job.status").GetStringValue())
	require.EqualValues(t, 0, spanAttr(phases["job.finished"], "aura.job.exit_code").GetIntValue())
	running := phases["job.running"]
	require.LessOrEqual(t, claimed.EndTimeUnixNano, running.EndTimeUnixNano)
	require.Less(t, running.StartTimeUnixNano, running.EndTimeUnixNano)

	// The child job, submitted by the first with its job token, is in the same
	// trace: its job.queued under its parent's, linked to its submit request.
	childPhases := map[string]*tracepb.Span{}
	for _, sp := range spans {
		if v := spanAttr(sp.Span, "aura.job.id"); v != nil && v.GetIntValue() == child {
			childPhases[sp.Name] = sp.Span
		}
	}
	for _, name := range []string{"job.queued", "job.claimed", "job.running", "job.finished"} {
		require.NotNil(t, childPhases[name], "no %s span for the child job", name)
		require.Equal(t, traceID, hex.EncodeToString(childPhases[name].TraceId), "the child's %s is in the build's trace", name)
	}
	require.Equal(t, queued.SpanId, childPhases["job.queued"].ParentSpanId)
	require.Len(t, childPhases["job.queued"].Links, 1, "linked to the child's submit request")
	require.Equal(t, "succeeded", spanAttr(childPhases["job.finished"], "aura.job.status").GetStringValue())

	// The cancelled job: queued under the submit request, finished as cancelled, in its trace.
	var submit *tracepb.Span
	stuckPhases := map[string]*tracepb.Span{}
	for _, sp := range spans {
		if sp.Name == "POST /api/v1/jobs" && hex.EncodeToString(sp.TraceId) == trace2 {
			submit = sp.Span
		}
		if v := spanAttr(sp.Span, "aura.job.id"); v != nil && v.GetIntValue() == stuck.ID {
			stuckPhases[sp.Name] = sp.Span
		}
	}
	require.NotNil(t, submit, "no span of the submit in its caller's trace")
	require.True(t, names["POST /api/v1/jobs/{id}/cancel"], "no cancel request span; got %v", names)
	require.Equal(t, submit.SpanId, stuckPhases["job.queued"].ParentSpanId)
	fin := stuckPhases["job.finished"]
	require.NotNil(t, fin, "no job.finished for the cancelled job")
	require.Equal(t, trace2, hex.EncodeToString(fin.TraceId))
	require.Equal(t, "cancelled", spanAttr(fin, "aura.job.status").GetStringValue())
	require.Nil(t, stuckPhases["job.claimed"])
}

// TestTracesOffSendNothing: without an OTLP endpoint no span goes anywhere and
// a job keeps no trace context, even when its submitter sends a traceparent.
func TestTracesOffSendNothing(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "AURA_OTLP_ENDPOINT"} {
		if os.Getenv(v) != "" {
			t.Skipf("%s is set in the test's environment: the server would trace", v)
		}
	}
	rec := newOTLPReceiver(t)
	s := startServer(t)
	s.project("proj")
	push := genericHook(t, s, "proj", "echo untraced")
	startRunner(t, s, "r1", "--tag", "linux")
	push("2222222222222222222222222222222222222222",
		http.Header{"Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}})
	id := s.lastJobID(t)
	s.waitStatus(id, 30*time.Second, "succeeded")
	var stored *string
	require.NoError(t, dbQueryRow(t, s.dbURL, fmt.Sprintf(`SELECT trace_parent FROM jobs WHERE id = %d`, id), &stored))
	require.Nil(t, stored)
	s.stop()
	n, spans := rec.received()
	require.Zero(t, n, "requests reached the collector")
	require.Empty(t, spans)
}
