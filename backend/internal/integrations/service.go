package integrations

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aura-ci/aura/backend/internal/store"
)

// MaxBodyBytes bounds a webhook body; it is enforced before the signature is computed.
const MaxBodyBytes = 4 << 20

// Service handles deliveries and reports statuses. The store seals and opens
// the secrets it needs (webhook secrets, access tokens, project secrets).
type Service struct {
	Store *store.Store
	// BaseURL is Aura's public URL, for webhook URLs and status links.
	BaseURL  string
	Reporter *Reporter
	// BodyBudget bounds the bytes all webhook bodies being read or handled may
	// hold; nil: DefaultBodyBudget.
	BodyBudget *Budget
	// ReadTimeout bounds the time to receive one webhook body; 0: DefaultReadTimeout.
	ReadTimeout time.Duration
	// Mail is the SMTP server of e-mail notifications; nil: e-mail rules fail and say so.
	Mail *MailConfig

	defaultBudget sync.Once
	statusKick    chan struct{}
	kickOnce      sync.Once
	deliveries    deliveryLog
	groups        submitGroups
	opened        openedCache
}

// kicks is the signal that a delivery queued a status: this server's sender
// sends it at once instead of at its next poll (other servers' senders poll).
func (s *Service) kicks() chan struct{} {
	s.kickOnce.Do(func() { s.statusKick = make(chan struct{}, 1) })
	return s.statusKick
}

func (s *Service) kickStatus() {
	select {
	case s.kicks() <- struct{}{}:
	default:
	}
}

// DefaultReadTimeout is how long a forge has to send a webhook body: forges
// send a few kilobytes at once, a sender that trickles is cut off.
const DefaultReadTimeout = 10 * time.Second

// Budget returns the byte budget of webhook bodies.
func (s *Service) Budget() *Budget {
	s.defaultBudget.Do(func() {
		if s.BodyBudget == nil {
			s.BodyBudget = NewBudget(DefaultBodyBudget)
		}
	})
	return s.BodyBudget
}

// BodyTimeout is how long one webhook body may take to arrive.
func (s *Service) BodyTimeout() time.Duration {
	if s.ReadTimeout > 0 {
		return s.ReadTimeout
	}
	return DefaultReadTimeout
}

// NewSecret makes a webhook secret: 32 random bytes, hex encoded, so it pastes
// into every forge's form.
func NewSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// WebhookURL is where the forge sends an integration's deliveries.
func (s *Service) WebhookURL(id int64) string {
	return strings.TrimRight(s.BaseURL, "/") + "/api/v1/hooks/" + strconv.FormatInt(id, 10)
}

// CheckForge checks an integration's forge settings before they are saved and
// returns the API base to keep: the one derived from the address given
// (APIBase), whose host Aura may call, and, with an access token, through
// which the token reads the repository. A setting that does not work is a
// *ForgeError naming its field.
func (s *Service) CheckForge(ctx context.Context, kind, repository, apiURL, token string, allowPrivate bool) (string, error) {
	base, err := APIBase(kind, apiURL)
	if err != nil {
		return "", &ForgeError{Field: "apiUrl", Message: err.Error()}
	}
	if err := CheckAPIURL(ctx, base, allowPrivate); err != nil {
		return "", &ForgeError{Field: "apiUrl", Message: err.Error()}
	}
	if token == "" {
		return base, nil // no status goes out without a token: nothing to read the repository with
	}
	err = s.Reporter.CheckRepository(ctx, &Forge{Kind: kind, APIURL: base, Token: token, Repository: repository,
		AllowPrivateNetwork: allowPrivate})
	return base, err
}

// Result is what a delivery did.
type Result struct {
	Message   string
	Jobs      []*store.Job
	Duplicate bool
}

// ErrUnknownHook is how a delivery to an integration that does not exist, or
// has no webhook secret, is refused: as a bad signature, so that the answer
// does not tell which integration ids exist.
var ErrUnknownHook = ErrSignature

// Lookup returns the integration a delivery to id goes to, before its body is
// read: an unknown id, or one that can verify no signature, is ErrUnknownHook.
// It may be the one the last delivery went to (openedCache); a refusal is
// always decided on the integration read afresh.
func (s *Service) Lookup(ctx context.Context, id int64) (*store.IntegrationOpened, error) {
	in := s.opened.get(id)
	var err error
	if in == nil || in.Secret == "" {
		in, err = s.open(ctx, id)
	}
	if errors.Is(err, store.ErrNotFound) || (err == nil && in.Secret == "") {
		return nil, ErrUnknownHook
	}
	return in, err
}

// errRecheck ends the handling of a delivery on a cached integration that
// would not submit it: the outcome is decided on settings read afresh.
var errRecheck = errors.New("integrations: decide on the current settings")

// Receive handles one delivery to in (from Lookup): verify, parse, submit.
// A delivery to a cached integration is submitted only if its settings still
// hold; else, and whenever it would not be submitted (a bad signature, an
// event to skip, an error), it is handled again on the integration read afresh.
func (s *Service) Receive(ctx context.Context, in *store.IntegrationOpened, h http.Header, body []byte) (*Result, error) {
	if !s.opened.holds(in) {
		return s.receive(ctx, in, h, body, false, "")
	}
	res, err := s.receive(ctx, in, h, body, false, in.Version)
	if err == nil || ctx.Err() != nil {
		return res, err
	}
	s.Forget(in.ID)
	in, err = s.open(ctx, in.ID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && in.Secret == "") {
		return nil, ErrUnknownHook
	} else if err != nil {
		return nil, err
	}
	return s.receive(ctx, in, h, body, false, "")
}

// compatCandidates bounds the integrations one 0.4 delivery is verified
// against: those of the repository it names, so its cost does not grow with
// the number of integrations.
const compatCandidates = 4

// ReceiveCompat handles a 0.4 webhook (/api/submit/gitea, /api/submit/darke),
// which names no integration: it goes to the integration of kinds, for the
// repository the payload names, whose secret signs it. The payload's
// repository is read (and nothing else) before a signature matches, so an
// unsigned delivery costs one scan of its body and at most compatCandidates
// signature checks, however many integrations there are.
func (s *Service) ReceiveCompat(ctx context.Context, kinds []string, h http.Header, body []byte) (*Result, error) {
	payload, isForm := formPayload(h, body)
	claimed := body
	if isForm {
		claimed = payload
	}
	repo := claimedRepository(claimed)
	if repo == "" {
		return nil, ErrUnknownHook
	}
	ins, err := s.Store.IntegrationsByRepository(ctx, kinds, repo, compatCandidates)
	if err != nil {
		return nil, err
	}
	for _, in := range ins {
		if in.Secret == "" {
			continue // nothing to verify with
		}
		if f := lookup(in.Kind); f != nil && signs(f, []byte(in.Secret), h, body, payload, isForm) {
			return s.receive(ctx, in, h, body, true, "")
		}
	}
	return nil, ErrUnknownHook
}

// receive handles a delivery to in; compat maps it as 0.4 did (collection
// ref/<last part of the ref>). With version (in is cached), it submits the
// delivery only on these settings, and answers errRecheck for any outcome but
// a submission, having written nothing.
func (s *Service) receive(ctx context.Context, in *store.IntegrationOpened, h http.Header, body []byte, compat bool, version string) (*Result, error) {
	if in.Secret == "" {
		return nil, ErrUnknownHook
	}
	e, err := Parse(in.Kind, []byte(in.Secret), h, body)
	if version != "" && err != nil {
		return nil, errRecheck
	}
	var skip *Skip
	var bad *MalformedError
	switch {
	case errors.Is(err, ErrSignature):
		return nil, err
	case errors.As(err, &bad):
		return nil, &store.Error{Kind: store.Invalid, Message: bad.Message}
	case errors.As(err, &skip):
		return s.skipped(ctx, &in.Integration, skip.Message)
	case err != nil:
		return nil, err
	}
	if version != "" && (!sameRepository(&in.Integration, e) || !slices.Contains(in.Events, e.Name) || len(in.Jobs) == 0) {
		return nil, errRecheck
	}
	if !sameRepository(&in.Integration, e) {
		return nil, &store.Error{Kind: store.Invalid, Field: "repository",
			Message: fmt.Sprintf("this integration listens for %s, not %s", in.Repository, e.Repository)}
	}
	if !slices.Contains(in.Events, e.Name) {
		return s.skipped(ctx, &in.Integration, e.Name+" events are not enabled on this integration")
	}
	if len(in.Jobs) == 0 {
		return s.skipped(ctx, &in.Integration, "this integration has no jobs to submit")
	}
	if compat && e.Name == EventPush {
		e.Branch = e.Branch[strings.LastIndex(e.Branch, "/")+1:]
	}
	return s.submit(ctx, &in.Integration, e, version)
}

func (s *Service) skipped(ctx context.Context, in *store.Integration, msg string) (*Result, error) {
	s.deliveries.record(ctx, s.Store, in, msg)
	return &Result{Message: msg}, nil
}

func sameRepository(in *store.Integration, e *Event) bool {
	return strings.EqualFold(in.Repository, e.Repository) || (e.RepositoryID != "" && in.Repository == e.RepositoryID)
}

// slugUnsafe matches what a collection value cannot hold.
var slugUnsafe = regexp.MustCompile(`[^0-9A-Za-z_:.-]`)

// slugValue makes a branch or tag name a collection value: "/" becomes ":"
// (which git forbids in ref names, so no two names collide), anything else
// outside the slug alphabet "_".
func slugValue(name string) string {
	v := slugUnsafe.ReplaceAllString(strings.ReplaceAll(name, "/", ":"), "_")
	if len(v) > 260 {
		v = v[:260]
	}
	return v
}

// submit submits e's jobs; version, when set, names the settings of in it
// was handled on (store.HookSubmitParams.IntegrationVersion).
func (s *Service) submit(ctx context.Context, in *store.Integration, e *Event, version string) (*Result, error) {
	collections := map[string]string{}
	env := map[string]string{
		"AURA_GIT_URL": e.CloneURL, "AURA_GIT_REF": e.Ref, "AURA_GIT_SHA": e.SHA,
	}
	switch e.Name {
	case EventTag:
		collections["tag"] = slugValue(e.Tag)
		env["AURA_GIT_TAG"] = e.Tag
	case EventPush:
		if e.Branch != "" { // a run by hand may name a commit only
			collections["ref"] = slugValue(e.Branch)
		}
		env["AURA_GIT_BRANCH"] = e.Branch
	case EventRequest:
		collections["mr"] = strconv.Itoa(e.Request)
		if !e.Fork {
			// A fork's branch name means nothing in the base repository.
			collections["ref"] = slugValue(e.Branch)
		}
		env["AURA_GIT_BRANCH"] = e.Branch
		env["AURA_GIT_REQUEST"] = strconv.Itoa(e.Request)
		env["AURA_GIT_SOURCE_BRANCH"] = e.Branch
		env["AURA_GIT_TARGET_BRANCH"] = e.TargetBranch
	}

	// Forks never get the project's secrets, approved or not.
	secrets := map[string]string{}
	var missing []string
	var names []string
	for _, t := range in.Jobs {
		names = append(names, t.Secrets...)
	}
	if !e.Fork && len(names) > 0 { // no round trip for templates without secrets
		var err error
		if secrets, err = s.Store.ProjectSecretsOpen(ctx, in.ProjectID, names); err != nil {
			return nil, err
		}
	}

	entityKey, entityVal := "commit", e.SHA
	if e.SHA == "" { // a run by hand on a branch (run.go)
		entityKey, entityVal = "run", e.RunVal
	}
	var params []*store.JobSubmitParams
	for _, t := range in.Jobs {
		jobEnv := map[string]string{}
		for k, v := range t.Env {
			jobEnv[k] = v
		}
		for k, v := range e.Env { // a run's extra values
			jobEnv[k] = v
		}
		for k, v := range env { // the forge's facts win over a template's env
			if v != "" || jobEnv[k] == "" {
				jobEnv[k] = v
			}
		}
		secretEnv := map[string]string{}
		if !e.Fork {
			for _, name := range t.Secrets {
				if v, ok := secrets[name]; ok {
					secretEnv[name] = v
				} else if !slices.Contains(missing, name) {
					missing = append(missing, name)
				}
			}
		}
		params = append(params, &store.JobSubmitParams{
			JobSpec:   store.JobSpec{Name: t.Name, Cmd: t.Cmd, Tag: t.Tag, Env: jobEnv},
			ProjectID: in.ProjectID, ProjectSlug: in.Project, EntityKey: entityKey, EntityVal: entityVal,
			SecretEnv: secretEnv, Collections: collections, EntityTitle: e.Title, EntityMeta: &e.Meta,
		})
	}

	what := e.Name + " of " + e.SHA
	switch e.Name {
	case EventPush:
		what = "push to " + e.Branch + " at " + e.SHA
	case EventTag:
		what = "tag " + e.Tag + " at " + e.SHA
	case EventRequest:
		what = fmt.Sprintf("request #%d at %s", e.Request, e.SHA)
	}
	msg := fmt.Sprintf("%s: submitted %d job(s) for commit/%s", what, len(params), e.SHA)
	approval := ""
	if e.Fork {
		if in.ForkPolicy == "approve" {
			approval = fmt.Sprintf("request #%d comes from a fork: an admin or a project token must approve it before it runs (POST /api/v1/jobs/{id}/approve); it gets no secrets", e.Request)
			msg += ", waiting for approval (from a fork)"
		} else {
			msg += ", without secrets (from a fork)"
		}
	}
	if len(missing) > 0 {
		msg += "; project secrets not set: " + strings.Join(missing, ", ")
	}
	keys := []string{fmt.Sprintf("event:%s:%s:%s", e.Name, e.Ref, e.SHA)}
	if e.Manual { // a run by hand is never a duplicate
		keys, what = nil, "run"
		if e.Branch != "" {
			what += " on " + e.Branch
		}
		msg = fmt.Sprintf("%s: submitted %d job(s) for %s/%s", what, len(params), entityKey, entityVal)
		if len(missing) > 0 {
			msg += "; project secrets not set: " + strings.Join(missing, ", ")
		}
	}
	if e.Delivery != "" {
		keys = append(keys, "delivery:"+e.Delivery)
	}
	report := ""
	if in.APIURL != "" && in.HasToken && e.SHA != "" {
		report = e.SHA
	}
	by := &store.Actor{Kind: store.ActorForge, Name: in.Kind + " delivery"}
	if e.Delivery != "" {
		by.Name += " " + e.Delivery
	}
	hp := &store.HookSubmitParams{
		IntegrationID: in.ID, ProjectID: in.ProjectID, Project: in.Project, DedupeKeys: keys, ReportSHA: report,
		Jobs: params, Approval: approval, By: by, Message: msg, ReceivedAt: time.Now(), IntegrationVersion: version,
	}
	var jobs []*store.Job
	var dup bool
	var err error
	if approval == "" {
		jobs, dup, err = s.groups.submit(ctx, s.Store, hp)
	} else { // the gate needs a statement after the submission: alone
		jobs, dup, err = s.Store.HookSubmit(ctx, hp)
	}
	if version != "" && err != nil {
		return nil, fmt.Errorf("%w: %w", errRecheck, err) // the cause stays for a request that ended
	}
	if err != nil {
		return nil, err
	}
	if dup {
		return &Result{Message: what + " was delivered before: nothing submitted again", Duplicate: true}, nil
	}
	if report != "" {
		s.kickStatus()
	}
	return &Result{Message: msg, Jobs: jobs}, nil
}

// TestStatus sends one "success" status for sha now and records the outcome on
// the integration; it returns the failure ("" when the forge took it).
func (s *Service) TestStatus(ctx context.Context, in *store.Integration, sha string) (string, error) {
	switch {
	case !validSHA(sha):
		return "", &store.Error{Kind: store.Invalid, Field: "sha", Message: "field sha must be a commit id of 40 or 64 hex digits"}
	case !ReportsStatus(in.Kind) || in.APIURL == "" || !in.HasToken:
		return "", &store.Error{Kind: store.Conflict, Message: "this integration has no apiUrl and accessToken to report statuses with"}
	}
	opened, err := s.Store.IntegrationOpen(ctx, in.ID)
	if err != nil {
		return "", err
	}
	if opened.Token == "" { // removed meanwhile
		return "", &store.Error{Kind: store.Conflict, Message: "this integration has no apiUrl and accessToken to report statuses with"}
	}
	forge := &Forge{Kind: in.Kind, APIURL: in.APIURL, Token: opened.Token, Repository: in.Repository,
		AllowPrivateNetwork: in.AllowPrivateNetwork}
	failure := ""
	err = s.Reporter.Send(ctx, forge, &Status{SHA: sha, Context: contextName(""), State: "success",
		Description: "Aura test status", TargetURL: s.targetURL(in.Project, sha)})
	if err != nil {
		failure = err.Error()
	}
	return failure, s.Store.IntegrationStatusReported(ctx, in.ID, failure)
}

func (s *Service) targetURL(project, sha string) string {
	return strings.TrimRight(s.BaseURL, "/") + "/p/" + project + "/commit/" + sha
}
