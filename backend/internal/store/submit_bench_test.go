package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/store"
)

// BenchmarkJobSubmitOne is the store's part of POST /api/v1/jobs: one job
// that waits for nothing, on an entity of its own, with and without
// collections. Run it against a cluster with fsync on to see a commit's cost.
func BenchmarkJobSubmitOne(b *testing.B) {
	for _, collections := range []map[string]string{nil, {"ref": "main"}} {
		b.Run(fmt.Sprintf("collections=%d", len(collections)), func(b *testing.B) {
			st := store.New(newPool(b), newBox(b, make([]byte, 32)))
			ctx := context.Background()
			p, err := st.ProjectCreate(ctx, "proj", "Proj", false, nil)
			require.NoError(b, err)
			var ds []time.Duration
			i := 0
			for b.Loop() {
				i++
				start := time.Now()
				_, err := st.JobSubmit(ctx, []*store.JobSubmitParams{{JobSpec: store.JobSpec{Name: "build", Cmd: "make", Tag: "linux"},
					ProjectID: p.ID, ProjectSlug: "proj", EntityKey: "commit", EntityVal: fmt.Sprint(i), Collections: collections,
					SubmittedBy: &store.Actor{Kind: "token", Name: "ci"}}})
				ds = append(ds, time.Since(start))
				require.NoError(b, err)
			}
			slices.Sort(ds)
			b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "p50_ms")
			b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds())/1000, "p99_ms")
		})
	}
}
