package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/go-playground/validator/v10"

	"github.com/aura-ci/aura/backend/internal/integrations"
	"github.com/aura-ci/aura/backend/internal/store"
)

// maxBodyBytes bounds every JSON request body.
const maxBodyBytes = 1 << 20

var (
	slugPattern    = newBoundedPattern(`^[0-9A-Za-z_:.-]+$`, 260)
	tagPattern     = newBoundedPattern(`^\S+$`, 260)
	envNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	validate       = newValidator()
)

func newValidator() *validator.Validate {
	// Blank names are omitted, so an embedded struct (store.JobSpec in jobSubmit)
	// adds nothing to a field's path, as in JSON.
	v := validator.New(validator.WithRequiredStructEnabled(), validator.WithTagNameFuncBlankOmit())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case f.Anonymous && name == "":
			return ""
		case name == "" || name == "-":
			return f.Name
		}
		return name
	})
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	must(v.RegisterValidation("slug", func(fl validator.FieldLevel) bool { return slugPattern.MatchString(fl.Field().String()) }))
	must(v.RegisterValidation("tag", func(fl validator.FieldLevel) bool { return tagPattern.MatchString(fl.Field().String()) }))
	must(v.RegisterValidation("envname", func(fl validator.FieldLevel) bool { return envNamePattern.MatchString(fl.Field().String()) }))
	must(v.RegisterValidation("forge", func(fl validator.FieldLevel) bool { return integrations.Known(fl.Field().String()) }))
	must(v.RegisterValidation("secretvalue", func(fl validator.FieldLevel) bool { return len(fl.Field().String()) >= minSecretLen }))
	return v
}

// decode reads a JSON body into dst, refusing unknown fields, trailing data and
// bodies over maxBodyBytes, then validates it (unless it is plainly valid).
func decode(w http.ResponseWriter, r *http.Request, dst any) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return decodeError(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		if err != nil {
			return decodeError(err)
		}
		return errorf(http.StatusBadRequest, "", "request body must hold exactly one JSON value")
	}
	// A NUL can only come in escaped (JSON refuses raw control characters):
	// without the escape, the walk over every decoded string is spared.
	if bytes.Contains(data, []byte(`\u0000`)) {
		if err := checkNUL(dst); err != nil {
			return err
		}
	}
	if p, ok := dst.(plainly); ok && p.plainlyValid() {
		return nil // within its tags, plainly (submitcheck.go)
	}
	return validateStruct(dst)
}

func decodeError(err error) error {
	var maxErr *http.MaxBytesError
	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &maxErr):
		return errorf(http.StatusRequestEntityTooLarge, "", fmt.Sprintf("request body is larger than %d bytes", maxErr.Limit))
	case errors.Is(err, io.EOF):
		return errorf(http.StatusBadRequest, "", "request body is empty")
	case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(http.StatusBadRequest, "", "request body is not valid JSON: "+err.Error())
	case errors.As(err, &typeErr) && typeErr.Field == "":
		return errorf(http.StatusBadRequest, "", "request body must be "+jsonType(typeErr.Type))
	case errors.As(err, &typeErr):
		return errorf(http.StatusBadRequest, typeErr.Field, fmt.Sprintf("field %s must be %s", typeErr.Field, jsonType(typeErr.Type)))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return errorf(http.StatusBadRequest, field, "unknown field "+field)
	}
	// Go's own words (a type's UnmarshalJSON) are no answer for a client.
	return errorf(http.StatusBadRequest, "", "request body is not valid")
}

func jsonType(t reflect.Type) string {
	if t == timeType {
		return "an RFC 3339 time, such as 2026-11-24T14:15:32Z"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Slice:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return t.String()
}

// validateStruct runs the validator and reports the first failure by its JSON name.
func validateStruct(v any) error {
	err := validate.Struct(v)
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) || len(verrs) == 0 {
		return err
	}
	fe := verrs[0]
	field := fe.Namespace()
	if _, rest, ok := strings.Cut(field, "."); ok {
		field = rest // drop the struct's own name
	}
	return errorf(http.StatusBadRequest, field, validationMessage(field, fe))
}

// minSecretLen is the shortest secret value accepted: "ab" would be masked out
// of every word that contains it.
const minSecretLen = 8

func validationMessage(field string, fe validator.FieldError) string {
	switch fe.Tag() {
	case "required":
		return "field " + field + " is required"
	case "slug":
		return "field " + field + " must match ^[0-9A-Za-z_:.-]{1,260}$"
	case "tag":
		return "field " + field + " must be 1 to 260 characters without white space"
	case "envname":
		return "field " + field + " must be a variable name (letters, digits and _, not starting with a digit)"
	case "secretvalue":
		return fmt.Sprintf("field %s must be at least %d characters: a shorter secret cannot be masked in logs without masking ordinary output too", field, minSecretLen)
	case "forge":
		return "field " + field + " must be one of " + strings.Join(integrations.Kinds(), ", ")
	case "min", "gte":
		return fmt.Sprintf("field %s must be at least %s", field, fe.Param())
	case "max", "lte":
		return fmt.Sprintf("field %s must be at most %s", field, fe.Param())
	}
	return fmt.Sprintf("field %s is not valid (%s)", field, fe.Tag())
}

// pageParams reads cursor and limit (1..200, default 50).
func pageParams(r *http.Request) (store.Page, error) {
	return pageParamsDefault(r, 50)
}

// pageParamsDefault reads cursor and limit (1..200, default def).
func pageParamsDefault(r *http.Request, def int) (store.Page, error) {
	p := store.Page{Cursor: r.URL.Query().Get("cursor"), Limit: def}
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 200 {
			return p, errorf(http.StatusBadRequest, "limit", "limit must be an integer from 1 to 200")
		}
		p.Limit = n
	}
	if _, err := store.DecodeCursor(p.Cursor); err != nil {
		return p, err
	}
	return p, nil
}

// idParam reads a positive integer path variable.
func idParam(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(muxVar(r, name), 10, 64)
	if err != nil || id <= 0 {
		return 0, errorf(http.StatusBadRequest, name, name+" must be a positive integer")
	}
	return id, nil
}

// slugParam reads a path variable that must be a slug.
func slugParam(r *http.Request, name string) (string, error) {
	s := muxVar(r, name)
	if !slugPattern.MatchString(s) {
		return "", errorf(http.StatusBadRequest, name, name+" must match ^[0-9A-Za-z_:.-]{1,260}$")
	}
	return s, nil
}
