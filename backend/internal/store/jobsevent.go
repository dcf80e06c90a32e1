package store

import (
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/aura-ci/aura/backend/internal/event"
)

// A submission's jobs mostly change alike: a batch of 1,000 on one entity
// is one or two kinds of event (the queued jobs' and the waiting ones'). Each
// kind is NOTIFYed as one event.Jobs naming their ids, which every listener
// hands on as the event.Job of each id: 1,000 events to decode became one.

// maxPayload bounds a NOTIFY payload: PostgreSQL refuses 8,000 bytes or more.
const maxPayload = 7900

// maxRangeBytes is the most one range of ids adds to a payload: [first,last],
// both of 19 digits.
const maxRangeBytes = len(`[1234567890123456789,1234567890123456789],`)

// groupJobEvents replaces the event.Job values n recorded from index start on
// with an event.Jobs per kind of change (groupJobs), and logs the jobs that
// went into one in a line for each (logJobsEvent): queue logs event.Job
// values only.
func (n *notes) groupJobEvents(start int) {
	var jobs []event.Job
	var others []event.Event
	for _, e := range n.events[start:] {
		if j, ok := e.(event.Job); ok {
			jobs = append(jobs, j)
		} else {
			others = append(others, e)
		}
	}
	grouped := groupJobs(jobs)
	for _, e := range grouped {
		if js, ok := e.(event.Jobs); ok {
			logJobsEvent(js)
		}
	}
	n.events = append(append(n.events[:start], others...), grouped...)
}

// groupJobs turns job events into an event.Jobs for each kind of change (the
// same project, entity, status, tag and attempt, no runner), in the order each
// kind first appears, split so that each payload stays under maxPayload. A
// kind of one job, or a job with a runner, stays an event.Job.
func groupJobs(jobs []event.Job) []event.Event {
	type kind struct {
		project, key, val, status, tag string
		attempt                        int
	}
	var kinds []kind
	ids := map[kind][]int64{}
	var out []event.Event
	for _, j := range jobs {
		if j.RunnerID != 0 || j.JobID <= 0 {
			out = append(out, j)
			continue
		}
		k := kind{j.Project, j.EntityKey, j.EntityVal, j.Status, j.Tag, j.Attempt}
		if _, ok := ids[k]; !ok {
			kinds = append(kinds, k)
		}
		ids[k] = append(ids[k], j.JobID)
	}
	for _, k := range kinds {
		list := ids[k]
		if len(list) == 1 {
			out = append(out, event.Job{JobID: list[0], Project: k.project, EntityKey: k.key, EntityVal: k.val,
				Status: k.status, Tag: k.tag, Attempt: k.attempt})
			continue
		}
		js := event.Jobs{Project: k.project, EntityKey: k.key, EntityVal: k.val, Status: k.status, Tag: k.tag, Attempt: k.attempt}
		per := max(1, (maxPayload-len(event.Marshal(js)))/maxRangeBytes)
		ranges := idRanges(list)
		for len(ranges) > 0 {
			n := min(per, len(ranges))
			part := js
			part.JobIDs = ranges[:n:n]
			out = append(out, part)
			ranges = ranges[n:]
		}
	}
	return out
}

// idRanges sorts ids and returns them as ranges of consecutive ids, each id once.
func idRanges(ids []int64) []event.IDRange {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	var out []event.IDRange
	for _, id := range ids {
		if n := len(out); n > 0 && out[n-1][1] == id-1 {
			out[n-1][1] = id
			continue
		}
		out = append(out, event.IDRange{id, id})
	}
	return out
}

// logJobsEvent logs the transitions of an event.Jobs in one line, as logJob
// logs one: the ids as ranges ("4-6,9"), and how many.
func logJobsEvent(js event.Jobs) {
	var ids strings.Builder
	count := int64(0)
	for i, r := range js.JobIDs {
		if i > 0 {
			ids.WriteByte(',')
		}
		ids.WriteString(strconv.FormatInt(r[0], 10))
		if r[1] != r[0] {
			ids.WriteByte('-')
			ids.WriteString(strconv.FormatInt(r[1], 10))
		}
		count += r[1] - r[0] + 1
	}
	slog.Info("jobs", "ids", ids.String(), "count", count, "status", js.Status, "attempt", js.Attempt,
		"project", js.Project, "entity", js.EntityKey+"/"+js.EntityVal, "tag", js.Tag)
}
