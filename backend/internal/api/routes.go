// Package api is Aura's HTTP API: one route table, handlers that decode, validate,
// call the store (or dispatch) and write JSON.
package api

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/aura-ci/aura/backend/internal/auth"
	"github.com/aura-ci/aura/backend/internal/blob"
	"github.com/aura-ci/aura/backend/internal/dispatch"
	"github.com/aura-ci/aura/backend/internal/events"
	"github.com/aura-ci/aura/backend/internal/integrations"
	"github.com/aura-ci/aura/backend/internal/metrics"
	"github.com/aura-ci/aura/backend/internal/signin"
	"github.com/aura-ci/aura/backend/internal/store"
	"github.com/aura-ci/aura/backend/internal/version"
)

// Deps is what the handlers need.
type Deps struct {
	Store      *store.Store
	Auth       *auth.Authenticator
	Dispatcher *dispatch.Dispatcher
	// Integrations receives webhooks and keeps forge secrets sealed.
	Integrations *integrations.Service
	// Events serves GET /api/v1/events; nil answers 503.
	Events *events.Hub
	// Blobs keeps artifacts, caches and archived logs (blob.Open: a folder or S3).
	Blobs blob.Store
	// CacheMaxProject bounds the bytes of one project's caches; 0: 5 GiB.
	CacheMaxProject int64
	// ArtifactRetention is how long an artifact uploaded without its own
	// expiry is kept when its project sets none; 0: DefaultArtifactRetention.
	ArtifactRetention time.Duration
	// ArtifactOrigin, when set, is the origin (--artifact-origin) that serves
	// inline artifacts at links signed with ArtifactLinkKey; see NewHandler.
	ArtifactOrigin  *url.URL
	ArtifactLinkKey []byte
	// Web serves the single-page app: every GET outside /api that no route takes.
	Web http.Handler
	// LogLimit is the most log bytes kept per job attempt.
	LogLimit int64
	// ArtifactMaxFile and ArtifactMaxJob bound one uploaded artifact file and
	// all of a job attempt's artifacts, in bytes; 0: the defaults (1 GiB, 5 GiB).
	ArtifactMaxFile, ArtifactMaxJob int64
	// ArtifactIdle is how long an artifact upload may send nothing before it
	// is cut; 0: a minute.
	ArtifactIdle time.Duration
	// MaxBatch is the most jobs one batch submit may hold; 0: 1000.
	MaxBatch int
	// Logger is optional; slog.Default() otherwise.
	Logger *slog.Logger
	// SignIn lists the sign-in providers (GET /api/v1/auth/providers); nil: none.
	SignIn *signin.Service
	// SessionMax is a session's absolute lifetime; 0: auth.DefaultSessionMax.
	// (Its idle lifetime is Auth's SessionIdle.)
	SessionMax time.Duration
	// SecureCookies marks the session cookie Secure even on plain HTTP: the
	// server's public URL is https, behind a proxy that terminates TLS.
	SecureCookies bool
	// InvitationTTL is how long an invitation link works; 0: DefaultInvitationTTL.
	InvitationTTL time.Duration
	// TrustedOrigins are origins (scheme://host[:port]) whose pages may make
	// state-changing requests with the session cookie besides the server's own
	// host: the public URL, when a proxy in front passes another Host.
	TrustedOrigins []string
	// Metrics is the server's registry (GET /metrics); nil answers 503.
	Metrics *metrics.Metrics
	// MetricsToken, when set, is a bearer token that reads /metrics and
	// nothing else (--metrics-token).
	MetricsToken string
}

type handler struct {
	Deps
	signIns *signInLimiter
	// crossOrigin refuses cross-site state-changing requests that carry no
	// bearer token: those a browser makes with the session cookie.
	crossOrigin *http.CrossOriginProtection
}

// NewRouter registers every route, in openapi.yaml's order. Paths use {name}
// variables without regexps, so a route's template is its OpenAPI path; the one
// exception, {path:.+} of an artifact, takes slashes too (spec_test.go drops
// the regexp when it compares).
func NewRouter(d Deps) *mux.Router {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.MaxBatch == 0 {
		d.MaxBatch = 1000
	}
	if d.CacheMaxProject == 0 {
		d.CacheMaxProject = DefaultCacheMaxProject
	}
	h := &handler{Deps: d, signIns: newSignInLimiter(), crossOrigin: http.NewCrossOriginProtection()}
	for _, o := range d.TrustedOrigins {
		if err := h.crossOrigin.AddTrustedOrigin(o); err != nil {
			d.Logger.Warn("not a trusted origin", "origin", o, "err", err)
		}
	}
	r := mux.NewRouter()
	// Paths are taken as sent, not cleaned and redirected: an artifact path
	// with a .. or an empty segment is refused by its handler (400 naming
	// path), never quietly turned into another URL. Every other route's
	// variables are single segments, which a .. cannot pass for.
	r.SkipClean(true)
	r.Use(h.logRequests, h.answerInTime)
	// Unmatched requests bypass middleware: log them too.
	r.NotFoundHandler = h.logRequests(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.Web != nil && r.URL.Path != "/api" && !strings.HasPrefix(r.URL.Path, "/api/") {
			setRoute(w, webRoute)
			d.Web.ServeHTTP(w, r)
			return
		}
		writeError(w, r, errorf(http.StatusNotFound, "", "no route for "+r.URL.Path))
	}))
	r.MethodNotAllowedHandler = h.logRequests(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, errorf(http.StatusMethodNotAllowed, "", r.Method+" is not allowed on "+r.URL.Path))
	}))
	// Health checks answer whatever token comes along; everything else resolves it.
	r.HandleFunc("/healthz", h.healthz).Methods(http.MethodGet)
	r.HandleFunc("/readyz", h.readyz).Methods(http.MethodGet)
	// Prometheus metrics: the admin, or the metrics token (metrics.go).
	scrape := &prefixed{h: h, r: r}
	scrape.Use(h.metricsAuth)
	scrape.HandleFunc("/metrics", may(auth.ReadMetrics, instance), h.serveMetrics).Methods(http.MethodGet)

	// Webhooks carry a signature, not a token: a forge's own Authorization header
	// must not be mistaken for one of Aura's.
	r.HandleFunc("/api/v1/hooks/{integration}", h.receiveHook).Methods(http.MethodPost)
	r.HandleFunc("/api/submit/gitea", h.compatGitea).Methods(http.MethodPost)
	r.HandleFunc("/api/submit/darke", h.compatDarke).Methods(http.MethodPost)
	// Badges: a private project's needs a token, like its pages.
	badges := &prefixed{h: h, r: r, prefix: "/badge"}
	badges.Use(h.authenticate)
	badges.HandleFunc("/{project}/c/{key}/{val}.svg", may(auth.ReadProjectJobs, project), h.collectionBadge).Methods(http.MethodGet)
	badges.HandleFunc("/{project}/{key}/{val}.svg", may(auth.ReadProjectJobs, project), h.entityBadge).Methods(http.MethodGet)

	v1 := &prefixed{h: h, r: r, prefix: "/api/v1"}
	v1.Use(h.authenticate)
	v1.HandleFunc("/me", anyone, h.getMe).Methods(http.MethodGet)
	v1.HandleFunc("/auth/providers", anyone, h.listAuthProviders).Methods(http.MethodGet)
	v1.HandleFunc("/projects", may(auth.ReadProject, listed), h.listProjects).Methods(http.MethodGet)
	v1.HandleFunc("/projects", may(auth.CreateProject, instance), h.createProject).Methods(http.MethodPost)
	v1.HandleFunc("/projects/{project}", may(auth.ReadProject, project), h.getProject).Methods(http.MethodGet)
	v1.HandleFunc("/projects/{project}", may(auth.ManageProject, project), h.updateProject).Methods(http.MethodPatch)
	v1.HandleFunc("/projects/{project}", may(auth.ManageProject, project), h.deleteProject).Methods(http.MethodDelete)
	v1.HandleFunc("/projects/{project}/entities", may(auth.ReadProjectJobs, project), h.listEntityKeys).Methods(http.MethodGet)
	v1.HandleFunc("/projects/{project}/entities/{key}", may(auth.ReadProjectJobs, project), h.listEntities).Methods(http.MethodGet)
	v1.HandleFunc("/projects/{project}/entities/{key}/{val}", may(auth.ReadProjectJobs, project), h.getEntity).Methods(http.MethodGet)
	v1.HandleFunc("/projects/{project}/entities/{key}/{val}/retry-failed", may(auth.Retry, entity), h.retryFailedEntity).Methods(http.MethodPost)
	v1.HandleFunc("/projects/{project}/entities/{key}/{val}/cancel", may(auth.Cancel, entity), h.cancelEntity).Methods(http.MethodPost)
	v1.HandleFunc("/projects/{project}/builds", may(auth.ReadProjectJobs, project), h.listBuilds).Methods(http.MethodGet)
	v1.HandleFunc("/projects/{project}/collections", may(auth.ReadProjectJobs, project), h.listCollectionKeys).Methods(http.MethodGet)
	v1.HandleFunc("/projects/{project}/collections/{key}", may(auth.ReadProjectJobs, project), h.listCollections).Methods(http.MethodGet)
	v1.HandleFunc("/projects/{project}/collections/{key}/{val}", may(auth.ReadProjectJobs, project), h.getCollection).Methods(http.MethodGet)
	v1.HandleFunc("/projects/{project}/tokens", may(auth.ManageProject, project), h.listProjectTokens).Methods(http.MethodGet)
	v1.HandleFunc("/projects/{project}/tokens", may(auth.ManageProject, project), h.createProjectToken).Methods(http.MethodPost)
	v1.HandleFunc("/projects/{project}/tokens/{id}", may(auth.ManageProject, project), h.deleteProjectToken).Methods(http.MethodDelete)
	v1.HandleFunc("/projects/{project}/secrets", may(auth.ManageProject, project), h.listProjectSecrets).Methods(http.MethodGet)
	v1.HandleFunc("/projects/{project}/secrets/{name}", may(auth.ManageProject, project), h.putProjectSecret).Methods(http.MethodPut)
	v1.HandleFunc("/projects/{project}/secrets/{name}", may(auth.ManageProject, project), h.deleteProjectSecret).Methods(http.MethodDelete)
	v1.HandleFunc("/projects/{project}/integrations", may(auth.ManageIntegrations, project), h.listIntegrations).Methods(http.MethodGet)
	v1.HandleFunc("/projects/{project}/integrations", may(auth.ManageIntegrations, project), h.createIntegration).Methods(http.MethodPost)
	v1.HandleFunc("/projects/{project}/integrations/{id}", may(auth.ManageIntegrations, project), h.getIntegration).Methods(http.MethodGet)
	v1.HandleFunc("/projects/{project}/integrations/{id}", may(auth.ManageIntegrations, project), h.updateIntegration).Methods(http.MethodPatch)
	v1.HandleFunc("/projects/{project}/integrations/{id}", may(auth.ManageIntegrations, project), h.deleteIntegration).Methods(http.MethodDelete)
	v1.HandleFunc("/projects/{project}/integrations/{id}/test", may(auth.ManageIntegrations, project), h.testIntegrationStatus).Methods(http.MethodPost)
	// A cache key may hold slashes (go-mod/abc).
	v1.HandleFunc("/projects/{project}/caches", may(auth.ReadProjectJobs, project), h.listProjectCaches).Methods(http.MethodGet)
	v1.HandleFunc("/projects/{project}/caches/{key:.+}", may(auth.ManageProject, project), h.deleteProjectCache).Methods(http.MethodDelete)
	v1.HandleFunc("/projects/{project}/integrations/{id}/run", may(auth.Submit, project), h.runIntegration).Methods(http.MethodPost)
	v1.HandleFunc("/projects/{project}/schedules", may(auth.ReadProjectJobs, project), h.listSchedules).Methods(http.MethodGet)
	v1.HandleFunc("/projects/{project}/schedules", may(auth.ManageProject, project), h.createSchedule).Methods(http.MethodPost)
	v1.HandleFunc("/projects/{project}/schedules/{id}", may(auth.ManageProject, project), h.updateSchedule).Methods(http.MethodPatch)
	v1.HandleFunc("/projects/{project}/schedules/{id}", may(auth.ManageProject, project), h.deleteSchedule).Methods(http.MethodDelete)
	v1.HandleFunc("/projects/{project}/schedules/{id}/run", may(auth.Submit, project), h.runSchedule).Methods(http.MethodPost)
	// Notification rules may hold URLs with tokens in them: maintainers only.
	v1.HandleFunc("/projects/{project}/notifications", may(auth.ManageProject, project), h.listNotifications).Methods(http.MethodGet)
	v1.HandleFunc("/projects/{project}/notifications", may(auth.ManageProject, project), h.createNotification).Methods(http.MethodPost)
	v1.HandleFunc("/projects/{project}/notifications/{id}", may(auth.ManageProject, project), h.updateNotification).Methods(http.MethodPatch)
	v1.HandleFunc("/projects/{project}/notifications/{id}", may(auth.ManageProject, project), h.deleteNotification).Methods(http.MethodDelete)
	v1.HandleFunc("/jobs", may(auth.Submit, inBody), h.submitJob).Methods(http.MethodPost)
	v1.HandleFunc("/jobs/batch", may(auth.Submit, inBody), h.submitJobBatch).Methods(http.MethodPost)
	v1.HandleFunc("/jobs/{id}", may(auth.ReadJob, job), h.getJob).Methods(http.MethodGet)
	v1.HandleFunc("/jobs/{id}/cancel", may(auth.Cancel, job), h.cancelJob).Methods(http.MethodPost)
	v1.HandleFunc("/jobs/{id}/retry", may(auth.Retry, job), h.retryJob).Methods(http.MethodPost)
	v1.HandleFunc("/jobs/{id}/approve", may(auth.Approve, job), h.approveJob).Methods(http.MethodPost)
	v1.HandleFunc("/queue", may(auth.ReadProjectJobs, listed), h.listQueue).Methods(http.MethodGet)
	v1.HandleFunc("/runners", may(auth.ReadRunners, instance), h.listRunners).Methods(http.MethodGet)
	v1.HandleFunc("/runners", may(auth.ManageRunners, instance), h.createRunner).Methods(http.MethodPost)
	v1.HandleFunc("/runners/{id}", may(auth.ManageRunners, instance), h.deleteRunner).Methods(http.MethodDelete)
	v1.HandleFunc("/tags", may(auth.ReadRunners, instance), h.listTags).Methods(http.MethodGet)
	v1.HandleFunc("/runner/claim", may(auth.RunJobs, instance), h.claimJobs).Methods(http.MethodPost)
	v1.HandleFunc("/runner/cancels", may(auth.RunJobs, instance), h.watchCancels).Methods(http.MethodPost)
	v1.HandleFunc("/jobs/{id}/heartbeat", may(auth.HoldJob, heldJob), h.heartbeatJob).Methods(http.MethodPost)
	v1.HandleFunc("/jobs/{id}/log", may(auth.HoldJob, heldJob), h.appendJobLog).Methods(http.MethodPatch)
	v1.HandleFunc("/jobs/{id}/log", may(auth.ReadJob, job), h.getJobLog).Methods(http.MethodGet)
	v1.HandleFunc("/jobs/{id}/log/times", may(auth.ReadJob, job), h.getJobLogTimes).Methods(http.MethodGet)
	v1.HandleFunc("/jobs/{id}/annotations", may(auth.ReadJob, job), h.getJobAnnotations).Methods(http.MethodGet)
	v1.HandleFunc("/jobs/{id}/artifacts", may(auth.ReadArtifacts, job), h.listArtifacts).Methods(http.MethodGet)
	v1.HandleFunc("/jobs/{id}/artifact-link", may(auth.ReadArtifacts, job), h.getArtifactLink).Methods(http.MethodGet)
	// {path} takes the rest of the path: a file inside a directory artifact.
	v1.HandleFunc("/jobs/{id}/artifacts/{path:.+}", may(auth.ReadArtifacts, job), h.getArtifact).Methods(http.MethodGet)
	v1.HandleFunc("/jobs/{id}/artifacts/{path:.+}", may(auth.HoldJob, heldJob), h.uploadArtifact).Methods(http.MethodPut)
	v1.HandleFunc("/jobs/{id}/complete", may(auth.HoldJob, heldJob), h.completeJob).Methods(http.MethodPost)
	v1.HandleFunc("/events", anyone, h.events).Methods(http.MethodGet)
	v1.HandleFunc("/caches", may(auth.UseCaches, tokenProject), h.restoreCache).Methods(http.MethodGet)
	v1.HandleFunc("/caches", may(auth.UseCaches, tokenProject), h.saveCache).Methods(http.MethodPut)
	v1.HandleFunc("/audit", may(auth.ReadAudit, instance), h.listAudit).Methods(http.MethodGet)
	// Users, sessions, members and personal tokens (users.go).
	v1.HandleFunc("/session", anyone, h.signIn).Methods(http.MethodPost)
	v1.HandleFunc("/session", anyone, h.signOut).Methods(http.MethodDelete)
	v1.HandleFunc("/users", may(auth.ManageUsers, instance), h.listUsers).Methods(http.MethodGet)
	v1.HandleFunc("/users", may(auth.ManageUsers, instance), h.createUser).Methods(http.MethodPost)
	v1.HandleFunc("/users/{user}", may(auth.ManageAccount, account), h.updateUser).Methods(http.MethodPatch)
	v1.HandleFunc("/users/{user}", may(auth.ManageUsers, account), h.deleteUser).Methods(http.MethodDelete)
	v1.HandleFunc("/users/{user}/invitation", may(auth.ManageUsers, account), h.createInvitation).Methods(http.MethodPost)
	v1.HandleFunc("/invitations/{token}", anyone, h.getInvitation).Methods(http.MethodGet)
	v1.HandleFunc("/invitations/{token}", anyone, h.useInvitation).Methods(http.MethodPost)
	v1.HandleFunc("/projects/{project}/members", may(auth.ReadMembers, project), h.listMembers).Methods(http.MethodGet)
	v1.HandleFunc("/projects/{project}/members/{user}", may(auth.ManageMembers, project), h.putMember).Methods(http.MethodPut)
	v1.HandleFunc("/projects/{project}/members/{user}", may(auth.ManageMembers, project), h.deleteMember).Methods(http.MethodDelete)
	v1.HandleFunc("/me/tokens", may(auth.ManageAccount, self), h.listMyTokens).Methods(http.MethodGet)
	v1.HandleFunc("/me/tokens", may(auth.ManageAccount, self), h.createMyToken).Methods(http.MethodPost)
	v1.HandleFunc("/me/tokens/{id}", may(auth.ManageAccount, self), h.deleteMyToken).Methods(http.MethodDelete)
	v1.HandleFunc("/me/sessions", may(auth.ManageAccount, self), h.listMySessions).Methods(http.MethodGet)
	v1.HandleFunc("/me/sessions/{id}", may(auth.ManageAccount, self), h.deleteMySession).Methods(http.MethodDelete)

	// The Aura 0.4 API, so existing runners and scripts keep working.
	v04 := &prefixed{h: h, r: r, prefix: "/api"}
	v04.Use(h.authenticate)
	v04.HandleFunc("/submit", may(auth.Submit, inBody), h.compatSubmit).Methods(http.MethodPost)
	v04.HandleFunc("/runner", may(auth.RunJobs, instance), h.compatRunner).Methods(http.MethodPost)
	v04.HandleFunc("/job", may(auth.RunJobs, instance), h.compatJob).Methods(http.MethodPost)
	v04.HandleFunc("/storage/{jobId}/log", may(auth.HoldJob, heldJob), h.compatUploadLog).Methods(http.MethodPost)
	return r
}

// prefixed registers routes under a prefix on the root router, each behind the
// middlewares given to Use. It stands in for a mux subrouter, which answers a
// wrong method with 404 instead of 405: its routes inherit the prefix matcher,
// and that match clears the method mismatch an earlier route found.
type prefixed struct {
	h      *handler
	r      *mux.Router
	prefix string
	mw     []mux.MiddlewareFunc
}

// Use adds middlewares for the routes registered after it.
func (p *prefixed) Use(mw ...mux.MiddlewareFunc) { p.mw = append(p.mw, mw...) }

// Handle registers handler at the prefix plus path, for callers its rule allows.
func (p *prefixed) Handle(path string, ru rule, handler http.Handler) *mux.Route {
	handler = p.h.guard(ru, handler)
	for i := len(p.mw) - 1; i >= 0; i-- {
		handler = p.mw[i].Middleware(handler)
	}
	return p.r.Handle(p.prefix+path, handler)
}

// HandleFunc registers f at the prefix plus path, for callers its rule allows.
func (p *prefixed) HandleFunc(path string, ru rule, f func(http.ResponseWriter, *http.Request)) *mux.Route {
	return p.Handle(path, ru, http.HandlerFunc(f))
}

// longRoutes wait on purpose (long polls, the websocket): a bound on the whole
// request would cut them, so each of their database calls has its own.
var longRoutes = map[string]bool{
	"/api/v1/runner/claim":   true,
	"/api/v1/runner/cancels": true,
	"/api/v1/events":         true,
}

// answerInTime ends a request's context when it has waited store.StallAfter for
// its answer and the database then does not answer a probe: a frozen database
// (a stalled disk, a paused VM, a network partition) takes connections and never
// answers, and nothing else would end the wait. The request is answered 503.
// Slow work on a database that answers goes on, and once the answer has
// started (a long log download) the request is no longer watched.
func (h *handler) answerInTime(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cur := mux.CurrentRoute(r); cur != nil {
			if tpl, err := cur.GetPathTemplate(); err == nil && longRoutes[tpl] {
				next.ServeHTTP(w, r)
				return
			}
		}
		ctx, cancel := context.WithCancelCause(r.Context())
		defer cancel(nil)
		stop := h.Store.WatchStall(ctx, cancel)
		defer stop()
		next.ServeHTTP(&answerStarted{ResponseWriter: w, stop: stop}, r.WithContext(ctx))
	})
}

// answerStarted stops watching for a stall once the answer begins.
type answerStarted struct {
	http.ResponseWriter
	stop func()
}

func (a *answerStarted) WriteHeader(code int) {
	a.stop()
	a.ResponseWriter.WriteHeader(code)
}

func (a *answerStarted) Write(p []byte) (int, error) {
	a.stop()
	return a.ResponseWriter.Write(p)
}

// ReadFrom passes a copy on to the server's own ReadFrom (sendfile for a file).
func (a *answerStarted) ReadFrom(r io.Reader) (int64, error) {
	a.stop()
	return io.Copy(a.ResponseWriter, r)
}

func (a *answerStarted) Flush() {
	a.stop()
	if f, ok := a.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (a *answerStarted) Unwrap() http.ResponseWriter { return a.ResponseWriter }

type principalKey struct{}

// sessionKey holds the session cookie's secret when the caller was signed in by it.
type sessionKey struct{}

// cookieOptional are the routes where a session cookie that no longer holds is
// ignored rather than refused: signing in and out, and using an invitation.
var cookieOptional = map[string]bool{"/api/v1/session": true, "/api/v1/invitations/{token}": true}

// authenticate resolves the bearer token, or else the session cookie, once per
// request. A wrong token is refused even where none is needed, so a typo never
// silently reads as anonymous; a session that no longer holds is refused too
// (401), and its cookie cleared. A request without a bearer token must not be
// a cross-site one that changes state (403): a browser would have sent the
// cookie with it on its own.
func (h *handler) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header := r.Header.Get("Authorization")
		if header == "" && h.crossOrigin != nil {
			if err := h.crossOrigin.Check(r); err != nil {
				writeError(w, r, errorf(http.StatusForbidden, "", "cross-origin request refused: a request made with the session cookie must come from Aura's own pages (send a bearer token from elsewhere)"))
				return
			}
		}
		// Long polls are not watched as a whole: the token lookup is.
		ctx, release := h.Store.StallBound(r.Context())
		p, err := h.Auth.Authenticate(ctx, header)
		var secret string
		if c, cerr := r.Cookie(auth.SessionCookie); header == "" && cerr == nil && c.Value != "" {
			secret = c.Value
			p, err = h.Auth.Session(ctx, secret)
			if auth.Revoked(err) {
				h.clearSession(w, r)
				if cur := mux.CurrentRoute(r); cur != nil && cookieOptional[pathTemplate(cur)] {
					p, err, secret = nil, nil, ""
				}
			}
		}
		release()
		if err != nil {
			writeError(w, r, err)
			return
		}
		ctx = context.WithValue(r.Context(), principalKey{}, p)
		if secret != "" {
			ctx = context.WithValue(ctx, sessionKey{}, secret)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func pathTemplate(route *mux.Route) string {
	tpl, _ := route.GetPathTemplate()
	return tpl
}

// sessionSecret is the session cookie the caller was signed in by, if any.
func sessionSecret(r *http.Request) string {
	s, _ := r.Context().Value(sessionKey{}).(string)
	return s
}

// principal is the caller, nil when anonymous.
func principal(r *http.Request) *auth.Principal {
	p, _ := r.Context().Value(principalKey{}).(*auth.Principal)
	return p
}

func muxVar(r *http.Request, name string) string { return mux.Vars(r)[name] }

// healthz is the liveness probe: it answers 200 while the process serves, and
// says whether the database answers (an outage is no reason to restart the
// server). The probe takes at most store.ProbeTimeout, even when the database is frozen.
func (h *handler) healthz(w http.ResponseWriter, r *http.Request) {
	health := map[string]string{"status": "ok", "database": "ok", "version": version.String()}
	if err := h.Store.Probe(r.Context()); err != nil {
		health["status"], health["database"] = "degraded", "unreachable"
	}
	writeJSON(w, http.StatusOK, health)
}

// readyz is the readiness probe: 503 while the database does not answer, or
// while no connection of the pool can be had (all are busy).
func (h *handler) readyz(w http.ResponseWriter, r *http.Request) {
	if err := h.Store.Probe(r.Context()); err != nil {
		writeUnavailable(w)
		return
	}
	if err := h.Store.PoolFree(r.Context()); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "database": "ok", "version": version.String()})
}
