// Package integrations connects Aura to forges: it verifies and parses their
// webhooks into one Event (a file per forge), submits the integration's jobs for
// it, and reports commit statuses back through an outbox.
package integrations

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/aura-ci/aura/backend/internal/store"
)

// Event names an integration can act on.
const (
	EventPush    = "push"
	EventTag     = "tag"
	EventRequest = "request" // a pull or merge request opened or updated
)

// Event is one forge webhook delivery that may start jobs, whichever forge sent it.
type Event struct {
	Name         string // EventPush, EventTag or EventRequest
	Delivery     string // the forge's delivery id, when it sends one
	Repository   string // the base repository's full name
	RepositoryID string // GitLab's numeric project id
	CloneURL     string // where the code to build is (the head repository for a request)
	Ref          string // full ref: refs/heads/main, refs/tags/v1, refs/pull/2/head
	Branch       string // the pushed branch, or a request's source branch
	Tag          string
	SHA          string
	Request      int // pull/merge request number
	TargetBranch string
	// Fork is true for a request whose head repository is not the base repository.
	Fork bool
	// Title and Meta describe the commit for the project's list of builds (meta.go).
	Title string
	Meta  store.EntityMeta
	// metaRead says the parser filled Title and Meta already (metaBody.fill).
	metaRead bool
	// Manual, Env and RunVal describe a run started by hand (run.go): extra
	// environment values, and the run/<RunVal> entity of one without a commit.
	Manual bool
	Env    map[string]string
	RunVal string
}

// Skip is a delivery that is fine but starts nothing; its message says why.
type Skip struct{ Message string }

func (s *Skip) Error() string { return s.Message }

func skipf(msg string) error { return &Skip{Message: msg} }

// ErrSignature means a delivery's signature is missing or wrong.
var ErrSignature = errors.New("the webhook signature is missing or does not match")

// MalformedError means a correctly signed body could not be understood.
type MalformedError struct{ Message string }

func (e *MalformedError) Error() string { return e.Message }

func malformed(msg string) error { return &MalformedError{Message: msg} }

// Parse verifies and parses a delivery for an integration of kind. The signature
// is checked before a byte of body is parsed.
func Parse(kind string, secret []byte, h http.Header, body []byte) (*Event, error) {
	p := lookup(kind)
	if p == nil {
		return nil, malformed("unknown integration kind " + kind)
	}
	payload, err := verify(p, secret, h, body)
	if err != nil {
		return nil, err
	}
	e, err := p.parse(h, payload)
	if err == nil && !e.metaRead {
		readMeta(e, payload)
	}
	return e, err
}

// verify checks a delivery's signature and returns its JSON. A form-encoded
// delivery (a hook set to "form" on Gitea, Forgejo or GitHub) carries the JSON
// in its payload field: GitHub signs the body as sent, Gitea and Forgejo the
// JSON inside it, so either is accepted. Only the form is read before the
// signature matches, and only to find the bytes that are signed.
func verify(p *forgeKind, secret []byte, h http.Header, body []byte) ([]byte, error) {
	payload, isForm := formPayload(h, body)
	return verifyForm(p, secret, h, body, payload, isForm)
}

// verifyForm is verify of a body whose form payload was read already.
func verifyForm(p *forgeKind, secret []byte, h http.Header, body, payload []byte, isForm bool) ([]byte, error) {
	if len(secret) == 0 {
		return nil, ErrSignature
	}
	if err := p.verify(secret, h, body); err != nil {
		if payload == nil || p.verify(secret, h, payload) != nil {
			return nil, err
		}
	}
	if !isForm {
		return body, nil
	}
	if payload == nil {
		return nil, malformed("a form-encoded delivery carries its JSON in the payload field, and this one has none")
	}
	return payload, nil
}

// signs reports whether secret signs the delivery (whose form payload was read already).
func signs(p *forgeKind, secret []byte, h http.Header, body, payload []byte, isForm bool) bool {
	_, err := verifyForm(p, secret, h, body, payload, isForm)
	return err == nil || !errors.Is(err, ErrSignature)
}

// formPayload returns the payload field of a form-encoded body, if it is one.
func formPayload(h http.Header, body []byte) (payload []byte, isForm bool) {
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, false
	}
	v, err := url.ParseQuery(string(body))
	if err != nil || v.Get("payload") == "" {
		return nil, true
	}
	return []byte(v.Get("payload")), true
}

// verifyHex checks a hex HMAC-SHA256 of body (with an optional prefix such as "sha256=").
func verifyHex(secret []byte, sig, prefix string, body []byte) error {
	hexSig, ok := strings.CutPrefix(strings.TrimSpace(sig), prefix)
	if !ok || hexSig == "" {
		return ErrSignature
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return ErrSignature
	}
	return checkMAC(secret, body, got)
}

func checkMAC(secret, body, got []byte) error {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	if !hmac.Equal(m.Sum(nil), got) {
		return ErrSignature
	}
	return nil
}

// checkToken compares a secret sent as it is with the integration's.
func checkToken(secret []byte, token string) error {
	if token == "" {
		return ErrSignature
	}
	// Hashing first makes the comparison constant-time whatever the lengths.
	a, b := sha256.Sum256(secret), sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
		return ErrSignature
	}
	return nil
}

// verifyHubSignature checks GitHub's X-Hub-Signature-256: sha256=<hex>.
func verifyHubSignature(secret []byte, h http.Header, body []byte) error {
	return verifyHex(secret, h.Get("X-Hub-Signature-256"), "sha256=", body)
}

var shaPattern = regexp.MustCompile(`^([0-9a-f]{40}|[0-9a-f]{64})$`)

// validSHA accepts SHA-1 and SHA-256 object ids.
func validSHA(s string) bool { return shaPattern.MatchString(s) }

// zeroSHA is the "no commit" id of either length.
func zeroSHA(s string) bool {
	return (len(s) == 40 || len(s) == 64) && strings.Trim(s, "0") == ""
}

// splitRef names what a ref points at: branch or tag. A short ref is a branch.
func splitRef(ref string) (branch, tag string) {
	if t, ok := strings.CutPrefix(ref, "refs/tags/"); ok {
		return "", t
	}
	return strings.TrimPrefix(ref, "refs/heads/"), ""
}

// pushEvent builds the event of a push to ref at sha, or says why it starts nothing.
func pushEvent(ref, before, after, sha string) (*Event, error) {
	branch, tag := splitRef(ref)
	switch {
	case zeroSHA(after) && zeroSHA(before):
		return nil, skipf("a test delivery (before and after are both empty) starts nothing")
	case zeroSHA(after):
		if tag != "" {
			return nil, skipf("tag " + tag + " was deleted: nothing to build")
		}
		return nil, skipf("branch " + branch + " was deleted: nothing to build")
	case ref == "":
		return nil, malformed("the push names no ref")
	}
	if sha == "" {
		sha = after
	}
	if !validSHA(sha) {
		return nil, malformed("the push names no valid commit id (40 or 64 hex digits): " + sha)
	}
	e := &Event{Name: EventPush, Ref: ref, Branch: branch, Tag: tag, SHA: sha}
	if tag != "" {
		e.Name = EventTag
	}
	return e, nil
}

// claimedRepository is the repository an unverified delivery names: Gitea's
// and Forgejo's repository.full_name, or Darke's owner/repo. It only chooses
// which integrations' secrets to try; nothing else is read before one signs it.
func claimedRepository(body []byte) string {
	var c struct {
		Repository struct {
			FullName string `json:"full_name"`
		} `json:"repository"`
		Owner string `json:"owner"`
		Repo  string `json:"repo"`
	}
	if json.Unmarshal(body, &c) != nil && c.Repository.FullName == "" && c.Owner == "" {
		return ""
	}
	if c.Repository.FullName != "" {
		return c.Repository.FullName
	}
	if c.Owner != "" && c.Repo != "" {
		return c.Owner + "/" + c.Repo
	}
	return ""
}
