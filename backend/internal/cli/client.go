package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// client is a small typed client of the REST API.
type client struct {
	base  *url.URL
	token string
	http  *http.Client
}

func newClient(rawURL, token string) (*client, error) {
	u, err := url.Parse(strings.TrimRight(rawURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("the server URL %q is not an http(s) URL", rawURL)
	}
	return &client{base: u, token: token, http: &http.Client{Timeout: 60 * time.Second}}, nil
}

// apiError is an answer other than 2xx, or no answer at all.
type apiError struct {
	status  int // 0: no answer
	message string
	field   string
}

func (e *apiError) Error() string {
	switch {
	case e.status == 0:
		return e.message
	case e.status == http.StatusUnauthorized:
		return "the server refused the token (" + e.message + "): set AURA_TOKEN, pass --token, or run aura login"
	case e.status == http.StatusForbidden:
		return "not allowed: " + e.message
	case e.field != "":
		return fmt.Sprintf("%s (field %s)", e.message, e.field)
	default:
		return e.message
	}
}

func (e *apiError) exitCode() int {
	switch {
	case e.status == 0, e.status == http.StatusBadGateway, e.status == http.StatusServiceUnavailable,
		e.status == http.StatusGatewayTimeout:
		return ExitUnreachable
	case e.status == http.StatusNotFound:
		return ExitNotFound
	case e.status == http.StatusUnauthorized, e.status == http.StatusForbidden:
		return ExitNotAllowed
	case e.status == http.StatusConflict:
		return ExitConflict
	case e.status >= 400 && e.status < 500:
		return ExitUsage
	default:
		return ExitError
	}
}

// do sends a request and returns the answer's body, or an *apiError.
func (c *client) do(ctx context.Context, method, path string, query url.Values, body any) ([]byte, http.Header, error) {
	u := *c.base
	u.Path += path
	u.RawQuery = query.Encode()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), r)
	if err != nil {
		return nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, &apiError{message: fmt.Sprintf("cannot reach the server at %s: %v", c.base, unwrapURLError(err))}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, &apiError{message: fmt.Sprintf("reading the answer of %s: %v", u.Path, err)}
	}
	if resp.StatusCode/100 != 2 {
		ae := &apiError{status: resp.StatusCode}
		var e struct{ Message, Field string }
		if json.Unmarshal(data, &e) == nil && e.Message != "" {
			ae.message, ae.field = e.Message, e.Field
		} else {
			ae.message = fmt.Sprintf("%s %s answered %s", method, u.Path, resp.Status)
		}
		return nil, nil, ae
	}
	return data, resp.Header, nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// get fetches path and decodes it into out (when not nil); it returns the raw JSON.
func (c *client) get(ctx context.Context, path string, query url.Values, out any) ([]byte, error) {
	return c.send(ctx, http.MethodGet, path, query, nil, out)
}

func (c *client) send(ctx context.Context, method, path string, query url.Values, body, out any) ([]byte, error) {
	data, _, err := c.do(ctx, method, path, query, body)
	if err != nil {
		return nil, err
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return nil, fmt.Errorf("the server's answer to %s %s is not what this aura expects: %w", method, path, err)
		}
	}
	return data, nil
}

// Job is the API's Job, as far as the command line shows it.
type Job struct {
	ID          int64             `json:"id"`
	Project     string            `json:"project"`
	EntityKey   string            `json:"entityKey"`
	EntityVal   string            `json:"entityVal"`
	Name        string            `json:"name"`
	Cmd         string            `json:"cmd"`
	Env         map[string]string `json:"env"`
	Tag         string            `json:"tag"`
	Status      string            `json:"status"`
	Attempt     int               `json:"attempt"`
	MaxAttempts int               `json:"maxAttempts"`
	CreatedAt   time.Time         `json:"createdAt"`
	StartedAt   *time.Time        `json:"startedAt"`
	EndedAt     *time.Time        `json:"endedAt"`
	ExitCode    *int              `json:"exitCode"`
	RunnerName  string            `json:"runnerName"`
	Reason      string            `json:"reason"`
	LogLength   int64             `json:"logLength"`
	WaitingFor  *struct {
		Jobs []struct {
			ID     int64  `json:"id"`
			Name   string `json:"name"`
			Status string `json:"status"`
		} `json:"jobs"`
		Runner *struct {
			Message string `json:"message"`
		} `json:"runner"`
		Approval *int64 `json:"approval"`
	} `json:"waitingFor"`
}

// ended reports whether the job's status is final.
func ended(status string) bool {
	switch status {
	case "succeeded", "failed", "cancelled", "timed_out", "lost":
		return true
	}
	return false
}

// jobExit is `aura log -f`'s exit code for an ended job.
func jobExit(status string) int {
	switch status {
	case "succeeded":
		return ExitOK
	case "cancelled":
		return ExitCancelled
	default:
		return ExitJobFailed
	}
}

func (c *client) job(ctx context.Context, id int64) (Job, []byte, error) {
	var j Job
	raw, err := c.get(ctx, fmt.Sprintf("/api/v1/jobs/%d", id), nil, &j)
	return j, raw, err
}
