package store

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
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
// microsecond as pgx would send them. It appends each field by its kind rather
// than through a map per row: a batch holds a thousand rows.
func rowsJSON(rows []jobRow) (string, error) {
	buf := make([]byte, 0, 256*len(rows))
	buf = append(buf, '[')
	for i := range rows {
		if i > 0 {
			buf = append(buf, ',')
		}
		v := reflect.ValueOf(&rows[i]).Elem()
		for k, f := range jobRowFields {
			if k == 0 {
				buf = append(buf, '{')
			} else {
				buf = append(buf, ',')
			}
			buf = strconv.AppendQuote(buf, f.column)
			buf = append(buf, ':')
			var err error
			if buf, err = appendJSON(buf, v.FieldByIndex(f.index)); err != nil {
				return "", fmt.Errorf("store: encode jobs: %w", err)
			}
		}
		buf = append(buf, '}')
	}
	buf = append(buf, ']')
	return string(buf), nil
}

var timeType = reflect.TypeFor[time.Time]()

func appendJSON(buf []byte, v reflect.Value) ([]byte, error) {
	switch {
	case v.Kind() == reflect.Pointer:
		if v.IsNil() {
			return append(buf, "null"...), nil
		}
		return appendJSON(buf, v.Elem())
	case v.Type() == timeType:
		t := v.Interface().(time.Time).Truncate(time.Microsecond)
		buf = append(buf, '"')
		buf = t.AppendFormat(buf, time.RFC3339Nano)
		return append(buf, '"'), nil
	case v.Kind() == reflect.Int || v.Kind() == reflect.Int32 || v.Kind() == reflect.Int64:
		return strconv.AppendInt(buf, v.Int(), 10), nil
	case v.Kind() == reflect.String && plainJSON(v.String()):
		buf = append(buf, '"')
		buf = append(buf, v.String()...)
		return append(buf, '"'), nil
	case v.Kind() == reflect.Bool:
		return strconv.AppendBool(buf, v.Bool()), nil
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8:
		if v.IsNil() {
			return append(buf, "null"...), nil
		}
		buf = append(buf, `"\\x`...)
		buf = hex.AppendEncode(buf, v.Bytes())
		return append(buf, '"'), nil
	}
	b, err := json.Marshal(v.Interface())
	return append(buf, b...), err
}

// plainJSON reports whether s needs no escaping inside a JSON string.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			return false
		}
	}
	return true
}
