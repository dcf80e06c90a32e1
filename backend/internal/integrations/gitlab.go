package integrations

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
)

// KindGitLab is GitLab.
const KindGitLab = "gitlab"

// gitlabKind reads GitLab's webhooks and sends statuses to its /api/v4.
// Repositories may be named by their numeric project id.
var gitlabKind = &forgeKind{
	kind: KindGitLab, name: "GitLab", events: allEvents, projectIDs: true,
	verify: verifyGitLab, parse: parseGitLab,
	status: &statusAPI{
		apiBase: apiBelow("/api/v4"),
		auth:    func(req *http.Request, token string) { req.Header.Set("PRIVATE-TOKEN", token) },
		repositoryURL: func(base, repository string) (string, error) {
			return base + "/projects/" + url.PathEscape(repository), nil
		},
		request: func(base, repository string, s *Status) (string, map[string]string, error) {
			state := s.State
			if state == "failure" {
				state = "failed"
			}
			return base + "/projects/" + url.PathEscape(repository) + "/statuses/" + s.SHA,
				map[string]string{"state": state, "name": s.Context, "description": s.Description, "target_url": s.TargetURL}, nil
		},
	},
}

// verifyGitLab checks GitLab's secret token. GitLab signs nothing: it sends the
// secret itself in X-Gitlab-Token.
func verifyGitLab(secret []byte, h http.Header, _ []byte) error {
	return checkToken(secret, h.Get("X-Gitlab-Token"))
}

type gitlabProject struct {
	ID                int64  `json:"id"`
	PathWithNamespace string `json:"path_with_namespace"`
	GitHTTPURL        string `json:"git_http_url"`
}

type gitlabPush struct {
	ObjectKind  string        `json:"object_kind"`
	Ref         string        `json:"ref"`
	Before      string        `json:"before"`
	After       string        `json:"after"`
	CheckoutSHA *string       `json:"checkout_sha"`
	ProjectID   int64         `json:"project_id"`
	Project     gitlabProject `json:"project"`
}

type gitlabMerge struct {
	ObjectKind       string        `json:"object_kind"`
	Project          gitlabProject `json:"project"`
	ObjectAttributes struct {
		IID             int     `json:"iid"`
		Action          string  `json:"action"`
		SourceBranch    string  `json:"source_branch"`
		TargetBranch    string  `json:"target_branch"`
		SourceProjectID int64   `json:"source_project_id"`
		TargetProjectID int64   `json:"target_project_id"`
		OldRev          *string `json:"oldrev"`
		LastCommit      struct {
			ID string `json:"id"`
		} `json:"last_commit"`
		Source gitlabProject `json:"source"`
		Target gitlabProject `json:"target"`
	} `json:"object_attributes"`
}

func parseGitLab(h http.Header, body []byte) (*Event, error) {
	delivery := h.Get("Idempotency-Key")
	switch event := h.Get("X-Gitlab-Event"); event {
	case "Push Hook", "Tag Push Hook":
		var p gitlabPush
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, malformed("the push body is not valid JSON: " + err.Error())
		}
		sha := ""
		if p.CheckoutSHA != nil {
			sha = *p.CheckoutSHA
		}
		e, err := pushEvent(p.Ref, p.Before, p.After, sha)
		if err != nil {
			return nil, err
		}
		id := p.ProjectID
		if id == 0 {
			id = p.Project.ID
		}
		e.Repository, e.RepositoryID = p.Project.PathWithNamespace, strconv.FormatInt(id, 10)
		e.CloneURL, e.Delivery = p.Project.GitHTTPURL, delivery
		return e, nil
	case "Merge Request Hook":
		var p gitlabMerge
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, malformed("the merge request body is not valid JSON: " + err.Error())
		}
		a := p.ObjectAttributes
		switch {
		case a.Action == "open" || a.Action == "reopen":
		case a.Action == "update" && a.OldRev != nil:
		case a.Action == "update":
			return nil, skipf("a merge request update without new commits starts nothing")
		default:
			return nil, skipf("merge request action " + a.Action + " starts nothing")
		}
		if !validSHA(a.LastCommit.ID) {
			return nil, malformed("the merge request names no valid head commit id")
		}
		if a.IID <= 0 {
			return nil, malformed("the merge request names no number (iid)")
		}
		e := &Event{
			Name: EventRequest, Delivery: delivery, Repository: a.Target.PathWithNamespace,
			RepositoryID: strconv.FormatInt(a.TargetProjectID, 10), CloneURL: a.Source.GitHTTPURL,
			Ref: "refs/merge-requests/" + strconv.Itoa(a.IID) + "/head", Branch: a.SourceBranch,
			SHA: a.LastCommit.ID, Request: a.IID, TargetBranch: a.TargetBranch,
			Fork: a.SourceProjectID != a.TargetProjectID,
		}
		if e.Repository == "" {
			e.Repository = p.Project.PathWithNamespace
		}
		return e, nil
	case "":
		return nil, malformed("the delivery has no X-Gitlab-Event header")
	default:
		return nil, skipf(event + " events start nothing")
	}
}
