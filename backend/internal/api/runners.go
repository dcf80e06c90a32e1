package api

import (
	"net/http"
	"time"

	"github.com/aura-ci/aura/backend/internal/auth"
	"github.com/aura-ci/aura/backend/internal/store"
)

type runnerJSON struct {
	ID          int64      `json:"id"`
	Name        string     `json:"name"`
	Tags        []string   `json:"tags"`
	CreatedAt   time.Time  `json:"createdAt"`
	LastCheckIn *time.Time `json:"lastCheckIn,omitempty"`
	Version     string     `json:"version,omitempty"`
	OS          string     `json:"os,omitempty"`
	Arch        string     `json:"arch,omitempty"`
	// TagCheckIns is when any runner last asked for each of this runner's tags.
	TagCheckIns map[string]time.Time `json:"tagCheckIns,omitempty"`
	// Projects, when set, are the only projects whose jobs the runner claims.
	Projects []string `json:"projects,omitempty"`
	// CurrentJobs are the jobs it runs now that the caller may see.
	CurrentJobs []runningJobJSON `json:"currentJobs,omitempty"`
}

type runningJobJSON struct {
	ID        int64      `json:"id"`
	Name      string     `json:"name"`
	Project   string     `json:"project"`
	EntityKey string     `json:"entityKey"`
	EntityVal string     `json:"entityVal"`
	StartedAt *time.Time `json:"startedAt,omitempty"`
}

func toRunner(r *store.Runner) runnerJSON {
	return runnerJSON{ID: r.ID, Name: r.Name, Tags: r.Tags, CreatedAt: r.CreatedAt, LastCheckIn: r.LastCheckIn,
		Version: r.Version, OS: r.OS, Arch: r.Arch, Projects: r.Projects}
}

type tagJSON struct {
	Tag         string     `json:"tag"`
	LastCheckIn *time.Time `json:"lastCheckIn,omitempty"`
	Queued      int64      `json:"queued"`
	Runners     []string   `json:"runners"`
}

// maxTags bounds the tags list: tags are few (a handful per kind of machine).
const maxTags = 1000

func (h *handler) listTags(w http.ResponseWriter, r *http.Request) {
	tags, err := h.Store.TagList(r.Context(), maxTags)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listJSON[tagJSON]{Items: mapSlice(tags, func(t *store.Tag) tagJSON {
		return tagJSON{Tag: t.Tag, LastCheckIn: t.LastCheckIn, Queued: t.Queued, Runners: t.Runners}
	})})
}

type runnerCreated struct {
	runnerJSON
	Token string `json:"token"`
}

// runnerCreate registers a runner. Its tags bound what it may claim; projects,
// when given, limit it to those projects' jobs.
type runnerCreate struct {
	Name     string   `json:"name" validate:"required,slug"`
	Tags     []string `json:"tags" validate:"required,min=1,max=32,dive,tag"`
	Projects []string `json:"projects" validate:"omitnil,min=1,max=1000,dive,slug"`
}

func (h *handler) listRunners(w http.ResponseWriter, r *http.Request) {
	page, err := pageParams(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	rs, next, err := h.Store.RunnerList(r.Context(), page)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var tags []string
	for _, run := range rs {
		tags = append(tags, run.Tags...)
	}
	checkIns, err := h.Store.TagCheckIns(r.Context(), tags)
	if err != nil {
		writeError(w, r, err)
		return
	}
	running, err := h.Store.RunningJobs(r.Context(), auth.Scope(principal(r), auth.ReadProjectJobs))
	if err != nil {
		writeError(w, r, err)
		return
	}
	items := mapSlice(rs, func(run *store.Runner) runnerJSON {
		out := toRunner(run)
		for _, j := range running[run.ID] {
			out.CurrentJobs = append(out.CurrentJobs, runningJobJSON{ID: j.ID, Name: j.Name, Project: j.Project,
				EntityKey: j.EntityKey, EntityVal: j.EntityVal, StartedAt: j.StartedAt})
		}
		for _, tag := range run.Tags {
			if at, ok := checkIns[tag]; ok {
				if out.TagCheckIns == nil {
					out.TagCheckIns = map[string]time.Time{}
				}
				out.TagCheckIns[tag] = at
			}
		}
		return out
	})
	writeJSON(w, http.StatusOK, listJSON[runnerJSON]{Items: items, NextCursor: next})
}

func (h *handler) createRunner(w http.ResponseWriter, r *http.Request) {
	var body runnerCreate
	if err := decode(w, r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	secret, hash := auth.NewSecret(auth.PrefixRunner, body.Name)
	run, err := h.Store.RunnerCreate(r.Context(), &store.RunnerCreateParams{
		Name: body.Name, Tags: body.Tags, Projects: body.Projects, Hash: hash,
	}, audit(r))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, runnerCreated{runnerJSON: toRunner(run), Token: secret})
}

func (h *handler) deleteRunner(w http.ResponseWriter, r *http.Request) {
	id, err := idParam(r, "id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	err = h.Store.RunnerDelete(r.Context(), id, audit(r))
	// Even when the answer is lost: the next request of its token is looked up.
	h.Auth.ForgetRunner(id)
	if err != nil {
		writeError(w, r, named(err, "runner %d", id))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
