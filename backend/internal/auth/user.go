package auth

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/aura-ci/aura/backend/internal/store"
)

// RoleNames spells the roles as the API and the database do.
var RoleNames = map[Role]string{RoleViewer: "viewer", RoleDeveloper: "developer", RoleMaintainer: "maintainer"}

// ParseRole reads a role's name; ok is false for anything else.
func ParseRole(name string) (Role, bool) {
	for r, n := range RoleNames {
		if n == name {
			return r, true
		}
	}
	return RoleNone, false
}

// Session resolves a session cookie's secret: refused (ErrInvalidSession) when
// it is unknown, revoked, past its absolute expiry or unused for longer than
// the idle lifetime, and ErrUserDisabled when its user is disabled. Its use is
// recorded at most once a minute.
func (a *Authenticator) Session(ctx context.Context, secret string) (*Principal, error) {
	if !strings.HasPrefix(secret, PrefixSession) {
		return nil, ErrInvalidSession
	}
	s, err := a.store.SessionByHash(ctx, Hash(secret), a.Idle())
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrInvalidSession
	}
	if err != nil {
		return nil, fmt.Errorf("auth: session: %w", err)
	}
	p, err := a.userPrincipal(ctx, s.UserID)
	if err != nil {
		if errors.Is(err, ErrInvalidToken) {
			return nil, ErrInvalidSession
		}
		return nil, err
	}
	p.SessionID = s.ID
	if err := a.store.SessionTouch(ctx, s.ID); err != nil {
		return nil, fmt.Errorf("auth: session: %w", err)
	}
	return p, nil
}

// Credential resolves what an event socket was opened with: a session's
// secret or a bearer token. The event hub checks it again now and then.
func (a *Authenticator) Credential(ctx context.Context, credential string) (*Principal, error) {
	if strings.HasPrefix(credential, PrefixSession) {
		return a.Session(ctx, credential)
	}
	return a.Authenticate(ctx, "Bearer "+credential)
}

// Revoked reports whether err says a credential no longer holds (rather than
// that the database could not say).
func Revoked(err error) bool {
	return errors.Is(err, ErrInvalidToken) || errors.Is(err, ErrJobEnded) ||
		errors.Is(err, ErrInvalidSession) || errors.Is(err, ErrUserDisabled)
}

func (a *Authenticator) userTokenPrincipal(ctx context.Context, secret string) (*Principal, error) {
	t, err := a.store.UserTokenByHash(ctx, Hash(secret))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, fmt.Errorf("auth: personal token: %w", err)
	}
	p, err := a.userPrincipal(ctx, t.UserID)
	if err != nil {
		return nil, err
	}
	p.TokenID, p.TokenName = t.ID, t.Name
	return p, nil
}

// userPrincipal is user id with its roles; a disabled user is refused.
func (a *Authenticator) userPrincipal(ctx context.Context, id int64) (*Principal, error) {
	u, err := a.store.UserGetByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, fmt.Errorf("auth: user: %w", err)
	}
	if u.DisabledAt != nil {
		return nil, ErrUserDisabled
	}
	roles, err := a.store.UserRoles(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("auth: user roles: %w", err)
	}
	p := &Principal{Kind: KindUser, UserID: u.ID, UserName: u.Name, UserAdmin: u.Admin, Roles: map[int64]Role{}}
	for pid, name := range roles {
		if r, ok := ParseRole(name); ok {
			p.Roles[pid] = r
		}
	}
	return p, nil
}

// memberProjects is the ids of the projects a user is a member of, in order.
func (p *Principal) memberProjects() []int64 {
	return slices.Sorted(maps.Keys(p.Roles))
}

// UserNamePattern is what a user name may be: it appears in paths and in the
// actor of everything the user does.
var UserNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,38}$`)

// UserNameFrom makes a user name out of a provider's login or an email's
// local part: lower-case, other characters as "-", at most 34 characters (so
// that store.UserCreateExternal's "-2" … "-1000" fit), "user" when nothing is left.
func UserNameFrom(login string) string {
	login, _, _ = strings.Cut(login, "@")
	var b strings.Builder
	for _, r := range strings.ToLower(login) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	name := strings.TrimLeft(b.String(), "._-")
	if len(name) > 34 {
		name = name[:34]
	}
	if name == "" {
		return "user"
	}
	return name
}
