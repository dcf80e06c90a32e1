package event

// Jobs says that many jobs changed alike: the jobs of one submission that
// share a project, entity, status, tag and attempt. It stands for one Job per
// id in JobIDs, and never reaches a websocket: the listener hands each of
// those Jobs to its handlers (Each), so a 1,000-job batch is one NOTIFY to
// decode rather than 1,000.
type Jobs struct {
	// JobIDs are the jobs' ids as ranges of consecutive ids, first and last.
	JobIDs    []IDRange `json:"jobIds"`
	Project   string    `json:"project"`
	EntityKey string    `json:"entityKey"`
	EntityVal string    `json:"entityVal"`
	Status    string    `json:"status"`
	Tag       string    `json:"tag"`
	Attempt   int       `json:"attempt"`
}

// IDRange is the ids from its first to its last, both included.
type IDRange [2]int64

// EventType implements Event.
func (Jobs) EventType() Type { return TypeJobs }

// Each calls f with the Job of each id, in order.
func (js Jobs) Each(f func(Job)) {
	for _, r := range js.JobIDs {
		for id := r[0]; id <= r[1] && id > 0; id++ {
			f(Job{JobID: id, Project: js.Project, EntityKey: js.EntityKey, EntityVal: js.EntityVal,
				Status: js.Status, Tag: js.Tag, Attempt: js.Attempt})
		}
	}
}
