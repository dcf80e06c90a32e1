package api

import (
	"net/http"
	"time"

	"github.com/aura-ci/aura/backend/internal/store"
)

type keyCountJSON struct {
	Key   string `json:"key"`
	Count int64  `json:"count"`
}

type entitySummaryJSON struct {
	Key       string          `json:"key"`
	Value     string          `json:"value"`
	CreatedAt time.Time       `json:"createdAt"`
	Status    string          `json:"status"`
	Summary   string          `json:"summary"`
	Counts    store.JobCounts `json:"counts"`
	// LatestJobs is set only for a collection asked for with latestJobs=true.
	LatestJobs []jobCellJSON `json:"latestJobs,omitempty"`
}

// jobCellJSON is openapi.yaml's JobCell.
type jobCellJSON struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

func toEntitySummary(e *store.EntitySummary) entitySummaryJSON {
	return entitySummaryJSON{
		Key: e.Key, Value: e.Value, CreatedAt: e.CreatedAt,
		Status: e.Status(), Summary: e.Summary(), Counts: e.JobCounts,
	}
}

type collectionRefJSON struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type entityJSON struct {
	Project string `json:"project"`
	entitySummaryJSON
	Collections []collectionRefJSON `json:"collections"`
	Title       string              `json:"title"`
	Meta        store.EntityMeta    `json:"meta"`
	Jobs        []jobJSON           `json:"jobs"`
	NextCursor  string              `json:"nextCursor,omitempty"`
}

type collectionSummaryJSON struct {
	Key         string    `json:"key"`
	Value       string    `json:"value"`
	CreatedAt   time.Time `json:"createdAt"`
	EntityCount int64     `json:"entityCount"`
}

type collectionJSON struct {
	Project     string              `json:"project"`
	Key         string              `json:"key"`
	Value       string              `json:"value"`
	CreatedAt   time.Time           `json:"createdAt"`
	EntityCount int64               `json:"entityCount"`
	Entities    []entitySummaryJSON `json:"entities"`
	NextCursor  string              `json:"nextCursor,omitempty"`
}

func (h *handler) listEntityKeys(w http.ResponseWriter, r *http.Request) {
	h.listKeys(w, r, "entity")
}

func (h *handler) listCollectionKeys(w http.ResponseWriter, r *http.Request) {
	h.listKeys(w, r, "collection")
}

func (h *handler) listKeys(w http.ResponseWriter, r *http.Request, kind string) {
	p := projectOf(r)
	keys, err := h.Store.KeyList(r.Context(), p.ID, kind)
	if err != nil {
		writeError(w, r, err)
		return
	}
	items := mapSlice(keys, func(k store.KeyCount) keyCountJSON { return keyCountJSON{Key: k.Key, Count: k.Count} })
	writeJSON(w, http.StatusOK, listJSON[keyCountJSON]{Items: items})
}

// projectKeyPage reads what the entity and collection lists share: the project, a key and a page.
func (h *handler) projectKeyPage(r *http.Request) (*store.Project, string, store.Page, error) {
	p := projectOf(r)
	key, err := slugParam(r, "key")
	if err != nil {
		return nil, "", store.Page{}, err
	}
	page, err := pageParams(r)
	return p, key, page, err
}

func (h *handler) listEntities(w http.ResponseWriter, r *http.Request) {
	p, key, page, err := h.projectKeyPage(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	es, next, err := h.Store.EntityList(r.Context(), p.ID, key, page)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, listJSON[entitySummaryJSON]{Items: mapSlice(es, toEntitySummary), NextCursor: next})
}

// entityJobsPage is how many jobs an entity page holds unless limit says
// otherwise: the most a page may hold, so callers written when an entity
// answered all its jobs still get them all up to that size.
const entityJobsPage = 200

func (h *handler) getEntity(w http.ResponseWriter, r *http.Request) {
	p := projectOf(r)
	key, err := slugParam(r, "key")
	if err == nil {
		_, err = slugParam(r, "val")
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	page, err := pageParamsDefault(r, entityJobsPage)
	if err != nil {
		writeError(w, r, err)
		return
	}
	e, err := h.Store.EntityGet(r.Context(), p.ID, key, muxVar(r, "val"), page)
	if err != nil {
		writeError(w, r, named(err, "entity %s/%s in project %s", key, muxVar(r, "val"), p.Slug))
		return
	}
	jobs, err := h.jobsJSON(r, e.Jobs)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, entityJSON{
		Project:           p.Slug,
		entitySummaryJSON: toEntitySummary(&e.EntitySummary),
		Collections: mapSlice(e.Collections, func(c store.CollectionRef) collectionRefJSON {
			return collectionRefJSON{Key: c.Key, Value: c.Value}
		}),
		Title:      e.Title,
		Meta:       e.Meta,
		Jobs:       jobs,
		NextCursor: e.NextCursor,
	})
}

func (h *handler) listCollections(w http.ResponseWriter, r *http.Request) {
	p, key, page, err := h.projectKeyPage(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	cs, next, err := h.Store.CollectionList(r.Context(), p.ID, key, page)
	if err != nil {
		writeError(w, r, err)
		return
	}
	items := mapSlice(cs, func(c *store.CollectionSummary) collectionSummaryJSON {
		return collectionSummaryJSON{Key: c.Key, Value: c.Value, CreatedAt: c.CreatedAt, EntityCount: c.EntityCount}
	})
	writeJSON(w, http.StatusOK, listJSON[collectionSummaryJSON]{Items: items, NextCursor: next})
}

func (h *handler) getCollection(w http.ResponseWriter, r *http.Request) {
	p, key, page, err := h.projectKeyPage(r)
	if err == nil {
		_, err = slugParam(r, "val")
	}
	var latest bool
	if err == nil {
		latest, err = boolQuery(r, "latestJobs")
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	c, err := h.Store.CollectionGet(r.Context(), p.ID, key, muxVar(r, "val"), page)
	if err != nil {
		writeError(w, r, named(err, "collection %s/%s in project %s", key, muxVar(r, "val"), p.Slug))
		return
	}
	entities := mapSlice(c.Entities, toEntitySummary)
	if latest {
		ids := make([]int64, len(c.Entities))
		for i, e := range c.Entities {
			ids[i] = e.ID
		}
		cells, err := h.Store.LatestJobs(r.Context(), ids)
		if err != nil {
			writeError(w, r, err)
			return
		}
		for i, e := range c.Entities {
			entities[i].LatestJobs = mapSlice(cells[e.ID], func(c store.JobCell) jobCellJSON {
				return jobCellJSON{ID: c.ID, Name: c.Name, Status: c.Status, Reason: c.Reason}
			})
		}
	}
	writeJSON(w, http.StatusOK, collectionJSON{
		Project: p.Slug, Key: c.Key, Value: c.Value, CreatedAt: c.CreatedAt, EntityCount: c.EntityCount,
		Entities: entities, NextCursor: c.NextCursor,
	})
}

// boolQuery reads an optional true/false query parameter.
func boolQuery(r *http.Request, name string) (bool, error) {
	switch r.URL.Query().Get(name) {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	}
	return false, errorf(http.StatusBadRequest, name, name+" must be true or false")
}
