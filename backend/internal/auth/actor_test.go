package auth

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestActor: each caller is named for the record as a person reads it.
func TestActor(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		p    *Principal
		want Actor
	}{
		{nil, Actor{Kind: "system", Name: "system"}},
		{&Principal{Kind: KindAdmin, TokenName: "admin"}, Actor{Kind: "admin", Name: "admin"}},
		{&Principal{Kind: KindProject, TokenName: "deploy", ProjectID: 1, Project: "one"}, Actor{Kind: "project-token", Name: "deploy"}},
		{&Principal{Kind: KindRunner, RunnerID: 7, RunnerName: "r7"}, Actor{Kind: "runner", Name: "r7"}},
		{&Principal{Kind: KindJob, ProjectID: 1, JobID: 123}, Actor{Kind: "job", Name: "job 123"}},
	} {
		require.Equal(t, c.want, c.p.Actor())
	}
}
