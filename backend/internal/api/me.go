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
	User        *userJSON       `json:"user"` // a signed-in user (cookie or personal token)
	Permissions permissionsJSON `json:"permissions"`
}

type permissionsJSON struct {
	Admin          bool                              `json:"admin"`
	CreateProjects bool                              `json:"createProjects"`
	ManageRunners  bool                              `json:"manageRunners"`
	ManageUsers    bool                              `json:"manageUsers"`
	ReadAudit      bool                              `json:"readAudit"`
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
	p := principal(r)
	me := toMe(p)
	if p != nil && p.Kind == auth.KindUser {
		u, err := h.Store.UserGetByID(r.Context(), p.UserID)
		if err != nil {
			writeError(w, r, err)
			return
		}
		me.User = toUser(u)
		projects, err := h.Store.UserProjects(r.Context(), p.UserID)
		if err != nil {
			writeError(w, r, err)
			return
		}
		for _, pr := range projects {
			me.Permissions.Projects[pr.Slug] = projectPermissions(p, pr.ID)
		}
	}
	writeJSON(w, http.StatusOK, me)
}

// projectPermissions is what p may do in project id, asked of a private
// project on a job that is not its own, so that it holds for the project as a whole.
func projectPermissions(p *auth.Principal, id int64) projectPermissionsJSON {
	res := auth.Resource{Project: &auth.ProjectRef{ID: id, Private: true}, Job: &auth.JobRef{ID: -1}}
	may := func(a auth.Action) bool { return auth.Allows(p, a, res) }
	return projectPermissionsJSON{
		Read: may(auth.ReadProjectJobs), Submit: may(auth.Submit), Cancel: may(auth.Cancel),
		Retry: may(auth.Retry), Approve: may(auth.Approve), Manage: may(auth.ManageProject),
	}
}

// toMe asks the policy what p may do: on the instance, and in each project
// it has a part in (a private one, on a job that is not its own, so that what
// it says holds for the project as a whole).
func toMe(p *auth.Principal) meJSON {
	me := meJSON{Kind: "anonymous", Permissions: permissionsJSON{
		Admin:          auth.Everywhere(p, auth.ManageProject),
		CreateProjects: auth.Allows(p, auth.CreateProject, auth.Resource{}),
		ManageRunners:  auth.Allows(p, auth.ManageRunners, auth.Resource{}),
		ReadAudit:      auth.Allows(p, auth.ReadAudit, auth.Resource{}),
		ManageUsers:    auth.Allows(p, auth.ManageUsers, auth.Resource{}),
		Projects:       map[string]projectPermissionsJSON{},
	}}
	if p == nil {
		return me
	}
	me.Kind = p.Kind
	switch p.Kind {
	case auth.KindAdmin:
		me.Name = "admin"
	case auth.KindProject:
		me.Name, me.Project = p.Project, p.Project
	case auth.KindJob:
		id := p.JobID
		me.Name, me.Project, me.Job = strconv.FormatInt(id, 10), p.Project, &id
	case auth.KindRunner:
		me.Name = p.RunnerName
	case auth.KindUser:
		me.Name = p.UserName
	}
	if p.Project != "" {
		me.Permissions.Projects[p.Project] = projectPermissions(p, p.ProjectID)
	}
	return me
}
