package integrations

import (
	"encoding/json"
	"strings"

	"github.com/aura-ci/aura/backend/internal/store"
)

// What a delivery says about its commit, for the entity's title and meta. The
// three forges that send it (GitHub, Gitea/Forgejo, GitLab) share the shape of
// a commit; each names the person and the request a little differently. A
// delivery without these fields (Darke, generic) builds as well, just with
// less to show.

type metaCommit struct {
	ID      string `json:"id"`
	Message string `json:"message"`
	URL     string `json:"url"`
	Author  struct {
		Name     string `json:"name"`
		Username string `json:"username"`
	} `json:"author"`
}

type metaUser struct {
	Login    string `json:"login"`     // GitHub, Gitea, Forgejo
	Username string `json:"username"`  // GitLab
	Name     string `json:"name"`      // GitLab, GitHub's pusher
	FullName string `json:"full_name"` // Gitea, Forgejo
}

type metaBody struct {
	HeadCommit *metaCommit  `json:"head_commit"`
	Commits    []metaCommit `json:"commits"`
	Pusher     metaUser     `json:"pusher"`
	Sender     metaUser     `json:"sender"`
	Repository struct {
		HTMLURL string `json:"html_url"`
	} `json:"repository"`
	PullRequest *struct {
		Title   string   `json:"title"`
		HTMLURL string   `json:"html_url"`
		User    metaUser `json:"user"`
	} `json:"pull_request"`
	// GitLab
	UserName     string   `json:"user_name"`
	UserUsername string   `json:"user_username"`
	User         metaUser `json:"user"`
	Project      struct {
		WebURL string `json:"web_url"`
	} `json:"project"`
	ObjectAttributes *struct {
		Title      string      `json:"title"`
		URL        string      `json:"url"`
		LastCommit *metaCommit `json:"last_commit"`
	} `json:"object_attributes"`
}

// limit cuts s to at most n bytes on a rune boundary, so a forge's long
// message never makes a submission fail.
func limit(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !isRuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// webURL keeps only http(s) addresses: a link the web app shows.
func webURL(s string) string {
	if (strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://")) && len(s) <= 2000 {
		return s
	}
	return ""
}

// readMeta fills e's title and meta from a verified delivery body.
func readMeta(e *Event, body []byte) {
	var b metaBody
	if json.Unmarshal(body, &b) != nil {
		return
	}
	b.fill(e)
}

// fill fills e's title and meta from b, a delivery's body. A forge's parser
// that decodes b with its own fields (in one pass over the body) calls it
// and sets e.metaRead.
func (b *metaBody) fill(e *Event) {
	e.metaRead = true
	m := store.EntityMeta{Branch: limit(e.Branch, 260), RequestNumber: e.Request}
	var c *metaCommit
	switch {
	case b.HeadCommit != nil && b.HeadCommit.ID != "":
		c = b.HeadCommit
	case b.ObjectAttributes != nil && b.ObjectAttributes.LastCommit != nil:
		c = b.ObjectAttributes.LastCommit
	default:
		for i := range b.Commits {
			if b.Commits[i].ID == e.SHA {
				c = &b.Commits[i]
			}
		}
	}
	if c != nil {
		m.Message = limit(strings.TrimSpace(c.Message), 1000)
		m.AuthorName = c.Author.Name
		m.AuthorLogin = c.Author.Username
		if c.ID == "" || c.ID == e.SHA {
			m.CommitURL = webURL(c.URL)
		}
	}
	base := b.Repository.HTMLURL
	if base == "" {
		base = b.Project.WebURL
	}
	if m.CommitURL == "" && webURL(base) != "" {
		sep := "/commit/"
		if b.Project.WebURL != "" && b.Repository.HTMLURL == "" {
			sep = "/-/commit/"
		}
		// webURL again: the commit's id may take a long base past the limit.
		m.CommitURL = webURL(strings.TrimRight(base, "/") + sep + e.SHA)
	}
	switch {
	case b.PullRequest != nil:
		m.RequestTitle = limit(b.PullRequest.Title, 1000)
		m.RequestURL = webURL(b.PullRequest.HTMLURL)
		if m.AuthorLogin == "" && m.AuthorName == "" {
			m.AuthorLogin = b.PullRequest.User.Login
			m.AuthorName = b.PullRequest.User.FullName
		}
	case b.ObjectAttributes != nil && e.Name == EventRequest:
		m.RequestTitle = limit(b.ObjectAttributes.Title, 1000)
		m.RequestURL = webURL(b.ObjectAttributes.URL)
	}
	// GitLab names the person who pushed (or opened the request), not the
	// commit's author by login: take the login where the names agree.
	pusher := metaUser{Username: b.UserUsername, Name: b.UserName}
	if b.User.Username != "" {
		pusher = b.User
	}
	if m.AuthorLogin == "" && pusher.Username != "" && (m.AuthorName == "" || m.AuthorName == pusher.Name) {
		m.AuthorLogin, m.AuthorName = pusher.Username, pusher.Name
	}
	if m.AuthorLogin == "" && m.AuthorName == "" {
		for _, u := range []metaUser{b.Pusher, b.Sender} {
			if u.Login != "" {
				m.AuthorLogin, m.AuthorName = u.Login, u.FullName
				break
			}
		}
	}
	m.AuthorName, m.AuthorLogin = limit(m.AuthorName, 200), limit(m.AuthorLogin, 200)
	e.Meta = m
	e.Title = limit(store.FirstLine(m.Message), 1000)
	if e.Title == "" {
		e.Title = m.RequestTitle
	}
}
