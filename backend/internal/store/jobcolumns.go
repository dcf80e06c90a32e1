package store

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// The columns of a job are named once, by the db tags of JobSpec and jobRow:
// the SELECT of a job, the INSERT of a submission and its arguments all follow
// from them, so a new job setting needs no SQL edit.

// dbField is one column of a struct: its name and where its value sits.
type dbField struct {
	column string
	index  []int
}

// dbFields lists the db-tagged fields of t, those of embedded structs included,
// in declaration order.
func dbFields(t reflect.Type) []dbField {
	var out []dbField
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous && f.Type.Kind() == reflect.Struct {
			for _, inner := range dbFields(f.Type) {
				out = append(out, dbField{column: inner.column, index: append([]int{i}, inner.index...)})
			}
			continue
		}
		if col := f.Tag.Get("db"); col != "" && col != "-" {
			out = append(out, dbField{column: col, index: []int{i}})
		}
	}
	return out
}

func columnList(fields []dbField, prefix string) string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = prefix + f.column
	}
	return strings.Join(names, ", ")
}

// jobRow is one row JobSubmit inserts: the submitter's spec as given and what
// the store decided (ids, status, depth, times).
type jobRow struct {
	JobSpec
	ID               int64      `db:"id"`
	ProjectID        int64      `db:"project_id"`
	EntityID         int64      `db:"entity_id"`
	ParentJobID      *int64     `db:"parent_job_id"`
	SecretSealed     []byte     `db:"secret_sealed"`
	SecretNames      []string   `db:"secret_names"`
	Status           string     `db:"status"`
	Reason           string     `db:"reason"`
	PendingPreceding int        `db:"pending_preceding"`
	Depth            int        `db:"depth"`
	CreatedAt        time.Time  `db:"created_at"`
	QueuedAt         *time.Time `db:"queued_at"`
	EndedAt          *time.Time `db:"ended_at"`
	Cascaded         bool       `db:"cascaded"` // a job skipped at submit is cancelled by its preceding job
}

var (
	jobSpecFields = dbFields(reflect.TypeFor[JobSpec]())
	jobRowFields  = dbFields(reflect.TypeFor[jobRow]())
	// jobSpecColumns is the spec's part of jobSelect.
	jobSpecColumns = columnList(jobSpecFields, "j.")
	// qJobsInsert inserts a batch of jobRows, sent as one JSON array (rowsJSON)
	// that jsonb_populate_recordset reads with the types of the jobs table
	// itself: no column is listed, nor cast, by hand.
	qJobsInsert = `INSERT INTO jobs (` + columnList(jobRowFields, "") + `)
		SELECT ` + columnList(jobRowFields, "") + ` FROM jsonb_populate_recordset(NULL::jobs, @rows::jsonb)`
)

// rowsJSON writes rows as a JSON array of objects keyed by column name, in the
// text forms PostgreSQL reads: bytea as \x hex, times truncated to the
// microsecond as pgx would send them.
func rowsJSON(rows []jobRow) (string, error) {
	out := make([]map[string]any, len(rows))
	for i := range rows {
		v := reflect.ValueOf(&rows[i]).Elem()
		m := make(map[string]any, len(jobRowFields))
		for _, f := range jobRowFields {
			m[f.column] = jsonValue(v.FieldByIndex(f.index).Interface())
		}
		out[i] = m
	}
	b, err := json.Marshal(out)
	if err != nil {
		return "", fmt.Errorf("store: encode jobs: %w", err)
	}
	return string(b), nil
}

func jsonValue(v any) any {
	switch x := v.(type) {
	case []byte:
		if x == nil {
			return nil
		}
		return `\x` + hex.EncodeToString(x)
	case time.Time:
		return x.Truncate(time.Microsecond)
	case *time.Time:
		if x == nil {
			return nil
		}
		return x.Truncate(time.Microsecond)
	}
	return v
}
