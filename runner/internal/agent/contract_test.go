package agent

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// specRouter finds routes in openapi.yaml, the contract the runner shares with the
// server, so the fake server of these tests answers only what the real one may.
var specRouter = sync.OnceValues(func() (routers.Router, error) {
	_, file, _, _ := runtime.Caller(0)
	doc, err := openapi3.NewLoader().LoadFromFile(filepath.Join(filepath.Dir(file), "..", "..", "..", "openapi.yaml"))
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, err
	}
	return gorillamux.NewRouter(doc)
})

type offSpecKey struct{}

// offSpec marks the answer to r as deliberately outside openapi.yaml (a server
// older than a route answers 404 for it), so the contract check skips it.
func offSpec(r *http.Request) {
	if mark, ok := r.Context().Value(offSpecKey{}).(*bool); ok {
		*mark = true
	}
}

// bufferedResponse holds a handler's answer until it is checked.
type bufferedResponse struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (w *bufferedResponse) Header() http.Header { return w.header }
func (w *bufferedResponse) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *bufferedResponse) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}

// checkContract wraps the fake server's handler: every request the runner sends
// must be a route of openapi.yaml with a valid body, and every answer must be one
// the spec allows for it. Breaches fail t when the test ends.
func checkContract(t *testing.T, next http.Handler) http.Handler {
	var mu sync.Mutex
	var breaches []string
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, b := range breaches {
			t.Errorf("the fake server breaks openapi.yaml: %s", b)
		}
	})
	breach := func(format string, args ...any) {
		mu.Lock()
		breaches = append(breaches, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		router, err := specRouter()
		if err != nil {
			breach("cannot load openapi.yaml: %v", err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		reqBody, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(reqBody))
		vreq := r.Clone(context.Background())
		vreq.Body = io.NopCloser(bytes.NewReader(reqBody))
		route, params, err := router.FindRoute(vreq)
		if err != nil {
			breach("%s %s is not a route: %v", r.Method, r.URL.Path, err)
		}

		var skip bool
		rec := &bufferedResponse{header: http.Header{}}
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), offSpecKey{}, &skip)))
		if rec.code == 0 {
			rec.code = http.StatusOK
		}

		if route != nil && !skip && r.Context().Err() == nil {
			in := &openapi3filter.RequestValidationInput{
				Request: vreq, PathParams: params, Route: route,
				Options: &openapi3filter.Options{SkipSettingDefaults: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
			}
			if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
				breach("request %s %s: %v", r.Method, r.URL.Path, err)
			}
			out := &openapi3filter.ResponseValidationInput{
				RequestValidationInput: in, Status: rec.code, Header: rec.header,
				Body:    io.NopCloser(bytes.NewReader(rec.body.Bytes())),
				Options: &openapi3filter.Options{IncludeResponseStatus: true},
			}
			if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
				breach("response %d to %s %s (%s): %v", rec.code, r.Method, r.URL.Path, bytes.TrimSpace(rec.body.Bytes()), err)
			}
		}

		for k, v := range rec.header {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.code)
		_, _ = w.Write(rec.body.Bytes())
	})
}
