package integrations

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// forgeKind is one kind of integration, declared in its own file: how its
// deliveries are verified and parsed, and what it supports. Everything that
// differs between forges is here, so nothing else switches on a kind.
type forgeKind struct {
	kind string // the API's and the database's name
	name string // for people, in messages
	// events are the events its deliveries can start.
	events []string
	// verify checks the signature of body with secret, in constant time.
	verify func(secret []byte, h http.Header, body []byte) error
	// parse reads a verified body; a *Skip error means nothing to start.
	parse func(h http.Header, body []byte) (*Event, error)
	// projectIDs: a repository may also be named by its numeric id (GitLab).
	projectIDs bool
	// status is how the forge takes commit statuses; nil: it takes none.
	status *statusAPI
}

// statusAPI is a forge's API as far as statuses need it.
type statusAPI struct {
	// apiBase is the API base for a web address u, whose path has no trailing
	// slash; an address that is the API base already is kept.
	apiBase func(u *url.URL, path string) string
	// auth sets the header through which the forge takes an access token.
	auth func(req *http.Request, token string)
	// repositoryURL is where the API describes repository.
	repositoryURL func(base, repository string) (string, error)
	// request is the POST that sets status s on a commit of repository.
	request func(base, repository string, s *Status) (endpoint string, payload map[string]string, err error)
}

// forgeKinds lists every kind of integration, in the order the API documents
// them. A new forge is a file declaring its forgeKind (with webhook fixtures
// under testdata), a line here, its value in openapi.yaml's IntegrationKind and
// a migration widening the integrations.kind CHECK; TestForgeKindsAgree fails
// until all of them agree, and the web app's type check until its per-kind
// table has the row.
var forgeKinds = []*forgeKind{giteaKind, forgejoKind, githubKind, gitlabKind, darkeKind, genericKind}

// lookup returns the forge of kind, or nil.
func lookup(kind string) *forgeKind {
	for _, f := range forgeKinds {
		if f.kind == kind {
			return f
		}
	}
	return nil
}

// Kinds lists every kind of integration, in the order the API documents them.
func Kinds() []string {
	out := make([]string, len(forgeKinds))
	for i, f := range forgeKinds {
		out[i] = f.kind
	}
	return out
}

// Known reports whether kind is a kind of integration.
func Known(kind string) bool { return lookup(kind) != nil }

// ReportsStatus reports whether integrations of kind send commit statuses.
func ReportsStatus(kind string) bool {
	f := lookup(kind)
	return f != nil && f.status != nil
}

// Events lists the events deliveries of kind can start.
func Events(kind string) []string {
	if f := lookup(kind); f != nil {
		return slices.Clone(f.events)
	}
	return nil
}

// Name is kind's name for people ("GitHub"), or kind itself if it is unknown.
func Name(kind string) string {
	if f := lookup(kind); f != nil {
		return f.name
	}
	return kind
}

// Forms of a repository name: owner/name (GitLab nests groups deeper), and a numeric id.
var (
	ownerRepo = regexp.MustCompile(`^[^\s/]+(/[^\s/]+)+$`)
	numericID = regexp.MustCompile(`^[0-9]+$`)
)

// ValidRepository reports whether repository names a repository of kind.
func ValidRepository(kind, repository string) bool {
	if strings.Contains(repository, "..") {
		return false
	}
	if f := lookup(kind); f != nil && f.projectIDs && numericID.MatchString(repository) {
		return true
	}
	return ownerRepo.MatchString(repository)
}

// RepositoryForm says how a repository of kind is named, for messages.
func RepositoryForm(kind string) string {
	if f := lookup(kind); f != nil && f.projectIDs {
		return "owner/name or a numeric project id"
	}
	return "owner/name"
}

// pushEvents are the events of a forge that sends pushes only (tags are pushes too).
var pushEvents = []string{EventPush, EventTag}

// allEvents are the events of a forge that also sends pull or merge requests.
var allEvents = []string{EventPush, EventTag, EventRequest}

// apiBelow is the apiBase of a forge that serves its API at suffix below its
// web address.
func apiBelow(suffix string) func(u *url.URL, path string) string {
	return func(u *url.URL, path string) string {
		if !strings.HasSuffix(path, suffix) {
			path += suffix
		}
		return u.Scheme + "://" + u.Host + path
	}
}

// ownerNameURL is the repositoryURL of a forge that names repositories
// /repos/{owner}/{name}, as Gitea, Forgejo and GitHub do.
func ownerNameURL(base, repository string) (string, error) {
	owner, name, ok := strings.Cut(repository, "/")
	if !ok || strings.Contains(name, "/") {
		return "", &ForgeError{Field: "repository", Message: fmt.Sprintf("repository %q is not owner/name", repository)}
	}
	return base + "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(name), nil
}

// ownerNameStatus is the status request of Gitea, Forgejo and GitHub, which
// share GitHub's statuses API.
func ownerNameStatus(base, repository string, s *Status) (string, map[string]string, error) {
	repo, err := ownerNameURL(base, repository)
	if err != nil {
		return "", nil, err
	}
	return repo + "/statuses/" + s.SHA,
		map[string]string{"state": s.State, "context": s.Context, "description": s.Description, "target_url": s.TargetURL}, nil
}
