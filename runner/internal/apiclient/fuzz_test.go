package apiclient_test

import (
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aura-ci/aura/runner/internal/apiclient"
)

// FuzzStatusError reads any answer a server or a proxy before it gives: the
// error it makes is short, valid text when the answer was, and says whether
// retrying may help.
func FuzzStatusError(f *testing.F) {
	f.Add(401, []byte(`{"code":401,"message":"unknown token"}`))
	f.Add(400, []byte(`{"code":400,"message":"field name is required","field":"name"}`))
	f.Add(502, []byte("<html><body>"+strings.Repeat("Bad Gateway — nginx ", 20)+"</body></html>"))
	f.Add(416, []byte(`{"code":416,"message":""}`))
	f.Add(503, []byte("x"+strings.Repeat("é", 150)))
	f.Add(0, []byte(nil))
	f.Add(-1, []byte("\xff\xfe"))
	f.Fuzz(func(t *testing.T, code int, body []byte) {
		e := apiclient.NewStatusError(code, body)
		if e.Code != code {
			t.Fatalf("code %d for %d", e.Code, code)
		}
		msg := e.Error()
		if utf8.Valid(body) && !utf8.ValidString(msg) {
			t.Fatalf("%q made a message that is not text: %q", body, msg)
		}
		if !strings.HasPrefix(strings.TrimSpace(string(body)), "{") && len(e.Message) > 200+len("…") {
			t.Fatalf("message of %d bytes from a non-JSON body", len(e.Message))
		}
		temporary := apiclient.Temporary(e)
		if temporary != (code >= 500 || code == http.StatusRequestTimeout || code == http.StatusTooManyRequests) {
			t.Fatalf("code %d: temporary %v", code, temporary)
		}
		if !apiclient.HasStatus(e, code) {
			t.Fatal("HasStatus")
		}
	})
}
