package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/api"
	"github.com/aura-ci/aura/backend/internal/auth"
	"github.com/aura-ci/aura/backend/internal/blob"
	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/backend/internal/dispatch"
	"github.com/aura-ci/aura/backend/internal/events"
	"github.com/aura-ci/aura/backend/internal/integrations"
	"github.com/aura-ci/aura/backend/internal/metrics"
	"github.com/aura-ci/aura/backend/internal/seal"
	"github.com/aura-ci/aura/backend/internal/signin"
	"github.com/aura-ci/aura/backend/internal/store"
)

func TestMain(m *testing.M) {
	// Every request and job transition is logged at Info: keep the test output to warnings.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	dbtest.Main(m)
}

var spec = sync.OnceValues(func() (*openapi3.T, error) {
	_, file, _, _ := runtime.Caller(0)
	path := filepath.Join(filepath.Dir(file), "..", "..", "..", "openapi.yaml")
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		return nil, err
	}
	return doc, doc.Validate(context.Background())
})

var specRouter = sync.OnceValues(func() (routers.Router, error) {
	doc, err := spec()
	if err != nil {
		return nil, err
	}
	return gorillamux.NewRouter(doc)
})

// testBundle is a running API on a fresh database.
type testBundle struct {
	box      *seal.Box
	tokenKey []byte // signs job tokens
	t        testing.TB
	url      string
	pool     *pgxpool.Pool
	store    *store.Store
	admin    string
	disp     *dispatch.Dispatcher
	hub      *events.Hub
	listener *events.Listener
	dbURL    string
	client   *http.Client
	forge    *integrations.Service
	blobDir  string // the folder store's folder
	linkKey  []byte // signs artifact links (with artifactOrigin)
	metrics  *metrics.Metrics
}

type bundleOptions struct {
	lease, ack     time.Duration
	cancelGrace    time.Duration
	logLimit       int64
	limits         *store.SubmitLimits
	maxBatch       int
	eventQueue     int
	eventWriteWait time.Duration
	eventRecheck   time.Duration
	// artifactMaxFile and artifactMaxJob bound artifacts; 0: the defaults.
	artifactMaxFile, artifactMaxJob int64
	artifactIdle                    time.Duration
	// cacheMax bounds a project's caches; 0: the default.
	cacheMax int64
	// signIn lists sign-in providers; nil: none.
	signIn *signin.Service
	// secureCookies marks session cookies Secure (a public https URL).
	secureCookies bool
	// trustedOrigins may make cookie requests besides the server's own host.
	trustedOrigins []string
	// artifactOrigin: requests with Host artifactOriginHost reach the artifact origin.
	artifactOrigin bool
	// metricsToken reads /metrics (Deps.MetricsToken).
	metricsToken string
	// tracer traces the pool's statements; nil: none.
	tracer pgx.QueryTracer
}

// artifactOriginHost is the artifact origin's host in bundles made with artifactOrigin.
const artifactOriginHost = "artifacts.aura.test"

func setup(t *testing.T) *testBundle {
	return setupWith(t, bundleOptions{})
}

func setupBench(b *testing.B) *testBundle {
	return setupWith(b, bundleOptions{})
}

func setupWith(t testing.TB, o bundleOptions) *testBundle {
	t.Helper()
	if o.lease == 0 {
		o.lease = 30 * time.Second
	}
	if o.ack == 0 {
		o.ack = 10 * time.Second
	}
	if o.logLimit == 0 {
		o.logLimit = 64 << 20
	}
	dbURL := dbtest.NewURL(t)
	cfg, err := pgxpool.ParseConfig(dbURL)
	require.NoError(t, err)
	cfg.ConnConfig.Tracer = o.tracer
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	serverKey := seal.NewKey()
	box, err := seal.New(serverKey)
	require.NoError(t, err)
	st := store.New(pool, box)
	ctx := context.Background()
	key := seal.DeriveKey(serverKey, auth.SigningKeyPurpose)
	admin, hash := auth.NewSecret(auth.PrefixAdmin, "")
	_, err = st.AdminTokenBootstrap(ctx, hash, false)
	require.NoError(t, err)

	if o.limits != nil {
		st.SetSubmitLimits(*o.limits)
	}
	disp := dispatch.New(st, dispatch.Config{Lease: o.lease, AckTimeout: o.ack, CancelGrace: o.cancelGrace})
	hub := events.NewHub(st, auth.New(st, key), events.HubConfig{QueueSize: o.eventQueue, WriteWait: o.eventWriteWait, Recheck: o.eventRecheck})
	listener := events.NewListener(dbURL)
	disp.Listen(listener)
	hub.Listen(listener)
	// The registry observes the store's job ends: made before the dispatcher
	// runs, as in app.go, or its reaps race with the observer being set.
	reg := metrics.New(st, nil)
	bg, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { listener.Run(bg) })
	wg.Go(func() { disp.Run(bg) })
	wg.Go(func() { hub.Run(bg) })
	<-listener.Ready()
	forge := &integrations.Service{Store: st, BaseURL: "http://aura.test", Reporter: integrations.NewReporter(5 * time.Second)}
	blobDir := t.TempDir()
	blobs, err := blob.NewDir(blobDir)
	require.NoError(t, err)
	bundleBlobs.Store(t, blobDir)
	st.SetBlobs(blobs) // archived logs
	deps := api.Deps{Store: st, Auth: auth.New(st, key), Dispatcher: disp, Events: hub,
		LogLimit: o.logLimit, MaxBatch: o.maxBatch, Integrations: forge, Blobs: blobs,
		ArtifactMaxFile: o.artifactMaxFile, ArtifactMaxJob: o.artifactMaxJob, ArtifactIdle: o.artifactIdle,
		CacheMaxProject: o.cacheMax, SignIn: o.signIn, SecureCookies: o.secureCookies, TrustedOrigins: o.trustedOrigins}
	deps.Metrics, deps.MetricsToken = reg, o.metricsToken
	deps.Metrics.GaugeFunc("aura_websocket_clients", "Event websockets connected.", func() float64 { return float64(hub.Clients()) })
	if o.artifactOrigin {
		deps.ArtifactOrigin = &url.URL{Scheme: "http", Host: artifactOriginHost}
		deps.ArtifactLinkKey = seal.DeriveKey(serverKey, api.ArtifactLinkPurpose)
		deps.Web = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "dashboard page") })
	}
	srv := httptest.NewServer(api.NewHandler(deps))
	t.Cleanup(func() {
		disp.Stop()
		srv.Close()
		cancel()
		wg.Wait()
	})
	return &testBundle{t: t, url: srv.URL, pool: pool, store: st, box: box, tokenKey: key, admin: admin, disp: disp, hub: hub, listener: listener, dbURL: dbURL, client: srv.Client(), forge: forge, blobDir: blobDir, linkKey: deps.ArtifactLinkKey, metrics: deps.Metrics}
}

// sub returns b reporting to t, for subtests.
func (b *testBundle) sub(t *testing.T) *testBundle {
	c := *b
	c.t = t
	return &c
}

// call is one HTTP request for the API under test.
type call struct {
	method, path, token string
	body                any    // marshalled to JSON unless raw
	raw                 []byte // sent as is
	contentType         string
	invalid             bool        // the request is meant to break the contract: don't validate it
	cookie              string      // a session cookie's secret, sent as aura_session
	header              http.Header // more request headers (Origin, Sec-Fetch-Site, …)
}

// do sends c over real HTTP and validates the answer (and, unless c.invalid, the
// request) against openapi.yaml, so every test also checks the contract.
func (b *testBundle) do(c call) (int, []byte) {
	b.t.Helper()
	resp, body := b.send(c)
	return resp.StatusCode, body
}

// send is do, answering the whole response (its body already read into the bytes).
func (b *testBundle) send(c call) (*http.Response, []byte) {
	b.t.Helper()
	var body []byte
	switch {
	case c.raw != nil:
		body = c.raw
	case c.body != nil:
		var err error
		body, err = json.Marshal(c.body)
		require.NoError(b.t, err)
	}
	req, err := http.NewRequest(c.method, b.url+c.path, bytes.NewReader(body))
	require.NoError(b.t, err)
	ct := c.contentType
	if ct == "" && body != nil {
		ct = "application/json"
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.cookie != "" {
		req.AddCookie(&http.Cookie{Name: "aura_session", Value: c.cookie})
	}
	for k, vs := range c.header {
		req.Header[k] = vs
	}
	resp, err := b.client.Do(req)
	require.NoError(b.t, err)
	defer resp.Body.Close()
	respBody, err := io.ReadAll(resp.Body)
	require.NoError(b.t, err)
	b.validate(req, body, resp, respBody, !c.invalid)
	return resp, respBody
}

func (b *testBundle) validate(req *http.Request, reqBody []byte, resp *http.Response, respBody []byte, checkRequest bool) {
	b.t.Helper()
	router, err := specRouter()
	require.NoError(b.t, err)
	vreq := req.Clone(context.Background())
	vreq.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := router.FindRoute(vreq)
	require.NoError(b.t, err, "%s %s is not in openapi.yaml", req.Method, req.URL.Path)
	in := &openapi3filter.RequestValidationInput{
		Request: vreq, PathParams: params, Route: route,
		Options: &openapi3filter.Options{SkipSettingDefaults: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	}
	if checkRequest {
		require.NoError(b.t, openapi3filter.ValidateRequest(context.Background(), in),
			"request %s %s breaks openapi.yaml", req.Method, req.URL.Path)
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body:    io.NopCloser(bytes.NewReader(respBody)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true},
	}
	require.NoError(b.t, openapi3filter.ValidateResponse(context.Background(), out),
		"response %d to %s %s breaks openapi.yaml: %s", resp.StatusCode, req.Method, req.URL.Path, respBody)
}

// json sends c and decodes a JSON answer into out, requiring status want.
func (b *testBundle) json(c call, want int, out any) {
	b.t.Helper()
	code, body := b.do(c)
	require.Equal(b.t, want, code, "%s %s answered %s", c.method, c.path, body)
	if out != nil {
		require.NoError(b.t, json.Unmarshal(body, out))
	}
}

// apiErr is the error body.
type apiErr struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"`
}

// fail sends c and requires an error answer with status want.
func (b *testBundle) fail(c call, want int) apiErr {
	b.t.Helper()
	code, body := b.do(c)
	require.Equal(b.t, want, code, "%s %s answered %s", c.method, c.path, body)
	var e apiErr
	require.NoError(b.t, json.Unmarshal(body, &e), "error body %q", body)
	require.Equal(b.t, want, e.Code)
	require.NotEmpty(b.t, e.Message)
	return e
}

// project creates a project and a token for it.
func (b *testBundle) project(slug string, private bool) (token string) {
	b.t.Helper()
	b.json(call{method: "POST", path: "/api/v1/projects", token: b.admin,
		body: map[string]any{"slug": slug, "name": strings.ToUpper(slug), "private": private}}, 201, nil)
	var tok struct{ Token string }
	b.json(call{method: "POST", path: "/api/v1/projects/" + slug + "/tokens", token: b.admin,
		body: map[string]any{"name": "ci"}}, 201, &tok)
	require.True(b.t, strings.HasPrefix(tok.Token, "AURA_PROJECTKEY_"+slug+"-"))
	return tok.Token
}

// runner registers a runner and returns its id and token.
func (b *testBundle) runner(name string, tags ...string) (int64, string) {
	b.t.Helper()
	var r struct {
		ID    int64
		Token string
	}
	b.json(call{method: "POST", path: "/api/v1/runners", token: b.admin,
		body: map[string]any{"name": name, "tags": tags}}, 201, &r)
	return r.ID, r.Token
}

// count counts rows in table, for "nothing was written" checks.
func (b *testBundle) count(table string) int {
	b.t.Helper()
	var n int
	require.NoError(b.t, b.pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n))
	return n
}

func jsonDecode(resp *http.Response, out any) error {
	return json.NewDecoder(resp.Body).Decode(out)
}
