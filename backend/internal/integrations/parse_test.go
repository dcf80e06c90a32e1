package integrations

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "webhooks", name))
	require.NoError(t, err)
	return b
}

func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// TestGitHubSignatureVector checks GitHub's documented test vector, and the bare
// hex form Gitea and Forgejo send for the same bytes.
func TestGitHubSignatureVector(t *testing.T) {
	t.Parallel()
	var v struct {
		Secret    string `json:"secret"`
		Signature string `json:"signature"`
		Header    string `json:"X-Hub-Signature-256"`
	}
	require.NoError(t, json.Unmarshal(fixture(t, "github/signature-test-vector.json"), &v))
	body := fixture(t, "github/signature-test-vector.body")
	require.Equal(t, "Hello, World!", string(body))

	h := http.Header{}
	h.Set("X-Hub-Signature-256", v.Header)
	require.NoError(t, githubKind.verify([]byte(v.Secret), h, body))
	require.ErrorIs(t, githubKind.verify([]byte("It's a Secret to Everybody."), h, body), ErrSignature)
	require.ErrorIs(t, githubKind.verify([]byte(v.Secret), h, append(body, '\n')), ErrSignature)

	g := http.Header{}
	g.Set("X-Gitea-Signature", v.Signature)
	require.NoError(t, giteaKind.verify([]byte(v.Secret), g, body))
	f := http.Header{}
	f.Set("X-Forgejo-Signature", v.Signature)
	require.NoError(t, forgejoKind.verify([]byte(v.Secret), f, body))
}

func TestVerifyRefuses(t *testing.T) {
	t.Parallel()
	body := []byte(`{"ref":"refs/heads/main"}`)
	good := sign("s3cret-value", body)
	for name, h := range map[string]http.Header{
		"missing":       {},
		"empty prefix":  {"X-Hub-Signature-256": {"sha256="}},
		"no prefix":     {"X-Hub-Signature-256": {good}},
		"not hex":       {"X-Hub-Signature-256": {"sha256=zz" + good[2:]}},
		"other body":    {"X-Hub-Signature-256": {"sha256=" + sign("s3cret-value", []byte("{}"))}},
		"wrong secret":  {"X-Hub-Signature-256": {"sha256=" + sign("other", body)}},
		"truncated":     {"X-Hub-Signature-256": {"sha256=" + good[:40]}},
		"sha1 only":     {"X-Hub-Signature": {"sha1=" + good[:40]}},
		"gitlab header": {"X-Gitlab-Token": {"s3cret-value"}},
	} {
		_, err := Parse(KindGitHub, []byte("s3cret-value"), h, body)
		require.ErrorIs(t, err, ErrSignature, name)
	}
	// No secret refuses everything, even an "empty" signature.
	_, err := Parse(KindGitHub, nil, http.Header{"X-Hub-Signature-256": {"sha256=" + sign("", body)}}, body)
	require.ErrorIs(t, err, ErrSignature)
	// GitLab compares the token itself.
	_, err = Parse(KindGitLab, []byte("tok-123456"), http.Header{"X-Gitlab-Token": {"tok-12345"}}, body)
	require.ErrorIs(t, err, ErrSignature)
}

func TestPushEvent(t *testing.T) {
	t.Parallel()
	zero40, zero64 := "0000000000000000000000000000000000000000", "0000000000000000000000000000000000000000000000000000000000000000"
	sha64 := "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	e, err := pushEvent("refs/heads/feature/x", zero64, sha64, "")
	require.NoError(t, err)
	require.Equal(t, &Event{Name: EventPush, Ref: "refs/heads/feature/x", Branch: "feature/x", SHA: sha64}, e)
	e, err = pushEvent("refs/tags/v1", zero40, "6113728f27ae82c7b1a177c8d03f9e96e0adf246", "")
	require.NoError(t, err)
	require.Equal(t, EventTag, e.Name)
	require.Equal(t, "v1", e.Tag)

	var skip *Skip
	_, err = pushEvent("refs/heads/main", zero64, zero64, "")
	require.ErrorAs(t, err, &skip)
	require.Contains(t, skip.Message, "test delivery")
	_, err = pushEvent("refs/heads/main", sha64, zero64, "")
	require.ErrorAs(t, err, &skip)
	require.Contains(t, skip.Message, "deleted")
	var bad *MalformedError
	_, err = pushEvent("refs/heads/main", "", "abc", "")
	require.ErrorAs(t, err, &bad)
	_, err = pushEvent("refs/heads/main", "", "6113728F27AE82C7B1A177C8D03F9E96E0ADF246", "")
	require.ErrorAs(t, err, &bad, "ids are lowercase hex")
}

func TestSlugValue(t *testing.T) {
	t.Parallel()
	require.Equal(t, "feature:login", slugValue("feature/login"))
	require.Equal(t, "fix_1_2", slugValue("fix#1@2"))
	require.Equal(t, "main", slugValue("main"))
}

func TestCheckAddr(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"169.254.169.254", "fe80::1", "0.0.0.0", "::", "100.100.100.200", "224.0.0.1", "::ffff:169.254.169.254"} {
		require.ErrorIs(t, checkAddr(netip.MustParseAddr(s), true), ErrAddress, s)
	}
	for _, s := range []string{"127.0.0.1", "10.1.2.3", "192.168.1.1", "::1", "fd12::1", "100.64.0.1"} {
		require.ErrorIs(t, checkAddr(netip.MustParseAddr(s), false), ErrAddress, s)
		require.NoError(t, checkAddr(netip.MustParseAddr(s), true), s)
	}
	require.NoError(t, checkAddr(netip.MustParseAddr("140.82.112.3"), false))
}

// TestFormEncodedDeliveries: a hook set to "form" sends payload=<json>. GitHub
// signs the form as sent, Gitea the JSON inside it; both parse like the JSON.
func TestFormEncodedDeliveries(t *testing.T) {
	t.Parallel()
	const secret = "s3cret-value"
	form := func(json []byte) []byte { return []byte(url.Values{"payload": {string(json)}}.Encode()) }
	formType := "application/x-www-form-urlencoded"

	gh := fixture(t, "github/push.json")
	want, err := Parse(KindGitHub, []byte(secret), http.Header{"X-Github-Event": {"push"},
		"X-Hub-Signature-256": {"sha256=" + sign(secret, gh)}, "Content-Type": {"application/json"}}, gh)
	require.NoError(t, err)
	body := form(gh)
	got, err := Parse(KindGitHub, []byte(secret), http.Header{"X-Github-Event": {"push"},
		"X-Hub-Signature-256": {"sha256=" + sign(secret, body)}, "Content-Type": {formType}}, body)
	require.NoError(t, err)
	require.Equal(t, want, got)

	gt := fixture(t, "gitea/push.json")
	want, err = Parse(KindGitea, []byte(secret), http.Header{"X-Gitea-Event": {"push"}, "X-Gitea-Signature": {sign(secret, gt)}}, gt)
	require.NoError(t, err)
	got, err = Parse(KindGitea, []byte(secret), http.Header{"X-Gitea-Event": {"push"},
		"X-Gitea-Signature": {sign(secret, gt)}, "Content-Type": {formType + "; charset=utf-8"}}, form(gt))
	require.NoError(t, err)
	require.Equal(t, want, got)

	// A wrong signature is refused before the form matters; a signed form without
	// a payload is malformed.
	_, err = Parse(KindGitea, []byte(secret), http.Header{"X-Gitea-Event": {"push"},
		"X-Gitea-Signature": {sign("other", gt)}, "Content-Type": {formType}}, form(gt))
	require.ErrorIs(t, err, ErrSignature)
	empty := []byte("other=1")
	_, err = Parse(KindGitea, []byte(secret), http.Header{"X-Gitea-Event": {"push"},
		"X-Gitea-Signature": {sign(secret, empty)}, "Content-Type": {formType}}, empty)
	var bad *MalformedError
	require.ErrorAs(t, err, &bad)
	require.Contains(t, bad.Message, "payload")
}
