package apiclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"
)

// StatusError is an answer with an HTTP status the caller did not expect to
// succeed with, carrying the server's message from the Error body when there is one.
type StatusError struct {
	Code    int
	Message string
	Field   string
}

// Error returns, for example, "401 Unauthorized: unknown token".
func (e *StatusError) Error() string {
	s := fmt.Sprintf("%d %s", e.Code, http.StatusText(e.Code))
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Field != "" && !strings.Contains(e.Message, e.Field) {
		s += " (field " + e.Field + ")"
	}
	return s
}

// NewStatusError builds a StatusError from an answer's status and body. A body
// that is not the contract's Error (a proxy's HTML page, say) is quoted, shortened.
func NewStatusError(code int, body []byte) *StatusError {
	e := &StatusError{Code: code}
	var apiErr Error
	if err := json.Unmarshal(body, &apiErr); err == nil && apiErr.Message != "" {
		e.Message = apiErr.Message
		if apiErr.Field != nil {
			e.Field = *apiErr.Field
		}
		return e
	}
	text := strings.TrimSpace(string(body))
	if len(text) > 200 {
		n := 200
		for n > 0 && !utf8.RuneStart(text[n]) {
			n-- // not inside a character, or the message is no longer text
		}
		text = text[:n] + "…"
	}
	e.Message = text
	return e
}

// Temporary reports whether err is worth retrying unchanged: a network error, or
// a status that says the server (or a proxy before it) could not answer now.
func Temporary(err error) bool {
	var se *StatusError
	if !errors.As(err, &se) {
		return err != nil
	}
	switch se.Code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests:
		return true
	}
	return se.Code >= 500
}

// HasStatus reports whether err is a StatusError with the given code.
func HasStatus(err error, code int) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == code
}
