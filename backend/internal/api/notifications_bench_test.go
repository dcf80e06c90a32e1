package api_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/store"
)

// BenchmarkCompleteWithRules: what notification rules add to ending a job (the
// transaction that bumps the notify outbox), with no rule and with 20 rules on
// the project. Prints p50/p99 of store.JobComplete in milliseconds.
func BenchmarkCompleteWithRules(b *testing.B) {
	for _, rules := range []int{0, 20} {
		b.Run(fmt.Sprint("rules=", rules), func(b *testing.B) {
			tb := setupBench(b)
			tok := tb.project("proj", false)
			runnerID, _ := tb.runner("r1", "linux")
			for i := range rules {
				tb.json(call{method: "POST", path: "/api/v1/projects/proj/notifications", token: tb.admin, body: map[string]any{
					"kind": "webhook", "url": fmt.Sprintf("https://hooks.test/%d", i), "on": []string{"failure", "fixed", "success"}}}, 201, nil)
			}
			ctx := context.Background()
			var ds []time.Duration
			i := 0
			for b.Loop() {
				i++
				post(b, tb.client, tb.url+"/api/v1/jobs", tok, map[string]any{
					"entityKey": "commit", "entityVal": fmt.Sprint(i), "name": "build", "cmd": "make", "tag": "linux",
					"collections": map[string]string{"ref": "main"},
				})
				jobs, err := tb.store.JobClaim(ctx, &store.JobClaimParams{RunnerID: runnerID, Tag: "linux", Limit: 1, Lease: time.Minute, Acked: true})
				require.NoError(b, err)
				require.Len(b, jobs, 1)
				start := time.Now()
				_, err = tb.store.JobComplete(ctx, &store.JobCompleteParams{Holder: store.Holder{JobID: jobs[0].ID, Attempt: jobs[0].Attempt, RunnerID: runnerID}})
				ds = append(ds, time.Since(start))
				require.NoError(b, err)
			}
			slices.Sort(ds)
			ms := func(q float64) float64 {
				return float64(ds[min(len(ds)-1, int(float64(len(ds))*q))].Microseconds()) / 1000
			}
			b.ReportMetric(ms(0.50), "complete_p50_ms")
			b.ReportMetric(ms(0.99), "complete_p99_ms")
			if rules > 0 {
				require.Equal(b, rules*i, tb.count("notify_outbox"), "every rule got its row per build")
			}
		})
	}
}
