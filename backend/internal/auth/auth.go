// Package auth makes and checks Aura's four kinds of bearer tokens. Admin, project
// and runner tokens are random and stored only as SHA-256 hashes; job tokens are
// signed with a key derived from the server key (never stored in the database),
// so claiming a job costs no token write.
package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aura-ci/aura/backend/internal/store"
)

// Token kinds.
const (
	KindAdmin   = "admin"
	KindProject = "project"
	KindRunner  = "runner"
	KindJob     = "job"
	// KindUser is a signed-in user: by session cookie, or by personal token.
	KindUser = "user"
	// KindMetrics is the metrics token (--metrics-token): it reads /metrics
	// and nothing else; the API never resolves it (api/metrics.go does).
	KindMetrics = "metrics"
)

// Token prefixes, as in Aura 0.4, so a token says what it is.
const (
	PrefixAdmin   = "AURA_ADMINKEY_"
	PrefixProject = "AURA_PROJECTKEY_"
	PrefixRunner  = "AURA_RUNNERKEY_"
	PrefixJob     = "AURA_JOBKEY_"
	// PrefixUser starts a user's personal token, a bearer token like the others.
	PrefixUser = "AURA_USERKEY_"
	// PrefixSession starts a session's secret: the value of the session
	// cookie, never accepted as a bearer token.
	PrefixSession = "AURA_SESSION_"
)

// SessionCookie is the name of the cookie that holds a session's secret.
const SessionCookie = "aura_session"

// ErrInvalidToken means the bearer token is unknown, revoked, malformed or expired.
var ErrInvalidToken = errors.New("invalid or expired token")

// ErrJobEnded means a job token whose hand-out is over (its attempt ended, or
// the job was handed out again): it is worth nothing from then on.
var ErrJobEnded = errors.New("job token expired: its attempt is no longer running")

// ErrInvalidSession means the session cookie is unknown, revoked or expired.
var ErrInvalidSession = errors.New("your session has expired or was ended: sign in again")

// ErrUserDisabled means the user of a session or personal token is disabled.
var ErrUserDisabled = errors.New("this user is disabled")

// Principal is who made a request.
type Principal struct {
	Kind       string
	TokenName  string // the stored token's name (admin and project tokens, a user's personal token)
	ProjectID  int64  // project and job tokens
	Project    string
	RunnerID   int64 // runner tokens
	RunnerName string
	RunnerTags []string // the tags the runner was registered with: all it may claim
	JobID      int64    // job tokens
	Attempt    int
	Claim      int // the hand-out of the job the token was made for

	// Users (KindUser), by session or personal token.
	UserID    int64
	UserName  string
	UserAdmin bool           // an instance admin: may do all the admin token may
	Roles     map[int64]Role // the user's role in each project it is a member of, by project id
	SessionID int64          // the session, when signed in by cookie
	TokenID   int64          // the personal token, when signed in by one
}

// NewSecret returns a new random token with prefix+label and the hash to store.
func NewSecret(prefix, label string) (secret string, hash []byte) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	if label != "" {
		label += "-"
	}
	secret = prefix + label + base64.RawURLEncoding.EncodeToString(b)
	return secret, Hash(secret)
}

// Hash is the stored form of a token.
func Hash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// Authenticator resolves bearer tokens and session cookies to principals.
type Authenticator struct {
	store *store.Store
	key   []byte
	// SessionIdle is how long a session lives unused; 0: DefaultSessionIdle.
	SessionIdle time.Duration
	// tokens, when set (CacheTokens), remembers admin, project and runner tokens.
	tokens *tokenCache
}

// Session lifetimes: unused, and in all.
const (
	DefaultSessionIdle = 7 * 24 * time.Hour
	DefaultSessionMax  = 30 * 24 * time.Hour
)

// Idle is how long a session lives unused.
func (a *Authenticator) Idle() time.Duration {
	if a.SessionIdle <= 0 {
		return DefaultSessionIdle
	}
	return a.SessionIdle
}

// SigningKeyPurpose labels the key that signs job tokens among those derived
// from the server key (seal.DeriveKey).
const SigningKeyPurpose = "aura job token signing v1"

// New returns an Authenticator signing job tokens with key: derive it from the
// server key with seal.DeriveKey(serverKey, SigningKeyPurpose), so whoever reads
// the database (a backup, a read-only user) cannot mint a job's token.
func New(s *store.Store, key []byte) *Authenticator {
	return &Authenticator{store: s, key: key}
}

// JobToken is the token of one hand-out (claim) of one attempt of a job. Each
// hand-out has its own: a claim that no runner acknowledged goes back to the
// queue with the same attempt, and its token must not work for the next runner.
func (a *Authenticator) JobToken(jobID int64, attempt, claim int) string {
	body := strconv.FormatInt(jobID, 10) + "_" + strconv.Itoa(attempt) + "_" + strconv.Itoa(claim)
	return PrefixJob + body + "_" + a.sign(body)
}

func (a *Authenticator) sign(body string) string {
	m := hmac.New(sha256.New, a.key)
	m.Write([]byte("job:" + body))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Authenticate resolves an Authorization header; an empty header is anonymous (nil, nil).
func (a *Authenticator) Authenticate(ctx context.Context, header string) (*Principal, error) {
	if header == "" {
		return nil, nil
	}
	secret, ok := strings.CutPrefix(header, "Bearer ")
	if !ok || secret == "" {
		return nil, ErrInvalidToken
	}
	if strings.HasPrefix(secret, PrefixJob) {
		return a.jobPrincipal(ctx, strings.TrimPrefix(secret, PrefixJob))
	}
	if strings.HasPrefix(secret, PrefixUser) {
		return a.userTokenPrincipal(ctx, secret)
	}
	if strings.HasPrefix(secret, PrefixSession) {
		return nil, ErrInvalidToken // a cookie's secret is not a bearer token
	}
	hash := Hash(secret)
	var key string
	var conn uint32
	var gen uint64
	if a.tokens != nil {
		var p *Principal
		if p, key, conn, gen = a.tokens.lookup(hash); p != nil {
			return p, nil
		}
	}
	t, err := a.store.TokenByHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, err
	}
	p := &Principal{Kind: t.Kind, TokenName: t.Name}
	switch t.Kind {
	case KindProject:
		p.ProjectID, p.Project = *t.ProjectID, *t.Project
	case KindRunner:
		p.RunnerID, p.RunnerName, p.RunnerTags = *t.RunnerID, *t.RunnerName, t.RunnerTags
	}
	if a.tokens != nil {
		a.tokens.store(key, conn, gen, p)
	}
	return p, nil
}

func (a *Authenticator) jobPrincipal(ctx context.Context, rest string) (*Principal, error) {
	// The signature is base64url and may itself contain "_".
	parts := strings.SplitN(rest, "_", 4)
	if len(parts) != 4 {
		return nil, ErrInvalidToken
	}
	body := parts[0] + "_" + parts[1] + "_" + parts[2]
	if !hmac.Equal([]byte(a.sign(body)), []byte(parts[3])) {
		return nil, ErrInvalidToken
	}
	jobID, err1 := strconv.ParseInt(parts[0], 10, 64)
	attempt, err2 := strconv.Atoi(parts[1])
	claim, err3 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, ErrInvalidToken
	}
	j, err := a.store.JobBriefGet(ctx, jobID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, fmt.Errorf("auth: job token: %w", err)
	}
	// A token dies with its hand-out: when the attempt ends, and when the job was
	// handed out again (a claim nobody acknowledged went back to the queue).
	if j.Attempt != attempt || j.Claims != claim || j.Status != store.StatusRunning {
		return nil, ErrJobEnded
	}
	return &Principal{Kind: KindJob, ProjectID: j.ProjectID, Project: j.Project, JobID: jobID, Attempt: attempt, Claim: claim}, nil
}

// JobRef describes job jobID of project projectID to the policy for p: whether
// p's job submitted it is looked up only for a job token of that project,
// since no other caller's answer depends on it.
func (a *Authenticator) JobRef(ctx context.Context, p *Principal, projectID, jobID int64) (*JobRef, error) {
	ref := &JobRef{ID: jobID}
	if p == nil || p.Kind != KindJob || p.ProjectID != projectID || p.JobID == jobID {
		return ref, nil
	}
	ok, err := a.store.JobDescends(ctx, jobID, p.JobID)
	if err != nil {
		return nil, fmt.Errorf("auth: job ancestry: %w", err)
	}
	if ok {
		ref.SubmittedBy = []int64{p.JobID}
	}
	return ref, nil
}
