package integrations

import (
	"encoding/json"
	"net/http"
)

// KindGeneric is any tool that can sign a JSON body.
const KindGeneric = "generic"

// genericKind reads a minimal push from any tool that can sign a JSON body
// like GitHub: {"repository", "ref", "sha", "cloneUrl"}. It reports no status.
var genericKind = &forgeKind{
	kind: KindGeneric, name: "Generic", events: pushEvents,
	verify: verifyHubSignature, parse: parseGeneric,
}

type genericPush struct {
	Repository string `json:"repository"`
	Ref        string `json:"ref"`
	SHA        string `json:"sha"`
	CloneURL   string `json:"cloneUrl"`
}

func parseGeneric(h http.Header, body []byte) (*Event, error) {
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
