package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aura-ci/aura/backend/internal/event"
)

// User is a person who signs in. PasswordHash is nil for a user who only signs
// in through a provider (or has not used their invitation yet).
type User struct {
	ID           int64      `db:"id"`
	Name         string     `db:"name"`
	DisplayName  string     `db:"display_name"`
	Email        string     `db:"email"`
	PasswordHash *string    `db:"password_hash"`
	Admin        bool       `db:"admin"`
	DisabledAt   *time.Time `db:"disabled_at"`
	CreatedAt    time.Time  `db:"created_at"`
	LastSignInAt *time.Time `db:"last_sign_in_at"`
	Identities   []Identity `db:"identities"`
}

// Identity is a provider's account linked to a user.
type Identity struct {
	Provider string `json:"provider"`
	Subject  string `json:"subject"`
	Login    string `json:"login"`
}

const userSelect = `
	SELECT u.id, u.name, u.display_name, u.email, u.password_hash, u.admin, u.disabled_at,
		u.created_at, u.last_sign_in_at,
		COALESCE((SELECT json_agg(json_build_object('provider', i.provider, 'subject', i.subject, 'login', i.login)
			ORDER BY i.provider, i.subject) FROM user_identities i WHERE i.user_id = u.id), '[]') AS identities
	FROM users u`

func (s *Store) userWhere(ctx context.Context, q pgx.Tx, where string, args ...any) (*User, error) {
	var rows pgx.Rows
	if q != nil {
		rows, _ = q.Query(ctx, userSelect+" WHERE "+where, args...)
	} else {
		rows, _ = s.pool.Query(ctx, userSelect+" WHERE "+where, args...)
	}
	u, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[User])
	return u, interpret(err, "get user")
}

// UserGet finds the user called name.
func (s *Store) UserGet(ctx context.Context, name string) (*User, error) {
	return s.userWhere(ctx, nil, "u.name = $1", name)
}

// UserGetByID finds user id.
func (s *Store) UserGetByID(ctx context.Context, id int64) (*User, error) {
	return s.userWhere(ctx, nil, "u.id = $1", id)
}

// UserList lists every user by name.
func (s *Store) UserList(ctx context.Context) ([]*User, error) {
	rows, _ := s.pool.Query(ctx, userSelect+` ORDER BY u.name`)
	us, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByName[User])
	return us, interpret(err, "list users")
}

// UserCreateParams is a new user.
type UserCreateParams struct {
	Name, DisplayName, Email string
	PasswordHash             *string
	Admin                    bool
}

// UserCreate stores a new user; a taken name is a Conflict naming the field.
func (s *Store) UserCreate(ctx context.Context, p *UserCreateParams, a *Audit) (*User, error) {
	const q = `INSERT INTO users (name, display_name, email, password_hash, admin) VALUES ($1, $2, $3, $4, $5) RETURNING id`
	var id int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, q, p.Name, p.DisplayName, p.Email, p.PasswordHash, p.Admin).Scan(&id); err != nil {
			return userConflict(interpret(err, "create user"), p.Name)
		}
		return a.Record(ctx, tx, "user.create", 0, p.Name, map[string]any{"admin": p.Admin, "password": p.PasswordHash != nil})
	})
	if err != nil {
		return nil, err
	}
	return s.UserGetByID(ctx, id)
}

func userConflict(err error, name string) error {
	if errors.Is(err, ErrConflict) {
		return &Error{Kind: Conflict, Field: "name", Message: "user " + name + " already exists"}
	}
	return err
}

// UserUpdateParams changes the fields that are set.
type UserUpdateParams struct {
	DisplayName, Email, PasswordHash *string
	Admin, Disabled                  *bool
}

// UserUpdate changes user id. A change of admin or disabled tells every
// server's hub, in the same transaction, to close the user's sockets: what they
// were allowed no longer holds.
func (s *Store) UserUpdate(ctx context.Context, id int64, p *UserUpdateParams, a *Audit) (*User, error) {
	var u *User
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		const q = `
			UPDATE users SET
				display_name = COALESCE($2, display_name),
				email = COALESCE($3, email),
				password_hash = COALESCE($4, password_hash),
				admin = COALESCE($5, admin),
				disabled_at = CASE WHEN $6::boolean IS NULL THEN disabled_at
					WHEN $6 THEN COALESCE(disabled_at, now()) ELSE NULL END
			WHERE id = $1`
		tag, err := tx.Exec(ctx, q, id, p.DisplayName, p.Email, p.PasswordHash, p.Admin, p.Disabled)
		if err != nil {
			return interpret(err, "update user")
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		if p.Admin != nil || p.Disabled != nil {
			if err := notifyAccess(ctx, tx, event.Access{UserID: id}); err != nil {
				return err
			}
		}
		if u, err = s.userWhere(ctx, tx, "u.id = $1", id); err != nil {
			return err
		}
		detail := map[string]any{}
		for k, v := range map[string]any{"displayName": p.DisplayName, "email": p.Email, "admin": p.Admin, "disabled": p.Disabled} {
			switch v := v.(type) {
			case *string:
				if v != nil {
					detail[k] = *v
				}
			case *bool:
				if v != nil {
					detail[k] = *v
				}
			}
		}
		if p.PasswordHash != nil {
			detail["password"] = "changed" // never the hash
		}
		return a.Record(ctx, tx, "user.update", 0, u.Name, detail)
	})
	return u, err
}

// UserDelete deletes user id with their sessions, tokens and memberships.
func (s *Store) UserDelete(ctx context.Context, id int64, a *Audit) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var name string
		if err := tx.QueryRow(ctx, `DELETE FROM users WHERE id = $1 RETURNING name`, id).Scan(&name); err != nil {
			return interpret(err, "delete user")
		}
		if err := notifyAccess(ctx, tx, event.Access{UserID: id}); err != nil {
			return err
		}
		return a.Record(ctx, tx, "user.delete", 0, name, nil)
	})
}

func notifyAccess(ctx context.Context, tx pgx.Tx, a event.Access) error {
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, ChannelEvents, string(event.Marshal(a)))
	return interpret(err, "notify access")
}

// UserRoles is each project's role of user id, by project id.
func (s *Store) UserRoles(ctx context.Context, userID int64) (map[int64]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT project_id, role FROM project_members WHERE user_id = $1`, userID)
	if err != nil {
		return nil, interpret(err, "user roles")
	}
	roles := map[int64]string{}
	var pid int64
	var role string
	_, err = pgx.ForEachRow(rows, []any{&pid, &role}, func() error {
		roles[pid] = role
		return nil
	})
	return roles, interpret(err, "user roles")
}

// Session is a signed-in browser.
type Session struct {
	ID         int64     `db:"id"`
	UserID     int64     `db:"user_id"`
	Address    string    `db:"address"`
	UserAgent  string    `db:"user_agent"`
	CreatedAt  time.Time `db:"created_at"`
	LastSeenAt time.Time `db:"last_seen_at"`
	ExpiresAt  time.Time `db:"expires_at"`
}

const sessionColumns = `s.id, s.user_id, s.address, s.user_agent, s.created_at, s.last_seen_at, s.expires_at`

// SessionCreateParams is a new session.
type SessionCreateParams struct {
	UserID             int64
	Hash               []byte
	Address, UserAgent string
	ExpiresAt          time.Time
}

// SessionCreate starts a session and records the user's sign-in.
func (s *Store) SessionCreate(ctx context.Context, p *SessionCreateParams) (*Session, error) {
	var out *Session
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		const q = `
			INSERT INTO sessions AS s (user_id, hash, address, user_agent, expires_at)
			VALUES ($1, $2, $3, $4, $5) RETURNING ` + sessionColumns
		rows, _ := tx.Query(ctx, q, p.UserID, p.Hash, p.Address, p.UserAgent, p.ExpiresAt)
		var err error
		if out, err = pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[Session]); err != nil {
			return interpret(err, "create session")
		}
		_, err = tx.Exec(ctx, `UPDATE users SET last_sign_in_at = now() WHERE id = $1`, p.UserID)
		return interpret(err, "create session")
	})
	return out, err
}

// SessionByHash finds a live session (not revoked, not past its absolute
// expiry, seen within idle) by the hash of its secret.
func (s *Store) SessionByHash(ctx context.Context, hash []byte, idle time.Duration) (*Session, error) {
	q := `SELECT ` + sessionColumns + ` FROM sessions s
		WHERE s.hash = $1 AND NOT s.revoked AND s.expires_at > now()
			AND s.last_seen_at > now() - make_interval(secs => $2)`
	rows, _ := s.pool.Query(ctx, q, hash, idle.Seconds())
	out, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[Session])
	return out, interpret(err, "session by hash")
}

// SessionTouch records that session id was used, at most once a minute, so a
// busy browser costs no write per request.
func (s *Store) SessionTouch(ctx context.Context, id int64) error {
	_, err := s.pool.Exec(ctx, `UPDATE sessions SET last_seen_at = now() WHERE id = $1 AND last_seen_at < now() - interval '1 minute'`, id)
	return interpret(err, "touch session")
}

// SessionList lists user's live sessions, newest first.
func (s *Store) SessionList(ctx context.Context, userID int64, idle time.Duration) ([]*Session, error) {
	q := `SELECT ` + sessionColumns + ` FROM sessions s
		WHERE s.user_id = $1 AND NOT s.revoked AND s.expires_at > now()
			AND s.last_seen_at > now() - make_interval(secs => $2)
		ORDER BY s.id DESC`
	rows, _ := s.pool.Query(ctx, q, userID, idle.Seconds())
	out, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByName[Session])
	return out, interpret(err, "list sessions")
}

// SessionRevoke ends session id of user userID (or the session whose hash is
// hash, when id is 0), and tells every server's hub in the same statement, so
// its sockets close at once.
func (s *Store) SessionRevoke(ctx context.Context, userID, id int64, hash []byte) error {
	const q = `
		WITH revoked AS (
			UPDATE sessions SET revoked = true
			WHERE NOT revoked AND ((user_id = $1 AND id = $2) OR ($2 = 0 AND hash = $3))
			RETURNING hash)
		SELECT count(pg_notify('` + ChannelEvents + `', ` + revokedEventSQL + `)) FROM revoked`
	if hash == nil {
		hash = []byte{}
	}
	var n int
	if err := s.pool.QueryRow(ctx, q, userID, id, hash).Scan(&n); err != nil {
		return interpret(err, "revoke session")
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// SessionsRevokeUser ends every session of user userID but keep (0: all).
func (s *Store) SessionsRevokeUser(ctx context.Context, userID, keep int64) error {
	const q = `
		WITH revoked AS (
			UPDATE sessions SET revoked = true WHERE user_id = $1 AND id <> $2 AND NOT revoked RETURNING hash)
		SELECT count(pg_notify('` + ChannelEvents + `', ` + revokedEventSQL + `)) FROM revoked`
	var n int
	return interpret(s.pool.QueryRow(ctx, q, userID, keep).Scan(&n), "revoke sessions")
}

// UserToken is a personal API token: only its hash is stored.
type UserToken struct {
	ID         int64      `db:"id"`
	UserID     int64      `db:"user_id"`
	Name       string     `db:"name"`
	CreatedAt  time.Time  `db:"created_at"`
	ExpiresAt  *time.Time `db:"expires_at"`
	LastUsedAt *time.Time `db:"last_used_at"`
}

const userTokenColumns = `t.id, t.user_id, t.name, t.created_at, t.expires_at, t.last_used_at`

// UserTokenCreate stores a personal token's hash; a name the user already gave
// a token is a Conflict.
func (s *Store) UserTokenCreate(ctx context.Context, userID int64, name string, hash []byte, expiresAt *time.Time, a *Audit) (*UserToken, error) {
	q := `INSERT INTO user_tokens AS t (user_id, name, hash, expires_at) VALUES ($1, $2, $3, $4) RETURNING ` + userTokenColumns
	var t *UserToken
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, _ := tx.Query(ctx, q, userID, name, hash, expiresAt)
		var err error
		t, err = pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[UserToken])
		if err = interpret(err, "create personal token"); errors.Is(err, ErrConflict) {
			return &Error{Kind: Conflict, Field: "name", Message: "you already have a token called " + name}
		} else if err != nil {
			return err
		}
		return a.Record(ctx, tx, "user-token.create", 0, name, map[string]any{"expiresAt": expiresAt})
	})
	return t, err
}

// UserTokenByHash finds an unexpired personal token by its hash, and records
// its use (at most once a minute).
func (s *Store) UserTokenByHash(ctx context.Context, hash []byte) (*UserToken, error) {
	q := `SELECT ` + userTokenColumns + ` FROM user_tokens t WHERE t.hash = $1 AND (t.expires_at IS NULL OR t.expires_at > now())`
	rows, _ := s.pool.Query(ctx, q, hash)
	t, err := pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[UserToken])
	if err != nil {
		return nil, interpret(err, "personal token by hash")
	}
	if t.LastUsedAt == nil || time.Since(*t.LastUsedAt) > time.Minute {
		if _, err := s.pool.Exec(ctx, `UPDATE user_tokens SET last_used_at = now() WHERE id = $1`, t.ID); err != nil {
			return nil, interpret(err, "personal token used")
		}
	}
	return t, nil
}

// UserTokenList lists user's personal tokens.
func (s *Store) UserTokenList(ctx context.Context, userID int64) ([]*UserToken, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+userTokenColumns+` FROM user_tokens t WHERE t.user_id = $1 ORDER BY t.id`, userID)
	ts, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByName[UserToken])
	return ts, interpret(err, "list personal tokens")
}

// UserTokenDelete revokes personal token id of user userID and tells every
// server's hub in the same statement.
func (s *Store) UserTokenDelete(ctx context.Context, userID, id int64, a *Audit) error {
	const q = `
		WITH revoked AS (DELETE FROM user_tokens WHERE id = $1 AND user_id = $2 RETURNING hash, name)
		SELECT count(pg_notify('` + ChannelEvents + `', ` + revokedEventSQL + `)), max(name) FROM revoked`
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var n int
		var name *string
		if err := tx.QueryRow(ctx, q, id, userID).Scan(&n, &name); err != nil {
			return interpret(err, "delete personal token")
		}
		if n == 0 || name == nil {
			return ErrNotFound
		}
		return a.Record(ctx, tx, "user-token.revoke", 0, *name, nil)
	})
}

// Member is a user's role in a project.
type Member struct {
	UserID      int64  `db:"user_id"`
	User        string `db:"name"`
	DisplayName string `db:"display_name"`
	Role        string `db:"role"`
}

// MemberList lists a project's members by user name.
func (s *Store) MemberList(ctx context.Context, projectID int64) ([]*Member, error) {
	const q = `SELECT m.user_id, u.name, u.display_name, m.role FROM project_members m
		JOIN users u ON u.id = m.user_id WHERE m.project_id = $1 ORDER BY u.name`
	rows, _ := s.pool.Query(ctx, q, projectID)
	ms, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByName[Member])
	return ms, interpret(err, "list members")
}

// MemberPut gives user userID role in project projectID (adding them), and
// tells the hubs: the user's sockets were allowed by the roles they had.
func (s *Store) MemberPut(ctx context.Context, projectID, userID int64, role string, a *Audit) (*Member, error) {
	var m *Member
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		const q = `
			WITH put AS (
				INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, $3)
				ON CONFLICT (project_id, user_id) DO UPDATE SET role = EXCLUDED.role
				RETURNING user_id, role)
			SELECT put.user_id, u.name, u.display_name, put.role FROM put JOIN users u ON u.id = put.user_id`
		rows, _ := tx.Query(ctx, q, projectID, userID, role)
		var err error
		if m, err = pgx.CollectExactlyOneRow(rows, pgx.RowToAddrOfStructByName[Member]); err != nil {
			return interpret(err, "put member")
		}
		if err := notifyAccess(ctx, tx, event.Access{UserID: userID}); err != nil {
			return err
		}
		return a.Record(ctx, tx, "member.set", projectID, m.User, map[string]any{"role": role})
	})
	return m, err
}

// MemberDelete removes user userID from project projectID.
func (s *Store) MemberDelete(ctx context.Context, projectID, userID int64, a *Audit) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		const q = `DELETE FROM project_members m USING users u
			WHERE m.project_id = $1 AND m.user_id = $2 AND u.id = m.user_id RETURNING u.name`
		var name string
		if err := tx.QueryRow(ctx, q, projectID, userID).Scan(&name); err != nil {
			return interpret(err, "delete member")
		}
		if err := notifyAccess(ctx, tx, event.Access{UserID: userID}); err != nil {
			return err
		}
		return a.Record(ctx, tx, "member.remove", projectID, name, nil)
	})
}

// InvitationCreate stores a link that sets user userID's password once, until
// expiresAt; the user's earlier links stop working.
func (s *Store) InvitationCreate(ctx context.Context, userID int64, hash []byte, expiresAt time.Time, a *Audit) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE invitations SET used = true WHERE user_id = $1 AND NOT used`, userID); err != nil {
			return interpret(err, "create invitation")
		}
		var name string
		const q = `INSERT INTO invitations (hash, user_id, expires_at) VALUES ($1, $2, $3)
			RETURNING (SELECT name FROM users WHERE id = $2)`
		if err := tx.QueryRow(ctx, q, hash, userID, expiresAt).Scan(&name); err != nil {
			return interpret(err, "create invitation")
		}
		return a.Record(ctx, tx, "user.invite", 0, name, map[string]any{"expiresAt": expiresAt})
	})
}

// InvitationGet is the user an unused, unexpired invitation is for.
func (s *Store) InvitationGet(ctx context.Context, hash []byte) (*User, error) {
	return s.userWhere(ctx, nil, `u.id = (SELECT user_id FROM invitations
		WHERE hash = $1 AND NOT used AND expires_at > now()) AND u.disabled_at IS NULL`, hash)
}

// InvitationUse sets the password of the invitation's user and spends the
// invitation, in one transaction: a link sets a password once.
func (s *Store) InvitationUse(ctx context.Context, hash []byte, passwordHash string) (*User, error) {
	var u *User
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		const q = `
			UPDATE invitations i SET used = true FROM users u
			WHERE i.hash = $1 AND NOT i.used AND i.expires_at > now() AND u.id = i.user_id AND u.disabled_at IS NULL
			RETURNING i.user_id`
		var id int64
		if err := tx.QueryRow(ctx, q, hash).Scan(&id); err != nil {
			return interpret(err, "use invitation")
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, id, passwordHash); err != nil {
			return interpret(err, "use invitation")
		}
		var err error
		u, err = s.userWhere(ctx, tx, "u.id = $1", id)
		return err
	})
	return u, err
}

// UserByIdentity finds the user linked to provider's account subject.
func (s *Store) UserByIdentity(ctx context.Context, provider, subject string) (*User, error) {
	return s.userWhere(ctx, nil, `u.id = (SELECT user_id FROM user_identities WHERE provider = $1 AND subject = $2)`, provider, subject)
}

// UserCreateExternal creates the user of a first sign-in through provider,
// with no password, linked to the provider's account subject (login is the
// account's name there). It takes name, or name-2, name-3, … when that is
// taken (name must already be a valid user name, of at most 34 characters for
// the suffix to fit). An account already linked is a Conflict.
func (s *Store) UserCreateExternal(ctx context.Context, name, displayName, email, provider, subject, login string) (*User, error) {
	var u *User
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		const q = `
			INSERT INTO users (name, display_name, email)
			SELECT n, $2, $3 FROM (
				SELECT $1::text AS n, 1 AS k
				UNION ALL
				SELECT left($1::text, 34) || '-' || g, g FROM generate_series(2, 1000) g) c
			WHERE NOT EXISTS (SELECT 1 FROM users WHERE name = c.n)
			ORDER BY k LIMIT 1
			ON CONFLICT (name) DO NOTHING
			RETURNING id`
		var id int64
		if err := tx.QueryRow(ctx, q, name, displayName, email).Scan(&id); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return &Error{Kind: Conflict, Field: "name", Message: "no free user name like " + name}
			}
			return interpret(err, "create external user")
		}
		if err := linkIdentity(ctx, tx, id, provider, subject, login); err != nil {
			return err
		}
		var err error
		u, err = s.userWhere(ctx, tx, "u.id = $1", id)
		return err
	})
	return u, err
}

// IdentityLink links provider's account subject to user userID. An account
// linked to another user is a Conflict; linking it again to the same user
// updates its login.
func (s *Store) IdentityLink(ctx context.Context, userID int64, provider, subject, login string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error { return linkIdentity(ctx, tx, userID, provider, subject, login) })
}

func linkIdentity(ctx context.Context, tx pgx.Tx, userID int64, provider, subject, login string) error {
	const q = `
		INSERT INTO user_identities (provider, subject, user_id, login) VALUES ($1, $2, $3, $4)
		ON CONFLICT (provider, subject) DO UPDATE SET login = EXCLUDED.login
		WHERE user_identities.user_id = EXCLUDED.user_id`
	tag, err := tx.Exec(ctx, q, provider, subject, userID, login)
	if err != nil {
		return interpret(err, "link identity")
	}
	if tag.RowsAffected() == 0 {
		return &Error{Kind: Conflict, Message: fmt.Sprintf("this %s account is linked to another user", provider)}
	}
	return nil
}

// MemberProject is a project a user is a member of.
type MemberProject struct {
	ID   int64  `db:"id"`
	Slug string `db:"slug"`
}

// UserProjects lists the projects user userID is a member of, by slug.
func (s *Store) UserProjects(ctx context.Context, userID int64) ([]*MemberProject, error) {
	const q = `SELECT p.id, p.slug FROM project_members m JOIN projects p ON p.id = m.project_id
		WHERE m.user_id = $1 AND p.deleted_at IS NULL ORDER BY p.slug`
	rows, _ := s.pool.Query(ctx, q, userID)
	ps, err := pgx.CollectRows(rows, pgx.RowToAddrOfStructByName[MemberProject])
	return ps, interpret(err, "user projects")
}

// SessionsPrune deletes the sessions and invitations that ended (expired,
// revoked or used) more than a day ago, and the sessions unused for longer
// than idle: they can never be used again, and the user's list shows only
// live ones.
func (s *Store) SessionsPrune(ctx context.Context, idle time.Duration) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM sessions WHERE expires_at < now() - interval '1 day'
			OR last_seen_at < now() - make_interval(secs => $1) - interval '1 day'
			OR (revoked AND last_seen_at < now() - interval '1 day')`, idle.Seconds())
		if err != nil {
			return interpret(err, "prune sessions")
		}
		n = tag.RowsAffected()
		_, err = tx.Exec(ctx, `DELETE FROM invitations WHERE (used OR expires_at < now()) AND created_at < now() - interval '1 day'`)
		return interpret(err, "prune invitations")
	})
	return n, err
}
