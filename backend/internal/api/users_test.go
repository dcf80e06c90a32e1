package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/api"
	"github.com/aura-ci/aura/backend/internal/auth"
	"github.com/aura-ci/aura/backend/internal/events"
)

const testPassword = "correct horse battery"

type userResp struct {
	ID          int64
	Name        string
	DisplayName string
	Admin       bool
	Disabled    bool
	Invitation  *struct {
		URL       string
		ExpiresAt time.Time
	}
}

// user creates a user with the admin token (with testPassword unless password
// is "-": then without one).
func (b *testBundle) user(name string, admin bool, password string) userResp {
	b.t.Helper()
	body := map[string]any{"name": name, "displayName": strings.ToUpper(name), "email": name + "@example.com", "admin": admin}
	if password != "-" {
		body["password"] = password
	}
	var u userResp
	b.json(call{method: "POST", path: "/api/v1/users", token: b.admin, body: body}, 201, &u)
	return u
}

// signIn signs name in with password and returns the session cookie.
func (b *testBundle) signIn(name, password string) *http.Cookie {
	b.t.Helper()
	resp, body := b.send(call{method: "POST", path: "/api/v1/session", body: map[string]any{"user": name, "password": password}})
	require.Equal(b.t, 200, resp.StatusCode, "%s", body)
	return sessionCookie(b.t, resp)
}

func sessionCookie(t testing.TB, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == "aura_session" {
			return c
		}
	}
	t.Fatalf("no aura_session cookie in %v", resp.Header.Values("Set-Cookie"))
	return nil
}

// member gives user role in project, as the admin.
func (b *testBundle) member(project, user, role string) {
	b.t.Helper()
	b.json(call{method: "PUT", path: "/api/v1/projects/" + project + "/members/" + user, token: b.admin, body: map[string]any{"role": role}}, 200, nil)
}

// personalToken makes a personal token of the user signed in by cookie.
func (b *testBundle) personalToken(cookie, name string) (int64, string) {
	b.t.Helper()
	var tok struct {
		ID    int64
		Token string
	}
	b.json(call{method: "POST", path: "/api/v1/me/tokens", cookie: cookie, body: map[string]any{"name": name}}, 201, &tok)
	require.True(b.t, strings.HasPrefix(tok.Token, auth.PrefixUser))
	return tok.ID, tok.Token
}

type userMeResp struct {
	Kind string
	Name string
	User *struct {
		Name  string
		Admin bool
	}
	Permissions struct {
		Admin       bool
		ManageUsers bool
		Projects    map[string]map[string]bool
	}
}

// TestSignInAndOut: a password signs in with a cookie the browser keeps to
// itself; the cookie is the user, until signed out.
func TestSignInAndOut(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.user("alice", false, testPassword)
	resp, body := b.send(call{method: "POST", path: "/api/v1/session", body: map[string]any{"user": "alice", "password": testPassword}})
	require.Equal(t, 200, resp.StatusCode, "%s", body)
	require.Contains(t, string(body), `"name":"alice"`)
	c := sessionCookie(t, resp)
	require.True(t, strings.HasPrefix(c.Value, auth.PrefixSession))
	require.True(t, c.HttpOnly)
	require.Equal(t, http.SameSiteLaxMode, c.SameSite)
	require.Equal(t, "/", c.Path)
	require.False(t, c.Secure, "plain HTTP, no https public URL")
	require.WithinDuration(t, time.Now().Add(auth.DefaultSessionMax), c.Expires, time.Minute)
	var stored int
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT count(*) FROM sessions WHERE hash = $1`, auth.Hash(c.Value)).Scan(&stored))
	require.Equal(t, 1, stored, "only the hash is stored")

	b.signIn("Alice ", testPassword) // the name is lower-case, whatever is typed
	var me userMeResp
	b.json(call{method: "GET", path: "/api/v1/me", cookie: c.Value}, 200, &me)
	require.Equal(t, "user", me.Kind)
	require.Equal(t, "alice", me.Name)
	require.Equal(t, "alice", me.User.Name)
	require.False(t, me.Permissions.Admin)
	require.False(t, me.Permissions.ManageUsers)

	resp, _ = b.send(call{method: "DELETE", path: "/api/v1/session", cookie: c.Value})
	require.Equal(t, 204, resp.StatusCode)
	cleared := sessionCookie(t, resp)
	require.Empty(t, cleared.Value)
	require.Negative(t, cleared.MaxAge)

	resp, body = b.send(call{method: "GET", path: "/api/v1/me", cookie: c.Value})
	require.Equal(t, 401, resp.StatusCode, "%s", body)
	require.Contains(t, string(body), "sign in again")
	require.Empty(t, sessionCookie(t, resp).Value, "a dead cookie is cleared")
	// Signing in again with the dead cookie still in the browser works.
	resp, body = b.send(call{method: "POST", path: "/api/v1/session", cookie: c.Value, body: map[string]any{"user": "alice", "password": testPassword}})
	require.Equal(t, 200, resp.StatusCode, "%s", body)
}

// TestSessionUserAgent: the session list shows the browser, whatever bytes it sent.
func TestSessionUserAgent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.user("alice", false, testPassword)
	for _, ua := range []string{"Mozilla/5.0 \xff\xfe", strings.Repeat("é", 400)} {
		resp, body := b.send(call{method: "POST", path: "/api/v1/session", header: http.Header{"User-Agent": {ua}},
			body: map[string]any{"user": "alice", "password": testPassword}})
		require.Equal(t, 200, resp.StatusCode, "%s", body)
	}
	var sessions []struct{ UserAgent string }
	b.json(call{method: "GET", path: "/api/v1/me/sessions", cookie: b.signIn("alice", testPassword).Value}, 200, &sessions)
	require.Len(t, sessions, 3)
	require.LessOrEqual(t, len(sessions[1].UserAgent), 512)
	require.Equal(t, "Mozilla/5.0 \uFFFD", sessions[2].UserAgent)
}

// TestSessionCookieSecure: behind an https public URL the cookie is Secure.
func TestSessionCookieSecure(t *testing.T) {
	t.Parallel()
	b := setupWith(t, bundleOptions{secureCookies: true})
	b.user("alice", false, testPassword)
	require.True(t, b.signIn("alice", testPassword).Secure)
}

// TestSignInSameAnswer: a wrong password, an unknown user and a user without a
// password get the same answer; a disabled user with the right one is refused.
func TestSignInSameAnswer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.user("alice", false, testPassword)
	b.user("bob", false, "-")
	var msgs []string
	for _, in := range []map[string]any{
		{"user": "alice", "password": "wrong password"},
		{"user": "nobody", "password": testPassword},
		{"user": "bob", "password": testPassword},
	} {
		resp, body := b.send(call{method: "POST", path: "/api/v1/session", body: in})
		require.Equal(t, 401, resp.StatusCode, "%s", body)
		require.Empty(t, resp.Cookies())
		msgs = append(msgs, string(body))
	}
	require.Equal(t, msgs[0], msgs[1])
	require.Equal(t, msgs[0], msgs[2])
	require.Contains(t, msgs[0], "wrong user name or password")
	require.Zero(t, b.count("sessions"))

	b.fail(call{method: "POST", path: "/api/v1/session", body: map[string]any{"user": "alice"}, invalid: true}, 400)
	b.json(call{method: "PATCH", path: "/api/v1/users/alice", token: b.admin, body: map[string]any{"disabled": true}}, 200, nil)
	e := b.fail(call{method: "POST", path: "/api/v1/session", body: map[string]any{"user": "alice", "password": testPassword}}, 403)
	require.Contains(t, e.Message, "disabled")
	require.Zero(t, b.count("sessions"))
}

// TestSignInRateLimited: failed sign-ins are slowed per user name (even the
// right password then waits) and per address. The buckets refill slowly (one
// try per 30 s per name, per 5 s per address), so on a slow machine a few more
// tries may pass than the bursts (5 per name, 20 per address) allow.
func TestSignInRateLimited(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.user("alice", false, testPassword)
	b.user("carol", false, testPassword)
	signIn := func(name, password string) (*http.Response, []byte) {
		return b.send(call{method: "POST", path: "/api/v1/session", body: map[string]any{"user": name, "password": password}})
	}
	for range 5 {
		resp, body := signIn("alice", "wrong password")
		require.Equal(t, 401, resp.StatusCode, "%s", body)
	}
	resp, body := signIn("alice", testPassword)
	require.Equal(t, 429, resp.StatusCode, "%s", body)
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
	require.Contains(t, string(body), "too many failed sign-ins")
	b.signIn("carol", testPassword) // another name from the same address still may

	// Failures under ever new names use up the address's bucket.
	for i := 0; ; i++ {
		require.Less(t, i, 40, "the address is never slowed")
		resp, body := signIn(fmt.Sprintf("guess%d", i), "wrong password")
		if resp.StatusCode == 429 {
			break
		}
		require.Equal(t, 401, resp.StatusCode, "%s", body)
	}
	resp, _ = signIn("carol", testPassword)
	require.Equal(t, 429, resp.StatusCode, "the address is slowed, whatever the name")
}

// TestOwnPasswordGuessesSlowed: wrong current passwords, given to change one's
// own, are slowed like failed sign-ins: a stolen session cannot guess its
// way to the password.
func TestOwnPasswordGuessesSlowed(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.user("alice", false, testPassword)
	cookie := b.signIn("alice", testPassword).Value
	change := func(current string) (*http.Response, []byte) {
		return b.send(call{method: "PATCH", path: "/api/v1/users/alice", cookie: cookie,
			body: map[string]any{"password": "a new password", "currentPassword": current}})
	}
	for i := 0; ; i++ {
		require.Less(t, i, 10, "wrong current passwords are never slowed")
		resp, body := change(fmt.Sprintf("guess %d", i))
		if resp.StatusCode == 429 {
			require.NotEmpty(t, resp.Header.Get("Retry-After"))
			break
		}
		require.Equal(t, 403, resp.StatusCode, "%s", body)
		require.Contains(t, string(body), "currentPassword")
	}
	resp, body := change(testPassword)
	require.Equal(t, 429, resp.StatusCode, "even the right one waits: %s", body)
}

// TestSessionExpiry: a session ends when unused for the idle lifetime and at
// its absolute end, and its use is recorded at most once a minute.
func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	b.user("alice", false, testPassword)
	idle := b.signIn("alice", testPassword).Value
	absolute := b.signIn("alice", testPassword).Value
	seen := func(secret string) time.Time {
		var at time.Time
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT last_seen_at FROM sessions WHERE hash = $1`, auth.Hash(secret)).Scan(&at))
		return at
	}
	set := func(secret, sql string) {
		_, err := b.pool.Exec(ctx, `UPDATE sessions SET `+sql+` WHERE hash = $1`, auth.Hash(secret))
		require.NoError(t, err)
	}

	set(idle, `last_seen_at = now() - interval '30 seconds'`)
	before := seen(idle)
	b.json(call{method: "GET", path: "/api/v1/me", cookie: idle}, 200, nil)
	require.Equal(t, before, seen(idle), "seen less than a minute ago: not written again")
	set(idle, `last_seen_at = now() - interval '2 minutes'`)
	b.json(call{method: "GET", path: "/api/v1/me", cookie: idle}, 200, nil)
	require.WithinDuration(t, time.Now(), seen(idle), 30*time.Second)

	set(idle, `last_seen_at = now() - interval '7 days 1 minute'`)
	b.fail(call{method: "GET", path: "/api/v1/me", cookie: idle}, 401)
	set(absolute, `expires_at = now() - interval '1 second'`)
	b.fail(call{method: "GET", path: "/api/v1/projects", cookie: absolute}, 401)
}

// TestSessionsListedAndRevoked: a user sees their sessions and ends one.
func TestSessionsListedAndRevoked(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.user("alice", false, testPassword)
	b.user("bob", false, testPassword)
	laptop := b.signIn("alice", testPassword).Value
	phone := b.signIn("alice", testPassword).Value
	bob := b.signIn("bob", testPassword).Value
	var sessions []struct {
		ID      int64
		Current bool
		Address string
	}
	b.json(call{method: "GET", path: "/api/v1/me/sessions", cookie: laptop}, 200, &sessions)
	require.Len(t, sessions, 2)
	require.False(t, sessions[0].Current, "newest first: the phone")
	require.True(t, sessions[1].Current)
	require.Equal(t, "127.0.0.1", sessions[0].Address)
	b.fail(call{method: "DELETE", path: fmt.Sprintf("/api/v1/me/sessions/%d", sessions[0].ID), cookie: bob}, 404)
	b.json(call{method: "DELETE", path: fmt.Sprintf("/api/v1/me/sessions/%d", sessions[0].ID), cookie: laptop}, 204, nil)
	b.fail(call{method: "GET", path: "/api/v1/me", cookie: phone}, 401)
	b.json(call{method: "GET", path: "/api/v1/me", cookie: laptop}, 200, nil)
	b.json(call{method: "GET", path: "/api/v1/me", cookie: bob}, 200, nil)
}

// TestPersonalTokenActsWithUserRoles: a personal token does what its user may,
// with the roles the user holds when it is used, never more; deleted or
// expired, it is refused.
func TestPersonalTokenActsWithUserRoles(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.project("own", true)
	b.user("dev", false, testPassword)
	b.member("own", "dev", "developer")
	cookie := b.signIn("dev", testPassword).Value
	id, tok := b.personalToken(cookie, "laptop")
	b.fail(call{method: "POST", path: "/api/v1/me/tokens", cookie: cookie, body: map[string]any{"name": "laptop"}}, 409)
	b.fail(call{method: "POST", path: "/api/v1/me/tokens", cookie: cookie, body: map[string]any{"name": "old", "expiresAt": time.Now().Add(-time.Hour)}}, 400)

	var me userMeResp
	b.json(call{method: "GET", path: "/api/v1/me", token: tok}, 200, &me)
	require.Equal(t, "user", me.Kind)
	require.Equal(t, "dev", me.User.Name)
	require.Equal(t, map[string]bool{"read": true, "submit": true, "cancel": true, "retry": true, "approve": true, "manage": false},
		me.Permissions.Projects["own"])
	b.json(call{method: "POST", path: "/api/v1/jobs", token: tok, body: permJob}, 201, nil)
	b.fail(call{method: "PATCH", path: "/api/v1/projects/own", token: tok, body: map[string]any{"name": "Mine"}}, 403)
	b.fail(call{method: "GET", path: "/api/v1/users", token: tok}, 403)

	b.member("own", "dev", "viewer")
	b.fail(call{method: "POST", path: "/api/v1/jobs", token: tok, body: permJob}, 403)
	b.json(call{method: "GET", path: "/api/v1/projects/own/entities", token: tok}, 200, nil)
	b.json(call{method: "DELETE", path: "/api/v1/projects/own/members/dev", token: b.admin}, 204, nil)
	b.fail(call{method: "GET", path: "/api/v1/projects/own", token: tok}, 404)

	var list []struct {
		ID         int64
		Name       string
		LastUsedAt *time.Time
		Token      string
	}
	b.json(call{method: "GET", path: "/api/v1/me/tokens", token: tok}, 200, &list)
	require.Len(t, list, 1)
	require.Equal(t, "laptop", list[0].Name)
	require.NotNil(t, list[0].LastUsedAt)
	require.Empty(t, list[0].Token, "never shown again")

	_, expiring := b.personalToken(cookie, "ci")
	_, err := b.pool.Exec(context.Background(), `UPDATE user_tokens SET expires_at = now() - interval '1 second' WHERE name = 'ci'`)
	require.NoError(t, err)
	b.fail(call{method: "GET", path: "/api/v1/me", token: expiring}, 401)

	b.json(call{method: "DELETE", path: fmt.Sprintf("/api/v1/me/tokens/%d", id), cookie: cookie}, 204, nil)
	b.fail(call{method: "GET", path: "/api/v1/me", token: tok}, 401)
	b.fail(call{method: "DELETE", path: fmt.Sprintf("/api/v1/me/tokens/%d", id), cookie: cookie}, 404)
	// The session's secret is no bearer token.
	b.fail(call{method: "GET", path: "/api/v1/me", token: cookie}, 401)
}

// TestDisabledUserRefusedAtOnce: disabling a user stops their cookie and
// tokens on their next request; enabling them again brings them back.
func TestDisabledUserRefusedAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.user("root", true, testPassword)
	b.user("alice", false, testPassword)
	cookie := b.signIn("alice", testPassword).Value
	_, tok := b.personalToken(cookie, "cli")
	root := b.signIn("root", testPassword).Value
	var u userResp
	b.json(call{method: "PATCH", path: "/api/v1/users/alice", cookie: root, body: map[string]any{"disabled": true}}, 200, &u)
	require.True(t, u.Disabled)
	for _, c := range []call{{cookie: cookie}, {token: tok}} {
		c.method, c.path = "GET", "/api/v1/me"
		e := b.fail(c, 401)
		require.Contains(t, e.Message, "disabled")
	}
	b.json(call{method: "PATCH", path: "/api/v1/users/alice", cookie: root, body: map[string]any{"disabled": false}}, 200, nil)
	b.json(call{method: "GET", path: "/api/v1/me", token: tok}, 200, nil)
}

// TestUsersManaged: the admin token makes the first admin user, who manages
// the others; a user changes their own account and nothing more.
func TestUsersManaged(t *testing.T) {
	t.Parallel()
	b := setup(t)
	u := b.user("root", true, testPassword)
	require.True(t, u.Admin)
	require.Nil(t, u.Invitation)
	root := b.signIn("root", testPassword).Value
	var me userMeResp
	b.json(call{method: "GET", path: "/api/v1/me", cookie: root}, 200, &me)
	require.True(t, me.Permissions.Admin)
	require.True(t, me.Permissions.ManageUsers)
	b.json(call{method: "POST", path: "/api/v1/projects", cookie: root, body: map[string]any{"slug": "own", "name": "Own", "private": true}}, 201, nil)

	var alice userResp
	b.json(call{method: "POST", path: "/api/v1/users", cookie: root, body: map[string]any{"name": "alice", "password": testPassword}}, 201, &alice)
	for _, bad := range []map[string]any{
		{"name": "Alice", "password": testPassword},
		{"name": "bob", "password": "short"},
		{"name": "bob", "email": "not an address"},
		{"name": ""},
	} {
		b.fail(call{method: "POST", path: "/api/v1/users", cookie: root, body: bad, invalid: true}, 400)
	}
	require.Equal(t, "alice", b.fail(call{method: "POST", path: "/api/v1/users", cookie: root, body: map[string]any{"name": "alice"}}, 409).Message[5:10])
	require.Equal(t, 2, b.count("users"))

	cookie := b.signIn("alice", testPassword).Value
	other := b.signIn("alice", testPassword).Value
	b.fail(call{method: "GET", path: "/api/v1/users", cookie: cookie}, 403)
	b.fail(call{method: "PATCH", path: "/api/v1/users/root", cookie: cookie, body: map[string]any{"displayName": "x"}}, 403)
	b.fail(call{method: "PATCH", path: "/api/v1/users/nobody", cookie: cookie, body: map[string]any{"displayName": "x"}}, 403)
	b.fail(call{method: "PATCH", path: "/api/v1/users/alice", cookie: cookie, body: map[string]any{"admin": true}}, 403)
	// Her own password takes the current one, right.
	b.fail(call{method: "PATCH", path: "/api/v1/users/alice", cookie: cookie, body: map[string]any{"password": "a new password"}}, 400)
	b.fail(call{method: "PATCH", path: "/api/v1/users/alice", cookie: cookie, body: map[string]any{"password": "a new password", "currentPassword": "wrong guess"}}, 403)
	b.signIn("alice", testPassword) // neither changed it
	b.json(call{method: "PATCH", path: "/api/v1/users/alice", cookie: cookie, body: map[string]any{"displayName": "Alice A.", "password": "a new password", "currentPassword": testPassword}}, 200, &alice)
	require.Equal(t, "Alice A.", alice.DisplayName)
	b.json(call{method: "GET", path: "/api/v1/me", cookie: cookie}, 200, nil)
	b.fail(call{method: "GET", path: "/api/v1/me", cookie: other}, 401) // a new password ends the other sessions
	b.signIn("alice", "a new password")

	// An admin sets another user's password without hers.
	b.json(call{method: "PATCH", path: "/api/v1/users/alice", cookie: root, body: map[string]any{"password": "set by the admin"}}, 200, nil)
	b.signIn("alice", "set by the admin")
	b.fail(call{method: "PATCH", path: "/api/v1/users/nobody", cookie: root, body: map[string]any{"displayName": "x"}}, 404)
	b.fail(call{method: "PATCH", path: "/api/v1/users/root", cookie: root, body: map[string]any{"disabled": true}}, 409)
	b.fail(call{method: "DELETE", path: "/api/v1/users/root", cookie: root}, 409)
	b.json(call{method: "DELETE", path: "/api/v1/users/alice", cookie: root}, 204, nil)
	b.fail(call{method: "GET", path: "/api/v1/me", cookie: cookie}, 401)
	var users []userResp
	b.json(call{method: "GET", path: "/api/v1/users", token: b.admin}, 200, &users)
	require.Len(t, users, 1)
}

// TestInvitationSetsPasswordOnce: a user made without a password gets a link
// that sets it once and signs them in; a new link replaces the old.
func TestInvitationSetsPasswordOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	u := b.user("alice", false, "-")
	require.NotNil(t, u.Invitation)
	token, ok := strings.CutPrefix(u.Invitation.URL, "/invite/")
	require.True(t, ok, u.Invitation.URL)
	var inv struct{ User string }
	b.json(call{method: "GET", path: "/api/v1/invitations/" + token}, 200, &inv)
	require.Equal(t, "alice", inv.User)
	b.fail(call{method: "POST", path: "/api/v1/invitations/" + token, body: map[string]any{"password": "short"}, invalid: true}, 400)
	resp, body := b.send(call{method: "POST", path: "/api/v1/invitations/" + token, body: map[string]any{"password": testPassword}})
	require.Equal(t, 200, resp.StatusCode, "%s", body)
	b.json(call{method: "GET", path: "/api/v1/me", cookie: sessionCookie(t, resp).Value}, 200, nil)
	b.fail(call{method: "POST", path: "/api/v1/invitations/" + token, body: map[string]any{"password": "another password"}}, 404)
	b.fail(call{method: "GET", path: "/api/v1/invitations/" + token}, 404)
	b.signIn("alice", testPassword)

	// A reset link: the older one stops working, the newer sets the password.
	var first, second struct{ URL string }
	b.json(call{method: "POST", path: "/api/v1/users/alice/invitation", token: b.admin}, 201, &first)
	b.json(call{method: "POST", path: "/api/v1/users/alice/invitation", token: b.admin}, 201, &second)
	b.fail(call{method: "GET", path: "/api/v1/invitations/" + strings.TrimPrefix(first.URL, "/invite/")}, 404)
	b.json(call{method: "POST", path: "/api/v1/invitations/" + strings.TrimPrefix(second.URL, "/invite/"), body: map[string]any{"password": "reset password"}}, 200, nil)
	b.signIn("alice", "reset password")
}

// TestMembers: a maintainer manages the members; each role may do what it
// should in a private project, and a member lists it among the projects.
func TestMembers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.project("own", true)
	b.project("other", true)
	for _, n := range []string{"max", "dev", "vic", "out"} {
		b.user(n, false, testPassword)
	}
	b.member("own", "max", "maintainer")
	maint := b.signIn("max", testPassword).Value
	b.json(call{method: "PUT", path: "/api/v1/projects/own/members/dev", cookie: maint, body: map[string]any{"role": "developer"}}, 200, nil)
	b.json(call{method: "PUT", path: "/api/v1/projects/own/members/vic", cookie: maint, body: map[string]any{"role": "viewer"}}, 200, nil)
	b.fail(call{method: "PUT", path: "/api/v1/projects/own/members/vic", cookie: maint, body: map[string]any{"role": "owner"}, invalid: true}, 400)
	b.fail(call{method: "PUT", path: "/api/v1/projects/own/members/nobody", cookie: maint, body: map[string]any{"role": "viewer"}}, 404)
	b.fail(call{method: "PUT", path: "/api/v1/projects/other/members/vic", cookie: maint, body: map[string]any{"role": "viewer"}}, 404)
	var members []struct{ User, DisplayName, Role string }
	b.json(call{method: "GET", path: "/api/v1/projects/own/members", cookie: maint}, 200, &members)
	require.Equal(t, []struct{ User, DisplayName, Role string }{{"dev", "DEV", "developer"}, {"max", "MAX", "maintainer"}, {"vic", "VIC", "viewer"}}, members)

	dev, vic, out := b.signIn("dev", testPassword).Value, b.signIn("vic", testPassword).Value, b.signIn("out", testPassword).Value
	var j jobResp
	b.json(call{method: "POST", path: "/api/v1/jobs", cookie: dev, body: permJob}, 201, &j)
	b.fail(call{method: "POST", path: "/api/v1/jobs", cookie: vic, body: permJob}, 403)
	b.json(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d", j.ID), cookie: vic}, 200, nil)
	b.fail(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/cancel", j.ID), cookie: vic}, 403)
	b.fail(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d", j.ID), cookie: out}, 404)
	b.json(call{method: "POST", path: fmt.Sprintf("/api/v1/jobs/%d/cancel", j.ID), cookie: dev}, 200, nil)
	b.fail(call{method: "PUT", path: "/api/v1/projects/own/secrets/API_KEY", cookie: dev, body: map[string]any{"value": "12345678"}}, 403)
	b.json(call{method: "PUT", path: "/api/v1/projects/own/secrets/API_KEY", cookie: maint, body: map[string]any{"value": "12345678"}}, 201, nil)
	b.fail(call{method: "DELETE", path: "/api/v1/projects/own/members/vic", cookie: dev}, 403)
	// A user who is a member of nothing may list no project's members: refused
	// before the project is read, as every caller who may do an action nowhere.
	b.fail(call{method: "GET", path: "/api/v1/projects/own/members", cookie: out}, 403)
	b.fail(call{method: "GET", path: "/api/v1/projects/other/members", cookie: vic}, 404)

	var projects struct{ Items []struct{ Slug string } }
	b.json(call{method: "GET", path: "/api/v1/projects", cookie: vic}, 200, &projects)
	require.Len(t, projects.Items, 1)
	require.Equal(t, "own", projects.Items[0].Slug)
	b.json(call{method: "GET", path: "/api/v1/projects", cookie: out}, 200, &projects)
	require.Empty(t, projects.Items)

	b.json(call{method: "DELETE", path: "/api/v1/projects/own/members/vic", cookie: maint}, 204, nil)
	b.fail(call{method: "GET", path: fmt.Sprintf("/api/v1/jobs/%d", j.ID), cookie: vic}, 404)
	b.fail(call{method: "DELETE", path: "/api/v1/projects/own/members/vic", cookie: maint}, 404)
}

// TestCrossSiteTrustedOrigin: behind a proxy that passes another Host, the
// public URL's pages still may (browsers that send only Origin).
func TestCrossSiteTrustedOrigin(t *testing.T) {
	t.Parallel()
	b := setupWith(t, bundleOptions{trustedOrigins: []string{"https://aura.example"}})
	b.project("own", true)
	b.user("root", true, testPassword)
	cookie := b.signIn("root", testPassword).Value
	b.json(call{method: "POST", path: "/api/v1/projects/own/tokens", cookie: cookie, header: http.Header{"Origin": {"https://aura.example"}},
		body: map[string]any{"name": "ok"}}, 201, nil)
	b.fail(call{method: "POST", path: "/api/v1/projects/own/tokens", cookie: cookie, header: http.Header{"Origin": {"https://evil.example"}},
		body: map[string]any{"name": "forged"}}, 403)
	s := dialEvents(t, b.url, http.Header{"Cookie": {"aura_session=" + cookie}, "Origin": {"https://aura.example"}})
	s.subscribe("project:own")
}

// TestCrossSiteCookieRefused: a state-changing request a browser makes from
// another site with the cookie is refused; bearer-token clients, same-origin
// pages and clients that send no such headers are not.
func TestCrossSiteCookieRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.project("own", true)
	b.user("root", true, testPassword)
	cookie := b.signIn("root", testPassword).Value
	body := map[string]any{"name": "forged"}
	path := "/api/v1/projects/own/tokens"
	for _, h := range []http.Header{
		{"Sec-Fetch-Site": {"cross-site"}},
		{"Sec-Fetch-Site": {"same-site"}},
		{"Origin": {"http://evil.example"}},
	} {
		e := b.fail(call{method: "POST", path: path, cookie: cookie, header: h, body: body}, 403)
		require.Contains(t, e.Message, "cross-origin")
	}
	// Signing in from another site is refused too (no login forgery).
	b.fail(call{method: "POST", path: "/api/v1/session", header: http.Header{"Sec-Fetch-Site": {"cross-site"}},
		body: map[string]any{"user": "root", "password": testPassword}}, 403)
	var n int
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT count(*) FROM tokens WHERE name = 'forged'`).Scan(&n))
	require.Zero(t, n)

	b.json(call{method: "GET", path: "/api/v1/projects/own", cookie: cookie, header: http.Header{"Sec-Fetch-Site": {"cross-site"}}}, 200, nil)
	b.json(call{method: "POST", path: path, cookie: cookie, header: http.Header{"Sec-Fetch-Site": {"same-origin"}}, body: body}, 201, nil)
	b.json(call{method: "POST", path: path, cookie: cookie, header: http.Header{"Origin": {b.url}}, body: body}, 201, nil)
	b.json(call{method: "POST", path: path, cookie: cookie, body: body}, 201, nil) // no browser headers
	b.json(call{method: "POST", path: path, token: b.admin, header: http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"http://ci.example"}}, body: body}, 201, nil)
	// Forge webhooks carry a signature, and no cookie: checked as ever (401 here, for a bad one).
	b.fail(call{method: "POST", path: "/api/v1/hooks/1", header: http.Header{"Sec-Fetch-Site": {"cross-site"}}, body: map[string]any{}}, 401)

	// A websocket opened with the cookie must come from Aura's own pages.
	h := http.Header{"Cookie": {"aura_session=" + cookie}, "Origin": {"http://evil.example"}}
	_, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(b.url, "http")+"/api/v1/events", h)
	require.Error(t, err)
	require.Equal(t, 403, resp.StatusCode)
	resp.Body.Close()
	h.Set("Origin", b.url)
	s := dialEvents(t, b.url, h)
	s.subscribe("project:own")
}

// TestEventsUserRevoked: a socket signed in by cookie or personal token closes
// as soon as its session or token ends or its user is disabled or given
// another role: the hub hears it from the database at once, not at its next
// periodic check (set to an hour here).
func TestEventsUserRevoked(t *testing.T) {
	t.Parallel()
	b := setupWith(t, bundleOptions{eventRecheck: time.Hour})
	b.project("own", true)
	b.user("alice", false, testPassword)
	b.user("bob", false, testPassword)
	b.member("own", "alice", "viewer")
	b.member("own", "bob", "viewer")
	open := func(c call) *socket {
		h := http.Header{}
		if c.cookie != "" {
			h.Set("Cookie", "aura_session="+c.cookie)
		}
		if c.token != "" {
			h.Set("Authorization", "Bearer "+c.token)
		}
		s := dialEvents(t, b.url, h)
		s.subscribe("project:own")
		return s
	}

	signedOut := b.signIn("alice", testPassword).Value
	s := open(call{cookie: signedOut})
	b.json(call{method: "DELETE", path: "/api/v1/session", cookie: signedOut}, 204, nil)
	require.Equal(t, 4001, s.closed())

	revoked := b.signIn("alice", testPassword).Value
	s = open(call{cookie: revoked})
	keep := b.signIn("alice", testPassword).Value
	var sessions []struct{ ID int64 }
	b.json(call{method: "GET", path: "/api/v1/me/sessions", cookie: keep}, 200, &sessions)
	b.json(call{method: "DELETE", path: fmt.Sprintf("/api/v1/me/sessions/%d", sessions[1].ID), cookie: keep}, 204, nil)
	require.Equal(t, 4001, s.closed())

	id, tok := b.personalToken(keep, "cli")
	s = open(call{token: tok})
	bobSocket := open(call{cookie: b.signIn("bob", testPassword).Value})
	b.json(call{method: "DELETE", path: fmt.Sprintf("/api/v1/me/tokens/%d", id), cookie: keep}, 204, nil)
	require.Equal(t, 4001, s.closed())

	s = open(call{cookie: keep})
	b.json(call{method: "PATCH", path: "/api/v1/users/alice", token: b.admin, body: map[string]any{"disabled": true}}, 200, nil)
	require.Equal(t, 4001, s.closed())
	bobSocket.stillOpen(50 * time.Millisecond) // another user's socket carries on

	b.json(call{method: "DELETE", path: "/api/v1/projects/own/members/bob", token: b.admin}, 204, nil)
	require.Equal(t, 4001, bobSocket.closed())
}

// TestSessionsStart: the sign-in flows outside this package start sessions
// through api.Sessions, whose cookie the API then takes.
func TestSessionsStart(t *testing.T) {
	t.Parallel()
	b := setup(t)
	u := b.user("alice", false, "-")
	sessions := api.NewSessions(api.Deps{Store: b.store, Auth: auth.New(b.store, b.tokenKey)})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/current" {
			p, err := sessions.Current(r)
			switch {
			case err != nil:
				http.Error(w, err.Error(), http.StatusUnauthorized)
			case p == nil:
				fmt.Fprint(w, "nobody")
			default:
				fmt.Fprint(w, p.UserName)
			}
			return
		}
		if err := sessions.Start(w, r, u.ID); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
		}
	}))
	defer srv.Close()
	get := func(path, cookie string) (*http.Response, string) {
		req, err := http.NewRequest("GET", srv.URL+path, nil)
		require.NoError(t, err)
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: "aura_session", Value: cookie})
		}
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, strings.TrimSpace(string(body))
	}
	resp, _ := get("/", "")
	c := sessionCookie(t, resp)
	require.True(t, c.HttpOnly)
	var me userMeResp
	b.json(call{method: "GET", path: "/api/v1/me", cookie: c.Value}, 200, &me)
	require.Equal(t, "alice", me.Name)
	_, who := get("/current", c.Value)
	require.Equal(t, "alice", who)
	_, who = get("/current", "")
	require.Equal(t, "nobody", who)

	b.json(call{method: "PATCH", path: "/api/v1/users/alice", token: b.admin, body: map[string]any{"disabled": true}}, 200, nil)
	resp, who = get("/current", c.Value)
	require.Equal(t, 401, resp.StatusCode, who)
	resp, _ = get("/", "")
	require.Equal(t, 403, resp.StatusCode, "a disabled user gets no session")
	require.Empty(t, resp.Cookies())
}

// TestEventsUserRevokedAcrossServers: a session ended, or a user disabled,
// through one server closes the sockets another server holds, at once: the
// revocation travels through the database (its hub's periodic check is an
// hour off).
func TestEventsUserRevokedAcrossServers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	other, _ := b.hubServer(t, events.HubConfig{Recheck: time.Hour})
	b.project("own", true)
	b.user("alice", false, testPassword)
	b.user("bob", false, testPassword)
	b.member("own", "alice", "viewer")
	open := func(cookie string) *socket {
		s := dialEvents(t, other, http.Header{"Cookie": {"aura_session=" + cookie}})
		s.subscribe("project:own")
		return s
	}
	alice := b.signIn("alice", testPassword).Value
	s := open(alice)
	b.json(call{method: "DELETE", path: "/api/v1/session", cookie: alice}, 204, nil)
	require.Equal(t, 4001, s.closed())

	bob := b.signIn("bob", testPassword).Value
	s = open(b.signIn("alice", testPassword).Value)
	bobSocket := dialEvents(t, other, http.Header{"Cookie": {"aura_session=" + bob}})
	bobSocket.subscribe("queue")
	b.json(call{method: "PATCH", path: "/api/v1/users/alice", token: b.admin, body: map[string]any{"disabled": true}}, 200, nil)
	require.Equal(t, 4001, s.closed())
	bobSocket.stillOpen(50 * time.Millisecond)
}
