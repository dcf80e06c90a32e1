package integrations

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// github reads GitHub's webhooks, signed with X-Hub-Signature-256.
type github struct{}

func (github) verify(secret []byte, h http.Header, body []byte) error {
	return verifyHubSignature(secret, h, body)
}

type githubRepo struct {
	FullName string `json:"full_name"`
	CloneURL string `json:"clone_url"`
}

type githubPush struct {
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

func (github) parse(h http.Header, body []byte) (*Event, error) {
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
