package api

import (
	"context"
	"errors"
	"math"

	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/aura-ci/aura/backend/internal/auth"
	"github.com/aura-ci/aura/backend/internal/store"
)

// userNamePattern is what a user name may be.
var userNamePattern = auth.UserNamePattern

// Password bounds: argon2id takes any length, but a request body should not
// make it hash a megabyte.
const (
	minPasswordLen = 8
	maxPasswordLen = 1024
)

// DefaultInvitationTTL is how long an invitation (or reset) link works.
const DefaultInvitationTTL = 7 * 24 * time.Hour

// errWrongPassword is the one answer to a failed sign-in, whether or not the
// user exists.
var errWrongPassword = errorf(http.StatusUnauthorized, "", "wrong user name or password")

// userJSON is openapi.yaml's User.
type userJSON struct {
	ID           int64          `json:"id"`
	Name         string         `json:"name"`
	DisplayName  string         `json:"displayName"`
	Email        string         `json:"email"`
	Admin        bool           `json:"admin"`
	Disabled     bool           `json:"disabled"`
	CreatedAt    time.Time      `json:"createdAt"`
	LastSignInAt *time.Time     `json:"lastSignInAt"`
	Identities   []identityJSON `json:"identities"`
}

type identityJSON struct {
	Provider string `json:"provider"`
	Login    string `json:"login"`
}

func toUser(u *store.User) *userJSON {
	out := &userJSON{ID: u.ID, Name: u.Name, DisplayName: u.DisplayName, Email: u.Email, Admin: u.Admin,
		Disabled: u.DisabledAt != nil, CreatedAt: u.CreatedAt, LastSignInAt: u.LastSignInAt, Identities: []identityJSON{}}
	for _, i := range u.Identities {
		out.Identities = append(out.Identities, identityJSON{Provider: i.Provider, Login: i.Login})
	}
	return out
}

func checkPassword(field, pw string) error {
	if len(pw) < minPasswordLen || len(pw) > maxPasswordLen {
		return errorf(http.StatusBadRequest, field, "field "+field+" must be 8 to 1024 characters")
	}
	return nil
}

func checkUserName(field, name string) error {
	if !userNamePattern.MatchString(name) {
		return errorf(http.StatusBadRequest, field, "field "+field+" must match ^[a-z0-9][a-z0-9._-]{0,38}$")
	}
	return nil
}

// Sessions starts sessions for code outside this package: the sign-in
// through a provider (package signin) ends in Start.
type Sessions struct{ h *handler }

// NewSessions returns the Sessions of the server that d configures (its
// store, authenticator, session lifetime and cookie security).
func NewSessions(d Deps) *Sessions { return &Sessions{h: &handler{Deps: d}} }

// Start signs user userID in: it stores a new session and sets its cookie on
// w. A disabled user is refused (auth.ErrUserDisabled), and nothing is stored.
func (s *Sessions) Start(w http.ResponseWriter, r *http.Request, userID int64) error {
	u, err := s.h.Store.UserGetByID(r.Context(), userID)
	if err != nil {
		return err
	}
	if u.DisabledAt != nil {
		return auth.ErrUserDisabled
	}
	return s.h.startSession(w, r, userID)
}

// Current is the user signed in by r's session cookie (nil without one), for
// the browser routes outside the API, such as linking a provider's account to
// the signed-in user. A cookie that no longer holds is an error
// (auth.Revoked). Only safe (GET) routes should act on it without more checks:
// it is not guarded against cross-site requests as the API is.
func (s *Sessions) Current(r *http.Request) (*auth.Principal, error) {
	c, err := r.Cookie(auth.SessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	return s.h.Auth.Session(r.Context(), c.Value)
}

func (h *handler) sessionMax() time.Duration {
	if h.SessionMax <= 0 {
		return auth.DefaultSessionMax
	}
	return h.SessionMax
}

// secure reports whether cookies must be Secure: the request came over TLS,
// or the server's public URL is https (a TLS-terminating proxy in front).
func (h *handler) secure(r *http.Request) bool { return r.TLS != nil || h.SecureCookies }

// startSession stores a session for userID and sets its cookie: HttpOnly (no
// script reads it), SameSite=Lax (no cross-site POST carries it), Path=/ (the
// app's pages and the API), and Secure over HTTPS.
func (h *handler) startSession(w http.ResponseWriter, r *http.Request, userID int64) error {
	secret, hash := auth.NewSecret(auth.PrefixSession, "")
	// Whatever bytes the client sent, the column takes valid UTF-8 only.
	ua := strings.ToValidUTF8(r.UserAgent(), "\uFFFD")
	if len(ua) > 512 {
		ua = strings.ToValidUTF8(ua[:512], "")
	}
	s, err := h.Store.SessionCreate(r.Context(), &store.SessionCreateParams{UserID: userID, Hash: hash,
		Address: remoteHost(r), UserAgent: ua, ExpiresAt: time.Now().Add(h.sessionMax())})
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{Name: auth.SessionCookie, Value: secret, Path: "/", Expires: s.ExpiresAt,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: h.secure(r)})
	return nil
}

// clearSession tells the browser to forget its session cookie.
func (h *handler) clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: auth.SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: h.secure(r)})
}

type signInRequest struct {
	User     string `json:"user" validate:"required,max=100"`
	Password string `json:"password" validate:"required,max=1024"`
}

// signIn checks a user name and password and starts a session. Whether the
// user exists, has a password or typed it wrong, the answer is the same and
// takes as long; failures are slowed per user name and per address.
func (h *handler) signIn(w http.ResponseWriter, r *http.Request) {
	var req signInRequest
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	req.User = strings.ToLower(strings.TrimSpace(req.User)) // names are lower-case
	addr := remoteHost(r)
	if wait := h.signIns.wait(req.User, addr); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		writeError(w, r, errorf(http.StatusTooManyRequests, "", "too many failed sign-ins: wait "+
			strconv.Itoa(int(math.Ceil(wait.Seconds())))+" s and try again"))
		return
	}
	u, err := h.Store.UserGet(r.Context(), req.User)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		writeError(w, r, err)
		return
	}
	if u == nil || u.PasswordHash == nil {
		auth.SpendPasswordTime(req.Password)
		h.signIns.fail(req.User, addr)
		writeError(w, r, errWrongPassword)
		return
	}
	if !auth.CheckPassword(*u.PasswordHash, req.Password) {
		h.signIns.fail(req.User, addr)
		writeError(w, r, errWrongPassword)
		return
	}
	if u.DisabledAt != nil {
		writeError(w, r, errorf(http.StatusForbidden, "", auth.ErrUserDisabled.Error()))
		return
	}
	h.answerSignedIn(w, r, u)
}

// answerSignedIn starts u's session and answers {"user"}.
func (h *handler) answerSignedIn(w http.ResponseWriter, r *http.Request, u *store.User) {
	if err := h.startSession(w, r, u.ID); err != nil {
		writeError(w, r, err)
		return
	}
	u, err := h.Store.UserGetByID(r.Context(), u.ID) // with its last sign-in
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"user": toUser(u)})
}

// signOut ends the session of the cookie, if any, and clears it.
func (h *handler) signOut(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(auth.SessionCookie); err == nil && c.Value != "" {
		err := h.Store.SessionRevoke(r.Context(), 0, 0, auth.Hash(c.Value))
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			writeError(w, r, err)
			return
		}
	}
	h.clearSession(w, r)
	w.WriteHeader(http.StatusNoContent)
}

type userCreateRequest struct {
	Name        string  `json:"name" validate:"required"`
	DisplayName string  `json:"displayName" validate:"max=200"`
	Email       string  `json:"email" validate:"omitempty,max=320,email"`
	Password    *string `json:"password"`
	Admin       bool    `json:"admin"`
}

type invitationJSON struct {
	URL       string    `json:"url"`
	ExpiresAt time.Time `json:"expiresAt"`
}

func (h *handler) listUsers(w http.ResponseWriter, r *http.Request) {
	us, err := h.Store.UserList(r.Context())
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := make([]*userJSON, 0, len(us))
	for _, u := range us {
		out = append(out, toUser(u))
	}
	writeJSON(w, http.StatusOK, out)
}

// createUser creates a user with a password, or, without one, with an
// invitation link that sets it.
func (h *handler) createUser(w http.ResponseWriter, r *http.Request) {
	var req userCreateRequest
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if err := checkUserName("name", req.Name); err != nil {
		writeError(w, r, err)
		return
	}
	params := &store.UserCreateParams{Name: req.Name, DisplayName: req.DisplayName, Email: req.Email, Admin: req.Admin}
	if req.Password != nil {
		if err := checkPassword("password", *req.Password); err != nil {
			writeError(w, r, err)
			return
		}
		hash := auth.HashPassword(*req.Password)
		params.PasswordHash = &hash
	}
	u, err := h.Store.UserCreate(r.Context(), params, audit(r))
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := struct {
		*userJSON
		Invitation *invitationJSON `json:"invitation,omitempty"`
	}{userJSON: toUser(u)}
	if req.Password == nil {
		if out.Invitation, err = h.invite(r.Context(), u.ID, audit(r)); err != nil {
			writeError(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusCreated, out)
}

// invite stores a new invitation for userID (its earlier ones stop working).
func (h *handler) invite(ctx context.Context, userID int64, a *store.Audit) (*invitationJSON, error) {
	secret, hash := auth.NewSecret("", "")
	ttl := h.InvitationTTL
	if ttl <= 0 {
		ttl = DefaultInvitationTTL
	}
	exp := time.Now().Add(ttl).UTC().Truncate(time.Second)
	if err := h.Store.InvitationCreate(ctx, userID, hash, exp, a); err != nil {
		return nil, err
	}
	return &invitationJSON{URL: "/invite/" + secret, ExpiresAt: exp}, nil
}

type accountKey struct{}

// accountOf is the user of a route whose rule is on the user in the path.
func accountOf(r *http.Request) *store.User { return r.Context().Value(accountKey{}).(*store.User) }

func (h *handler) createInvitation(w http.ResponseWriter, r *http.Request) {
	inv, err := h.invite(r.Context(), accountOf(r).ID, audit(r))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, inv)
}

type userUpdateRequest struct {
	DisplayName *string `json:"displayName" validate:"omitempty,max=200"`
	Email       *string `json:"email" validate:"omitempty,max=320,email"`
	Password    *string `json:"password"`
	// CurrentPassword proves a change of one's own password (checkOwnPassword).
	CurrentPassword *string `json:"currentPassword" validate:"omitempty,max=1024"`
	Admin           *bool   `json:"admin"`
	Disabled        *bool   `json:"disabled"`
}

// updateUser changes a user: their own display name, email and password, and,
// for the admin, whether they are an admin or disabled. A new password ends
// the user's other sessions.
func (h *handler) updateUser(w http.ResponseWriter, r *http.Request) {
	u, p := accountOf(r), principal(r)
	var req userUpdateRequest
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if (req.Admin != nil || req.Disabled != nil) && !auth.Allows(p, auth.ManageUsers, auth.Resource{}) {
		field := "admin"
		if req.Admin == nil {
			field = "disabled"
		}
		writeError(w, r, errorf(http.StatusForbidden, field, "only an admin may change "+field))
		return
	}
	if p.Kind == auth.KindUser && p.UserID == u.ID &&
		((req.Disabled != nil && *req.Disabled) || (req.Admin != nil && !*req.Admin && u.Admin)) {
		writeError(w, r, errorf(http.StatusConflict, "", "you may not disable yourself or drop your own admin: ask another admin"))
		return
	}
	params := &store.UserUpdateParams{DisplayName: req.DisplayName, Email: req.Email, Admin: req.Admin, Disabled: req.Disabled}
	if req.Password != nil {
		if err := checkPassword("password", *req.Password); err != nil {
			writeError(w, r, err)
			return
		}
		if p.Kind == auth.KindUser && p.UserID == u.ID {
			if !h.checkOwnPassword(w, r, u, req.CurrentPassword) {
				return
			}
		}
		hash := auth.HashPassword(*req.Password)
		params.PasswordHash = &hash
	}
	u, err := h.Store.UserUpdate(r.Context(), u.ID, params, audit(r))
	if err != nil {
		writeError(w, r, err)
		return
	}
	if req.Password != nil {
		if err := h.Store.SessionsRevokeUser(r.Context(), u.ID, p.SessionID); err != nil {
			writeError(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, toUser(u))
}

// checkOwnPassword checks the current password of u, who is changing their
// own: a stolen session or personal token must not be enough to lock its user
// out. Wrong guesses are slowed down like failed sign-ins, per user name and
// address. A user without a password (who signs in through a provider) sets
// a first one without. It answers the request when it refuses.
func (h *handler) checkOwnPassword(w http.ResponseWriter, r *http.Request, u *store.User, current *string) bool {
	if u.PasswordHash == nil {
		return true
	}
	if current == nil {
		writeError(w, r, errorf(http.StatusBadRequest, "currentPassword", "give your current password (currentPassword) to change it"))
		return false
	}
	addr := remoteHost(r)
	if wait := h.signIns.wait(u.Name, addr); wait > 0 {
		secs := strconv.Itoa(int(math.Ceil(wait.Seconds())))
		w.Header().Set("Retry-After", secs)
		writeError(w, r, errorf(http.StatusTooManyRequests, "currentPassword", "too many wrong passwords: wait "+secs+" s and try again"))
		return false
	}
	if !auth.CheckPassword(*u.PasswordHash, *current) {
		h.signIns.fail(u.Name, addr)
		writeError(w, r, errorf(http.StatusForbidden, "currentPassword", "the current password is wrong"))
		return false
	}
	return true
}

func (h *handler) deleteUser(w http.ResponseWriter, r *http.Request) {
	u, p := accountOf(r), principal(r)
	if p.Kind == auth.KindUser && p.UserID == u.ID {
		writeError(w, r, errorf(http.StatusConflict, "", "you may not delete yourself: ask another admin"))
		return
	}
	if err := h.Store.UserDelete(r.Context(), u.ID, audit(r)); err != nil {
		writeError(w, r, named(err, "user %s", u.Name))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// errNoInvitation answers unknown, used and expired invitation links alike.
var errNoInvitation = errorf(http.StatusNotFound, "token", "this invitation does not exist, was used or has expired: ask an admin for a new one")

func (h *handler) getInvitation(w http.ResponseWriter, r *http.Request) {
	u, err := h.Store.InvitationGet(r.Context(), auth.Hash(muxVar(r, "token")))
	if errors.Is(err, store.ErrNotFound) {
		err = errNoInvitation
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"user": u.Name})
}

type invitationUseRequest struct {
	Password string `json:"password" validate:"required"`
}

// useInvitation sets the password an invitation is for, once, and signs the
// user in.
func (h *handler) useInvitation(w http.ResponseWriter, r *http.Request) {
	var req invitationUseRequest
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if err := checkPassword("password", req.Password); err != nil {
		writeError(w, r, err)
		return
	}
	u, err := h.Store.InvitationUse(r.Context(), auth.Hash(muxVar(r, "token")), auth.HashPassword(req.Password))
	if errors.Is(err, store.ErrNotFound) {
		err = errNoInvitation
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	if err := h.Store.SessionsRevokeUser(r.Context(), u.ID, 0); err != nil {
		writeError(w, r, err)
		return
	}
	h.answerSignedIn(w, r, u)
}

// memberJSON is openapi.yaml's Member.
type memberJSON struct {
	User        string `json:"user"`
	DisplayName string `json:"displayName"`
	Role        string `json:"role"`
}

func toMember(m *store.Member) memberJSON {
	return memberJSON{User: m.User, DisplayName: m.DisplayName, Role: m.Role}
}

func (h *handler) listMembers(w http.ResponseWriter, r *http.Request) {
	ms, err := h.Store.MemberList(r.Context(), projectOf(r).ID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := make([]memberJSON, 0, len(ms))
	for _, m := range ms {
		out = append(out, toMember(m))
	}
	writeJSON(w, http.StatusOK, out)
}

type memberPutRequest struct {
	Role string `json:"role" validate:"required,oneof=viewer developer maintainer"`
}

// memberUser reads the {user} of a member route.
func (h *handler) memberUser(r *http.Request) (*store.User, error) {
	name := muxVar(r, "user")
	if err := checkUserName("user", name); err != nil {
		return nil, err
	}
	u, err := h.Store.UserGet(r.Context(), name)
	return u, named(err, "user %s", name)
}

func (h *handler) putMember(w http.ResponseWriter, r *http.Request) {
	var req memberPutRequest
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	u, err := h.memberUser(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	m, err := h.Store.MemberPut(r.Context(), projectOf(r).ID, u.ID, req.Role, audit(r))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toMember(m))
}

func (h *handler) deleteMember(w http.ResponseWriter, r *http.Request) {
	u, err := h.memberUser(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if err := h.Store.MemberDelete(r.Context(), projectOf(r).ID, u.ID, audit(r)); err != nil {
		writeError(w, r, named(err, "member %s of project %s", u.Name, projectOf(r).Slug))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// personalTokenJSON is openapi.yaml's PersonalToken (Token only when created).
type personalTokenJSON struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"createdAt"`
	ExpiresAt  *time.Time `json:"expiresAt"`
	LastUsedAt *time.Time `json:"lastUsedAt"`
	Token      string     `json:"token,omitempty"`
}

func toPersonalToken(t *store.UserToken) personalTokenJSON {
	return personalTokenJSON{ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt}
}

func (h *handler) listMyTokens(w http.ResponseWriter, r *http.Request) {
	ts, err := h.Store.UserTokenList(r.Context(), principal(r).UserID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := make([]personalTokenJSON, 0, len(ts))
	for _, t := range ts {
		out = append(out, toPersonalToken(t))
	}
	writeJSON(w, http.StatusOK, out)
}

type personalTokenRequest struct {
	Name      string     `json:"name" validate:"required,max=100"`
	ExpiresAt *time.Time `json:"expiresAt"`
}

// createMyToken makes a personal token; its secret is in this answer only.
func (h *handler) createMyToken(w http.ResponseWriter, r *http.Request) {
	var req personalTokenRequest
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if req.ExpiresAt != nil && !req.ExpiresAt.After(time.Now()) {
		writeError(w, r, errorf(http.StatusBadRequest, "expiresAt", "field expiresAt must be in the future"))
		return
	}
	p := principal(r)
	secret, hash := auth.NewSecret(auth.PrefixUser, p.UserName)
	t, err := h.Store.UserTokenCreate(r.Context(), p.UserID, req.Name, hash, req.ExpiresAt, audit(r))
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := toPersonalToken(t)
	out.Token = secret
	writeJSON(w, http.StatusCreated, out)
}

func (h *handler) deleteMyToken(w http.ResponseWriter, r *http.Request) {
	id, err := idParam(r, "id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	if err := h.Store.UserTokenDelete(r.Context(), principal(r).UserID, id, audit(r)); err != nil {
		writeError(w, r, named(err, "personal token %d", id))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// sessionJSON is openapi.yaml's Session.
type sessionJSON struct {
	ID         int64     `json:"id"`
	Current    bool      `json:"current"`
	Address    string    `json:"address"`
	UserAgent  string    `json:"userAgent"`
	CreatedAt  time.Time `json:"createdAt"`
	LastSeenAt time.Time `json:"lastSeenAt"`
	ExpiresAt  time.Time `json:"expiresAt"`
}

func (h *handler) listMySessions(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	ss, err := h.Store.SessionList(r.Context(), p.UserID, h.Auth.Idle())
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := make([]sessionJSON, 0, len(ss))
	for _, s := range ss {
		out = append(out, sessionJSON{ID: s.ID, Current: s.ID == p.SessionID, Address: s.Address, UserAgent: s.UserAgent,
			CreatedAt: s.CreatedAt, LastSeenAt: s.LastSeenAt, ExpiresAt: s.ExpiresAt})
	}
	writeJSON(w, http.StatusOK, out)
}

// deleteMySession signs one of the caller's sessions out (its sockets close
// at once); the current one's cookie is cleared too.
func (h *handler) deleteMySession(w http.ResponseWriter, r *http.Request) {
	id, err := idParam(r, "id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	p := principal(r)
	if err := h.Store.SessionRevoke(r.Context(), p.UserID, id, nil); err != nil {
		writeError(w, r, named(err, "session %d", id))
		return
	}
	if id == p.SessionID {
		h.clearSession(w, r)
	}
	w.WriteHeader(http.StatusNoContent)
}

// signInLimiter slows failed sign-ins per user name and per address: each
// failure takes a token from both buckets, and a sign-in is refused while
// either is empty. It is per server: behind several, an attacker's rate is
// multiplied by their number, which the argon2id cost still bounds.
type signInLimiter struct {
	mu                sync.Mutex
	perUser, perAddr  map[string]*rate.Limiter
	userRate, addrRte rate.Limit
	userBurst, addrBu int
}

// Default sign-in limits: 5 failures per user name, then one per 30 s; 20
// per address, then one per 5 s.
const (
	defaultSignInUserBurst = 5
	defaultSignInAddrBurst = 20
	maxLimiters            = 10000
)

func newSignInLimiter() *signInLimiter {
	return &signInLimiter{perUser: map[string]*rate.Limiter{}, perAddr: map[string]*rate.Limiter{},
		userRate: rate.Every(30 * time.Second), addrRte: rate.Every(5 * time.Second),
		userBurst: defaultSignInUserBurst, addrBu: defaultSignInAddrBurst}
}

// wait is how long a sign-in of user from addr must wait; 0: it may try now.
func (l *signInLimiter) wait(user, addr string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	var wait time.Duration
	for _, lim := range []*rate.Limiter{l.perUser[user], l.perAddr[addr]} {
		if lim == nil {
			continue
		}
		if t := lim.TokensAt(now); t < 1 {
			if d := time.Duration((1 - t) / float64(lim.Limit()) * float64(time.Second)); d > wait {
				wait = d
			}
		}
	}
	return wait
}

// fail takes a failure of user from addr off both buckets.
func (l *signInLimiter) fail(user, addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	take := func(m map[string]*rate.Limiter, key string, r rate.Limit, burst int) {
		lim := m[key]
		if lim == nil {
			if len(m) >= maxLimiters {
				for k, v := range m {
					if v.TokensAt(now) >= float64(v.Burst()) {
						delete(m, k) // full again: as good as new
					}
				}
			}
			lim = rate.NewLimiter(r, burst)
			m[key] = lim
		}
		lim.AllowN(now, 1)
	}
	take(l.perUser, user, l.userRate, l.userBurst)
	take(l.perAddr, addr, l.addrRte, l.addrBu)
}
