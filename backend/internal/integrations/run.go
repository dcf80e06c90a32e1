package integrations

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"

	"github.com/aura-ci/aura/backend/internal/store"
)

// RunParams start an integration's jobs by hand: on a commit, or on a branch
// (passed through as the ref: Aura does not ask the forge which commit it is
// at, the job's checkout does), with extra environment values.
type RunParams struct {
	Branch string
	Commit string
	Env    map[string]string
}

// Run submits in's jobs as a push would, with the same variables (AURA_GIT_URL,
// AURA_GIT_REF, AURA_GIT_SHA, AURA_GIT_BRANCH), plus p.Env under them. A
// commit goes to the entity commit/<sha>; a branch alone to run/<time>, in the
// collection ref/<branch> either way. Every run is submitted: a run is never a
// duplicate delivery.
func (s *Service) Run(ctx context.Context, in *store.Integration, p *RunParams) (*Result, string, error) {
	switch {
	case p.Commit != "" && !validSHA(p.Commit):
		return nil, "", &store.Error{Kind: store.Invalid, Field: "commit", Message: "field commit must be a commit id of 40 or 64 hex digits"}
	case p.Commit == "" && p.Branch == "":
		return nil, "", &store.Error{Kind: store.Invalid, Field: "branch", Message: "give a branch or a commit"}
	case len(in.Jobs) == 0:
		return nil, "", &store.Error{Kind: store.Conflict, Field: "jobs", Message: "this integration has no jobs to submit"}
	}
	e := &Event{Name: EventPush, Repository: in.Repository, CloneURL: cloneURL(in), Branch: p.Branch, SHA: p.Commit,
		Env: p.Env, Manual: true}
	if p.Branch != "" {
		e.Ref = "refs/heads/" + p.Branch
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	e.Delivery = "run:" + hex.EncodeToString(b)
	if e.SHA == "" {
		e.RunVal = time.Now().UTC().Format("2006-01-02T15:04:05")
	}
	res, err := s.submit(ctx, in, e, "")
	if err != nil {
		return nil, "", err
	}
	if e.SHA == "" {
		return res, "run/" + e.RunVal, nil
	}
	return res, "commit/" + e.SHA, nil
}

// cloneURL is where a forge serves the repository over HTTP, derived from the
// integration's API base; "" when it cannot be known (no API base, a GitLab
// project id, a generic or Darke integration): then a run's env may give
// AURA_GIT_URL.
func cloneURL(in *store.Integration) string {
	repo := in.Repository
	if strings.Trim(repo, "0123456789") == "" {
		return ""
	}
	switch in.Kind {
	case "github":
		if in.APIURL == "" || in.APIURL == "https://api.github.com" {
			return "https://github.com/" + repo + ".git"
		}
		return strings.TrimSuffix(in.APIURL, "/api/v3") + "/" + repo + ".git"
	case "gitea", "forgejo":
		if in.APIURL != "" {
			return strings.TrimSuffix(in.APIURL, "/api/v1") + "/" + repo + ".git"
		}
	case "gitlab":
		if in.APIURL != "" {
			return strings.TrimSuffix(in.APIURL, "/api/v4") + "/" + repo + ".git"
		}
	}
	return ""
}
