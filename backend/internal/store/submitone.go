package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/aura-ci/aura/backend/internal/event"
	"github.com/aura-ci/aura/backend/internal/tracing"
)

// One job that waits for nothing (no preceding job, no earliest start, no
// parent whose limits to check, no entity title to set) is submitted in one
// round trip: its statements are pipelined in one batch, which PostgreSQL
// runs as one implicit transaction committed at its end. What jobSubmitTx
// reads back in a first round trip (the job's id and time, its entity's id)
// the statements take from each other instead: the insert allocates the id,
// the later statements read it with currval, as a subquery where it finds a
// row, since the volatile function itself is no index condition (a scan of
// jobs).

// submitsAlone reports whether params is one job jobSubmitOne can submit.
func submitsAlone(params []*JobSubmitParams) bool {
	if len(params) != 1 {
		return false
	}
	p := params[0]
	return len(p.PrecedingJobs) == 0 && len(p.PrecedingNames) == 0 && p.ParentJobID == nil &&
		p.EarliestStart == nil && p.EntityTitle == "" && p.EntityMeta.IsZero()
}

// oneOverride are the columns of qJobSubmitOne the database fills in, those
// with a %s from their argument.
var oneOverride = map[string]string{
	"id":           "nextval('jobs_id_seq')",
	"entity_id":    "(SELECT id FROM entity LIMIT 1)",
	"created_at":   "now()",
	"queued_at":    "now()", // the job is queued
	"submitted_by": "jsonb_set(%s::jsonb, '{at}', to_jsonb(now()))",
}

// oneArg reports whether a column of qJobSubmitOne takes an argument.
func oneArg(column string) bool {
	o, ok := oneOverride[column]
	return !ok || strings.Contains(o, "%s")
}

// qJobSubmitOne finds or creates the entity (e_project, e_key, e_val) and
// inserts the job (the arguments of jobOneArgs) on it, with
// its id, times and submitter's time from the database, and creates the
// collections (c_keys, c_values) it joins that do not exist yet. The
// entity's id is NULL, and the insert refused (entity_id is NOT NULL), when a
// concurrent transaction created the entity and committed after this
// statement's snapshot: the caller then submits the job again, as
// jobSubmitTx does. A collection created so is seen by qMembersOne, a later
// statement with a snapshot of its own.
var qJobSubmitOne = func() string {
	// One row: scalar arguments for the columns that take one (oneArg), in
	// the fields' order, then the entity's and the collections'.
	var exprs []string
	n := 0
	for _, f := range jobRowFields {
		o, ok := oneOverride[f.column]
		if !oneArg(f.column) {
			exprs = append(exprs, o)
			continue
		}
		n++
		param := "$" + strconv.Itoa(n) + "::" + scalarType(jobRowType.FieldByIndex(f.index).Type)
		if ok {
			param = strings.ReplaceAll(o, "%s", param)
		}
		exprs = append(exprs, param)
	}
	return strings.NewReplacer("@e_project", fmt.Sprintf("$%d::bigint", n+1), "@e_key", fmt.Sprintf("$%d::text", n+2),
		"@e_val", fmt.Sprintf("$%d::text", n+3), "@c_keys", fmt.Sprintf("$%d", n+4), "@c_values", fmt.Sprintf("$%d", n+5)).Replace(`
		WITH created AS (
			INSERT INTO entities (project_id, key, value) VALUES (@e_project, @e_key, @e_val)
			ON CONFLICT DO NOTHING
			RETURNING id
		), entity AS (
			SELECT id FROM created
			UNION ALL
			SELECT id FROM entities WHERE project_id = @e_project AND key = @e_key AND value = @e_val
		), collection AS (
			INSERT INTO collections (project_id, key, value)
			SELECT @e_project, key, value FROM unnest(@c_keys::text[], @c_values::text[]) AS t(key, value) ORDER BY key
			ON CONFLICT DO NOTHING
		)
		INSERT INTO jobs (`) + columnList(jobRowFields, "") + `)
		SELECT ` + strings.Join(exprs, ", ") + `
		RETURNING id, entity_id, created_at`
}()

// scalarType is the type of one value of a field of type t (columnArray's
// element): a map or a struct travels as JSON text, a list of strings as text[].
func scalarType(t reflect.Type) string {
	if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String {
		return "text[]"
	}
	array, expr := columnArray(t)
	typ := strings.TrimSuffix(array, "[]")
	if strings.Contains(expr, "::jsonb") {
		typ = "jsonb"
	}
	return typ
}

// jobOneArgs are the arguments of qJobSubmitOne's columns for r (oneArg): a
// map or a struct as JSON text (a nil pointer NULL), everything else as it is.
func jobOneArgs(r *jobRow) ([]any, error) {
	row := reflect.ValueOf(r).Elem()
	args := make([]any, 0, len(jobRowFields)+5)
	for _, f := range jobRowFields {
		if !oneArg(f.column) {
			continue
		}
		v := row.FieldByIndex(f.index)
		switch {
		case v.Kind() == reflect.Pointer && v.Type().Elem().Kind() == reflect.Struct && v.Type().Elem() != timeType,
			v.Kind() == reflect.Map:
			if v.Kind() == reflect.Pointer && v.IsNil() {
				args = append(args, nil)
				continue
			}
			b, err := json.Marshal(v.Interface())
			if err != nil {
				return nil, fmt.Errorf("store: encode job: %w", err)
			}
			args = append(args, string(b))
		default:
			args = append(args, v.Interface())
		}
	}
	return args, nil
}

// qNotifyOne is notifyQuery for the notes of one job whose id the batch's
// insert allocated: its event names job 0 until then.
const qNotifyOne = `
	SELECT count(pg_notify(c, CASE WHEN c = '` + ChannelEvents + `'
		THEN replace(p, '"jobId":0,', '"jobId":' || currval('jobs_id_seq') || ',') ELSE p END))
	FROM unnest($1::text[], $2::text[]) AS t(c, p)`

// qKeyCountsOne counts the job's entity and its collections ($2 keys, $3
// values of project $4) that this transaction created in shard $1 of their
// keys' counts (qKeyCounts), in the same order. It comes last but for the
// collections' counts, as in jobSubmitTx: a key's row is shared by every
// submission of the project.
const qKeyCountsOne = `
	INSERT INTO keys (project_id, kind, key, shard, value_count)
	SELECT project_id, kind, key, $1, count(*) FROM (
		SELECT e.project_id, 'entity' AS kind, e.key
		FROM jobs j JOIN entities e ON e.id = j.entity_id
		WHERE j.id = (SELECT currval('jobs_id_seq')) AND e.xmin = pg_current_xact_id()::xid
		UNION ALL
		SELECT c.project_id, 'collection', c.key
		FROM collections c JOIN unnest($2::text[], $3::text[]) AS t(key, value) ON c.key = t.key AND c.value = t.value
		WHERE c.project_id = $4 AND c.xmin = pg_current_xact_id()::xid
	) created
	GROUP BY project_id, kind, key
	ORDER BY project_id, kind, key
	ON CONFLICT (project_id, kind, key, shard) DO UPDATE SET value_count = keys.value_count + excluded.value_count`

// qMembersOne adds the job's entity to its collections ($1 keys, $2 values of
// project $3) and counts the new members in shard $4 of their
// collection_counts, as qMembers does.
const qMembersOne = `
	WITH added AS (
		INSERT INTO collection_entities (collection_id, entity_id)
		SELECT c.id, j.entity_id
		FROM collections c JOIN unnest($1::text[], $2::text[]) AS t(key, value) ON c.key = t.key AND c.value = t.value,
			jobs j
		WHERE c.project_id = $3 AND j.id = (SELECT currval('jobs_id_seq'))
		ON CONFLICT DO NOTHING
		RETURNING collection_id
	)
	INSERT INTO collection_counts AS cc (collection_id, shard, entity_count)
	SELECT collection_id, $4, count(*) FROM added GROUP BY collection_id ORDER BY collection_id
	ON CONFLICT (collection_id, shard) DO UPDATE SET entity_count = cc.entity_count + excluded.entity_count`

// errNotAlone says jobSubmitOne met a concurrent creation of the job's entity.
var errNotAlone = errors.New("store: the entity was created concurrently")

// jobSubmitOne submits the one job of params (submitsAlone) in one round
// trip. errNotAlone: nothing was written, submit it as a batch.
func (s *Store) jobSubmitOne(ctx context.Context, params []*JobSubmitParams) ([]*Job, error) {
	p := params[0]
	queued := tracing.StartQueued(1) // tracing, as in jobSubmitTx
	secret, err := s.sealSecrets(p.SecretEnv)
	if err != nil {
		return nil, err
	}
	r := jobRow{
		JobSpec: p.JobSpec.withDefaults(), ProjectID: p.ProjectID, ParentJobID: p.ParentJobID,
		SecretSealed: secret, SecretNames: sortedKeys(p.SecretEnv), Status: StatusQueued,
	}
	if p.SubmittedBy != nil {
		r.SubmittedBy = &Actor{Kind: p.SubmittedBy.Kind, Name: p.SubmittedBy.Name}
	}
	r.TraceParent = queued.Start(ctx, 0, p.Trace)
	args, err := jobOneArgs(&r)
	if err != nil {
		return nil, err
	}
	cKeys := sortedKeys(p.Collections)
	cValues := make([]string, len(cKeys))
	for i, k := range cKeys {
		cValues[i] = p.Collections[k]
	}
	args = append(args, p.ProjectID, p.EntityKey, p.EntityVal, cKeys, cValues)

	var n notes
	n.jobChanged(changedJob{Project: p.ProjectSlug, Key: p.EntityKey, Val: p.EntityVal,
		Status: StatusQueued, Tag: p.Tag, Attempt: 1})
	// A long poll parked here for the job's tag gets it in this transaction:
	// its claim after the job's "queued" event (handoff.go).
	hand := s.reserveHandoffs(&n, true)
	var now time.Time
	batch := &pgx.Batch{}
	batch.Queue(qJobSubmitOne, args...).QueryRow(func(row pgx.Row) error {
		return row.Scan(&r.ID, &r.EntityID, &now)
	})
	batch.Queue(qNotifyOne, n.args()...)
	n.statuses.queue(batch)
	hand.queue(batch)
	// One shard for both, as in jobSubmitTx.
	shard := rand.IntN(counterShards)
	batch.Queue(qKeyCountsOne, shard, cKeys, cValues, p.ProjectID)
	if len(cKeys) > 0 {
		batch.Queue(qMembersOne, cKeys, cValues, p.ProjectID, shard)
	}
	checkIns := map[string]time.Time{}
	batch.Queue(qTagCheckIns, []string{p.Tag}).Query(func(rows pgx.Rows) error {
		return collectCheckIns(rows, checkIns)
	})
	sendCtx := ctx
	if hand != nil {
		// A parked runner waits for what it claims: the submission finishes
		// though its caller hangs up (which would leave it committed, and its
		// job claimed, but reported as failed), as a grouped transition does.
		var cancel context.CancelFunc
		sendCtx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		var release func()
		sendCtx, release = s.StallBound(sendCtx)
		defer release()
	}
	err = s.pool.SendBatch(sendCtx, batch).Close()
	hand.deliver(err)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "23502" && pgErr.ColumnName == "entity_id" {
			return nil, errNotAlone
		}
		return nil, interpret(err, "submit job")
	}
	j := &Job{
		JobSpec: r.JobSpec, ID: r.ID, ProjectID: r.ProjectID, Project: p.ProjectSlug, EntityID: r.EntityID,
		EntityKey: p.EntityKey, EntityVal: p.EntityVal, SecretNames: r.SecretNames, Status: StatusQueued,
		CreatedAt: now, QueuedAt: &now, Attempt: 1, WaitingFor: []JobRef{}, WaitingKnown: true, CheckInKnown: true,
	}
	if at, ok := checkIns[p.Tag]; ok {
		j.TagCheckIn = &at
	}
	logJob(&event.Job{JobID: j.ID, Status: j.Status, Attempt: 1, Project: j.Project,
		EntityKey: j.EntityKey, EntityVal: j.EntityVal, Tag: j.Tag})
	queued.End(0, tracing.Job{ID: j.ID, Project: j.Project, Attempt: 1, Status: j.Status}, // tracing
		tracing.AttrName.String(j.Name), tracing.AttrTag.String(j.Tag))
	return []*Job{j}, nil
}
