package integrations

import (
	"encoding/json"
	"net/http"
	"strings"
)

// KindDarke is Darke Files.
const KindDarke = "darke"

// darkeKind reads Darke Files' push notifications, as Aura 0.4 did: {owner,
// repo, refName, commit}, names matched case-insensitively (encoding/json
// does). They are signed like GitHub's, with X-Hub-Signature-256; a sender that
// cannot sign may send the secret itself as "Authorization: Bearer <secret>".
// It reports no status.
var darkeKind = &forgeKind{
	kind: KindDarke, name: "Darke Files", events: pushEvents,
	verify: verifyDarke, parse: parseDarke,
}

func verifyDarke(secret []byte, h http.Header, body []byte) error {
	if token, ok := strings.CutPrefix(h.Get("Authorization"), "Bearer "); ok && h.Get("X-Hub-Signature-256") == "" {
		return checkToken(secret, token)
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

func parseDarke(_ http.Header, body []byte) (*Event, error) {
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
