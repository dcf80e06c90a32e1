package api

import (
	"net"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/aura-ci/aura/backend/internal/store"
)

// actor is who makes request r, for the record of what it does to a job.
func actor(r *http.Request) *store.Actor {
	a := principal(r).Actor()
	return &a
}

// audit is who makes request r and from where, for the audit entry of the
// administrative action it asks for. The address is the TCP peer's: Aura has
// no trusted-proxy setting, so behind a proxy it is the proxy's (as the
// events hub counts it), and a client cannot forge it with a header.
func audit(r *http.Request) *store.Audit {
	return &store.Audit{Actor: principal(r).Actor(), Address: remoteHost(r)}
}

// remoteHost is the request's TCP peer without its port.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// auditActionPattern is what an action filter looks like: an action
// (project.update, secret.set) or its noun (secret).
var auditActionPattern = regexp.MustCompile(`^[a-z][a-z-]*(\.[a-z][a-z-]*)*$`)

type auditActorJSON struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

type auditEntryJSON struct {
	ID      int64          `json:"id"`
	At      time.Time      `json:"at"`
	Actor   auditActorJSON `json:"actor"`
	Address string         `json:"address"`
	Action  string         `json:"action"`
	Project *string        `json:"project"`
	Target  string         `json:"target"`
	Detail  map[string]any `json:"detail"`
}

type auditListJSON struct {
	Entries []auditEntryJSON `json:"entries"`
	Next    *int64           `json:"next"`
}

// listAudit answers the audit log newest first, filtered by actor name,
// action and project, a page of limit entries older than before.
func (h *handler) listAudit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := &store.AuditListParams{Actor: q.Get("actor"), Action: q.Get("action"), Project: q.Get("project"), Limit: 50}
	if len(p.Actor) > 200 {
		writeError(w, r, errorf(http.StatusBadRequest, "actor", "actor must be at most 200 characters"))
		return
	}
	if p.Action != "" && !auditActionPattern.MatchString(p.Action) {
		writeError(w, r, errorf(http.StatusBadRequest, "action", "action must be an action such as secret.set, or its noun such as secret"))
		return
	}
	if p.Project != "" && !slugPattern.MatchString(p.Project) {
		writeError(w, r, errorf(http.StatusBadRequest, "project", "project must match ^[0-9A-Za-z_:.-]{1,260}$"))
		return
	}
	if s := q.Get("before"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			writeError(w, r, errorf(http.StatusBadRequest, "before", "before must be a positive integer (an entry's id)"))
			return
		}
		p.Before = n
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 200 {
			writeError(w, r, errorf(http.StatusBadRequest, "limit", "limit must be an integer from 1 to 200"))
			return
		}
		p.Limit = n
	}
	entries, next, err := h.Store.AuditList(r.Context(), p)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := auditListJSON{Entries: make([]auditEntryJSON, len(entries))}
	for i, e := range entries {
		detail := e.Detail
		if detail == nil {
			detail = map[string]any{}
		}
		out.Entries[i] = auditEntryJSON{ID: e.ID, At: e.At, Actor: auditActorJSON{Kind: e.ActorKind, Name: e.ActorName},
			Address: e.Address, Action: e.Action, Project: e.Project, Target: e.Target, Detail: detail}
	}
	if next != 0 {
		out.Next = &next
	}
	writeJSON(w, http.StatusOK, out)
}
