package auth_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aura-ci/aura/backend/internal/auth"
	"github.com/aura-ci/aura/backend/internal/dbtest"
	"github.com/aura-ci/aura/backend/internal/store"
)

// TestMain stops the cluster dbtest starts when AURA_TEST_DATABASE_URL is not
// set; only FuzzAuthenticate asks for one.
func TestMain(m *testing.M) { dbtest.Main(m) }

// FuzzAuthenticate resolves any Authorization header, and any event socket
// credential, against a database holding one project token: only that
// token's exact secret, or a job token this server signed, is anybody; a
// refusal is one that Revoked recognises (a 401), never a database error.
func FuzzAuthenticate(f *testing.F) {
	st := store.New(dbtest.New(f), nil)
	ctx := context.Background()
	p, err := st.ProjectCreate(ctx, "fuzz", "Fuzz", false, &store.Audit{})
	if err != nil {
		f.Fatal(err)
	}
	secret, hash := auth.NewSecret("aura_", "")
	if _, err := st.ProjectTokenCreate(ctx, p.ID, "ci", hash, &store.Audit{}); err != nil {
		f.Fatal(err)
	}
	a := auth.New(st, []byte("0123456789abcdef0123456789abcdef"))
	for _, s := range []string{
		"Bearer " + secret, "Bearer " + secret + " ", "bearer " + secret, "Bearer " + strings.ToUpper(secret), "Bearer ",
		"Bearer " + a.JobToken(1, 1, 1), "Bearer " + a.JobToken(-1, 0, 99), "Bearer " + auth.PrefixJob + "1_1_1_", "Bearer " + auth.PrefixJob + "____",
		"Bearer " + auth.PrefixUser + "x", "Bearer " + auth.PrefixSession + "x", "Basic dXNlcjpwYXNz", "Bearer \x00\xff",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		pr, err := a.Authenticate(ctx, header)
		check := func(what string, pr *auth.Principal, err error) {
			if err != nil {
				if !auth.Revoked(err) {
					t.Fatalf("%s %q: %v is not a refusal", what, header, err)
				}
				if pr != nil {
					t.Fatalf("%s %q: a principal and an error", what, header)
				}
				return
			}
			if pr == nil {
				if what != "header" || header != "" {
					t.Fatalf("%s %q: anonymous", what, header)
				}
				return
			}
			if pr.Kind != auth.KindProject || pr.ProjectID != p.ID {
				t.Fatalf("%s %q: principal %+v", what, header, pr)
			}
		}
		check("header", pr, err)
		if pr != nil && header != "Bearer "+secret {
			t.Fatalf("%q is the project token", header)
		}
		if header != "" {
			pr, err = a.Credential(ctx, header)
			check("credential", pr, err)
			if pr != nil && header != secret {
				t.Fatalf("credential %q is the project token", header)
			}
		}
	})
}

// FuzzUserNameFrom makes a user name out of a provider's login: always a
// valid one, short enough for the "-1000" a clash appends.
func FuzzUserNameFrom(f *testing.F) {
	for _, s := range []string{"octocat", "Alice.Smith@example.com", "__x", "ǅemal", "K", "İstanbul", strings.Repeat("é", 40), "", "@"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, login string) {
		name := auth.UserNameFrom(login)
		if !auth.UserNamePattern.MatchString(name) || len(name)+len("-1000") > 39 {
			t.Fatalf("%q made %q", login, name)
		}
	})
}
