package api

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aura-ci/aura/backend/internal/annotation"
	"github.com/aura-ci/aura/backend/internal/store"
)

// buildJSON is openapi.yaml's Build: an entity as the project page lists it.
type buildJSON struct {
	Key       string           `json:"key"`
	Value     string           `json:"value"`
	Title     string           `json:"title"`
	Meta      store.EntityMeta `json:"meta"`
	Status    string           `json:"status"`
	CreatedAt time.Time        `json:"createdAt"`
	StartedAt *time.Time       `json:"startedAt,omitempty"`
	EndedAt   *time.Time       `json:"endedAt,omitempty"`
	// DurationSeconds runs from the first job's start to the last one's end,
	// or to now while jobs still run.
	DurationSeconds *float64      `json:"durationSeconds,omitempty"`
	Jobs            []jobCellJSON `json:"jobs"`
	JobCount        int           `json:"jobCount"`
}

type buildsJSON struct {
	Builds []buildJSON `json:"builds"`
	Next   *string     `json:"next"`
}

func toBuild(b *store.Build, now time.Time) buildJSON {
	out := buildJSON{
		Key: b.Key, Value: b.Value, Title: b.Title, Meta: b.Meta, Status: b.Status, CreatedAt: b.CreatedAt,
		StartedAt: b.StartedAt, EndedAt: b.EndedAt, JobCount: b.JobCount,
		Jobs: mapSlice(b.Jobs, func(j store.BuildJob) jobCellJSON {
			return jobCellJSON{ID: j.ID, Name: j.Name, Status: j.Status, Reason: j.Reason}
		}),
	}
	if out.Jobs == nil {
		out.Jobs = []jobCellJSON{}
	}
	if b.StartedAt != nil {
		end := now
		if b.EndedAt != nil {
			end = *b.EndedAt
		}
		d := end.Sub(*b.StartedAt).Seconds()
		out.DurationSeconds = &d
	}
	return out
}

var buildStatuses = []string{store.BuildRunning, store.BuildPending, store.BuildSuccess, store.BuildFailure}

// listBuilds answers a project's builds, newest first: ?before (the cursor of
// the previous page's next), ?limit, and the filters ?collection=key/value,
// ?status and ?author (a login, or a name where the forge gave no login).
func (h *handler) listBuilds(w http.ResponseWriter, r *http.Request) {
	p := projectOf(r)
	q := r.URL.Query()
	page := store.Page{Cursor: q.Get("before"), Limit: 30}
	if s := q.Get("limit"); s != "" {
		n, err := intQuery(r, "limit", 0, false)
		if err != nil || n < 1 || n > 100 {
			writeError(w, r, errorf(http.StatusBadRequest, "limit", "limit must be an integer from 1 to 100"))
			return
		}
		page.Limit = int(n)
	}
	if _, err := store.DecodeCursor(page.Cursor); err != nil {
		writeError(w, r, errorf(http.StatusBadRequest, "before", "before must be the next cursor of an earlier page"))
		return
	}
	params := &store.BuildParams{ProjectID: p.ID, Page: page, Status: q.Get("status"), Author: q.Get("author")}
	if params.Status != "" && !containsString(buildStatuses, params.Status) {
		writeError(w, r, errorf(http.StatusBadRequest, "status", "status must be one of "+strings.Join(buildStatuses, ", ")))
		return
	}
	if len(params.Author) > 200 {
		writeError(w, r, errorf(http.StatusBadRequest, "author", "author must be at most 200 characters"))
		return
	}
	if c := q.Get("collection"); c != "" {
		key, val, ok := strings.Cut(c, "/")
		if !ok || !slugPattern.MatchString(key) || !slugPattern.MatchString(val) {
			writeError(w, r, errorf(http.StatusBadRequest, "collection", "collection must be key/value, such as ref/main"))
			return
		}
		id, err := h.Store.CollectionID(r.Context(), p.ID, key, val)
		if err != nil {
			writeError(w, r, named(err, "collection %s in project %s", c, p.Slug))
			return
		}
		params.CollectionID = id
	}
	builds, next, err := h.Store.BuildList(r.Context(), params)
	if err != nil {
		writeError(w, r, err)
		return
	}
	now := time.Now()
	out := buildsJSON{Builds: mapSlice(builds, func(b *store.Build) buildJSON { return toBuild(b, now) })}
	if out.Builds == nil {
		out.Builds = []buildJSON{}
	}
	if next != "" {
		out.Next = &next
	}
	writeJSON(w, http.StatusOK, out)
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// entityOf reads the entity {key}/{val} of the project in the path.
func (h *handler) entityOf(r *http.Request) (*store.EntityRef, error) {
	p := projectOf(r)
	key, err := slugParam(r, "key")
	if err != nil {
		return nil, err
	}
	val, err := slugParam(r, "val")
	if err != nil {
		return nil, err
	}
	e, err := h.Store.EntityRefGet(r.Context(), p.ID, key, val)
	return e, named(err, "entity %s/%s in project %s", key, val, p.Slug)
}

type entityActionJSON struct {
	Jobs []int64 `json:"jobs"`
}

// retryFailedEntity retries the failed and the skipped jobs of an entity.
func (h *handler) retryFailedEntity(w http.ResponseWriter, r *http.Request) {
	e, err := h.entityOf(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	ids, err := h.Store.EntityRetryFailed(r.Context(), e.ID, actor(r))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, entityActionJSON{Jobs: ids})
}

// cancelEntity cancels every job of an entity that has not ended.
func (h *handler) cancelEntity(w http.ResponseWriter, r *http.Request) {
	e, err := h.entityOf(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	ids, err := h.Store.EntityCancel(r.Context(), e.ID, "cancelled by user", actor(r))
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, entityActionJSON{Jobs: ids})
}

// getJobAnnotations reads a job's log (its current attempt) through the store
// and answers its annotations and last lines (?tail, default 20, at most 200).
func (h *handler) getJobAnnotations(w http.ResponseWriter, r *http.Request) {
	j := jobOf(r)
	tail, err := intQuery(r, "tail", 20, false)
	if err == nil && tail > 200 {
		err = errorf(http.StatusBadRequest, "tail", "tail must be at most 200")
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	info, err := h.Store.LogInfoGet(r.Context(), j.ID, 0)
	if err != nil {
		writeError(w, r, err)
		return
	}
	// An ended attempt's log no longer changes: its summary is read once (per
	// server) however often its page is shown.
	key := summaryKey{store: h.Store, job: j.ID, attempt: info.Attempt, length: info.Length, tail: int(tail)}
	ended := store.Ended(j.Status) && j.Attempt == info.Attempt
	if sum, ok := summaries.get(key); ok && ended {
		writeJSON(w, http.StatusOK, sum)
		return
	}
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(h.Store.LogCopy(r.Context(), pw, &store.LogReadParams{JobID: j.ID, Attempt: info.Attempt, End: info.Length}))
	}()
	sum, err := annotation.Summarize(pr, int(tail))
	pr.Close()
	if err != nil {
		writeError(w, r, err)
		return
	}
	if ended {
		summaries.put(key, sum)
	}
	writeJSON(w, http.StatusOK, sum)
}

// summaryKey names a summary; the store tells apart the servers of one process (tests).
type summaryKey struct {
	store   *store.Store
	job     int64
	attempt int
	length  int64
	tail    int
}

// summaryCache keeps the newest few summaries of ended attempts, so a page
// shown again (or by many people) does not read a log of up to the log limit
// anew.
type summaryCache struct {
	mu    sync.Mutex
	items map[summaryKey]*annotation.Summary
	order []summaryKey
}

const summaryCacheSize = 256

var summaries = &summaryCache{items: map[summaryKey]*annotation.Summary{}}

func (c *summaryCache) get(k summaryKey) (*annotation.Summary, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.items[k]
	return s, ok
}

func (c *summaryCache) put(k summaryKey, s *annotation.Summary) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[k]; ok {
		return
	}
	if len(c.order) >= summaryCacheSize {
		delete(c.items, c.order[0])
		c.order = c.order[1:]
	}
	c.items[k] = s
	c.order = append(c.order, k)
}
