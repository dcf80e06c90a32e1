package api

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aura-ci/aura/backend/internal/auth"
	"github.com/aura-ci/aura/backend/internal/dispatch"
	"github.com/aura-ci/aura/backend/internal/store"
)

// maxLogChunk bounds one log append.
const maxLogChunk = 4 << 20

type claimRequest struct {
	Tags        []string `json:"tags" validate:"required,min=1,max=32,dive,tag"`
	Capacity    *int     `json:"capacity" validate:"required,min=0,max=256"`
	Version     string   `json:"version" validate:"max=100"`
	OS          string   `json:"os" validate:"max=100"`
	Arch        string   `json:"arch" validate:"max=100"`
	WaitSeconds *int     `json:"waitSeconds" validate:"omitnil,min=0,max=60"`
	Instance    string   `json:"instance" validate:"max=200"`
}

type claimedJobJSON struct {
	ID             int64             `json:"id"`
	Attempt        int               `json:"attempt"`
	Project        string            `json:"project"`
	EntityKey      string            `json:"entityKey"`
	EntityVal      string            `json:"entityVal"`
	Name           string            `json:"name"`
	Cmd            string            `json:"cmd"`
	Env            map[string]string `json:"env"`
	SecretEnv      map[string]string `json:"secretEnv"`
	Tag            string            `json:"tag"`
	Token          string            `json:"token"`
	TimeoutSeconds int               `json:"timeoutSeconds"`
	LeaseSeconds   int               `json:"leaseSeconds"`
	LogLimit       int64             `json:"logLimit"`
}

type claimResponse struct {
	Jobs             []claimedJobJSON `json:"jobs"`
	HeartbeatSeconds int              `json:"heartbeatSeconds"`
}

func (h *handler) claimJobs(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	var body claimRequest
	if err := decode(w, r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	if err := checkClaimTags(p, body.Tags); err != nil {
		writeError(w, r, err)
		return
	}
	wait := 30 * time.Second
	if body.WaitSeconds != nil {
		wait = time.Duration(*body.WaitSeconds) * time.Second
	}
	jobs, err := h.Dispatcher.Claim(r.Context(), &dispatch.ClaimRequest{
		RunnerID: p.RunnerID, Tags: body.Tags, Capacity: *body.Capacity, Wait: wait,
		Version: body.Version, OS: body.OS, Arch: body.Arch, Instance: body.Instance,
	})
	if err == nil && r.Context().Err() != nil && len(jobs) > 0 {
		// The runner hung up while the claim committed: nobody will run these. The
		// request's context is already done, so the unclaim gets its own.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
		err = h.Store.JobUnclaim(ctx, jobIDs(jobs))
		cancel()
		jobs = nil
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := claimResponse{Jobs: make([]claimedJobJSON, len(jobs)), HeartbeatSeconds: int(h.Dispatcher.HeartbeatInterval().Seconds())}
	for i, j := range jobs {
		out.Jobs[i] = h.claimedJob(j)
		h.Metrics.ObserveClaim(time.Duration(j.QueuedFor * float64(time.Second)))
	}
	writeJSON(w, http.StatusOK, out)
}

// checkClaimTags refuses a claim for tags the runner was not registered with: a
// runner's registered tags bound what it may claim (and so which jobs' secrets it
// receives), whatever tags its process is started with.
func checkClaimTags(p *auth.Principal, tags []string) error {
	var foreign []string
	for _, t := range tags {
		if !slices.Contains(p.RunnerTags, t) && !slices.Contains(foreign, t) {
			foreign = append(foreign, t)
		}
	}
	if len(foreign) > 0 {
		return errorf(http.StatusForbidden, "tags", fmt.Sprintf("runner %s is registered for tags %s and may not claim %s: "+
			"start it with its registered tags, or register a runner for these (POST /api/v1/runners)",
			p.RunnerName, quoteList(p.RunnerTags), quoteList(foreign)))
	}
	return nil
}

func quoteList(items []string) string {
	if len(items) == 0 {
		return "[] (none)"
	}
	return "[" + strings.Join(mapSlice(items, strconv.Quote), " ") + "]"
}

func jobIDs(jobs []*store.ClaimedJob) []int64 {
	return mapSlice(jobs, func(j *store.ClaimedJob) int64 { return j.ID })
}

func (h *handler) claimedJob(j *store.ClaimedJob) claimedJobJSON {
	return claimedJobJSON{
		ID: j.ID, Attempt: j.Attempt, Project: j.Project, EntityKey: j.EntityKey, EntityVal: j.EntityVal,
		Name: j.Name, Cmd: j.Cmd, Env: nonNilMap(j.Env), SecretEnv: nonNilMap(j.SecretEnv), Tag: j.Tag,
		Token: h.Auth.JobToken(j.ID, j.Attempt, j.Claim), TimeoutSeconds: j.TimeoutSeconds,
		LeaseSeconds: int(h.Dispatcher.Lease().Seconds()), LogLimit: h.LogLimit,
	}
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// holder is who acts for attempt of job id, for the store to check that it
// holds it: the runner, or the hand-out of the job's token (auth.HoldJob lets
// no other caller get here). A job token names only its own attempt.
func holder(r *http.Request, id int64, attempt int) (store.Holder, error) {
	h := store.Holder{JobID: id, Attempt: attempt}
	p := principal(r)
	if p.Kind == auth.KindRunner {
		h.RunnerID = p.RunnerID
		return h, nil
	}
	if p.Attempt != attempt {
		return h, store.ErrGone
	}
	h.Claim = p.Claim
	return h, nil
}

// heldJobID is the job in the path of a runner's route.
func heldJobID(r *http.Request) int64 {
	id, _ := idParam(r, "id") // checked by the route's rule
	return id
}

// tokensToMask is the token of whoever uploads a job's log (the runner's), which
// the log must never show; jobTokenFunc gives the other, the job token of the
// attempt's current hand-out.
func tokensToMask(r *http.Request) []string {
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && bearer != "" {
		return []string{bearer}
	}
	return nil
}

// jobTokenFunc gives the job token of a hand-out of hold's attempt.
func (h *handler) jobTokenFunc(hold store.Holder) func(claim int) string {
	return func(claim int) string { return h.Auth.JobToken(hold.JobID, hold.Attempt, claim) }
}

type heartbeatRequest struct {
	Attempt int `json:"attempt" validate:"required,min=1,max=2147483647"`
}

type heartbeatJSON struct {
	Cancel       bool   `json:"cancel"`
	Status       string `json:"status"`
	LeaseSeconds int    `json:"leaseSeconds"`
}

func (h *handler) heartbeatJob(w http.ResponseWriter, r *http.Request) {
	var body heartbeatRequest
	if err := decode(w, r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	hold, err := holder(r, heldJobID(r), body.Attempt)
	if err != nil {
		writeError(w, r, err)
		return
	}
	hb, err := h.Store.JobHeartbeat(r.Context(), hold, h.Dispatcher.Lease())
	if err != nil {
		writeError(w, r, err)
		return
	}
	if hold.RunnerID != 0 {
		h.Dispatcher.CheckInHeartbeat(hold.RunnerID)
	}
	writeJSON(w, http.StatusOK, heartbeatJSON{Cancel: hb.Cancel, Status: hb.Status, LeaseSeconds: int(h.Dispatcher.Lease().Seconds())})
}

// intQuery reads a required (or defaulted) non-negative integer query parameter.
func intQuery(r *http.Request, name string, def int64, required bool) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		if required {
			return 0, errorf(http.StatusBadRequest, name, "query parameter "+name+" is required")
		}
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, errorf(http.StatusBadRequest, name, name+" must be a non-negative integer")
	}
	return n, nil
}

type logAppended struct {
	Length int64 `json:"length"`
	Cancel bool  `json:"cancel"`
}

func (h *handler) appendJobLog(w http.ResponseWriter, r *http.Request) {
	attempt, err := intQuery(r, "attempt", 0, true)
	if err == nil && (attempt < 1 || attempt > math.MaxInt32) {
		err = errorf(http.StatusBadRequest, "attempt", "attempt must be from 1 to 2147483647")
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	offset, err := intQuery(r, "offset", 0, true)
	if err != nil {
		writeError(w, r, err)
		return
	}
	hold, err := holder(r, heldJobID(r), int(attempt))
	if err != nil {
		writeError(w, r, err)
		return
	}
	params := &store.LogAppendParams{
		Holder: hold, Offset: offset, Limit: h.LogLimit, TailKeep: min(h.LogLimit/4, 1<<20),
		Mask: tokensToMask(r), JobTokenFunc: h.jobTokenFunc(hold),
	}
	body, err := logBody(w, r, maxLogChunk, params)
	if err != nil {
		writeError(w, r, err)
		return
	}
	res, err := h.Store.LogAppend(r.Context(), params)
	received := int64(len(params.Data))
	if r.ContentLength >= 0 {
		received = r.ContentLength
	}
	putLogBody(body) // the store keeps no reference to the chunk
	var bodyErr *store.BodyError
	if errors.As(err, &bodyErr) {
		err = bodyError(bodyErr.Err)
	}
	var rangeErr *store.RangeError
	if errors.As(err, &rangeErr) {
		e := errorf(http.StatusRequestedRangeNotSatisfiable, "offset", rangeErr.Error())
		e.Length = &rangeErr.Length
		err = e
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	h.Metrics.AddLogBytes(received)
	writeJSON(w, http.StatusOK, logAppended{Length: res.Length, Cancel: res.Cancel})
}

// logReadCap is the most log bytes one read answers unless its limit asks for
// more: X-Log-Length tells a client how far to page on.
const logReadCap = 4 << 20

func (h *handler) getJobLog(w http.ResponseWriter, r *http.Request) {
	j := jobOf(r)
	attempt, err := intQuery(r, "attempt", 0, false)
	if err != nil {
		writeError(w, r, err)
		return
	}
	offset, err := intQuery(r, "offset", 0, false)
	if err != nil {
		writeError(w, r, err)
		return
	}
	limit, err := intQuery(r, "limit", logReadCap, false)
	if err == nil && limit < 1 {
		err = errorf(http.StatusBadRequest, "limit", "limit must be at least 1")
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	if attempt > math.MaxInt32 {
		writeError(w, r, &store.Error{Kind: store.NotFound, Message: fmt.Sprintf("job %d has no attempt %d", j.ID, attempt)})
		return
	}
	info, err := h.Store.LogInfoGet(r.Context(), j.ID, int(attempt))
	if err != nil {
		writeError(w, r, err)
		return
	}
	status := http.StatusOK
	from, end, ranged, err := logByteRange(r, info.Length)
	if err != nil {
		w.Header().Set("Content-Range", "bytes */"+strconv.FormatInt(info.Length, 10))
		writeError(w, r, err)
		return
	}
	if ranged {
		offset, status = from, http.StatusPartialContent
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", from, end-1, info.Length))
	} else if end, err = logRange(offset, limit, info.Length); err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Log-Length", strconv.FormatInt(info.Length, 10))
	w.Header().Set("Accept-Ranges", "bytes")
	w.WriteHeader(status)
	err = h.Store.LogCopy(r.Context(), w, &store.LogReadParams{JobID: j.ID, Attempt: info.Attempt, Offset: offset, End: end})
	if err != nil && r.Context().Err() == nil {
		// The status is sent: all that is left is to cut the answer short.
		h.Logger.Error("log read failed", "job", j.ID, "err", err)
		panic(http.ErrAbortHandler)
	}
}

// logRange returns where a read of limit (>= 1) bytes from offset ends in a log
// of length bytes, without overflowing however large both are.
func logRange(offset, limit, length int64) (int64, error) {
	if offset > length {
		return 0, errorf(http.StatusBadRequest, "offset", fmt.Sprintf("offset %d is past the end of the log (%d bytes)", offset, length))
	}
	if limit < length-offset {
		return offset + limit, nil
	}
	return length, nil
}

// bodyError answers a raw body that could not be read: too large, or cut short.
func bodyError(err error) error {
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		return errorf(http.StatusRequestEntityTooLarge, "", fmt.Sprintf("request body is larger than %d bytes", maxErr.Limit))
	}
	return errorf(http.StatusBadRequest, "", "request body ended early")
}

type jobComplete struct {
	Attempt   int     `json:"attempt" validate:"required,min=1,max=2147483647"`
	ExitCode  *int    `json:"exitCode" validate:"required,min=-2147483648,max=2147483647"`
	LogLength *int64  `json:"logLength" validate:"omitnil,min=0"`
	LogSHA256 *string `json:"logSha256" validate:"omitnil,len=64,hexadecimal,lowercase"`
}

func (h *handler) completeJob(w http.ResponseWriter, r *http.Request) {
	var body jobComplete
	if err := decode(w, r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	hold, err := holder(r, heldJobID(r), body.Attempt)
	if err != nil {
		writeError(w, r, err)
		return
	}
	j, err := h.Store.JobComplete(r.Context(), &store.JobCompleteParams{
		Holder: hold, ExitCode: *body.ExitCode, LogLength: body.LogLength, LogSHA256: body.LogSHA256,
	})
	if err != nil {
		writeError(w, r, err)
		return
	}
	h.writeJobs(w, r, http.StatusOK, []*store.Job{j}, true)
}
