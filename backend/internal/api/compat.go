package api

// The Aura 0.4 endpoints, mapped onto the same store and dispatcher as /api/v1.
// They live in this package rather than their own because they share its route
// table, decoding and error answers.

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aura-ci/aura/backend/internal/dispatch"
	"github.com/aura-ci/aura/backend/internal/store"
)

type compatSubmit struct {
	ParentJob     *int64            `json:"parentJob"`
	Project       string            `json:"project" validate:"required,slug"`
	EntityKey     string            `json:"entityKey" validate:"required,slug"`
	EntityVal     string            `json:"entityVal" validate:"required,slug"`
	Name          string            `json:"name" validate:"required,slug"`
	Cmd           string            `json:"cmd" validate:"required,max=65536"`
	Env           string            `json:"env"`
	Tag           string            `json:"tag" validate:"required,tag"`
	Collections   map[string]string `json:"collections" validate:"max=50,dive,keys,slug,endkeys,slug"`
	PrecedingJobs []int64           `json:"precedingJobs" validate:"max=100,dive,min=1"`
	EarliestStart *int64            `json:"earliestStart"`
}

func (h *handler) compatSubmit(w http.ResponseWriter, r *http.Request) {
	var body compatSubmit
	if err := decode(w, r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	env, err := body.check()
	if err != nil {
		writeError(w, r, err)
		return
	}
	target, err := h.submitProject(r, nil, body.Project, "project")
	if err != nil {
		writeError(w, r, err)
		return
	}
	if body.ParentJob != nil && (target.parent == nil || *target.parent != *body.ParentJob) {
		writeError(w, r, errorf(http.StatusForbidden, "parentJob", "parentJob must be the job whose key submits"))
		return
	}
	p := (&jobSubmit{
		JobSpec:   store.JobSpec{Name: body.Name, Cmd: body.Cmd, Env: env, Tag: body.Tag},
		EntityKey: body.EntityKey, EntityVal: body.EntityVal, Collections: body.Collections, PrecedingJobs: body.PrecedingJobs,
	}).params(target, actor(r))
	if body.EarliestStart != nil {
		t := time.Unix(*body.EarliestStart, 0)
		p.EarliestStart = &t
	}
	jobs, err := h.Store.JobSubmit(r.Context(), []*store.JobSubmitParams{p})
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int64{"id": jobs[0].ID})
}

// check refuses what the tags cannot and returns the parsed env text.
func (b *compatSubmit) check() (map[string]string, error) {
	env, err := parseDotEnv(b.Env)
	if err == nil {
		err = checkEnv("env", env)
	}
	if err == nil && b.EarliestStart != nil {
		// Unix seconds: refuse what would wrap around or lie beyond a year.
		if s := *b.EarliestStart; s < 0 || s > time.Now().Add(maxAhead).Unix() {
			err = errorf(http.StatusBadRequest, "earliestStart", "field earliestStart must be Unix seconds between 1970 and a year from now")
		}
	}
	return env, err
}

// parseDotEnv reads the text of a .env file: KEY=value lines, blank lines and # comments.
func parseDotEnv(text string) (map[string]string, error) {
	env := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), maxBodyBytes)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(s, "export "), "=")
		k = strings.TrimSpace(k)
		if !ok || !envNamePattern.MatchString(k) {
			return nil, errorf(http.StatusBadRequest, "env", "env line "+strconv.Itoa(line)+" is not KEY=value")
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		// A carriage return inside a line (only \n ends one) would split the
		// variable when the .env text goes back to a 0.4 runner.
		if strings.ContainsRune(v, '\r') {
			return nil, errorf(http.StatusBadRequest, "env", "env line "+strconv.Itoa(line)+" holds a carriage return")
		}
		env[k] = v
	}
	return env, nil
}

// formatDotEnv writes env as .env text, sorted so it reads the same every time.
func formatDotEnv(envs ...map[string]string) string {
	var lines []string
	for _, env := range envs {
		for k, v := range env {
			lines = append(lines, k+"="+v)
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

type compatRunnerCheckIn struct {
	Name  string   `json:"name" validate:"required,slug"`
	Tags  []string `json:"tags" validate:"max=32,dive,tag"`
	Limit *int     `json:"limit" validate:"required,min=0"`
}

type compatJobJSON struct {
	ID        int64  `json:"id"`
	Project   string `json:"project"`
	EntityKey string `json:"entityKey"`
	EntityVal string `json:"entityVal"`
	Name      string `json:"name"`
	JobKey    string `json:"jobKey"`
	Cmd       string `json:"cmd"`
	Env       string `json:"env"`
	Tag       string `json:"tag"`
}

func (h *handler) compatRunner(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	var body compatRunnerCheckIn
	if err := decode(w, r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	if err := checkClaimTags(p, body.Tags); err != nil {
		writeError(w, r, err)
		return
	}
	// A 0.4 runner does not long-poll and never heartbeats.
	jobs, err := h.Dispatcher.Claim(r.Context(), &dispatch.ClaimRequest{
		RunnerID: p.RunnerID, Tags: body.Tags, Capacity: min(*body.Limit, 100), Compat: true,
	})
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := make([]compatJobJSON, len(jobs))
	for i, j := range jobs {
		out[i] = compatJobJSON{
			ID: j.ID, Project: j.Project, EntityKey: j.EntityKey, EntityVal: j.EntityVal, Name: j.Name,
			JobKey: h.Auth.JobToken(j.ID, j.Attempt, j.Claim), Cmd: j.Cmd, Env: formatDotEnv(j.Env, j.SecretEnv), Tag: j.Tag,
		}
		h.Metrics.ObserveClaim(time.Duration(j.QueuedFor * float64(time.Second)))
	}
	writeJSON(w, http.StatusOK, map[string]any{"jobs": out})
}

type compatJobDone struct {
	Name     string `json:"name" validate:"required,slug"`
	ID       int64  `json:"id" validate:"required,min=1"`
	ExitCode *int   `json:"exitCode" validate:"required,min=-2147483648,max=2147483647"`
}

func (h *handler) compatJob(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	var body compatJobDone
	if err := decode(w, r, &body); err != nil {
		writeError(w, r, err)
		return
	}
	j, err := h.Store.JobBriefGet(r.Context(), body.ID)
	if err != nil {
		writeError(w, r, named(err, "job %d", body.ID))
		return
	}
	// Only the runner holding the running attempt may finish it, as on /api/v1:
	// 0.4 let any runner mark any job finished, which forged results.
	_, err = h.Store.JobComplete(r.Context(), &store.JobCompleteParams{
		Holder:   store.Holder{JobID: body.ID, Attempt: j.Attempt, RunnerID: p.RunnerID},
		ExitCode: *body.ExitCode,
	})
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// fill reads into buf until it is full or the body ends; io.EOF means the body
// ended cleanly (a cut body is io.ErrUnexpectedEOF, as net/http reports it).
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// compatLogPiece is how much of a 0.4 log upload is read before it is stored.
const compatLogPiece = 1 << 20

// compatUploadLog stores a 0.4 runner's whole log, uploaded once after the job:
// by the runner that ran the attempt, or by the job's token while it runs.
func (h *handler) compatUploadLog(w http.ResponseWriter, r *http.Request) {
	id, err := idParam(r, "jobId")
	if err != nil {
		writeError(w, r, err)
		return
	}
	j, err := h.Store.JobBriefGet(r.Context(), id)
	if err != nil {
		writeError(w, r, named(err, "job %d", id))
		return
	}
	hold, err := holder(r, id, j.Attempt)
	if err != nil {
		writeError(w, r, err)
		return
	}
	// The log is appended a piece at a time as it arrives, so a 64 MiB upload
	// never sits in memory whole.
	limit := h.LogLimit + 1<<20
	if r.ContentLength > limit {
		writeError(w, r, errorf(http.StatusRequestEntityTooLarge, "", fmt.Sprintf("request body is larger than %d bytes", limit)))
		return
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	buf := make([]byte, compatLogPiece)
	for offset := int64(0); ; {
		n, err := fill(body, buf)
		if n > 0 {
			_, aerr := h.Store.LogAppend(r.Context(), &store.LogAppendParams{
				Holder: hold, Offset: offset, Data: buf[:n], Limit: h.LogLimit, TailKeep: min(h.LogLimit/4, 1<<20),
				Mask: tokensToMask(r), JobTokenFunc: h.jobTokenFunc(hold), AfterEnd: true,
			})
			if aerr != nil {
				writeError(w, r, aerr)
				return
			}
			h.Metrics.AddLogBytes(int64(n))
			offset += int64(n)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			writeError(w, r, bodyError(err))
			return
		}
	}
	writeJSON(w, http.StatusOK, struct{}{})
}
