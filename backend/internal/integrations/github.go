package integrations

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// KindGitHub is GitHub, github.com or GitHub Enterprise Server.
const KindGitHub = "github"

// githubKind reads GitHub's webhooks, signed with X-Hub-Signature-256, and
// sends statuses to github.com's API or to an Enterprise server's /api/v3.
var githubKind = &forgeKind{
	kind: KindGitHub, name: "GitHub", events: allEvents,
	verify: verifyHubSignature, parse: parseGitHub,
	status: &statusAPI{
		apiBase: func(u *url.URL, path string) string {
			switch strings.ToLower(u.Hostname()) {
			case "github.com", "www.github.com", "api.github.com":
				return "https://api.github.com"
			}
			return apiBelow("/api/v3")(u, path)
		},
		auth: func(req *http.Request, token string) {
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Accept", "application/vnd.github+json")
		},
		repositoryURL: ownerNameURL,
		request:       ownerNameStatus,
	},
}

type githubRepo struct {
	FullName string `json:"full_name"`
	CloneURL string `json:"clone_url"`
	HTMLURL  string `json:"html_url"`
}

// githubPush is a push with what the entity's meta takes from it, read in one
// pass: its repository shadows metaBody's, and is copied into it.
type githubPush struct {
	metaBody
	Ref        string     `json:"ref"`
	Before     string     `json:"before"`
	After      string     `json:"after"`
	Deleted    bool       `json:"deleted"`
	Repository githubRepo `json:"repository"`
}

type githubBranch struct {
	Ref  string      `json:"ref"`
	SHA  string      `json:"sha"`
	Repo *githubRepo `json:"repo"`
}

type githubPull struct {
	Action      string `json:"action"`
	Number      int    `json:"number"`
	PullRequest struct {
		Head githubBranch `json:"head"`
		Base githubBranch `json:"base"`
	} `json:"pull_request"`
	Repository githubRepo `json:"repository"`
}

func parseGitHub(h http.Header, body []byte) (*Event, error) {
	delivery := h.Get("X-GitHub-Delivery")
	switch event := h.Get("X-GitHub-Event"); event {
	case "ping":
		return nil, skipf("ping received: the webhook works; pushes and pull requests start jobs")
	case "push":
		var p githubPush
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, malformed("the push body is not valid JSON: " + err.Error())
		}
		after := p.After
		if p.Deleted {
			after = "0000000000000000000000000000000000000000"
		}
		e, err := pushEvent(p.Ref, p.Before, after, "")
		if err != nil {
			return nil, err
		}
		e.Repository, e.CloneURL, e.Delivery = p.Repository.FullName, p.Repository.CloneURL, delivery
		p.metaBody.Repository.HTMLURL = p.Repository.HTMLURL
		p.fill(e)
		return e, nil
	case "pull_request":
		var p githubPull
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, malformed("the pull request body is not valid JSON: " + err.Error())
		}
		switch p.Action {
		case "opened", "reopened", "synchronize":
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
		// A deleted fork has no head repository: treat it as a fork.
		e.Fork = head.Repo == nil || base.Repo == nil || head.Repo.FullName != base.Repo.FullName
		if head.Repo != nil && head.Repo.CloneURL != "" {
			e.CloneURL = head.Repo.CloneURL
		}
		return e, nil
	case "":
		return nil, malformed("the delivery has no X-GitHub-Event header")
	default:
		return nil, skipf(event + " events start nothing")
	}
}
