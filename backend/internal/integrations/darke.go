package integrations

import (
	"encoding/json"
	"net/http"
	"strings"
)

// darke reads Darke Files' push notifications, as Aura 0.4 did: {owner, repo,
// refName, commit}, names matched case-insensitively (encoding/json does). They
// are signed like GitHub's, with X-Hub-Signature-256; a sender that cannot sign
// may send the secret itself as "Authorization: Bearer <secret>".
type darke struct{}

func (darke) verify(secret []byte, h http.Header, body []byte) error {
	if token, ok := strings.CutPrefix(h.Get("Authorization"), "Bearer "); ok && h.Get("X-Hub-Signature-256") == "" {
		return gitlab{}.verify(secret, http.Header{"X-Gitlab-Token": {token}}, body)
	}
	return verifyHubSignature(secret, h, body)
}

type darkePush struct {
	Owner    string `json:"owner"`
	Repo     string `json:"repo"`
	RefName  string `json:"refName"`
	Commit   string `json:"commit"`
	CloneURL string `json:"cloneUrl"`
}

func (darke) parse(h http.Header, body []byte) (*Event, error) {
	var p darkePush
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, malformed("the push body is not valid JSON: " + err.Error())
	}
	if p.Owner == "" || p.Repo == "" {
		return nil, malformed("the push names no owner and repo")
	}
	ref := p.RefName
	if !strings.HasPrefix(ref, "refs/") {
		ref = "refs/heads/" + ref
	}
	e, err := pushEvent(ref, "", p.Commit, "")
	if err != nil {
		return nil, err
	}
	e.Repository, e.CloneURL = p.Owner+"/"+p.Repo, p.CloneURL
	return e, nil
}

// generic reads a minimal push from any tool that can sign a JSON body like
// GitHub: {"repository", "ref", "sha", "cloneUrl"}.
type generic struct{}

func (generic) verify(secret []byte, h http.Header, body []byte) error {
	return verifyHubSignature(secret, h, body)
}

type genericPush struct {
	Repository string `json:"repository"`
	Ref        string `json:"ref"`
	SHA        string `json:"sha"`
	CloneURL   string `json:"cloneUrl"`
}

func (generic) parse(h http.Header, body []byte) (*Event, error) {
	var p genericPush
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, malformed("the push body is not valid JSON: " + err.Error())
	}
	e, err := pushEvent(p.Ref, "", p.SHA, "")
	if err != nil {
		return nil, err
	}
	e.Repository, e.CloneURL, e.Delivery = p.Repository, p.CloneURL, h.Get("X-Aura-Delivery")
	return e, nil
}
