package integrations

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// Kinds of integration for Gitea and its fork Forgejo.
const (
	KindGitea   = "gitea"
	KindForgejo = "forgejo"
)

var (
	giteaKind   = giteaLike(KindGitea, "Gitea")
	forgejoKind = giteaLike(KindForgejo, "Forgejo")
)

// giteaLike is Gitea or Forgejo: same webhooks, same API. Both also send
// GitHub-style headers, so their own headers are read first.
func giteaLike(kind, name string) *forgeKind {
	return &forgeKind{
		kind: kind, name: name, events: allEvents,
		verify: verifyGitea, parse: parseGitea,
		status: &statusAPI{
			apiBase:       apiBelow("/api/v1"),
			auth:          func(req *http.Request, token string) { req.Header.Set("Authorization", "token "+token) },
			repositoryURL: ownerNameURL,
			request:       ownerNameStatus,
		},
	}
}

func verifyGitea(secret []byte, h http.Header, body []byte) error {
	for _, name := range []string{"X-Forgejo-Signature", "X-Gitea-Signature", "X-Gogs-Signature"} {
		if sig := h.Get(name); sig != "" {
			return verifyHex(secret, sig, "", body)
		}
	}
	return verifyHubSignature(secret, h, body)
}

type giteaRepo struct {
	ID       int64  `json:"id"`
	FullName string `json:"full_name"`
	CloneURL string `json:"clone_url"`
	HTMLURL  string `json:"html_url"`
}

// giteaPush is a push with what the entity's meta takes from it, read in one
// pass: its repository shadows metaBody's, and is copied into it.
type giteaPush struct {
	metaBody
	Ref        string    `json:"ref"`
	Before     string    `json:"before"`
	After      string    `json:"after"`
	Repository giteaRepo `json:"repository"`
}

type giteaBranch struct {
	Ref    string     `json:"ref"`
	SHA    string     `json:"sha"`
	RepoID int64      `json:"repo_id"`
	Repo   *giteaRepo `json:"repo"`
}

type giteaPull struct {
	Action      string `json:"action"`
	Number      int    `json:"number"`
	PullRequest struct {
		Head giteaBranch `json:"head"`
		Base giteaBranch `json:"base"`
	} `json:"pull_request"`
	Repository giteaRepo `json:"repository"`
}

func parseGitea(h http.Header, body []byte) (*Event, error) {
	event := firstHeader(h, "X-Forgejo-Event", "X-Gitea-Event", "X-Gogs-Event", "X-GitHub-Event")
	delivery := firstHeader(h, "X-Forgejo-Delivery", "X-Gitea-Delivery", "X-Gogs-Delivery", "X-GitHub-Delivery")
	switch event {
	case "push":
		var p giteaPush
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, malformed("the push body is not valid JSON: " + err.Error())
		}
		e, err := pushEvent(p.Ref, p.Before, p.After, "")
		if err != nil {
			return nil, err
		}
		e.Repository, e.CloneURL, e.Delivery = p.Repository.FullName, p.Repository.CloneURL, delivery
		p.metaBody.Repository.HTMLURL = p.Repository.HTMLURL
		p.fill(e)
		return e, nil
	case "pull_request":
		var p giteaPull
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, malformed("the pull request body is not valid JSON: " + err.Error())
		}
		switch p.Action {
		case "opened", "reopened", "synchronized", "synchronize":
		default:
			return nil, skipf("pull request action " + p.Action + " starts nothing")
		}
		head, base := p.PullRequest.Head, p.PullRequest.Base
		if !validSHA(head.SHA) {
			return nil, malformed("the pull request names no valid head commit id")
		}
		if p.Number <= 0 {
			return nil, malformed("the pull request names no number")
		}
		e := &Event{
			Name: EventRequest, Delivery: delivery, Repository: p.Repository.FullName,
			CloneURL: p.Repository.CloneURL, Ref: "refs/pull/" + strconv.Itoa(p.Number) + "/head",
			Branch: head.Ref, SHA: head.SHA, Request: p.Number, TargetBranch: base.Ref,
		}
		if base.Repo != nil && e.Repository == "" {
			e.Repository = base.Repo.FullName
		}
		e.Fork = head.Repo == nil || head.RepoID != base.RepoID ||
			(base.Repo != nil && head.Repo.FullName != base.Repo.FullName)
		if head.Repo != nil && head.Repo.CloneURL != "" {
			e.CloneURL = head.Repo.CloneURL
		}
		return e, nil
	case "delete":
		return nil, skipf("a deleted branch or tag starts nothing")
	case "create":
		return nil, skipf("a created branch or tag starts nothing here: its push event does")
	case "":
		return nil, malformed("the delivery has no X-Gitea-Event or X-Forgejo-Event header")
	}
	return nil, skipf(event + " events start nothing")
}

func firstHeader(h http.Header, names ...string) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return v
		}
	}
	return ""
}
