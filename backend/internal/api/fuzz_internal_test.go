package api

// Fuzz tests of the parsers of outside input. `go test` runs their seeds (and the
// cases kept under testdata/fuzz); `go test -fuzz FuzzX ./backend/internal/api/`
// searches for more.

import (
	"bytes"
	"errors"
	"maps"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/aura-ci/aura/backend/internal/store"
)

// checkAnswer requires a failed parse to be a 4xx apiError in plain words.
func checkAnswer(t *testing.T, err error) {
	t.Helper()
	var ae *apiError
	if !errors.As(err, &ae) {
		t.Fatalf("error %T %v is not an apiError: it would be a 500", err, err)
	}
	if ae.Code < 400 || ae.Code > 499 {
		t.Fatalf("code %d for %q", ae.Code, ae.Message)
	}
	for _, leak := range []string{"json:", "Unmarshal", "reflect", "Go struct", "goroutine"} {
		if strings.Contains(ae.Message, leak) {
			t.Fatalf("message leaks Go internals: %q", ae.Message)
		}
	}
}

// checkJob requires what a decoded, checked submission promises the store.
func checkJob(t *testing.T, b *jobSubmit) {
	t.Helper()
	for _, s := range []string{b.EntityKey, b.EntityVal, b.Name} {
		if !slugPattern.MatchString(s) {
			t.Fatalf("slug %q passed", s)
		}
	}
	if !tagPattern.MatchString(b.Tag) || strings.IndexByte(b.Cmd+b.Tag, 0) >= 0 || b.Cmd == "" {
		t.Fatalf("cmd %q or tag %q passed", b.Cmd, b.Tag)
	}
	for _, env := range []map[string]string{b.Env, b.SecretEnv} {
		for k, v := range env {
			if !envNamePattern.MatchString(k) || reservedEnv[k] || strings.IndexByte(v, 0) >= 0 {
				t.Fatalf("variable %q=%q passed", k, v)
			}
		}
	}
	if e := b.EarliestStart.ptr(); e != nil && (e.Year() < 1970 || e.After(time.Now().Add(maxAhead))) {
		t.Fatalf("earliestStart %v passed", e)
	}
}

func FuzzSubmitBody(f *testing.F) {
	f.Add([]byte(`{"entityKey":"commit","entityVal":"abc","name":"build","cmd":"make","tag":"linux"}`))
	f.Add([]byte(`{"entityKey":"commit","entityVal":"abc","name":"b","cmd":"x","tag":"t","env":{"A":"1"},"secretEnv":{"S":"s"},` +
		`"collections":{"ref":"main"},"precedingJobs":[1,2],"earliestStart":"2026-11-24T14:15:32Z","timeoutSeconds":60,"priority":-3,"maxAttempts":2}`))
	f.Add([]byte(`{"entityKey":"c","entityVal":"v","name":"n","cmd":"\u0000","tag":"t"}`))
	f.Add([]byte(`{"entityKey":"c","entityVal":"v","name":"n","cmd":"x","tag":"t","earliestStart":"9999-12-31T23:59:59Z"}`))
	f.Add([]byte(`{"entityKey":"c","entityVal":"v","name":"n","cmd":"x","tag":"t","earliestStart":17}`))
	f.Add([]byte(`{"entityKey":"c","entityVal":"v","name":"n","cmd":"x","tag":"t","env":{"AURA_JOB_TOKEN":"x"}}`))
	f.Add([]byte(`{"priority":1e400}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var b jobSubmit
		req := httptest.NewRequest("POST", "/api/v1/jobs", bytes.NewReader(body))
		err := decode(httptest.NewRecorder(), req, &b)
		if err == nil {
			err = b.check("")
		}
		if err != nil {
			checkAnswer(t, err)
			return
		}
		checkJob(t, &b)
	})
}

func FuzzSubmitBatch(f *testing.F) {
	f.Add([]byte(`{"jobs":[{"entityKey":"c","entityVal":"v","name":"a","cmd":"x","tag":"t"},` +
		`{"entityKey":"c","entityVal":"v","name":"b","cmd":"x","tag":"t","precedingNames":["a"]}]}`))
	f.Add([]byte(`{"jobs":[{"entityKey":"c","entityVal":"v","name":"a","cmd":"x","tag":"t","earliestStart":"x"}]}`))
	f.Add([]byte(`{"jobs":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var b jobBatchSubmit
		req := httptest.NewRequest("POST", "/api/v1/jobs/batch", bytes.NewReader(body))
		err := decode(httptest.NewRecorder(), req, &b)
		for i := 0; err == nil && i < len(b.Jobs); i++ {
			err = b.Jobs[i].check("jobs[0].")
		}
		if err != nil {
			checkAnswer(t, err)
			return
		}
		for i := range b.Jobs {
			checkJob(t, &b.Jobs[i])
		}
	})
}

func FuzzCompatSubmitBody(f *testing.F) {
	f.Add([]byte(`{"project":"p","entityKey":"commit","entityVal":"abc","name":"build","cmd":"make","tag":"linux",` +
		`"env":"A=1\n# c\nexport B='x y'\n","earliestStart":1700000000}`))
	f.Add([]byte(`{"project":"p","entityKey":"c","entityVal":"v","name":"n","cmd":"x","tag":"t","earliestStart":9223372036854775807}`))
	f.Add([]byte(`{"project":"p","entityKey":"c","entityVal":"v","name":"n","cmd":"x","tag":"t","env":"AURA_SERVER_URL=x"}`))
	f.Add([]byte(`{"project":"p","entityKey":"c","entityVal":"v","name":"n","cmd":"x","tag":"t","env":"=\u0000"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var b compatSubmit
		req := httptest.NewRequest("POST", "/api/submit", bytes.NewReader(body))
		err := decode(httptest.NewRecorder(), req, &b)
		var env map[string]string
		if err == nil {
			env, err = b.check()
		}
		if err != nil {
			checkAnswer(t, err)
			return
		}
		var e *jsonTime
		if b.EarliestStart != nil {
			e = &jsonTime{time.Unix(*b.EarliestStart, 0)}
		}
		checkJob(t, &jobSubmit{JobSpec: store.JobSpec{Name: b.Name, Cmd: b.Cmd, Tag: b.Tag, Env: env}, EntityKey: b.EntityKey, EntityVal: b.EntityVal, EarliestStart: e})
	})
}

// slugRef is the slug rule written out by hand, to hold the pattern against.
func slugRef(s string) bool {
	if len(s) < 1 || len(s) > 260 {
		return false
	}
	for _, c := range []byte(s) {
		ok := c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || strings.IndexByte("_:.-", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

func FuzzSlug(f *testing.F) {
	for _, s := range []string{"main", "f2ac9bab", "a:b.c-d_e", "", "a b", "ä", "x\n", "a/b", strings.Repeat("x", 260), strings.Repeat("x", 261), "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if slugPattern.MatchString(s) != slugRef(s) {
			t.Fatalf("pattern and rule disagree on %q", s)
		}
		req := httptest.NewRequest("GET", "/", nil)
		req = mux.SetURLVars(req, map[string]string{"key": s})
		got, err := slugParam(req, "key")
		if (err == nil) != slugRef(s) || (err == nil && got != s) {
			t.Fatalf("slugParam(%q) = %q, %v", s, got, err)
		}
		if err != nil {
			checkAnswer(t, err)
		}
	})
}

var lineBreak = regexp.MustCompile(`[\r\n]`)

func FuzzDotEnv(f *testing.F) {
	for _, s := range []string{"A=1\nB=2", "# comment\n\nexport X='a b'\n", `Q="quoted"`, "bad line", "=x", "A==", "A=\x00", "A=1\r\nB=2\r\n", "1A=x", "A=" + strings.Repeat("x", 70000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		env, err := parseDotEnv(text)
		if err != nil {
			checkAnswer(t, err)
			return
		}
		for k, v := range env {
			if !envNamePattern.MatchString(k) || lineBreak.MatchString(v) {
				t.Fatalf("variable %q=%q from %q", k, v, text)
			}
		}
		// What a 0.4 runner gets back parses to the same names.
		again, err := parseDotEnv(formatDotEnv(env))
		if err != nil {
			t.Fatalf("formatted env does not parse: %v", err)
		}
		if !slices.Equal(slices.Sorted(maps.Keys(env)), slices.Sorted(maps.Keys(again))) {
			t.Fatalf("names changed: %v then %v", env, again)
		}
	})
}

func FuzzLogRange(f *testing.F) {
	f.Add(int64(0), int64(4<<20), int64(100))
	f.Add(int64(9223372036854775807), int64(1), int64(10))
	f.Add(int64(5), int64(9223372036854775807), int64(10))
	f.Add(int64(10), int64(1), int64(10))
	f.Fuzz(func(t *testing.T, offset, limit, length int64) {
		if offset < 0 || limit < 1 || length < 0 {
			return // the handler refuses these before
		}
		end, err := logRange(offset, limit, length)
		if err != nil {
			checkAnswer(t, err)
			if offset <= length {
				t.Fatalf("offset %d within %d refused", offset, length)
			}
			return
		}
		if end < offset || end > length || end-offset > limit {
			t.Fatalf("logRange(%d, %d, %d) = %d", offset, limit, length, end)
		}
		if end < length && end-offset != limit {
			t.Fatalf("logRange(%d, %d, %d) = %d stops short", offset, limit, length, end)
		}
	})
}
