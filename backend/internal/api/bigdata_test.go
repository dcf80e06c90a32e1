package api_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCollectionCounts checks that the member counts kept with each collection
// match its members through single submits, batches, repeats and concurrent
// submits into the same collections.
func TestCollectionCounts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	b.submit(tok, map[string]any{"entityVal": "a", "collections": map[string]string{"ref": "main", "mr": "1"}})
	b.submit(tok, map[string]any{"entityVal": "a", "name": "test", "collections": map[string]string{"ref": "main"}})
	jobs := make([]map[string]any, 5)
	for i := range jobs {
		jobs[i] = map[string]any{"entityKey": "commit", "entityVal": fmt.Sprint("b", i%3), "name": fmt.Sprint("j", i),
			"cmd": "true", "tag": "linux", "collections": map[string]string{"ref": "main", "mr": fmt.Sprint(i % 2)}}
	}
	b.json(call{method: "POST", path: "/api/v1/jobs/batch", token: tok, body: map[string]any{"jobs": jobs}}, 201, nil)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			b.submit(tok, map[string]any{"entityVal": fmt.Sprint("c", i%4), "name": fmt.Sprint("n", i),
				"collections": map[string]string{"ref": "dev", "mr": "1"}})
		})
	}
	wg.Wait()

	want := map[string]int64{}
	rows, err := b.pool.Query(context.Background(), `
		SELECT c.key || '/' || c.value, count(ce.entity_id) FROM collections c
		LEFT JOIN collection_entities ce ON ce.collection_id = c.id GROUP BY 1`)
	require.NoError(t, err)
	for rows.Next() {
		var name string
		var n int64
		require.NoError(t, rows.Scan(&name, &n))
		want[name] = n
	}
	require.NoError(t, rows.Err())
	require.Equal(t, map[string]int64{"ref/main": 4, "ref/dev": 4, "mr/1": 7, "mr/0": 3}, want)

	got := map[string]int64{}
	for _, key := range []string{"ref", "mr"} {
		var list struct {
			Items []struct {
				Value       string
				EntityCount int64
			}
		}
		b.json(call{method: "GET", path: "/api/v1/projects/proj/collections/" + key}, 200, &list)
		for _, c := range list.Items {
			got[key+"/"+c.Value] = c.EntityCount
			var one struct{ EntityCount int64 }
			b.json(call{method: "GET", path: "/api/v1/projects/proj/collections/" + key + "/" + c.Value}, 200, &one)
			require.Equal(t, c.EntityCount, one.EntityCount)
		}
	}
	require.Equal(t, want, got)
}

// TestEntityJobPages pages through an entity's jobs: 200 by default (what every
// caller got before pages, up to that size), any limit, oldest first, no job twice.
func TestEntityJobPages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tok := b.project("proj", false)
	jobs := make([]map[string]any, 205)
	for i := range jobs {
		jobs[i] = map[string]any{"entityKey": "commit", "entityVal": "big", "name": fmt.Sprint("j", i), "cmd": "true", "tag": "linux"}
	}
	b.json(call{method: "POST", path: "/api/v1/jobs/batch", token: tok, body: map[string]any{"jobs": jobs}}, 201, nil)
	type page struct {
		Summary    string
		Jobs       []struct{ ID int64 }
		NextCursor string
	}
	var first page
	b.json(call{method: "GET", path: "/api/v1/projects/proj/entities/commit/big"}, 200, &first)
	require.Len(t, first.Jobs, 200)
	require.NotEmpty(t, first.NextCursor)
	require.Equal(t, "205 queued", first.Summary, "the counts cover every job, not the page")

	var ids []int64
	cursor := ""
	for range 10 {
		var p page
		b.json(call{method: "GET", path: "/api/v1/projects/proj/entities/commit/big?limit=60&cursor=" + cursor}, 200, &p)
		for _, j := range p.Jobs {
			ids = append(ids, j.ID)
		}
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	require.Len(t, ids, 205)
	for i := 1; i < len(ids); i++ {
		require.Less(t, ids[i-1], ids[i])
	}
	require.Equal(t, first.Jobs[199].ID, ids[199])
	b.fail(call{method: "GET", path: "/api/v1/projects/proj/entities/commit/big?cursor=bogus"}, 400)
	b.fail(call{method: "GET", path: "/api/v1/projects/proj/entities/commit/big?limit=201", invalid: true}, 400)
}
