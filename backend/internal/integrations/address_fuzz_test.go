package integrations

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzAPIBase reads an integration's apiUrl as a project admin types it: an
// http(s) base on the same host, without credentials, query or fragment, that
// reads back to itself (an address that is the API base already is kept), and
// a status request built on it stays on that host.
func FuzzAPIBase(f *testing.F) {
	for _, s := range []string{"https://gitea.example", "https://gitlab.example/sub/", "https://github.com", "https://ghe.example/api/v3",
		"http://[::1]:3000/api/v1", "https://user:pw@x.example", "ftp://x", "https://x.example/a%2Fb?q#f", " https://x.example/ ", "https:x", "//x.example"} {
		for _, k := range forgeKinds {
			f.Add(k.kind, s, "o/r")
		}
	}
	f.Fuzz(func(t *testing.T, kind, raw, repository string) {
		base, err := APIBase(kind, raw)
		if err != nil {
			return
		}
		u, err := url.Parse(base)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			t.Fatalf("%s %q: base %q", kind, raw, base)
		}
		in, err := url.Parse(strings.TrimSpace(raw))
		if err != nil || in.Host != u.Host && !(kind == KindGitHub && u.Host == "api.github.com") {
			t.Fatalf("%s %q: base %q is on another host", kind, raw, base)
		}
		again, err := APIBase(kind, base)
		if err != nil || again != base {
			t.Fatalf("%s %q: base %q reads back as %q, %v", kind, raw, base, again, err)
		}
		p := lookup(kind)
		if p == nil || p.status == nil {
			return
		}
		if endpoint, _, err := p.status.request(base, repository, &Status{SHA: "1111111111111111111111111111111111111111", State: "success"}); err == nil {
			e, err := url.Parse(endpoint)
			if err != nil || e.Host != u.Host || e.Scheme != u.Scheme {
				t.Fatalf("%s %q repository %q: status goes to %q", kind, raw, repository, endpoint)
			}
		}
	})
}

// FuzzNotifyTarget checks a notification rule's URL and e-mail addresses.
func FuzzNotifyTarget(f *testing.F) {
	for _, s := range []string{"https://hooks.example/x", "http://user@h", "mailto:a@b", "a@b.example", "A <a@b.example>", "a@b@c", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if CheckNotifyURL(s) == nil {
			u, err := url.Parse(s)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
				t.Fatalf("notification URL %q passed", s)
			}
		}
		if CheckAddress(s) == nil {
			for _, c := range s {
				if c == '\r' || c == '\n' || c == '<' || c == '>' || c == ',' {
					t.Fatalf("address %q passed: it could add a header or a recipient", s)
				}
			}
		}
	})
}
