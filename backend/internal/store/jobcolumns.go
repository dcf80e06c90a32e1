package store

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
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
	SubmittedBy      *Actor     `db:"submitted_by"`
	// TraceParent is the job's job.queued span, when traces are exported.
	TraceParent *string `db:"trace_parent"`
}

var (
	jobSpecFields = dbFields(reflect.TypeFor[JobSpec]())
	jobRowFields  = dbFields(reflect.TypeFor[jobRow]())
	// jobSpecColumns is the spec's part of jobSelect.
	jobSpecColumns = columnList(jobSpecFields, "j.")
	// qJobsInsert inserts a batch of jobRows: one array argument per column
	// (jobsInsertArgs), unnested side by side.
	qJobsInsert = insertQuery("jobs", jobRowFields, reflect.TypeFor[jobRow]())
)

// insertQuery writes the INSERT of rows of type t into table, from one array
// per column, in the fields' order ($1 the first): positional, not named
// arguments, which pgx would rewrite on every call.
func insertQuery(table string, fields []dbField, t reflect.Type) string {
	params := make([]string, len(fields))
	exprs := make([]string, len(fields))
	for i, f := range fields {
		array, expr := columnArray(t.FieldByIndex(f.index).Type)
		params[i] = "$" + strconv.Itoa(i+1) + "::" + array
		exprs[i] = strings.ReplaceAll(expr, "%", "t."+f.column)
	}
	cols := columnList(fields, "")
	return `INSERT INTO ` + table + ` (` + cols + `)
		SELECT ` + strings.Join(exprs, ", ") + `
		FROM unnest(` + strings.Join(params, ", ") + `) AS t(` + cols + `)`
}

var timeType = reflect.TypeFor[time.Time]()

// columnArray says how a field of type t travels: the array type of its
// argument, and the expression (% for the unnested value) that reads it. A map
// or a list cannot be an element of an unnested array: it travels as JSON text.
func columnArray(t reflect.Type) (array, expr string) {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType:
		return "timestamptz[]", "%"
	case t.Kind() == reflect.String:
		return "text[]", "%"
	case t.Kind() == reflect.Int || t.Kind() == reflect.Int32 || t.Kind() == reflect.Int64:
		return "bigint[]", "%"
	case t.Kind() == reflect.Bool:
		return "bool[]", "%"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		return "bytea[]", "%"
	case t.Kind() == reflect.Map, t.Kind() == reflect.Struct:
		return "text[]", "%::jsonb"
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		// As an array literal (arrayLiteral), which a cast reads: no
		// subquery per row.
		return "text[]", "%::text[]"
	}
	panic("store: no column type for " + t.String())
}

// jobsInsertArgs are the arguments of qJobsInsert: each column's values as one
// array, typed as the column's field ([]string, []*int64, …) rather than
// []any, so that pgx encodes each array with one plan instead of looking one
// up for every value.
func jobsInsertArgs(rows []jobRow) ([]any, error) {
	args := make([]any, len(jobRowFields))
	all := reflect.ValueOf(rows)
	for k, f := range jobRowFields {
		t := jobRowType.FieldByIndex(f.index).Type
		switch {
		case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
			values := make([]string, len(rows))
			for i := range rows {
				values[i] = arrayLiteral(all.Index(i).FieldByIndex(f.index).Interface().([]string))
			}
			args[k] = values
		case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct && t.Elem() != timeType,
			t.Kind() == reflect.Map, t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8:
			// As JSON text (columnArray); a nil pointer is NULL.
			values := make([]*string, len(rows))
			for i := range rows {
				v := all.Index(i).FieldByIndex(f.index)
				if v.Kind() == reflect.Pointer && v.IsNil() {
					continue
				}
				b, err := json.Marshal(v.Interface())
				if err != nil {
					return nil, fmt.Errorf("store: encode jobs: %w", err)
				}
				text := string(b)
				values[i] = &text
			}
			args[k] = values
		default:
			values := reflect.MakeSlice(reflect.SliceOf(t), len(rows), len(rows))
			for i := range rows {
				values.Index(i).Set(all.Index(i).FieldByIndex(f.index))
			}
			args[k] = values.Interface()
		}
	}
	return args, nil
}

var jobRowType = reflect.TypeFor[jobRow]()

// copyJobsFrom is the size of a batch from which its jobs are written by COPY
// (jobsCopySource) rather than by qJobsInsert: COPY takes round trips of its
// own, more than a small batch's insert costs, but writes 1,000 jobs in two
// thirds of the insert's time (it adds rows a page at a time, and parses no
// arrays).
const copyJobsFrom = 100

// jobRowColumns are the columns of jobRowFields, in order.
var jobRowColumns = func() []string {
	cols := make([]string, len(jobRowFields))
	for i, f := range jobRowFields {
		cols[i] = f.column
	}
	return cols
}()

// jobsCopySource yields rows for a COPY into jobRowColumns: each field as it
// is, a map or a struct as its JSON text (pgx passes a string to jsonb as it
// is), made once for the rows that share it (no env, one submitter), a nil
// pointer NULL.
func jobsCopySource(rows []jobRow) pgx.CopyFromSource {
	all := reflect.ValueOf(rows)
	memos := make([]jsonMemo, len(jobRowFields))
	return pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
		row := all.Index(i)
		values := make([]any, len(jobRowFields))
		for k, f := range jobRowFields {
			v := row.FieldByIndex(f.index)
			switch {
			case v.Kind() == reflect.Pointer && v.IsNil():
			case v.Kind() == reflect.Map, v.Kind() == reflect.Pointer && v.Type().Elem().Kind() == reflect.Struct && v.Type().Elem() != timeType:
				text, err := memos[k].encode(v)
				if err != nil {
					return nil, err
				}
				values[k] = text
			default:
				values[k] = v.Interface()
			}
		}
		return values, nil
	})
}

// jsonMemo encodes a column's map or struct pointer values as JSON text,
// keeping the last one: the rows of a batch share their submitter's.
type jsonMemo struct {
	last uintptr
	text string
}

func (m *jsonMemo) encode(v reflect.Value) (string, error) {
	if v.Kind() == reflect.Map && v.Len() == 0 {
		return "{}", nil
	}
	if v.Kind() == reflect.Pointer && m.last != 0 && v.Pointer() == m.last {
		return m.text, nil
	}
	b, err := json.Marshal(v.Interface())
	if err != nil {
		return "", fmt.Errorf("store: encode jobs: %w", err)
	}
	m.text = string(b)
	if v.Kind() == reflect.Pointer {
		m.last = v.Pointer()
	}
	return m.text, nil
}

// arrayLiteral writes values as a PostgreSQL array literal of text: each
// element quoted, its quotes and backslashes escaped.
func arrayLiteral(values []string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, v := range values {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		for _, c := range []byte(v) {
			if c == '"' || c == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}
