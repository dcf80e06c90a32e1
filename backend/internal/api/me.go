package api

import (
	"net/http"
	"strconv"

	"github.com/aura-ci/aura/backend/internal/auth"
)

// meJSON says who the caller is and what it may do, so a client shows what the
// server decides rather than guessing from a token's prefix.
type meJSON struct {
	Kind        string          `json:"kind"`
	Name        string          `json:"name,omitempty"`
	Project     string          `json:"project,omitempty"`
	Job         *int64          `json:"job,omitempty"`
	Permissions permissionsJSON `json:"permissions"`
}

type permissionsJSON struct {
	Admin          bool                              `json:"admin"`
	CreateProjects bool                              `json:"createProjects"`
	ManageRunners  bool                              `json:"manageRunners"`
	Projects       map[string]projectPermissionsJSON `json:"projects"`
}

// projectPermissionsJSON is what the caller may do in one project beyond reading it.
type projectPermissionsJSON struct {
	Read    bool `json:"read"`
	Submit  bool `json:"submit"`
	Cancel  bool `json:"cancel"`
	Retry   bool `json:"retry"`
	Approve bool `json:"approve"`
	Manage  bool `json:"manage"`
}

// getMe answers who the token belongs to. A wrong token never gets here: the
// authenticate middleware refuses it (401).
func (h *handler) getMe(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, toMe(principal(r)))
}

// toMe states today's rules of the handlers: the admin does everything
// (requireAdmin); a project token reads, submits into, cancels, retries and
// approves in its project (InProject, approveJob) but manages nothing
// (adminProject); a job token submits into its project and cancels only its own
// job and the jobs it submitted (writableJob), which "cancel" does not cover; a
// runner token only runs jobs.
func toMe(p *auth.Principal) meJSON {
	me := meJSON{Kind: "anonymous", Permissions: permissionsJSON{Projects: map[string]projectPermissionsJSON{}}}
	if p == nil {
		return me
	}
	me.Kind = p.Kind
	switch p.Kind {
	case auth.KindAdmin:
		me.Name = "admin"
		me.Permissions.Admin, me.Permissions.CreateProjects, me.Permissions.ManageRunners = true, true, true
	case auth.KindProject:
		me.Name, me.Project = p.Project, p.Project
		me.Permissions.Projects[p.Project] = projectPermissionsJSON{Read: true, Submit: true, Cancel: true, Retry: true, Approve: true}
	case auth.KindJob:
		id := p.JobID
		me.Name, me.Project, me.Job = strconv.FormatInt(id, 10), p.Project, &id
		me.Permissions.Projects[p.Project] = projectPermissionsJSON{Submit: true}
	case auth.KindRunner:
		me.Name = p.RunnerName
	}
	return me
}
