// Package auth makes and checks Aura's four kinds of bearer tokens. Admin, project
// and runner tokens are random and stored only as SHA-256 hashes; job tokens are
// signed with the server key, so claiming a job costs no token write.
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

	"github.com/aura-ci/aura/backend/internal/store"
)

// Token kinds.
const (
	KindAdmin   = "admin"
	KindProject = "project"
	KindRunner  = "runner"
	KindJob     = "job"
)

// Token prefixes, as in Aura 0.4, so a token says what it is.
const (
	PrefixAdmin   = "AURA_ADMINKEY_"
	PrefixProject = "AURA_PROJECTKEY_"
	PrefixRunner  = "AURA_RUNNERKEY_"
	PrefixJob     = "AURA_JOBKEY_"
)

// ErrInvalidToken means the bearer token is unknown, revoked, malformed or expired.
var ErrInvalidToken = errors.New("invalid or expired token")

// ErrJobEnded means a job token whose attempt is no longer running: it is worth
// nothing from then on.
var ErrJobEnded = errors.New("job token expired: its attempt is no longer running")

// Principal is who made a request.
type Principal struct {
	Kind       string
	ProjectID  int64 // project and job tokens
	Project    string
	RunnerID   int64 // runner tokens
	RunnerName string
	JobID      int64 // job tokens
	Attempt    int
}

// IsAdmin reports whether p holds the admin token.
func (p *Principal) IsAdmin() bool { return p != nil && p.Kind == KindAdmin }

// InProject reports whether p may read and act across project: the admin, or a
// project token of it. A job token is not: it reaches only its own job and the
// jobs it submitted (see the api package), and submits into its project.
func (p *Principal) InProject(projectID int64) bool {
	if p == nil {
		return false
	}
	return p.Kind == KindAdmin || (p.Kind == KindProject && p.ProjectID == projectID)
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

// Authenticator resolves bearer tokens to principals.
type Authenticator struct {
	store *store.Store
	key   []byte
}

// New returns an Authenticator signing job tokens with key.
func New(s *store.Store, key []byte) *Authenticator {
	return &Authenticator{store: s, key: key}
}

// JobToken is the token of one attempt of a job.
func (a *Authenticator) JobToken(jobID int64, attempt int) string {
	body := strconv.FormatInt(jobID, 10) + "_" + strconv.Itoa(attempt)
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
	t, err := a.store.TokenByHash(ctx, Hash(secret))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, err
	}
	p := &Principal{Kind: t.Kind}
	switch t.Kind {
	case KindProject:
		p.ProjectID, p.Project = *t.ProjectID, *t.Project
	case KindRunner:
		p.RunnerID, p.RunnerName = *t.RunnerID, *t.RunnerName
	}
	return p, nil
}

func (a *Authenticator) jobPrincipal(ctx context.Context, rest string) (*Principal, error) {
	// The signature is base64url and may itself contain "_".
	parts := strings.SplitN(rest, "_", 3)
	if len(parts) != 3 {
		return nil, ErrInvalidToken
	}
	body := parts[0] + "_" + parts[1]
	if !hmac.Equal([]byte(a.sign(body)), []byte(parts[2])) {
		return nil, ErrInvalidToken
	}
	jobID, err1 := strconv.ParseInt(parts[0], 10, 64)
	attempt, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return nil, ErrInvalidToken
	}
	j, err := a.store.JobBriefGet(ctx, jobID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrInvalidToken
	}
	if err != nil {
		return nil, fmt.Errorf("auth: job token: %w", err)
	}
	if j.Attempt != attempt || j.Status != store.StatusRunning {
		return nil, ErrJobEnded
	}
	return &Principal{Kind: KindJob, ProjectID: j.ProjectID, Project: j.Project, JobID: jobID, Attempt: attempt}, nil
}
