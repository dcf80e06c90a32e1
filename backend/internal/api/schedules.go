package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/aura-ci/aura/backend/internal/integrations"
	"github.com/aura-ci/aura/backend/internal/schedule"
	"github.com/aura-ci/aura/backend/internal/store"
)

type scheduleJSON struct {
	ID         int64             `json:"id"`
	Project    string            `json:"project"`
	Name       string            `json:"name"`
	Cron       string            `json:"cron"`
	Timezone   string            `json:"timezone"`
	EntityKey  string            `json:"entityKey"`
	Jobs       []jobTemplateJSON `json:"jobs"`
	NextRunAt  time.Time         `json:"nextRunAt"`
	LastRunAt  *time.Time        `json:"lastRunAt,omitempty"`
	LastEntity string            `json:"lastEntity,omitempty"`
	LastResult string            `json:"lastResult,omitempty"`
	LastStatus string            `json:"lastStatus,omitempty"`
	CreatedAt  time.Time         `json:"createdAt"`
}

func toSchedule(in *store.Schedule) scheduleJSON {
	out := scheduleJSON{
		ID: in.ID, Project: in.Project, Name: in.Name, Cron: in.Cron, Timezone: in.Timezone, EntityKey: in.EntityKey,
		NextRunAt: in.NextRunAt, LastRunAt: in.LastRunAt, LastResult: in.LastResult, LastStatus: in.LastStatus, CreatedAt: in.CreatedAt,
		Jobs: mapSlice(in.Jobs, func(t store.JobTemplate) jobTemplateJSON {
			return jobTemplateJSON{Name: t.Name, Cmd: t.Cmd, Tag: t.Tag, Env: t.Env, Secrets: t.Secrets}
		}),
	}
	if in.LastEntity != "" {
		out.LastEntity = in.EntityKey + "/" + in.LastEntity
	}
	return out
}

type scheduleCreate struct {
	Name      string            `json:"name" validate:"required,slug,max=100"`
	Cron      string            `json:"cron" validate:"required,max=200"`
	Timezone  string            `json:"timezone" validate:"required,max=100"`
	EntityKey string            `json:"entityKey" validate:"required,slug,max=100"`
	Jobs      []jobTemplateJSON `json:"jobs" validate:"required,min=1,max=20,dive"`
}

type scheduleUpdate struct {
	Name      *string           `json:"name" validate:"omitnil,slug,max=100"`
	Cron      *string           `json:"cron" validate:"omitnil,min=1,max=200"`
	Timezone  *string           `json:"timezone" validate:"omitnil,min=1,max=100"`
	EntityKey *string           `json:"entityKey" validate:"omitnil,slug,max=100"`
	Jobs      []jobTemplateJSON `json:"jobs" validate:"omitempty,min=1,max=20,dive"`
}

type scheduleRun struct {
	Env map[string]string `json:"env,omitempty" validate:"max=100,dive,keys,envname,endkeys,max=65536"`
}

type runResult struct {
	Entity string    `json:"entity"`
	Jobs   []jobJSON `json:"jobs"`
}

// parseSchedule checks a cron expression and time zone, as a 400 naming the field.
func parseSchedule(cron, zone string) (*schedule.Spec, error) {
	spec, err := schedule.Parse(cron, zone)
	var fe *schedule.FieldError
	if errors.As(err, &fe) {
		return nil, errorf(http.StatusBadRequest, fe.Field, fe.Message)
	}
	return spec, err
}

// checkJobNames refuses two templates of one name: the jobs of a run share an entity.
func checkJobNames(jobs []jobTemplateJSON) error {
	seen := map[string]bool{}
	for _, j := range jobs {
		if seen[j.Name] {
			return errorf(http.StatusBadRequest, "jobs", "field jobs names "+j.Name+" twice")
		}
		seen[j.Name] = true
	}
	return nil
}

// scheduleOf returns the schedule in the path, of the route's project.
func (h *handler) scheduleOf(r *http.Request) (*store.Schedule, error) {
	id, err := idParam(r, "id")
	if err != nil {
		return nil, err
	}
	sc, err := h.Store.ScheduleGet(r.Context(), id)
	if err != nil {
		return nil, err
	}
	if sc.ProjectID != projectOf(r).ID {
		return nil, store.ErrNotFound
	}
	return sc, nil
}

func (h *handler) listSchedules(w http.ResponseWriter, r *http.Request) {
	ss, err := h.Store.ScheduleList(r.Context(), projectOf(r).ID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listJSON[scheduleJSON]{Items: mapSlice(ss, toSchedule)})
}

func (h *handler) createSchedule(w http.ResponseWriter, r *http.Request) {
	var body scheduleCreate
	if err := decode(w, r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	spec, err := parseSchedule(body.Cron, body.Timezone)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if err := checkJobNames(body.Jobs); err != nil {
		writeError(w, r, err)
		return
	}
	next := spec.Next(time.Now())
	sc, err := h.Store.ScheduleCreate(r.Context(), projectOf(r).ID, &store.ScheduleParams{
		Name: &body.Name, Cron: &body.Cron, Timezone: &body.Timezone, EntityKey: &body.EntityKey,
		Jobs: toTemplates(body.Jobs), NextRunAt: &next,
	})
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toSchedule(sc))
}

func (h *handler) updateSchedule(w http.ResponseWriter, r *http.Request) {
	sc, err := h.scheduleOf(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var body scheduleUpdate
	if err := decode(w, r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	params := &store.ScheduleParams{Name: body.Name, Cron: body.Cron, Timezone: body.Timezone, EntityKey: body.EntityKey}
	if body.Cron != nil || body.Timezone != nil {
		cron, zone := sc.Cron, sc.Timezone
		if body.Cron != nil {
			cron = *body.Cron
		}
		if body.Timezone != nil {
			zone = *body.Timezone
		}
		spec, err := parseSchedule(cron, zone)
		if err != nil {
			writeError(w, r, err)
			return
		}
		next := spec.Next(time.Now())
		params.NextRunAt = &next
	}
	if body.Jobs != nil {
		if err := checkJobNames(body.Jobs); err != nil {
			writeError(w, r, err)
			return
		}
		params.Jobs = toTemplates(body.Jobs)
	}
	sc, err = h.Store.ScheduleUpdate(r.Context(), sc.ID, params)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toSchedule(sc))
}

func (h *handler) deleteSchedule(w http.ResponseWriter, r *http.Request) {
	sc, err := h.scheduleOf(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if err := h.Store.ScheduleDelete(r.Context(), sc.ID); err != nil {
		writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// runSchedule is Run now: the schedule's jobs at once, to the entity of this
// moment; its next run stays.
func (h *handler) runSchedule(w http.ResponseWriter, r *http.Request) {
	sc, err := h.scheduleOf(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var body scheduleRun
	if r.ContentLength != 0 {
		if err := decode(w, r, &body); err != nil {
			writeError(w, r, err)
			return
		}
	}
	jobs, val, err := (&schedule.Scheduler{Store: h.Store}).RunNow(r.Context(), sc, body.Env)
	if err != nil {
		writeError(w, r, err)
		return
	}
	h.writeRun(w, r, sc.EntityKey+"/"+val, jobs)
}

func (h *handler) writeRun(w http.ResponseWriter, r *http.Request, entity string, jobs []*store.Job) {
	out, err := h.jobsJSON(r, jobs)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, runResult{Entity: entity, Jobs: out})
}

type integrationRun struct {
	Branch string            `json:"branch" validate:"max=250"`
	Commit string            `json:"commit" validate:"max=64"`
	Env    map[string]string `json:"env,omitempty" validate:"max=100,dive,keys,envname,endkeys,max=65536"`
}

// runIntegration starts an integration's jobs by hand on a branch or a commit,
// with the variables a push gives them.
func (h *handler) runIntegration(w http.ResponseWriter, r *http.Request) {
	in, err := h.integrationOf(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var body integrationRun
	if err := decode(w, r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	if body.Branch != "" && (strings.ContainsAny(body.Branch, " \t\n~^:?*[\\") || strings.HasPrefix(body.Branch, "-")) {
		writeError(w, r, errorf(http.StatusBadRequest, "branch", "field branch must be a branch name"))
		return
	}
	res, entity, err := h.Integrations.Run(r.Context(), in, &integrations.RunParams{Branch: body.Branch, Commit: body.Commit, Env: body.Env})
	if err != nil {
		writeError(w, r, err)
		return
	}
	h.writeRun(w, r, entity, res.Jobs)
}
