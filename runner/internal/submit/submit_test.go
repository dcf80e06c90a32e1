package submit

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/runner/internal/apiclient"
	"github.com/aura-ci/aura/runner/internal/backoff"
)

// peer is the server side of POST /api/v1/jobs: it records the request and
// answers with a job, or with the error it is told to.
type peer struct {
	mu      sync.Mutex
	auth    string
	body    map[string]any
	errCode int
}

func (p *peer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.Method != http.MethodPost || r.URL.Path != "/api/v1/jobs" {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"code":404,"message":"no such route"}`))
		return
	}
	p.auth = r.Header.Get("Authorization")
	_ = json.NewDecoder(r.Body).Decode(&p.body)
	if p.errCode != 0 {
		w.WriteHeader(p.errCode)
		_, _ = w.Write([]byte(`{"code":400,"message":"field name must match ^[0-9A-Za-z_:.-]{1,260}$","field":"name"}`))
		return
	}
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(apiclient.Job{Id: 4711, Status: apiclient.JobStatusQueued})
}

type testBundle struct {
	peer *peer
	env  map[string]string
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	p := &peer{}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return &testBundle{peer: p, env: map[string]string{
		"AURA_SERVER_URL": srv.URL, "AURA_JOB_TOKEN": "AURA_JOBKEY_1_1_x",
		"AURA_ENTITY_KEY": "commit", "AURA_ENTITY_VAL": "f2ac9bab",
	}}
}

func (b *testBundle) run(args []string, stdin string) (code int, stdout, stderr string) {
	var out, errOut strings.Builder
	code = run(context.Background(), args, func(k string) string { return b.env[k] }, strings.NewReader(stdin), &out, &errOut, "test",
		retryPolicy{tries: 3, backoff: backoff.Backoff{Min: time.Millisecond, Max: time.Millisecond}})
	return code, out.String(), errOut.String()
}

func TestSubmit(t *testing.T) {
	t.Parallel()

	b := setup(t)
	before := time.Now()
	code, stdout, stderr := b.run([]string{"--name", "test-linux", "--cmd", "make test", "--tag", "native,linux",
		"--env", "A=1", "--env", "B=x=y", "--secret-env", "S=hunter2", "--collection", "ref=main",
		"--after", "12", "--after", "13,14", "--delay", "10m", "--timeout", "90s", "--priority", "5", "--max-attempts", "2"}, "")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "4711\n", stdout, "the id alone, for id=$(aura-runner submit …)")
	require.Empty(t, stderr)

	p := b.peer
	p.mu.Lock()
	defer p.mu.Unlock()
	require.Equal(t, "Bearer AURA_JOBKEY_1_1_x", p.auth)
	at, err := time.Parse(time.RFC3339, p.body["earliestStart"].(string))
	require.NoError(t, err)
	require.WithinDuration(t, before.Add(10*time.Minute), at, 5*time.Second)
	delete(p.body, "earliestStart")
	require.Equal(t, map[string]any{
		"entityKey": "commit", "entityVal": "f2ac9bab", "name": "test-linux", "cmd": "make test", "tag": "native,linux",
		"env": map[string]any{"A": "1", "B": "x=y"}, "secretEnv": map[string]any{"S": "hunter2"},
		"collections": map[string]any{"ref": "main"}, "precedingJobs": []any{12.0, 13.0, 14.0},
		"timeoutSeconds": 90.0, "priority": 5.0, "maxAttempts": 2.0,
	}, p.body, "no project: the job token implies it")
}

func TestSubmitOtherEntityAndStdinCmd(t *testing.T) {
	t.Parallel()

	b := setup(t)
	code, stdout, stderr := b.run([]string{"--project", "web", "--entity-key", "nightly", "--entity-val", "2024-01-02",
		"--name", "n", "--tag", "t", "--cmd", "-", "--earliest-start", "2030-01-02T03:04:05Z"}, "echo one\necho two\n")
	require.Equal(t, 0, code, stderr)
	require.Equal(t, "4711\n", stdout)
	b.peer.mu.Lock()
	defer b.peer.mu.Unlock()
	require.Equal(t, "web", b.peer.body["project"])
	require.Equal(t, "nightly", b.peer.body["entityKey"])
	require.Equal(t, "2024-01-02", b.peer.body["entityVal"])
	require.Equal(t, "echo one\necho two\n", b.peer.body["cmd"])
	require.Equal(t, "2030-01-02T03:04:05Z", b.peer.body["earliestStart"])
}

func TestSubmitErrors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		args     []string
		env      map[string]string // overrides; "" removes
		errCode  int
		wantCode int
		want     string
	}{
		{name: "missing flags", args: []string{"--cmd", "x"}, wantCode: 2, want: "missing --name, --tag"},
		{name: "no entity outside a job", args: []string{"--name", "n", "--cmd", "x", "--tag", "t"},
			env: map[string]string{"AURA_ENTITY_KEY": "", "AURA_ENTITY_VAL": ""}, wantCode: 2, want: "missing --entity-key, --entity-val"},
		{name: "no token", args: []string{"--name", "n", "--cmd", "x", "--tag", "t"},
			env: map[string]string{"AURA_JOB_TOKEN": ""}, wantCode: 2, want: "no token"},
		{name: "bad env", args: []string{"--name", "n", "--cmd", "x", "--tag", "t", "--env", "NOEQUALS"}, wantCode: 2,
			want: `"NOEQUALS": want KEY=value`},
		{name: "bad after", args: []string{"--name", "n", "--cmd", "x", "--tag", "t", "--after", "abc"}, wantCode: 2,
			want: `"abc" is not a job id`},
		{name: "bad time", args: []string{"--name", "n", "--cmd", "x", "--tag", "t", "--earliest-start", "tomorrow"}, wantCode: 2,
			want: "want an RFC 3339 time"},
		{name: "both delays", args: []string{"--name", "n", "--cmd", "x", "--tag", "t", "--earliest-start", "2030-01-02T03:04:05Z",
			"--delay", "1m"}, wantCode: 2, want: "not both"},
		{name: "server refuses", args: []string{"--name", "bad name", "--cmd", "x", "--tag", "t"}, errCode: http.StatusBadRequest,
			wantCode: 1, want: "aura-runner submit: 400 Bad Request: field name must match"},
		{name: "server away", args: []string{"--name", "n", "--cmd", "x", "--tag", "t", "--server", "http://127.0.0.1:1"},
			wantCode: 1, want: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			for k, v := range tt.env {
				b.env[k] = v
			}
			b.peer.errCode = tt.errCode
			code, stdout, stderr := b.run(tt.args, "")
			require.Equal(t, tt.wantCode, code, stderr)
			require.Empty(t, stdout)
			require.Contains(t, stderr, tt.want)
		})
	}
}
