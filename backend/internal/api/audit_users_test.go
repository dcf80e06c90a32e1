package api_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAuditUsersAndMembers: managing users, members and personal tokens is
// written to the audit log like every other administrative action, naming the
// user who did it (never a password or a token's secret); a refused action
// writes nothing.
func TestAuditUsersAndMembers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.project("own", true)
	root := b.user("root", true, testPassword)
	_ = root
	rootCookie := b.signIn("root", testPassword).Value

	// The admin user creates bob, invites carol, makes bob a developer of own,
	// changes and then removes him, and disables carol.
	var bob struct{ ID int64 }
	b.json(call{method: "POST", path: "/api/v1/users", cookie: rootCookie,
		body: map[string]any{"name": "bob", "displayName": "Bob", "email": "bob@example.com", "password": testPassword}}, 201, &bob)
	b.json(call{method: "POST", path: "/api/v1/users", cookie: rootCookie,
		body: map[string]any{"name": "carol", "displayName": "Carol", "email": "carol@example.com"}}, 201, nil)
	b.json(call{method: "PUT", path: "/api/v1/projects/own/members/bob", cookie: rootCookie, body: map[string]any{"role": "developer"}}, 200, nil)
	b.json(call{method: "PUT", path: "/api/v1/projects/own/members/bob", cookie: rootCookie, body: map[string]any{"role": "maintainer"}}, 200, nil)
	b.json(call{method: "DELETE", path: "/api/v1/projects/own/members/bob", cookie: rootCookie}, 204, nil)
	b.json(call{method: "PATCH", path: "/api/v1/users/carol", cookie: rootCookie, body: map[string]any{"disabled": true}}, 200, nil)

	// Bob makes and revokes a personal token, and changes his password.
	bobCookie := b.signIn("bob", testPassword).Value
	var tok struct{ ID int64 }
	b.json(call{method: "POST", path: "/api/v1/me/tokens", cookie: bobCookie, body: map[string]any{"name": "laptop"}}, 201, &tok)
	b.json(call{method: "DELETE", path: fmt.Sprintf("/api/v1/me/tokens/%d", tok.ID), cookie: bobCookie}, 204, nil)
	b.json(call{method: "PATCH", path: "/api/v1/users/bob", cookie: bobCookie, body: map[string]any{"password": "a new and longer password", "currentPassword": testPassword}}, 200, nil)
	// Refused: bob may not make himself an admin, nor remove a member.
	b.json(call{method: "PATCH", path: "/api/v1/users/bob", cookie: bobCookie, body: map[string]any{"admin": true}}, 403, nil)
	b.json(call{method: "DELETE", path: "/api/v1/users/carol", token: b.admin}, 204, nil)

	type row struct{ kind, name, action, project, target string }
	var got []row
	for _, e := range b.audit("?limit=200").Entries {
		p := ""
		if e.Project != nil {
			p = *e.Project
		}
		if e.Action == "project.create" || e.Action == "token.create" { // b.project's
			continue
		}
		got = append(got, row{e.Actor.Kind, e.Actor.Name, e.Action, p, e.Target})
		for k, v := range e.Detail {
			require.NotEqual(t, testPassword, v, "%s: %s", e.Action, k)
			require.NotEqual(t, "a new and longer password", v, "%s: %s", e.Action, k)
		}
	}
	require.Equal(t, []row{ // newest first
		{"admin", "admin", "user.delete", "", "carol"},
		{"user", "bob", "user.update", "", "bob"},
		{"user", "bob", "user-token.revoke", "", "laptop"},
		{"user", "bob", "user-token.create", "", "laptop"},
		{"user", "root", "user.update", "", "carol"},
		{"user", "root", "member.remove", "own", "bob"},
		{"user", "root", "member.set", "own", "bob"},
		{"user", "root", "member.set", "own", "bob"},
		{"user", "root", "user.invite", "", "carol"},
		{"user", "root", "user.create", "", "carol"},
		{"user", "root", "user.create", "", "bob"},
		{"admin", "admin", "user.create", "", "root"},
	}, got)
	// The noun filter finds them too.
	require.Len(t, b.audit("?action=member").Entries, 3)
}
