package logstream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aura-ci/aura/runner/internal/apiclient"
)

// FuzzServerAnswers uploads a log to a server whose first answers are
// anything (a status and a body, JSON or not), after which it behaves. The
// stream never panics and always ends; an answer that is neither a 200 nor a
// 416 (which the runner takes at its word) never costs a byte: a stream that
// ends without an error delivered the whole log.
func FuzzServerAnswers(f *testing.F) {
	f.Add(uint16(500), []byte(`{"code":500,"message":"internal error"}`), uint16(503), []byte("<html>bad gateway</html>"))
	f.Add(uint16(200), []byte(`{"length":-5,"cancel":false}`), uint16(416), []byte(`{"code":416,"message":"gap","length":9999999}`))
	f.Add(uint16(416), []byte(`{"code":416,"message":"gap","length":-1}`), uint16(200), []byte(`{"length":3}`))
	f.Add(uint16(200), []byte(`not json`), uint16(201), []byte(`{}`))
	f.Add(uint16(401), []byte(`{"code":401,"message":"unknown token"}`), uint16(429), []byte(``))
	f.Add(uint16(410), []byte(`{"code":410,"message":"attempt 1 is stale"}`), uint16(0), []byte(nil))
	f.Add(uint16(302), []byte(``), uint16(100), []byte(`{"length":1e30}`))
	f.Fuzz(func(t *testing.T, status1 uint16, body1 []byte, status2 uint16, body2 []byte) {
		answers := []struct {
			status int
			body   []byte
		}{{int(status1), body1}, {int(status2), body2}}
		for _, a := range answers {
			if a.status < 200 || a.status > 599 {
				return // net/http answers no informational status as a final one
			}
		}
		p := &peer{keep: true, hash: sha256.New()}
		n := 0
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p.mu.Lock()
			i := n
			n++
			p.mu.Unlock()
			if i < len(answers) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(answers[i].status)
				_, _ = w.Write(answers[i].body)
				return
			}
			p.ServeHTTP(w, r)
		}))
		defer srv.Close()
		client, err := apiclient.NewClientWithResponses(srv.URL, apiclient.WithHTTPClient(srv.Client()),
			apiclient.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
				req.Header.Set("Authorization", "Bearer AURA_RUNNERKEY_test-x")
				return nil
			}))
		if err != nil {
			t.Fatal(err)
		}
		opts := quickOptions()
		opts.MinInterval, opts.FlushSize, opts.ChunkSize, opts.BufferSize = time.Millisecond, 10, 10, 100
		s := New(client, 42, 1, opts)
		data := []byte("line one\nline two\nline three\n")
		for _, piece := range bytes.SplitAfter(data, []byte("\n")) {
			if _, err := s.Write(piece); err != nil {
				break // the stream stopped: the server refused the log
			}
		}
		_ = s.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = s.Wait(ctx)
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatal("the stream did not end")
		}
		trusted := false
		for _, a := range answers {
			trusted = trusted || a.status == http.StatusOK || a.status == http.StatusRequestedRangeNotSatisfiable
		}
		if err == nil && !trusted {
			if _, _, got := p.snapshot(); !bytes.Equal(got, data) {
				t.Fatalf("the stream ended well, but the server has %q of %q", got, data)
			}
		}
	})
}
