package integrations

// Fuzz tests of the webhook parsers and signature checks: `go test` runs their
// seeds (the captured deliveries under testdata/webhooks and the cases kept
// under testdata/fuzz); scripts/fuzz searches for more.

import (
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

const fuzzSecret = "s3cret-value"

// addWebhookSeeds adds every captured delivery under testdata/webhooks once per
// kind, with the event its file name says.
func addWebhookSeeds(f *testing.F, add func(kind int, event string, body []byte)) {
	files, err := filepath.Glob(filepath.Join("testdata", "webhooks", "*", "*"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range files {
		base := filepath.Base(name)
		if !strings.HasSuffix(base, ".json") && !strings.HasSuffix(base, ".body") || strings.Contains(base, "headers") {
			continue
		}
		body, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		event, _, _ := strings.Cut(strings.TrimSuffix(strings.TrimSuffix(base, ".json"), ".body"), ".")
		event, _, _ = strings.Cut(event, "-")
		switch {
		case strings.Contains(name, "gitlab") && event == "merge_request":
			event = "Merge Request Hook"
		case strings.Contains(name, "gitlab") && event == "tag_push":
			event = "Tag Push Hook"
		case strings.Contains(name, "gitlab"):
			event = "Push Hook"
		case event == "pull_request_sync":
			event = "pull_request"
		}
		for kind := range forgeKinds {
			add(kind, event, body)
		}
	}
}

// signedDelivery is body as forge sends it, signed with fuzzSecret every way
// the forges sign, so the parser behind the signature check is reached.
func signedDelivery(event string, form bool, body []byte) (http.Header, []byte) {
	h := http.Header{}
	for _, name := range []string{"X-Gitea-Event", "X-Forgejo-Event", "X-GitHub-Event", "X-Gitlab-Event"} {
		h.Set(name, event)
	}
	h.Set("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
	h.Set("Content-Type", "application/json")
	if form {
		h.Set("Content-Type", "application/x-www-form-urlencoded")
		body = []byte(url.Values{"payload": {string(body)}}.Encode())
	}
	sig := sign(fuzzSecret, body)
	h.Set("X-Gitea-Signature", sig)
	h.Set("X-Forgejo-Signature", sig)
	h.Set("X-Hub-Signature-256", "sha256="+sig)
	h.Set("X-Gitlab-Token", fuzzSecret)
	return h, body
}

// FuzzParse parses signed deliveries of every kind: a parse never panics, fails
// only as a Skip or a MalformedError, and an event it returns is one the kind
// can start, names a valid commit and carries meta within the API's limits
// (openapi.yaml EntityMeta), so it never makes a submission or a page fail.
func FuzzParse(f *testing.F) {
	addWebhookSeeds(f, func(kind int, event string, body []byte) { f.Add(uint8(kind), event, false, body) })
	f.Add(uint8(0), "push", true, []byte(`{"ref":"refs/heads/main","before":"0000000000000000000000000000000000000000","after":"1111111111111111111111111111111111111111"}`))
	f.Add(uint8(1), "pull_request", false, []byte(`{"action":"opened","number":-3,"pull_request":{"head":{"sha":"1111111111111111111111111111111111111111"}}}`))
	f.Add(uint8(2), "push", false, []byte(`{"ref":"refs/heads/x","after":"1111111111111111111111111111111111111111","repository":{"html_url":"https://e.example/`+
		strings.Repeat("a", 1980)+`"}}`))
	f.Add(uint8(3), "Push Hook", false, []byte(`{"ref":"refs/tags/v1","checkout_sha":"`+strings.Repeat("ab", 32)+`","commits":[{"id":"x","message":"`+strings.Repeat("é", 600)+`"}]}`))
	f.Add(uint8(4), "", false, []byte(`{"owner":"o","repo":"r","refName":"main","commit":"1111111111111111111111111111111111111111"}`))
	f.Add(uint8(5), "", false, []byte(`{"repository":"o/r","ref":"refs/heads/main","sha":"1111111111111111111111111111111111111111"}`))
	f.Fuzz(func(t *testing.T, kindIndex uint8, event string, form bool, body []byte) {
		p := forgeKinds[int(kindIndex)%len(forgeKinds)]
		if strings.ContainsAny(event, "\r\n") {
			return // net/http sends no such header
		}
		h, sent := signedDelivery(event, form, body)
		e, err := Parse(p.kind, []byte(fuzzSecret), h, sent)
		if err != nil {
			var skip *Skip
			var bad *MalformedError
			if !errors.As(err, &skip) && !errors.As(err, &bad) {
				t.Fatalf("%s: error %T %v is neither a Skip nor a MalformedError", p.kind, err, err)
			}
			if e != nil {
				t.Fatalf("%s: an event and an error", p.kind)
			}
			return
		}
		if e == nil {
			t.Fatalf("%s: no event and no error", p.kind)
		}
		if !slices.Contains(p.events, e.Name) {
			t.Fatalf("%s: event %q is not one the kind starts", p.kind, e.Name)
		}
		if !validSHA(e.SHA) || e.Ref == "" {
			t.Fatalf("%s: event names commit %q at ref %q", p.kind, e.SHA, e.Ref)
		}
		if (e.Name == EventTag) != (e.Tag != "") {
			t.Fatalf("%s: event %q with tag %q", p.kind, e.Name, e.Tag)
		}
		checkMeta(t, e)
	})
}

// checkMeta requires e's title and meta to keep openapi.yaml's EntityMeta limits.
func checkMeta(t *testing.T, e *Event) {
	t.Helper()
	m := e.Meta
	for _, s := range []struct {
		name  string
		value string
		max   int
	}{
		{"title", e.Title, 1000}, {"message", m.Message, 1000}, {"authorName", m.AuthorName, 200},
		{"authorLogin", m.AuthorLogin, 200}, {"branch", m.Branch, 260}, {"requestTitle", m.RequestTitle, 1000},
		{"commitUrl", m.CommitURL, 2000}, {"requestUrl", m.RequestURL, 2000},
	} {
		if utf8.RuneCountInString(s.value) > s.max {
			t.Fatalf("meta %s is %d characters, more than %d", s.name, utf8.RuneCountInString(s.value), s.max)
		}
	}
	for _, u := range []string{m.CommitURL, m.RequestURL} {
		if u != "" && !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
			t.Fatalf("meta link %q is not http(s)", u)
		}
	}
	if m.RequestNumber < 0 || e.Request < 0 {
		t.Fatalf("request number %d", e.Request)
	}
}

// FuzzVerify sends deliveries whose signature headers are anything: none is
// accepted unless a header holds the right signature of the body (or the
// secret itself where a forge sends that), and a refusal is ErrSignature.
func FuzzVerify(f *testing.F) {
	body := []byte(`{"ref":"refs/heads/main"}`)
	good := sign(fuzzSecret, body)
	for kind := range forgeKinds {
		f.Add(uint8(kind), "X-Hub-Signature-256", "sha256="+good, "application/json", body)
		f.Add(uint8(kind), "X-Gitea-Signature", good, "application/json", body)
		f.Add(uint8(kind), "X-Gitlab-Token", fuzzSecret, "application/json", body)
		f.Add(uint8(kind), "Authorization", "Bearer "+fuzzSecret, "application/json", body)
		f.Add(uint8(kind), "X-Hub-Signature-256", "sha256="+good[:40], "application/x-www-form-urlencoded", []byte("payload="+url.QueryEscape(string(body))))
		f.Add(uint8(kind), "X-Forgejo-Signature", " "+strings.ToUpper(good)+" ", "application/x-www-form-urlencoded; charset=utf-8", []byte("payload=%zz"))
	}
	f.Fuzz(func(t *testing.T, kindIndex uint8, header, value, contentType string, body []byte) {
		p := forgeKinds[int(kindIndex)%len(forgeKinds)]
		h := http.Header{}
		h.Set("Content-Type", contentType)
		h.Set(header, value)
		_, err := Parse(p.kind, []byte(fuzzSecret), h, body)
		if err != nil && !errors.Is(err, ErrSignature) {
			var skip *Skip
			var bad *MalformedError
			if !errors.As(err, &skip) && !errors.As(err, &bad) {
				t.Fatalf("%s: error %T %v", p.kind, err, err)
			}
		}
		if errors.Is(err, ErrSignature) {
			return
		}
		// Accepted: the header must carry the secret or a signature made with it.
		payload, _ := formPayload(h, body)
		v := strings.ToLower(value)
		ok := strings.Contains(value, fuzzSecret) || strings.Contains(v, sign(fuzzSecret, body)) ||
			payload != nil && strings.Contains(v, sign(fuzzSecret, payload))
		if !ok {
			t.Fatalf("%s: %s: %q accepted for body %q", p.kind, header, value, body)
		}
		// And no secret, or another secret, refuses it.
		if _, err := Parse(p.kind, nil, h, body); !errors.Is(err, ErrSignature) {
			t.Fatalf("%s: accepted with no secret: %v", p.kind, err)
		}
		if _, err := Parse(p.kind, []byte("other-secret"), h, body); !errors.Is(err, ErrSignature) {
			t.Fatalf("%s: accepted with another secret: %v", p.kind, err)
		}
	})
}

// FuzzClaimedRepository reads the repository an unsigned body names: never a
// panic, and only a name the body holds.
func FuzzClaimedRepository(f *testing.F) {
	addWebhookSeeds(f, func(kind int, _ string, body []byte) {
		if kind == 0 {
			f.Add(body)
		}
	})
	f.Add([]byte(`{"owner":"o","repo":"r"}`))
	f.Add([]byte(`{"repository":{"full_name":"a/b"},"owner":1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		name := claimedRepository(body)
		if len(name) > len(body) {
			t.Fatalf("claimed %q, longer than the body", name)
		}
	})
}
