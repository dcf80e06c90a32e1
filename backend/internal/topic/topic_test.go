package topic_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/topic"
)

// TestParseReadsWhatTheConstructorsSpell: every constructor's topic parses back
// to its parts, and what no constructor spells is no topic.
func TestParseReadsWhatTheConstructorsSpell(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]topic.Topic{
		topic.Queue:                            {Kind: topic.KindQueue},
		topic.Runners:                          {Kind: topic.KindRunners},
		topic.Project("p"):                     {Kind: topic.KindProject, Project: "p"},
		topic.Entity("p", "commit", "abc"):     {Kind: topic.KindEntity, Project: "p", Key: "commit", Value: "abc"},
		topic.Collection("p", "ref", "feat:x"): {Kind: topic.KindCollection, Project: "p", Key: "ref", Value: "feat:x"},
		topic.Job(42):                          {Kind: topic.KindJob, JobID: 42},
		topic.Log(7):                           {Kind: topic.KindLog, JobID: 7},
	} {
		got, ok := topic.Parse(s)
		require.True(t, ok, s)
		require.Equal(t, want, got, s)
	}
	require.Equal(t, "entity:p/commit/abc", topic.Entity("p", "commit", "abc"), "the wire spelling")
	require.Equal(t, "log:7", topic.Log(7))
	for _, s := range []string{"", "bogus", "queue:x", "runners:", "project:", "project:a/b", "entity:p/k",
		"collection:p/k/v/w", "entity:p/k/v w", "job:x", "job:0", "job:-1", "job:007", "log:", "log:1.0"} {
		_, ok := topic.Parse(s)
		require.False(t, ok, s)
	}
}
