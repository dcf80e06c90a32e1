package auth

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/store"
)

// Callers of the policy table: project 1 is theirs, project 2 is another one.
var (
	anon     *Principal
	admin    = &Principal{Kind: KindAdmin}
	projTok  = &Principal{Kind: KindProject, ProjectID: 1, Project: "one"}
	runner   = &Principal{Kind: KindRunner, RunnerID: 7}
	jobTok   = &Principal{Kind: KindJob, ProjectID: 1, Project: "one", JobID: 10, Attempt: 1, Claim: 1}
	callers  = []*Principal{anon, admin, projTok, runner, jobTok}
	names    = []string{"anon", "admin", "project", "runner", "job"}
	priv1    = &ProjectRef{ID: 1, Private: true}
	priv2    = &ProjectRef{ID: 2, Private: true}
	public2  = &ProjectRef{ID: 2}
	ownJob   = &JobRef{ID: 10}
	childJob = &JobRef{ID: 11, SubmittedBy: []int64{10}}
	otherJob = &JobRef{ID: 12}
)

// TestAllows is the policy as a table: for each action and resource, which of
// anon, admin, project token (of project 1), runner and job token (job 10 of
// project 1) may do it. "x" allows, "." refuses.
func TestAllows(t *testing.T) {
	t.Parallel()
	rows := []struct {
		action Action
		res    Resource
		want   string // anon admin project runner job
	}{
		{CreateProject, Resource{}, ". x . . ."},
		{ManageRunners, Resource{}, ". x . . ."},
		{ReadAudit, Resource{}, ". x . . ."},
		{ReadRunners, Resource{}, "x x x x x"},
		{RunJobs, Resource{}, ". . . x ."},
		{HoldJob, Resource{Job: ownJob}, ". . . x x"},
		{HoldJob, Resource{Job: otherJob}, ". . . x ."},
		{HoldJob, Resource{}, ". . . . ."},
		{UseCaches, Resource{Project: priv1}, ". . . . x"},
		{UseCaches, Resource{Project: public2}, ". . . . ."},
		{UseCaches, Resource{}, ". . . . ."},

		{ReadProject, Resource{Project: public2}, "x x x x x"},
		{ReadProject, Resource{Project: priv1}, ". x x . x"}, // a job token sees its project (it lists it)
		{ReadProject, Resource{Project: priv2}, ". x . . ."},
		{ReadProjectJobs, Resource{Project: public2}, "x x x x x"},
		{ReadProjectJobs, Resource{Project: priv1}, ". x x . ."}, // but not what it holds
		{ReadProjectJobs, Resource{Project: priv2}, ". x . . ."},
		{ReadJob, Resource{Project: priv1, Job: ownJob}, ". x x . x"},
		{ReadJob, Resource{Project: priv1, Job: childJob}, ". x x . x"},
		{ReadJob, Resource{Project: priv1, Job: otherJob}, ". x x . ."},
		{ReadJob, Resource{Project: public2, Job: otherJob}, "x x x x x"},
		{ReadJob, Resource{Project: priv1}, ". . . . ."},                      // no job named
		{ReadArtifacts, Resource{Project: priv1, Job: otherJob}, ". x x . x"}, // a job uses what another built
		{ReadArtifacts, Resource{Project: priv2, Job: otherJob}, ". x . . ."},
		{ReadArtifacts, Resource{Project: public2, Job: otherJob}, "x x x x x"},
		{ReadArtifacts, Resource{Project: priv1}, ". . . . ."},
		{Submit, Resource{Project: priv1}, ". x x . x"},
		{Submit, Resource{Project: public2}, ". x . . ."},
		{Cancel, Resource{Project: priv1, Job: ownJob}, ". x x . x"},
		{Cancel, Resource{Project: priv1, Job: childJob}, ". x x . x"},
		{Cancel, Resource{Project: priv1, Job: otherJob}, ". x x . ."},
		{Cancel, Resource{Project: public2, Job: otherJob}, ". x . . ."},
		{Retry, Resource{Project: priv1, Job: ownJob}, ". x x . ."},
		{Approve, Resource{Project: priv1, Job: childJob}, ". x x . ."},
		{ManageProject, Resource{Project: priv1}, ". x . . ."},
		{ManageProject, Resource{Project: public2}, ". x . . ."},
		{ManageIntegrations, Resource{Project: priv1}, ". x . . ."}, // events of integrations too
		{ManageIntegrations, Resource{Project: public2}, ". x . . ."},
		{ManageProject, Resource{}, ". . . . ."}, // no project named
		{Action("nonsense"), Resource{}, ". . . . ."},
	}
	for _, row := range rows {
		want := strings.Fields(row.want)
		require.Len(t, want, len(callers))
		for i, p := range callers {
			got := Allows(p, row.action, row.res)
			require.Equal(t, want[i] == "x", got, "%s may %s on %s", names[i], row.action, describe(row.res))
		}
	}
}

func describe(res Resource) string {
	s := "instance"
	if res.Project != nil {
		s = fmt.Sprintf("project %d (private %v)", res.Project.ID, res.Project.Private)
	}
	if res.Job != nil {
		s += fmt.Sprintf(" job %d", res.Job.ID)
	}
	return s
}

// TestCheck: a caller who may not see a project or job is told it does not
// exist; one who may see it is told 401 (anonymous) or 403.
func TestCheck(t *testing.T) {
	t.Parallel()
	require.Equal(t, Allowed, Check(admin, ManageProject, Resource{Project: priv2}))
	require.Equal(t, Hidden, Check(projTok, ReadProject, Resource{Project: priv2}))
	require.Equal(t, Hidden, Check(anon, Cancel, Resource{Project: priv2, Job: otherJob}))
	require.Equal(t, NeedsToken, Check(anon, Cancel, Resource{Project: public2, Job: otherJob}))
	require.Equal(t, Forbidden, Check(projTok, ManageProject, Resource{Project: priv1}))
	require.Equal(t, Forbidden, Check(jobTok, ReadProjectJobs, Resource{Project: priv1}))
	require.Equal(t, Hidden, Check(jobTok, Cancel, Resource{Project: priv1, Job: otherJob}))
	require.Equal(t, Forbidden, Check(jobTok, Retry, Resource{Project: priv1, Job: ownJob}))
	require.Equal(t, Forbidden, Check(runner, CreateProject, Resource{}))
	require.Equal(t, NeedsToken, Check(anon, RunJobs, Resource{}))
}

// TestCheckKind refuses before anything is read a caller who may do an action
// on no resource at all, and lets through one who may on some.
func TestCheckKind(t *testing.T) {
	t.Parallel()
	rows := []struct {
		action Action
		want   []Verdict // anon admin project runner job
	}{
		{ReadProject, []Verdict{Allowed, Allowed, Allowed, Allowed, Allowed}},
		{ManageProject, []Verdict{NeedsToken, Allowed, Forbidden, Forbidden, Forbidden}},
		{Submit, []Verdict{NeedsToken, Allowed, Allowed, Forbidden, Allowed}},
		{Cancel, []Verdict{NeedsToken, Allowed, Allowed, Forbidden, Allowed}},
		{Retry, []Verdict{NeedsToken, Allowed, Allowed, Forbidden, Forbidden}},
		{RunJobs, []Verdict{NeedsToken, Forbidden, Forbidden, Allowed, Forbidden}},
		{HoldJob, []Verdict{NeedsToken, Forbidden, Forbidden, Allowed, Allowed}},
		{UseCaches, []Verdict{NeedsToken, Forbidden, Forbidden, Forbidden, Allowed}},
	}
	for _, row := range rows {
		for i, p := range callers {
			require.Equal(t, row.want[i], CheckKind(p, row.action), "%s: %s", names[i], row.action)
		}
	}
}

// TestScope derives the listing filters from Allows.
func TestScope(t *testing.T) {
	t.Parallel()
	require.Equal(t, store.ProjectScope{All: true}, Scope(admin, ReadProject))
	require.Equal(t, store.ProjectScope{}, Scope(anon, ReadProject))
	require.Equal(t, store.ProjectScope{}, Scope(runner, ReadProjectJobs))
	require.Equal(t, store.ProjectScope{Private: []int64{1}}, Scope(projTok, ReadProjectJobs))
	require.Equal(t, store.ProjectScope{Private: []int64{1}}, Scope(jobTok, ReadProject))
	require.Equal(t, store.ProjectScope{}, Scope(jobTok, ReadProjectJobs))
}

// TestAllowsUsers is the policy for users: a role per project (the highest
// held wins, since there is one per project), the admin user as the admin
// token, and each user's own account.
func TestAllowsUsers(t *testing.T) {
	t.Parallel()
	user := func(id int64, role Role) *Principal {
		p := &Principal{Kind: KindUser, UserID: id, UserName: fmt.Sprint("u", id), Roles: map[int64]Role{}}
		if role != RoleNone {
			p.Roles[1] = role
		}
		return p
	}
	rootUser := &Principal{Kind: KindUser, UserID: 9, UserAdmin: true, Roles: map[int64]Role{}}
	users := []*Principal{user(1, RoleNone), user(2, RoleViewer), user(3, RoleDeveloper), user(4, RoleMaintainer), rootUser}
	rows := []struct {
		action Action
		res    Resource
		want   string // none viewer developer maintainer admin
	}{
		{ReadProject, Resource{Project: priv1}, ". x x x x"},
		{ReadProject, Resource{Project: priv2}, ". . . . x"},
		{ReadProjectJobs, Resource{Project: public2}, "x x x x x"},
		{ReadJob, Resource{Project: priv1, Job: otherJob}, ". x x x x"},
		{ReadMembers, Resource{Project: priv1}, ". x x x x"},
		{ReadMembers, Resource{Project: public2}, ". . . . x"}, // not public
		{Submit, Resource{Project: priv1}, ". . x x x"},
		{Cancel, Resource{Project: priv1, Job: otherJob}, ". . x x x"},
		{Retry, Resource{Project: priv1, Job: otherJob}, ". . x x x"},
		{Approve, Resource{Project: priv1, Job: otherJob}, ". . x x x"},
		{ManageProject, Resource{Project: priv1}, ". . . x x"},
		{ManageIntegrations, Resource{Project: priv1}, ". . . x x"},
		{ManageMembers, Resource{Project: priv1}, ". . . x x"},
		{ManageMembers, Resource{Project: priv2}, ". . . . x"},
		{CreateProject, Resource{}, ". . . . x"},
		{ManageRunners, Resource{}, ". . . . x"},
		{ManageUsers, Resource{}, ". . . . x"},
		{ManageAccount, Resource{}, "x x x x x"},                      // one's own
		{ManageAccount, Resource{User: &UserRef{ID: 2}}, ". x . . x"}, // user 2's
		{RunJobs, Resource{}, ". . . . ."},
		{HoldJob, Resource{Job: ownJob}, ". . . . ."},
		{UseCaches, Resource{Project: priv1}, ". . . . ."},
	}
	for _, row := range rows {
		want := strings.Fields(row.want)
		for i, p := range users {
			require.Equal(t, want[i] == "x", Allows(p, row.action, row.res), "user %d may %s on %s", i, row.action, describe(row.res))
		}
	}
	// The tokens: only the admin token manages users and other accounts; none has an account of its own.
	for i, p := range callers {
		require.Equal(t, p == admin, Allows(p, ManageUsers, Resource{}), names[i])
		require.Equal(t, p == admin, Allows(p, ManageAccount, Resource{User: &UserRef{ID: 2}}), names[i])
		require.False(t, Allows(p, ManageAccount, Resource{}), names[i])
	}
	require.Equal(t, []int64{1}, users[1].Projects())
	require.Empty(t, users[0].Projects())
	require.Equal(t, Hidden, Check(users[0], ReadProject, Resource{Project: priv1}))
	require.Equal(t, Forbidden, Check(users[1], Submit, Resource{Project: priv1}))
	require.Equal(t, Forbidden, CheckKind(users[0], Submit))
	require.Equal(t, Allowed, CheckKind(users[2], Submit))
	require.Equal(t, Allowed, CheckKind(users[1], ManageAccount))
}
