// Package topic spells the topics of the event websocket, the one place that
// does: the hub builds them with these constructors and reads subscriptions
// with Parse. openapi.yaml's EventClientMessage and the web app's topics module
// spell the same strings.
package topic

import (
	"regexp"
	"strconv"
	"strings"
)

// Kind is what a topic is about: the part before its ':'.
type Kind string

// The kinds of topics.
const (
	KindQueue      Kind = "queue"
	KindRunners    Kind = "runners"
	KindProject    Kind = "project"
	KindEntity     Kind = "entity"
	KindCollection Kind = "collection"
	KindJob        Kind = "job"
	KindLog        Kind = "log"
)

// The topics that name nothing further.
const (
	// Queue carries the job events of every readable project.
	Queue = string(KindQueue)
	// Runners carries runner check-ins.
	Runners = string(KindRunners)
)

// Project is the topic of a project's job, entity and integration events.
func Project(slug string) string { return string(KindProject) + ":" + slug }

// Entity is the topic of an entity's job and entity events.
func Entity(project, key, val string) string {
	return string(KindEntity) + ":" + project + "/" + key + "/" + val
}

// Collection is the topic of the job and entity events of a collection's entities.
func Collection(project, key, val string) string {
	return string(KindCollection) + ":" + project + "/" + key + "/" + val
}

// Job is the topic of a job's events.
func Job(id int64) string { return string(KindJob) + ":" + strconv.FormatInt(id, 10) }

// Log is the topic of a job's log bytes.
func Log(id int64) string { return string(KindLog) + ":" + strconv.FormatInt(id, 10) }

// Topic is a parsed topic: Kind and the fields that kind has.
type Topic struct {
	Kind Kind
	// Project is set for project, entity and collection topics.
	Project string
	// Key and Value name the entity or collection.
	Key, Value string
	// JobID is set for job and log topics.
	JobID int64
}

// slugChars and the length check in isSlug match ^[0-9A-Za-z_:.-]{1,260}$: a
// regexp with the bound holds 260 copies of the class (about 100 KB).
var slugChars = regexp.MustCompile(`^[0-9A-Za-z_:.-]+$`)

func isSlug(s string) bool { return len(s) <= 260 && slugChars.MatchString(s) }

// Parse reads a topic as the constructors spell it, or says it is none: slugs
// must be slugs and ids canonical positive numbers, so each topic has one spelling.
func Parse(s string) (Topic, bool) {
	kind, rest, hasRest := strings.Cut(s, ":")
	t := Topic{Kind: Kind(kind)}
	switch t.Kind {
	case KindQueue, KindRunners:
		return t, !hasRest
	case KindProject:
		t.Project = rest
		return t, isSlug(rest)
	case KindEntity, KindCollection:
		parts := strings.Split(rest, "/")
		if len(parts) != 3 || !isSlug(parts[0]) || !isSlug(parts[1]) || !isSlug(parts[2]) {
			return Topic{}, false
		}
		t.Project, t.Key, t.Value = parts[0], parts[1], parts[2]
		return t, true
	case KindJob, KindLog:
		id, err := strconv.ParseInt(rest, 10, 64)
		if err != nil || id <= 0 || strconv.FormatInt(id, 10) != rest {
			return Topic{}, false
		}
		t.JobID = id
		return t, true
	}
	return Topic{}, false
}
