package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/aura-ci/aura/backend/internal/auth"
	"github.com/aura-ci/aura/backend/internal/store"
)

// rule is who may call a route: the action it does (auth's policy decides) and
// where the resource it acts on comes from. Every route of NewRouter declares one.
type rule struct {
	action auth.Action // "": anyone (the route decides nothing, or decides per item, as the event hub)
	on     subject
}

// subject is where a rule finds its resource.
type subject int

const (
	// instance: the action is on the instance; no resource.
	instance subject = iota
	// listed: a listing, filtered by auth.Scope for the caller.
	listed
	// inBody: the project is named in the body; the handler asks auth.Allows once read.
	inBody
	// project: the project in the path, {project}.
	project
	// job: the job in the path, {id}.
	job
	// heldJob: the job in the path ({id} or {jobId}), not read: the store checks
	// that the caller holds the attempt it names.
	heldJob
	// tokenProject: the project of the caller's job token (caches); nothing in the path.
	tokenProject
	// entity: every job of the entity {key}/{val} of the project in the path
	// (a build's actions), asked as of a job that is not the caller's own.
	entity
	// account: the user named in the path, {user}.
	account
	// self: the caller's own account (/me/…): only a signed-in user has one.
	self
)

// may declares that a route does action on its subject.
func may(action auth.Action, on subject) rule { return rule{action: action, on: on} }

// anyone declares a route open to every caller, anonymous too.
var anyone = rule{}

type projectKey struct{}
type jobKey struct{}

// projectOf is the project of a route whose rule is on the project in the path.
func projectOf(r *http.Request) *store.Project {
	return r.Context().Value(projectKey{}).(*store.Project)
}

// jobOf is the job of a route whose rule is on the job in the path.
func jobOf(r *http.Request) *store.Job { return r.Context().Value(jobKey{}).(*store.Job) }

// guard answers a request its rule refuses, and hands the resource it read to
// next. A caller who may do the action on nothing is refused before anything is
// read (401 or 403), whichever project it names; one who may not see the
// project or job gets 404, as if it did not exist. A job in the path is read
// first: a private job the caller may not see is 404 whatever it asks of it.
func (h *handler) guard(ru rule, next http.Handler) http.Handler {
	if ru.action == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := principal(r)
		if v := auth.CheckKind(p, ru.action); v != auth.Allowed && ru.on != job {
			writeError(w, r, refusal(v))
			return
		}
		ctx, err := h.resolve(r.Context(), r, p, ru)
		if err != nil {
			writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// resolve reads the resource of ru's subject, asks the policy, and returns the
// context carrying what it read.
func (h *handler) resolve(ctx context.Context, r *http.Request, p *auth.Principal, ru rule) (context.Context, error) {
	switch ru.on {
	case project, entity:
		slug, err := slugParam(r, "project")
		if err != nil {
			return nil, err
		}
		pr, err := h.Store.ProjectGet(ctx, slug)
		if err != nil {
			return nil, named(err, "project %s", slug)
		}
		res := auth.Resource{Project: &auth.ProjectRef{ID: pr.ID, Private: pr.Private}}
		if ru.on == entity {
			res.Job = &auth.JobRef{ID: -1}
		}
		if v := auth.Check(p, ru.action, res); v != auth.Allowed {
			return nil, refusalOf(v, "project %s", slug)
		}
		return context.WithValue(ctx, projectKey{}, pr), nil
	case job:
		id, err := idParam(r, "id")
		if err != nil {
			return nil, err
		}
		j, err := h.Store.JobGet(ctx, id)
		if err == nil && j.ProjectDeleted {
			err = store.ErrNotFound
		}
		if err != nil {
			return nil, named(err, "job %d", id)
		}
		ref, err := h.Auth.JobRef(ctx, p, j.ProjectID, j.ID)
		if err != nil {
			return nil, err
		}
		res := auth.Resource{Project: &auth.ProjectRef{ID: j.ProjectID, Private: j.ProjectPrivate}, Job: ref}
		if v := auth.Check(p, ru.action, res); v != auth.Allowed {
			return nil, refusalOf(v, "job %d", id)
		}
		return context.WithValue(ctx, jobKey{}, j), nil
	case self:
		if v := auth.Check(p, ru.action, auth.Resource{}); v != auth.Allowed {
			return nil, refusal(v)
		}
	case account:
		name := muxVar(r, "user")
		if err := checkUserName("user", name); err != nil {
			return nil, err
		}
		u, err := h.Store.UserGet(ctx, name)
		if errors.Is(err, store.ErrNotFound) && !auth.Allows(p, ru.action, auth.Resource{User: &auth.UserRef{ID: -1}}) {
			return nil, errForbidden // whether another user exists is the admin's to know
		}
		if err != nil {
			return nil, named(err, "user %s", name)
		}
		if v := auth.Check(p, ru.action, auth.Resource{User: &auth.UserRef{ID: u.ID}}); v != auth.Allowed {
			return nil, refusal(v)
		}
		return context.WithValue(ctx, accountKey{}, u), nil
	case tokenProject:
		res := auth.Resource{Project: &auth.ProjectRef{ID: p.ProjectID, Private: true}}
		if v := auth.Check(p, ru.action, res); v != auth.Allowed {
			return nil, refusal(v)
		}
	case heldJob:
		name := "id"
		if _, ok := mux.Vars(r)["jobId"]; ok {
			name = "jobId"
		}
		id, err := idParam(r, name)
		if err != nil {
			return nil, err
		}
		if v := auth.Check(p, ru.action, auth.Resource{Job: &auth.JobRef{ID: id}}); v != auth.Allowed {
			return nil, refusal(v)
		}
	}
	return ctx, nil
}

// refusal is the error for a verdict on no particular resource.
func refusal(v auth.Verdict) error {
	if v == auth.NeedsToken {
		return errUnauthorized
	}
	return errForbidden
}

// refusalOf is the error for a verdict on the resource named by format and args.
func refusalOf(v auth.Verdict, format string, args ...any) error {
	if v == auth.Hidden {
		return named(store.ErrNotFound, format, args...)
	}
	return refusal(v)
}
