package api

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aura-ci/aura/backend/internal/integrations"
	"github.com/aura-ci/aura/backend/internal/store"
)

type jobTemplateJSON struct {
	Name    string            `json:"name" validate:"required,slug,ne=approval"`
	Cmd     string            `json:"cmd" validate:"max=65536"` // empty: integrations.DefaultJobCmd
	Tag     string            `json:"tag" validate:"required,tag"`
	Env     map[string]string `json:"env,omitempty" validate:"max=500,dive,keys,envname,endkeys"`
	Secrets []string          `json:"secrets,omitempty" validate:"max=100,dive,envname"`
}

type integrationJSON struct {
	ID                  int64             `json:"id"`
	Project             string            `json:"project"`
	Kind                string            `json:"kind"`
	Repository          string            `json:"repository"`
	APIURL              string            `json:"apiUrl"`
	HasAccessToken      bool              `json:"hasAccessToken"`
	HasSecret           bool              `json:"hasSecret"`
	Events              []string          `json:"events"`
	Jobs                []jobTemplateJSON `json:"jobs"`
	ContextPerJob       bool              `json:"contextPerJob"`
	ForkPolicy          string            `json:"forkPolicy"`
	AllowPrivateNetwork bool              `json:"allowPrivateNetwork"`
	WebhookURL          string            `json:"webhookUrl"`
	CreatedAt           time.Time         `json:"createdAt"`
	LastDeliveryAt      *time.Time        `json:"lastDeliveryAt,omitempty"`
	LastDelivery        string            `json:"lastDelivery,omitempty"`
	LastStatusAt        *time.Time        `json:"lastStatusAt,omitempty"`
	LastFailureAt       *time.Time        `json:"lastFailureAt,omitempty"`
	LastFailure         string            `json:"lastFailure,omitempty"`
	// Secret is the webhook secret, only in the answer that created or regenerated it.
	Secret string `json:"secret,omitempty"`
}

func (h *handler) toIntegration(in *store.Integration) integrationJSON {
	out := integrationJSON{
		ID: in.ID, Project: in.Project, Kind: in.Kind, Repository: in.Repository, APIURL: in.APIURL,
		HasAccessToken: in.HasToken, HasSecret: in.HasSecret, Events: in.Events,
		ContextPerJob: in.ContextPerJob, ForkPolicy: in.ForkPolicy, AllowPrivateNetwork: in.AllowPrivateNetwork,
		WebhookURL: h.Integrations.WebhookURL(in.ID), CreatedAt: in.CreatedAt, LastDeliveryAt: in.LastDeliveryAt,
		LastDelivery: in.LastDelivery, LastStatusAt: in.LastStatusAt, LastFailureAt: in.LastFailureAt,
		LastFailure: in.LastFailure,
	}
	out.Jobs = mapSlice(in.Jobs, func(t store.JobTemplate) jobTemplateJSON {
		return jobTemplateJSON{Name: t.Name, Cmd: t.Cmd, Tag: t.Tag, Env: t.Env, Secrets: t.Secrets}
	})
	if out.Events == nil {
		out.Events = []string{}
	}
	return out
}

// toTemplates are the templates to store; one without a command gets the
// default job's, which builds what the repository describes (.aura/ci or
// .aura/jobs.yaml).
func toTemplates(in []jobTemplateJSON) []store.JobTemplate {
	return mapSlice(in, func(t jobTemplateJSON) store.JobTemplate {
		if t.Cmd == "" {
			t.Cmd = integrations.DefaultJobCmd
		}
		return store.JobTemplate{Name: t.Name, Cmd: t.Cmd, Tag: t.Tag, Env: t.Env, Secrets: t.Secrets}
	})
}

type integrationCreate struct {
	Kind                string            `json:"kind" validate:"required,forge"`
	Repository          string            `json:"repository" validate:"required,max=300"`
	APIURL              string            `json:"apiUrl" validate:"max=2000"`
	AccessToken         string            `json:"accessToken" validate:"max=10000"`
	Events              []string          `json:"events" validate:"omitempty,max=3,dive,oneof=push tag request"`
	Jobs                []jobTemplateJSON `json:"jobs" validate:"omitempty,min=1,max=20,dive"` // none: the default job
	ContextPerJob       *bool             `json:"contextPerJob"`
	ForkPolicy          *string           `json:"forkPolicy" validate:"omitnil,oneof=approve without-secrets"`
	AllowPrivateNetwork *bool             `json:"allowPrivateNetwork"`
}

type integrationUpdate struct {
	Repository          *string           `json:"repository" validate:"omitnil,min=1,max=300"`
	APIURL              *string           `json:"apiUrl" validate:"omitnil,max=2000"`
	AccessToken         *string           `json:"accessToken" validate:"omitnil,max=10000"`
	Events              []string          `json:"events" validate:"omitempty,max=3,dive,oneof=push tag request"`
	Jobs                []jobTemplateJSON `json:"jobs" validate:"omitempty,min=1,max=20,dive"`
	ContextPerJob       *bool             `json:"contextPerJob"`
	ForkPolicy          *string           `json:"forkPolicy" validate:"omitnil,oneof=approve without-secrets"`
	AllowPrivateNetwork *bool             `json:"allowPrivateNetwork"`
	RegenerateSecret    bool              `json:"regenerateSecret"`
}

// checkForge validates what the store cannot: the repository's form, an API
// URL that may be called (statuses go only there), and that the forge's API,
// with the token, reads the repository. It returns the API base to store,
// derived from the forge's address.
func (h *handler) checkForge(r *http.Request, kind, repository, apiURL, token string, allowPrivate bool) (string, error) {
	if !integrations.ValidRepository(kind, repository) {
		return "", errorf(http.StatusBadRequest, "repository", "field repository must be "+integrations.RepositoryForm(kind))
	}
	if apiURL == "" {
		return "", nil
	}
	if !integrations.ReportsStatus(kind) {
		return "", errorf(http.StatusBadRequest, "apiUrl", kind+" integrations report no status: leave apiUrl empty")
	}
	base, err := h.Integrations.CheckForge(r.Context(), kind, repository, apiURL, token, allowPrivate)
	var fe *integrations.ForgeError
	if errors.As(err, &fe) {
		return "", errorf(http.StatusBadRequest, fe.Field, fe.Message)
	}
	return base, err
}

// checkEvents refuses events that deliveries of kind never start.
func checkEvents(kind string, events []string) error {
	known := integrations.Events(kind)
	for i, e := range events {
		if !slices.Contains(known, e) {
			return errorf(http.StatusBadRequest, fmt.Sprintf("events[%d]", i), fmt.Sprintf("%s deliveries start no %s events: give %s",
				integrations.Name(kind), e, strings.Join(known, ", ")))
		}
	}
	return nil
}

// integrationOf returns the integration in the path, of the route's project.
func (h *handler) integrationOf(r *http.Request) (*store.Integration, error) {
	p := projectOf(r)
	id, err := idParam(r, "id")
	if err != nil {
		return nil, err
	}
	in, err := h.Store.IntegrationGet(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if in.ProjectID != p.ID {
		return nil, store.ErrNotFound
	}
	return in, nil
}

func (h *handler) listIntegrations(w http.ResponseWriter, r *http.Request) {
	p := projectOf(r)
	ins, err := h.Store.IntegrationList(r.Context(), p.ID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listJSON[integrationJSON]{Items: mapSlice(ins, h.toIntegration)})
}

func (h *handler) createIntegration(w http.ResponseWriter, r *http.Request) {
	p := projectOf(r)
	var body integrationCreate
	if err := decode(w, r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	if err := checkEvents(body.Kind, body.Events); err != nil {
		writeError(w, r, err)
		return
	}
	allowPrivate := body.AllowPrivateNetwork != nil && *body.AllowPrivateNetwork
	var err error
	body.APIURL, err = h.checkForge(r, body.Kind, body.Repository, body.APIURL, body.AccessToken, allowPrivate)
	if err != nil {
		writeError(w, r, err)
		return
	}
	events := dedupe(body.Events)
	if events == nil {
		events = integrations.Events(body.Kind) // in the documented order
	}
	if len(body.Jobs) == 0 {
		body.Jobs = []jobTemplateJSON{{Name: integrations.DefaultJobName, Tag: integrations.DefaultJobTag}}
	}
	secret := integrations.NewSecret()
	in, err := h.Store.IntegrationCreate(r.Context(), p.ID, &store.IntegrationParams{
		Kind: body.Kind, Repository: &body.Repository, Secret: secret,
		APIURL: &body.APIURL, Token: &body.AccessToken, Events: events,
		Jobs: toTemplates(body.Jobs), ContextPerJob: body.ContextPerJob, ForkPolicy: body.ForkPolicy,
		AllowPrivateNetwork: body.AllowPrivateNetwork,
	}, audit(r))
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := h.toIntegration(in)
	out.Secret = secret
	writeJSON(w, http.StatusCreated, out)
}

func dedupe(s []string) []string {
	if s == nil {
		return nil
	}
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

func (h *handler) getIntegration(w http.ResponseWriter, r *http.Request) {
	in, err := h.integrationOf(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, h.toIntegration(in))
}

func (h *handler) updateIntegration(w http.ResponseWriter, r *http.Request) {
	in, err := h.integrationOf(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var body integrationUpdate
	if err := decode(w, r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	if err := checkEvents(in.Kind, body.Events); err != nil {
		writeError(w, r, err)
		return
	}
	repo, apiURL, allowPrivate := in.Repository, in.APIURL, in.AllowPrivateNetwork
	if body.Repository != nil {
		repo = *body.Repository
	}
	if body.APIURL != nil {
		apiURL = *body.APIURL
	}
	if body.AllowPrivateNetwork != nil {
		allowPrivate = *body.AllowPrivateNetwork
	}
	// What a status needs is checked again whenever part of it changes.
	if body.Repository != nil || body.APIURL != nil || body.AccessToken != nil || body.AllowPrivateNetwork != nil {
		var token string
		if body.AccessToken != nil {
			token = *body.AccessToken
		} else if in.HasToken {
			opened, err := h.Store.IntegrationOpen(r.Context(), in.ID)
			if err != nil {
				writeError(w, r, err)
				return
			}
			token = opened.Token
		}
		if apiURL, err = h.checkForge(r, in.Kind, repo, apiURL, token, allowPrivate); err != nil {
			writeError(w, r, err)
			return
		}
		if body.APIURL != nil || apiURL != in.APIURL {
			body.APIURL = &apiURL // the derived API base, also for a web address saved before
		}
	}
	params := &store.IntegrationParams{
		Repository: body.Repository, APIURL: body.APIURL, Events: dedupe(body.Events),
		ContextPerJob: body.ContextPerJob, ForkPolicy: body.ForkPolicy, AllowPrivateNetwork: body.AllowPrivateNetwork,
	}
	if body.Jobs != nil {
		params.Jobs = toTemplates(body.Jobs)
	}
	params.Token = body.AccessToken
	var secret string
	if body.RegenerateSecret {
		secret = integrations.NewSecret()
		params.Secret = secret
	}
	in, err = h.Store.IntegrationUpdate(r.Context(), in.ID, params, audit(r))
	if err != nil {
		writeError(w, r, err)
		return
	}
	h.Integrations.Forget(in.ID)
	out := h.toIntegration(in)
	out.Secret = secret
	writeJSON(w, http.StatusOK, out)
}

func (h *handler) deleteIntegration(w http.ResponseWriter, r *http.Request) {
	in, err := h.integrationOf(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if err := h.Store.IntegrationDelete(r.Context(), in.ID, audit(r)); err != nil {
		writeError(w, r, err)
		return
	}
	h.Integrations.Forget(in.ID)
	w.WriteHeader(http.StatusNoContent)
}

type testStatus struct {
	SHA string `json:"sha" validate:"required"`
}

type testStatusResult struct {
	Delivered bool   `json:"delivered"`
	Message   string `json:"message"`
}

// testIntegrationStatus sends one status now, so an admin sees at once whether
// the URL and the token work. The outcome is also recorded on the integration.
func (h *handler) testIntegrationStatus(w http.ResponseWriter, r *http.Request) {
	in, err := h.integrationOf(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var body testStatus
	if err := decode(w, r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	res, err := h.Integrations.TestStatus(r.Context(), in, body.SHA)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, testStatusResult{Delivered: res == "", Message: orDefault(res, "the forge accepted the status")})
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

type hookResult struct {
	Message   string  `json:"message"`
	Jobs      []int64 `json:"jobs"`
	Duplicate bool    `json:"duplicate,omitempty"`
}

// readHook reads a webhook body under the service's deadline and byte budget,
// refusing one over the limit before anything (the signature included) is
// computed over it. The deadline is set before anything else is done, so that
// whatever the server reads of the request (also when the handler answers
// without reading it) is read under it; release must be called once the body
// is no longer needed.
func (h *handler) readHook(w http.ResponseWriter, r *http.Request) (body []byte, release func(), err error) {
	rc := http.NewResponseController(w)
	body, release, err = h.Integrations.Budget().ReadBody(r.Body)
	var ne net.Error
	switch {
	case err == nil:
		// The body is in: the handler's work may take longer than the deadline.
		_ = rc.SetReadDeadline(time.Time{})
		return body, release, nil
	case errors.Is(err, integrations.ErrTooLarge):
		err = errorf(http.StatusRequestEntityTooLarge, "", err.Error())
	case errors.Is(err, integrations.ErrBudget):
		w.Header().Set("Retry-After", retryAfterSeconds)
		err = errorf(http.StatusServiceUnavailable, "", err.Error())
	case errors.As(err, &ne) && ne.Timeout():
		err = errorf(http.StatusRequestTimeout, "", fmt.Sprintf("the webhook body did not arrive within %s", h.Integrations.BodyTimeout()))
	default:
		err = errorf(http.StatusBadRequest, "", "the webhook body could not be read")
	}
	// What is left of the body is not read: close the connection after the answer.
	w.Header().Set("Connection", "close")
	return nil, release, err
}

// hookDeadline bounds the time the server reads the request: the body, or
// whatever it discards of it after an early answer.
func (h *handler) hookDeadline(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(h.Integrations.BodyTimeout()))
}

func writeHookResult(w http.ResponseWriter, res *integrations.Result) {
	out := hookResult{Message: res.Message, Jobs: []int64{}, Duplicate: res.Duplicate}
	for _, j := range res.Jobs {
		out.Jobs = append(out.Jobs, j.ID)
	}
	writeJSON(w, http.StatusOK, out)
}

// receiveHook takes a forge's delivery. It needs no token: the signature proves
// the sender, and it is checked before the body is parsed.
func (h *handler) receiveHook(w http.ResponseWriter, r *http.Request) {
	h.hookDeadline(w)
	id, err := idParam(r, "integration")
	if err != nil {
		w.Header().Set("Connection", "close")
		writeError(w, r, err)
		return
	}
	// Known before a byte of the body is read: an unknown id costs no memory.
	in, err := h.Integrations.Lookup(r.Context(), id)
	if err != nil {
		w.Header().Set("Connection", "close")
		writeError(w, r, err)
		return
	}
	body, release, err := h.readHook(w, r)
	defer release()
	if err != nil {
		writeError(w, r, err)
		return
	}
	res, err := h.Integrations.Receive(r.Context(), in, r.Header, body)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeHookResult(w, res)
}

// approveJob lets the jobs of a pull request from a fork run (auth.Approve: a
// job token may not, it could approve its own kind).
func (h *handler) approveJob(w http.ResponseWriter, r *http.Request) {
	j, err := h.Store.JobApprove(r.Context(), jobOf(r).ID, actor(r))
	if err != nil {
		writeError(w, r, err)
		return
	}
	h.writeJobs(w, r, http.StatusOK, []*store.Job{j}, true)
}

type secretJSON struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

func toSecret(s *store.ProjectSecret) secretJSON {
	return secretJSON{Name: s.Name, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt}
}

type secretPut struct {
	Value string `json:"value" validate:"required,min=8,max=65536"`
}

func (h *handler) listProjectSecrets(w http.ResponseWriter, r *http.Request) {
	p := projectOf(r)
	ss, err := h.Store.ProjectSecretList(r.Context(), p.ID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listJSON[secretJSON]{Items: mapSlice(ss, toSecret)})
}

func secretName(r *http.Request) (string, error) {
	name := muxVar(r, "name")
	if !envNamePattern.MatchString(name) || len(name) > 200 {
		return "", errorf(http.StatusBadRequest, "name", "name must be a variable name (letters, digits and _, not starting with a digit)")
	}
	return name, nil
}

func (h *handler) putProjectSecret(w http.ResponseWriter, r *http.Request) {
	p := projectOf(r)
	name, err := secretName(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var body secretPut
	if err := decode(w, r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	s, created, err := h.Store.ProjectSecretPut(r.Context(), p.ID, name, body.Value, audit(r))
	if err != nil {
		writeError(w, r, err)
		return
	}
	code := http.StatusOK
	if created {
		code = http.StatusCreated
	}
	writeJSON(w, code, toSecret(s))
}

func (h *handler) deleteProjectSecret(w http.ResponseWriter, r *http.Request) {
	p := projectOf(r)
	name, err := secretName(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if err := h.Store.ProjectSecretDelete(r.Context(), p.ID, name, audit(r)); err != nil {
		writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
