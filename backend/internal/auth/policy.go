package auth

import "github.com/aura-ci/aura/backend/internal/store"

// Action is something a caller may be allowed to do. Every route declares one
// (api/routes.go), every websocket topic asks one (events), and GET /api/v1/me
// reports them: Allows is the only place that decides.
type Action string

// Actions on a project (Resource.Project set).
const (
	// ReadProject sees that a project exists: its slug, name and privacy.
	ReadProject Action = "readProject"
	// ReadProjectJobs reads what a project holds: entities, collections,
	// badges, every job and log, and its events.
	ReadProjectJobs Action = "readProjectJobs"
	// ReadJob reads one job (Resource.Job) and its log.
	ReadJob Action = "readJob"
	// ReadArtifacts lists and downloads a job's artifacts (Resource.Job).
	ReadArtifacts Action = "readArtifacts"
	// Submit submits jobs into the project.
	Submit Action = "submit"
	// Cancel cancels a job (Resource.Job).
	Cancel Action = "cancel"
	// Retry starts a finished job again.
	Retry Action = "retry"
	// Approve lets a job gated for approval (a fork's pull request) run.
	Approve Action = "approve"
	// ManageProject changes or deletes the project, its tokens and its secrets.
	ManageProject Action = "manageProject"
	// ManageIntegrations reads and changes the project's forge integrations
	// and receives their events.
	ManageIntegrations Action = "manageIntegrations"
	// ReadMembers lists the project's members and their roles. Unlike its
	// jobs, a public project's members are not shown to everyone.
	ReadMembers Action = "readMembers"
	// ManageMembers adds and removes members and changes their roles.
	ManageMembers Action = "manageMembers"
)

// Actions on the instance (no Resource.Project). Listings of projects and of
// the queue ask ReadProject and ReadProjectJobs of each project (Scope).
const (
	CreateProject Action = "createProject"
	ManageRunners Action = "manageRunners"
	// ReadRunners lists runners and tags, and follows the runners topic.
	ReadRunners Action = "readRunners"
	// RunJobs claims jobs and watches their cancels.
	RunJobs Action = "runJobs"
	// HoldJob acts for a running attempt (Resource.Job): heartbeat, log,
	// completion. The store then checks that the caller holds that attempt.
	HoldJob Action = "holdJob"
	// UseCaches saves and restores caches of a project (Resource.Project): only
	// the token of a running job of that project, which the runner's `cache`
	// commands use.
	UseCaches Action = "useCaches"
	// ReadAudit reads the audit log of administrative actions.
	ReadAudit Action = "readAudit"
	// ManageUsers lists, creates, changes and deletes users: the admin.
	ManageUsers Action = "manageUsers"
	// ManageAccount reads and changes a user's own account (Resource.User),
	// its personal tokens and sessions; with no Resource.User, the caller's
	// own: only a signed-in user has one. The admin manages every account.
	ManageAccount Action = "manageAccount"
	// ReadMetrics reads GET /metrics: the admin, or the metrics token.
	ReadMetrics Action = "readMetrics"
)

// Resource is what an action is done on. The zero Resource is the instance.
type Resource struct {
	Project *ProjectRef
	Job     *JobRef
	User    *UserRef
}

// UserRef is what the policy needs of a user.
type UserRef struct {
	ID int64
}

// ProjectRef is what the policy needs of a project.
type ProjectRef struct {
	ID      int64
	Private bool
}

// JobRef is what the policy needs of a job.
type JobRef struct {
	ID int64
	// SubmittedBy lists jobs that submitted this one, directly or through their
	// children. It need only hold the caller's own job when the caller is a
	// job token: that is all the policy asks of it.
	SubmittedBy []int64
}

// Role is what a caller may do in one project; each role may do all that the
// roles below it may. Users will hold one per project (viewer, developer,
// maintainer); today's tokens map onto them in Principal.roleIn.
type Role int

// Roles, weakest first.
const (
	RoleNone Role = iota
	RoleViewer
	RoleDeveloper
	RoleMaintainer
)

// projectRoles is the least role each project action needs.
var projectRoles = map[Action]Role{
	ReadProject:        RoleViewer,
	ReadProjectJobs:    RoleViewer,
	ReadJob:            RoleViewer,
	ReadArtifacts:      RoleViewer,
	Submit:             RoleDeveloper,
	Cancel:             RoleDeveloper,
	Retry:              RoleDeveloper,
	Approve:            RoleDeveloper,
	ManageProject:      RoleMaintainer,
	ManageIntegrations: RoleMaintainer,
	ReadMembers:        RoleViewer,
	ManageMembers:      RoleMaintainer,
}

// publicReads are the project actions anyone may do on a public project.
var publicReads = map[Action]bool{ReadProject: true, ReadProjectJobs: true, ReadJob: true, ReadArtifacts: true}

// roleIn is p's role in project: the admin (token or user) maintains every
// project, a project token develops in its own, a user holds the role its
// membership gives (one per project, so the highest it holds). A job token has
// no role: what it may do is narrower than any (see Allows), since any pushed
// code may hold it.
func (p *Principal) roleIn(projectID int64) Role {
	switch {
	case p == nil:
		return RoleNone
	case p.isAdmin():
		return RoleMaintainer
	case p.Kind == KindProject && p.ProjectID == projectID:
		return RoleDeveloper
	case p.Kind == KindUser:
		return p.Roles[projectID]
	}
	return RoleNone
}

// isAdmin reports whether p is the instance admin: the admin token, or a user
// who is an admin (and, as every user the policy sees, not disabled).
func (p *Principal) isAdmin() bool {
	return p != nil && (p.Kind == KindAdmin || (p.Kind == KindUser && p.UserAdmin))
}

// Allows reports whether p (nil: anonymous) may do a on res. It is the one
// place Aura decides who may do what.
func Allows(p *Principal, a Action, res Resource) bool {
	if role, ok := projectRoles[a]; ok {
		if res.Project == nil {
			return false
		}
		if (a == ReadJob || a == ReadArtifacts || a == Cancel || a == Retry || a == Approve) && res.Job == nil {
			return false
		}
		if !res.Project.Private && publicReads[a] {
			return true
		}
		if p.roleIn(res.Project.ID) >= role {
			return true
		}
		return p.jobMay(a, res)
	}
	switch a {
	case CreateProject, ManageRunners, ManageUsers, ReadAudit:
		return p.isAdmin()
	case ManageAccount:
		if p.isAdmin() && res.User != nil {
			return true
		}
		return p != nil && p.Kind == KindUser && (res.User == nil || res.User.ID == p.UserID)
	case ReadMetrics:
		return p.isAdmin() || (p != nil && p.Kind == KindMetrics)
	case ReadRunners:
		return true
	case RunJobs:
		return p != nil && p.Kind == KindRunner
	case HoldJob:
		// A runner may say it holds any job: the store checks that it does.
		return p != nil && res.Job != nil &&
			(p.Kind == KindRunner || (p.Kind == KindJob && p.JobID == res.Job.ID))
	case UseCaches:
		return p != nil && p.Kind == KindJob && res.Project != nil && res.Project.ID == p.ProjectID
	}
	return false
}

// jobMay is what a running job's token may do in its own project: see the
// project, submit into it (as the new jobs' parent), read and cancel its own
// job and the jobs it submitted, and download the artifacts of any job of the
// project (a later job uses what an earlier one built, which is what artifacts
// are for). Nothing more of a private project: the token is handed to the
// job's command, which may run code from anyone who can push.
func (p *Principal) jobMay(a Action, res Resource) bool {
	if p == nil || p.Kind != KindJob || res.Project.ID != p.ProjectID {
		return false
	}
	switch a {
	case ReadProject, Submit, ReadArtifacts:
		return true
	case ReadJob, Cancel:
		return res.Job.ID == p.JobID || containsID(res.Job.SubmittedBy, p.JobID)
	}
	return false
}

func containsID(ids []int64, id int64) bool {
	for _, v := range ids {
		if v == id {
			return true
		}
	}
	return false
}

// Verdict is the answer to a request: allowed, or the refusal to give.
type Verdict int

// Verdicts.
const (
	Allowed Verdict = iota
	// NeedsToken: an anonymous caller, where a token might be allowed (401).
	NeedsToken
	// Forbidden: the caller may see the resource but not do this (403).
	Forbidden
	// Hidden: the caller may not even see the resource, so it is answered as
	// missing and its name does not leak (404).
	Hidden
)

// Check is Allows with the refusal a caller gets: Hidden when it may not see
// the project or job at all, then NeedsToken when anonymous, else Forbidden.
func Check(p *Principal, a Action, res Resource) Verdict {
	switch {
	case Allows(p, a, res):
		return Allowed
	case res.Job != nil && res.Project != nil && !Allows(p, ReadJob, res),
		res.Project != nil && !Allows(p, ReadProject, res):
		return Hidden
	}
	return refusal(p)
}

// CheckKind answers before a resource is looked up: a caller who may do a on no
// resource at all is refused at once (401 or 403), the same whichever project
// or job it names, so nothing is read and nothing leaks.
func CheckKind(p *Principal, a Action) Verdict {
	for _, res := range p.bestCases() {
		if Allows(p, a, res) {
			return Allowed
		}
	}
	return refusal(p)
}

func refusal(p *Principal) Verdict {
	if p == nil {
		return NeedsToken
	}
	return Forbidden
}

// bestCases are the resources on which p may do the most: the instance, a
// public and a private project it has no role in (and another user), its own
// project and job, and a user's own account and the projects it is a member of.
func (p *Principal) bestCases() []Resource {
	const other = -1 // no project, job or user has this id
	out := []Resource{
		{},
		{Project: &ProjectRef{ID: other}, Job: &JobRef{ID: other}, User: &UserRef{ID: other}},
		{Project: &ProjectRef{ID: other, Private: true}, Job: &JobRef{ID: other}},
	}
	if p != nil && p.ProjectID != 0 {
		out = append(out, Resource{Project: &ProjectRef{ID: p.ProjectID, Private: true}, Job: &JobRef{ID: p.JobID}})
	}
	if p != nil && p.Kind == KindUser {
		out = append(out, Resource{User: &UserRef{ID: p.UserID}})
		for _, id := range p.memberProjects() {
			out = append(out, Resource{Project: &ProjectRef{ID: id, Private: true}, Job: &JobRef{ID: other}})
		}
	}
	return out
}

// Everywhere reports whether p may do a on every project, even a private one
// it has no role in: the instance admin.
func Everywhere(p *Principal, a Action) bool {
	return Allows(p, a, Resource{Project: &ProjectRef{ID: -1, Private: true}, Job: &JobRef{ID: -1}})
}

// Projects lists the projects p has a part in: its token's project, or those
// a user is a member of.
func (p *Principal) Projects() []int64 {
	switch {
	case p == nil:
		return nil
	case p.Kind == KindUser:
		return p.memberProjects()
	case p.ProjectID == 0:
		return nil
	}
	return []int64{p.ProjectID}
}

// Scope is the filter a listing applies for p and a (ReadProject,
// ReadProjectJobs): every project, or the public ones and those p may do a in.
func Scope(p *Principal, a Action) store.ProjectScope {
	if Everywhere(p, a) {
		return store.ProjectScope{All: true}
	}
	var ids []int64
	for _, id := range p.Projects() {
		if Allows(p, a, Resource{Project: &ProjectRef{ID: id, Private: true}, Job: &JobRef{ID: -1}}) {
			ids = append(ids, id)
		}
	}
	return store.ProjectScope{Private: ids}
}
