package api

// Checks of outside input that the validator's tags cannot express.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// jsonTime is an RFC 3339 time in a request body. Its error is a
// *json.UnmarshalTypeError, which encoding/json fills with the field's path, so
// a bad time is answered naming its field rather than with Go's own words.
type jsonTime struct{ time.Time }

var timeType = reflect.TypeFor[time.Time]()

func (t *jsonTime) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &json.UnmarshalTypeError{Value: "non-string", Type: timeType}
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return &json.UnmarshalTypeError{Value: "string " + strconv.Quote(s), Type: timeType}
	}
	t.Time = v
	return nil
}

// ptr returns the time, or nil for an absent one.
func (t *jsonTime) ptr() *time.Time {
	if t == nil {
		return nil
	}
	v := t.Time
	return &v
}

// maxAhead is how far ahead an earliest start may lie; anything later is a
// mistake (a time in milliseconds, an overflow), not a plan.
const maxAhead = 366 * 24 * time.Hour

// checkEarliestStart refuses times before 1970 or more than a year ahead.
func checkEarliestStart(field string, t *time.Time) error {
	if t == nil {
		return nil
	}
	if t.Before(time.Unix(0, 0)) || t.After(time.Now().Add(maxAhead)) {
		return errorf(http.StatusBadRequest, field, "field "+field+" must lie between 1970 and a year from now")
	}
	return nil
}

// reservedEnv are the variables the runner sets in every job: a job's env may
// not replace them (a job token or server URL of the user's choosing).
var reservedEnv = map[string]bool{
	"AURA_CI": true, "AURA_SERVER_URL": true, "AURA_JOB_ID": true, "AURA_JOB_NAME": true,
	"AURA_JOB_TOKEN": true, "AURA_PROJECT": true, "AURA_ENTITY_KEY": true, "AURA_ENTITY_VAL": true,
	"AURA_JOBID": true, "AURA_JOBNAME": true, "AURA_JOBKEY": true, "AURA_ENTITYKEY": true, "AURA_ENTITYVAL": true,
}

// checkEnv refuses variables the runner reserves for itself.
func checkEnv(field string, envs ...map[string]string) error {
	for _, env := range envs {
		for k := range env {
			if reservedEnv[k] {
				return errorf(http.StatusBadRequest, field+"."+k, "variable "+k+" is set by the runner and may not be set in "+field)
			}
		}
	}
	return nil
}

// findNUL returns the JSON path of the first string in v (a decoded body) that
// holds a NUL byte, which PostgreSQL cannot store in text, or "".
func findNUL(v reflect.Value, path string) string {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			return findNUL(v.Elem(), path)
		}
	case reflect.String:
		if strings.IndexByte(v.String(), 0) >= 0 {
			return path
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			inner := path // an embedded struct's fields are the outer's, as in JSON
			if !f.Anonymous || name != "" {
				if name == "" {
					name = f.Name
				}
				inner = joinPath(path, name)
			}
			if p := findNUL(v.Field(i), inner); p != "" {
				return p
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if p := findNUL(v.Index(i), fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p
			}
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			k := fmt.Sprint(iter.Key().Interface())
			if strings.IndexByte(k, 0) >= 0 {
				return path
			}
			if p := findNUL(iter.Value(), joinPath(path, k)); p != "" {
				return p
			}
		}
	}
	return ""
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// checkNUL answers 400 naming the first field of a decoded body that holds a NUL byte.
func checkNUL(v any) error {
	if p := findNUL(reflect.ValueOf(v), ""); p != "" {
		return errorf(http.StatusBadRequest, p, "field "+p+" may not contain a NUL byte")
	}
	return nil
}
