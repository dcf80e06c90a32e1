package api

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/aura-ci/aura/backend/internal/auth"
	"github.com/aura-ci/aura/backend/internal/store"
)

type jobRefJSON struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"`
}

type waitingForJSON struct {
	Jobs     []jobRefJSON       `json:"jobs"`
	Until    *time.Time         `json:"until,omitempty"`
	Runner   *waitingRunnerJSON `json:"runner,omitempty"`
	Approval *int64             `json:"approval,omitempty"`
}

// waitingRunnerJSON says, for a queued job, whether any runner asks for its tag.
type waitingRunnerJSON struct {
	Tag         string     `json:"tag"`
	LastCheckIn *time.Time `json:"lastCheckIn,omitempty"`
	Message     string     `json:"message"`
}

// staleTag is how long without a runner asking for a tag before a queued job says so.
const staleTag = 10 * time.Minute

func waitingRunner(tag string, last *time.Time, now time.Time) *waitingRunnerJSON {
	w := &waitingRunnerJSON{Tag: tag, LastCheckIn: last}
	switch {
	case last == nil:
		w.Message = "no runner has ever asked for tag `" + tag + "`"
	case now.Sub(*last) > staleTag:
		w.Message = "no runner has asked for tag `" + tag + "` in the last 10 minutes"
	default:
		w.Message = "waiting for a free runner with tag `" + tag + "`"
	}
	return w
}

type jobJSON struct {
	store.JobSpec
	ID             int64           `json:"id"`
	Project        string          `json:"project"`
	EntityKey      string          `json:"entityKey"`
	EntityVal      string          `json:"entityVal"`
	SecretEnvNames []string        `json:"secretEnvNames"`
	Status         string          `json:"status"`
	Attempt        int             `json:"attempt"`
	CreatedAt      time.Time       `json:"createdAt"`
	PrecedingJobs  []int64         `json:"precedingJobs"`
	LogLength      int64           `json:"logLength"`
	QueuedAt       *time.Time      `json:"queuedAt,omitempty"`
	StartedAt      *time.Time      `json:"startedAt,omitempty"`
	EndedAt        *time.Time      `json:"endedAt,omitempty"`
	ExitCode       *int            `json:"exitCode,omitempty"`
	RunnerID       *int64          `json:"runnerId,omitempty"`
	RunnerName     string          `json:"runnerName,omitempty"`
	ParentJob      *int64          `json:"parentJob,omitempty"`
	WaitingFor     *waitingForJSON `json:"waitingFor,omitempty"`
	Reason         string          `json:"reason,omitempty"`
	LogMismatch    bool            `json:"logMismatch,omitempty"`
	// CancelRequestedAt: a cancel was asked for while the job ran; it is
	// cancelled once its runner confirms the process ended.
	CancelRequestedAt *time.Time `json:"cancelRequestedAt,omitempty"`
	// Who submitted, cancelled, retried and approved the job (null: nobody).
	SubmittedBy *store.Actor `json:"submittedBy"`
	CancelledBy *store.Actor `json:"cancelledBy"`
	RetriedBy   *store.Actor `json:"retriedBy"`
	ApprovedBy  *store.Actor `json:"approvedBy"`
	// LogExpiredAt: the retention sweep deleted this attempt's log then.
	LogExpiredAt *time.Time `json:"logExpiredAt,omitempty"`
}

func toJob(j *store.Job, waiting []store.JobRef, checkIns map[string]time.Time) jobJSON {
	out := jobJSON{
		JobSpec: j.JobSpec, ID: j.ID, Project: j.Project, EntityKey: j.EntityKey, EntityVal: j.EntityVal,
		SecretEnvNames: nonNilSlice(j.SecretNames), Status: j.Status, Attempt: j.Attempt,
		CreatedAt: j.CreatedAt, PrecedingJobs: j.PrecedingJobs, LogLength: j.LogLength,
		QueuedAt: j.QueuedAt, StartedAt: j.StartedAt, EndedAt: j.EndedAt,
		ExitCode: j.ExitCode, RunnerID: j.RunnerID, ParentJob: j.ParentJobID, Reason: j.Reason,
		LogMismatch: j.LogMismatch, CancelRequestedAt: j.CancelRequested, LogExpiredAt: j.LogExpiredAt,
		SubmittedBy: j.SubmittedBy, CancelledBy: j.CancelledBy, RetriedBy: j.RetriedBy, ApprovedBy: j.ApprovedBy,
	}
	if out.Env == nil {
		out.Env = map[string]string{}
	}
	if out.PrecedingJobs == nil {
		out.PrecedingJobs = []int64{}
	}
	if j.RunnerName != nil {
		out.RunnerName = *j.RunnerName
	}
	if j.Status == store.StatusWaiting {
		wf := &waitingForJSON{Jobs: mapSlice(waiting, func(r store.JobRef) jobRefJSON {
			return jobRefJSON{ID: r.ID, Name: r.Name, Status: r.Status}
		})}
		if j.EarliestStart != nil && j.EarliestStart.After(time.Now()) {
			wf.Until = j.EarliestStart
		}
		// A job of a fork's pull request waits for a person: say for which gate.
		if j.Tag == store.ApprovalTag {
			wf.Approval = &j.ID
		}
		for _, r := range waiting {
			if r.Gate && r.Status == store.StatusWaiting {
				wf.Approval = &r.ID
			}
		}
		out.WaitingFor = wf
	}
	if j.Status == store.StatusQueued {
		var last *time.Time
		if at, ok := checkIns[j.Tag]; ok {
			last = &at
		}
		out.WaitingFor = &waitingForJSON{Jobs: []jobRefJSON{}, Runner: waitingRunner(j.Tag, last, time.Now())}
	}
	return out
}

func nonNilSlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// jobsJSON converts jobs, looking up what the waiting ones wait for in one query.
func (h *handler) jobsJSON(r *http.Request, jobs []*store.Job) ([]jobJSON, error) {
	var waiting []int64
	var queuedTags []string
	for _, j := range jobs {
		switch {
		case j.Status == store.StatusWaiting && !j.WaitingKnown:
			waiting = append(waiting, j.ID)
		case j.Status == store.StatusQueued && !j.CheckInKnown:
			if !slices.Contains(queuedTags, j.Tag) {
				queuedTags = append(queuedTags, j.Tag)
			}
		}
	}
	refs, err := h.Store.JobsWaitingFor(r.Context(), waiting)
	if err != nil {
		return nil, err
	}
	checkIns, err := h.Store.TagCheckIns(r.Context(), queuedTags)
	if err != nil {
		return nil, err
	}
	for _, j := range jobs {
		if j.CheckInKnown && j.TagCheckIn != nil { // a submission's answer: read with it
			checkIns[j.Tag] = *j.TagCheckIn
		}
	}
	return mapSlice(jobs, func(j *store.Job) jobJSON {
		if j.WaitingKnown { // a submission's answer: the store knows what it waits for
			return toJob(j, j.WaitingFor, checkIns)
		}
		return toJob(j, refs[j.ID], checkIns)
	}), nil
}

// jobSubmit is a submit body: the job's spec, where it goes and what it waits
// for. The spec's fields whose zero is no valid input are read here instead,
// so an absent one takes the store's default and an explicit 0 is refused; the
// earliest start is read by jsonTime, whose error names the field.
type jobSubmit struct {
	Project   string `json:"project" validate:"omitempty,slug"`
	EntityKey string `json:"entityKey" validate:"required,slug"`
	EntityVal string `json:"entityVal" validate:"required,slug"`
	store.JobSpec
	SecretEnv      map[string]string `json:"secretEnv" validate:"max=100,dive,keys,envname,endkeys,secretvalue"`
	Collections    map[string]string `json:"collections" validate:"max=50,dive,keys,slug,endkeys,slug"`
	PrecedingJobs  []int64           `json:"precedingJobs" validate:"max=100,dive,min=1"`
	PrecedingNames []string          `json:"precedingNames" validate:"max=100,dive,slug"`
	EarliestStart  *jsonTime         `json:"earliestStart"`
	TimeoutSeconds *int              `json:"timeoutSeconds" validate:"omitnil,min=1,max=604800"`
	MaxAttempts    *int              `json:"maxAttempts" validate:"omitnil,min=1,max=10"`
	// EntityTitle and EntityMeta describe the entity for the project's builds.
	EntityTitle string            `json:"entityTitle" validate:"max=1000"`
	EntityMeta  *store.EntityMeta `json:"entityMeta"`
}

type jobBatchSubmit struct {
	Jobs []jobSubmit `json:"jobs" validate:"required,min=1,dive"`
}

// submitProject returns the project a submission goes to (by default the
// caller's own), if the policy lets the caller submit there (auth.Submit); a
// job token's submissions are its job's children. A project the caller may
// not submit to is refused alike whether it exists or not. seen keeps the
// answers of one batch by slug (nil: none).
func (h *handler) submitProject(r *http.Request, seen map[string]*submitTarget, slug, field string) (*submitTarget, error) {
	p := principal(r)
	if slug == "" {
		slug = p.Project
	}
	if slug == "" {
		return nil, errorf(http.StatusBadRequest, field, "field "+field+" is required")
	}
	if t, ok := seen[slug]; ok {
		return t, nil
	}
	if p != nil && p.Kind == auth.KindProject && slug == p.Project {
		// A project token's own project, which its lookup read: a deleted
		// project's tokens are deleted with it, and a project token
		// develops in its own project, so submits there.
		t := &submitTarget{projectID: p.ProjectID, slug: p.Project}
		if seen != nil {
			seen[slug] = t
		}
		return t, nil
	}
	pr, err := h.Store.ProjectGet(r.Context(), slug)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	res := auth.Resource{Project: &auth.ProjectRef{ID: -1, Private: true}} // a project that does not exist
	if pr != nil {
		res.Project = &auth.ProjectRef{ID: pr.ID, Private: pr.Private}
	}
	if !auth.Allows(p, auth.Submit, res) {
		if p.Project != "" {
			return nil, errorf(http.StatusForbidden, field, "this token may only submit jobs to project "+p.Project)
		}
		return nil, errorf(http.StatusForbidden, field, "this token may not submit jobs to project "+slug)
	}
	if pr == nil {
		return nil, errorf(http.StatusBadRequest, field, "project "+slug+" does not exist")
	}
	t := &submitTarget{projectID: pr.ID, slug: pr.Slug}
	if p.Kind == auth.KindJob {
		t.parent = &p.JobID
	}
	if seen != nil {
		seen[slug] = t
	}
	return t, nil
}

// submitTarget is where a submission goes, and the job submitting it (job tokens).
type submitTarget struct {
	projectID int64
	slug      string
	parent    *int64
}

// params is the submission for the store, which fills in the defaults of what
// the body leaves out.
func (b *jobSubmit) params(t *submitTarget, by *store.Actor) *store.JobSubmitParams {
	spec := b.JobSpec
	spec.EarliestStart, spec.TimeoutSeconds, spec.MaxAttempts = b.EarliestStart.ptr(), deref(b.TimeoutSeconds), deref(b.MaxAttempts)
	return &store.JobSubmitParams{
		JobSpec: spec, ProjectID: t.projectID, ProjectSlug: t.slug, ParentJobID: t.parent,
		EntityKey: b.EntityKey, EntityVal: b.EntityVal, SecretEnv: b.SecretEnv, Collections: b.Collections,
		PrecedingJobs: b.PrecedingJobs, PrecedingNames: b.PrecedingNames, SubmittedBy: by,
		EntityTitle: b.EntityTitle, EntityMeta: b.EntityMeta,
	}
}

// deref is *v, or the zero value (the store's default) for an absent field.
func deref[T any](v *T) T {
	var zero T
	if v == nil {
		return zero
	}
	return *v
}

// check refuses what the tags cannot: reserved variables and absurd times;
// prefix names the job in a batch ("jobs[3].").
func (b *jobSubmit) check(prefix string) error {
	if err := checkEnv(prefix+"env", b.Env); err != nil {
		return err
	}
	if err := checkEnv(prefix+"secretEnv", b.SecretEnv); err != nil {
		return err
	}
	return checkEarliestStart(prefix+"earliestStart", b.EarliestStart.ptr())
}

func (h *handler) submitJob(w http.ResponseWriter, r *http.Request) {
	var body jobSubmit
	if err := decode(w, r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	if err := body.check(""); err != nil {
		writeError(w, r, err)
		return
	}
	if len(body.PrecedingNames) > 0 {
		writeError(w, r, errorf(http.StatusBadRequest, "precedingNames", "precedingNames is only for POST /api/v1/jobs/batch"))
		return
	}
	target, err := h.submitProject(r, nil, body.Project, "project")
	if err != nil {
		writeError(w, r, err)
		return
	}
	jobs, err := h.Store.JobSubmit(r.Context(), []*store.JobSubmitParams{body.params(target, actor(r))})
	if err != nil {
		writeError(w, r, err)
		return
	}
	h.writeJobs(w, r, http.StatusCreated, jobs, true)
}

func (h *handler) submitJobBatch(w http.ResponseWriter, r *http.Request) {
	var body jobBatchSubmit
	if err := decode(w, r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	if len(body.Jobs) > h.MaxBatch {
		writeError(w, r, errorf(http.StatusUnprocessableEntity, "jobs", fmt.Sprintf(
			"a batch may hold at most %d jobs (AURA_MAX_BATCH); this one has %d", h.MaxBatch, len(body.Jobs))))
		return
	}
	params := make([]*store.JobSubmitParams, len(body.Jobs))
	byName := map[string]int{}
	targets := map[string]*submitTarget{}
	for i := range body.Jobs {
		b := &body.Jobs[i]
		prefix := "jobs[" + strconv.Itoa(i) + "]."
		// A name is a job's identity on its entity: two alike cannot be told apart.
		id := b.Project + "\x00" + b.EntityKey + "\x00" + b.EntityVal + "\x00" + b.Name
		if j, ok := byName[id]; ok {
			writeError(w, r, errorf(http.StatusBadRequest, prefix+"name", fmt.Sprintf(
				"jobs[%d] and jobs[%d] are both named %s on %s/%s", j, i, b.Name, b.EntityKey, b.EntityVal)))
			return
		}
		byName[id] = i
		if err := b.check(prefix); err != nil {
			writeError(w, r, err)
			return
		}
		target, err := h.submitProject(r, targets, b.Project, "jobs["+strconv.Itoa(i)+"].project")
		if err != nil {
			writeError(w, r, err)
			return
		}
		params[i] = b.params(target, actor(r))
	}
	jobs, err := h.Store.JobSubmit(r.Context(), params)
	if err != nil {
		writeError(w, r, err)
		return
	}
	h.writeJobs(w, r, http.StatusCreated, jobs, false)
}

// writeJobs answers one job (single) or a list of them.
func (h *handler) writeJobs(w http.ResponseWriter, r *http.Request, code int, jobs []*store.Job, single bool) {
	out, err := h.jobsJSON(r, jobs)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if single {
		writeJSON(w, code, out[0])
		return
	}
	writeJSON(w, code, listJSON[jobJSON]{Items: out})
}

func (h *handler) getJob(w http.ResponseWriter, r *http.Request) {
	h.writeJobs(w, r, http.StatusOK, []*store.Job{jobOf(r)}, true)
}

func (h *handler) cancelJob(w http.ResponseWriter, r *http.Request) {
	j, err := h.Store.JobCancel(r.Context(), jobOf(r).ID, "cancelled by user", actor(r))
	if err != nil {
		writeError(w, r, err)
		return
	}
	h.writeJobs(w, r, http.StatusOK, []*store.Job{j}, true)
}

func (h *handler) retryJob(w http.ResponseWriter, r *http.Request) {
	j, err := h.Store.JobRetry(r.Context(), jobOf(r).ID, actor(r))
	if err != nil {
		writeError(w, r, err)
		return
	}
	h.writeJobs(w, r, http.StatusOK, []*store.Job{j}, true)
}

func (h *handler) listQueue(w http.ResponseWriter, r *http.Request) {
	page, err := pageParams(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	q := r.URL.Query()
	params := &store.QueueParams{Tag: q.Get("tag"), Status: q.Get("status"), Page: page}
	if params.Status != "" && params.Status != store.StatusQueued && params.Status != store.StatusWaiting && params.Status != store.StatusRunning {
		writeError(w, r, errorf(http.StatusBadRequest, "status", "status must be queued, waiting or running"))
		return
	}
	if params.Tag != "" && !tagPattern.MatchString(params.Tag) {
		writeError(w, r, errorf(http.StatusBadRequest, "tag", "tag must be 1 to 260 characters without white space"))
		return
	}
	params.Scope = auth.Scope(principal(r), auth.ReadProjectJobs)
	if slug := q.Get("project"); slug != "" {
		if !slugPattern.MatchString(slug) {
			writeError(w, r, errorf(http.StatusBadRequest, "project", "project must match ^[0-9A-Za-z_:.-]{1,260}$"))
			return
		}
		p, err := h.Store.ProjectGet(r.Context(), slug)
		if err == nil {
			if v := auth.Check(principal(r), auth.ReadProjectJobs, auth.Resource{Project: &auth.ProjectRef{ID: p.ID, Private: p.Private}}); v != auth.Allowed {
				err = refusalOf(v, "project %s", slug)
			}
		}
		if err != nil {
			writeError(w, r, named(err, "project %s", slug))
			return
		}
		params.ProjectID = p.ID
	}
	jobs, next, err := h.Store.QueueList(r.Context(), params)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out, err := h.jobsJSON(r, jobs)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listJSON[jobJSON]{Items: out, NextCursor: next})
}
