// Package cache is `aura-runner cache save|restore`: inside a job, it keeps
// folders between runs of the project's jobs as a tar.gz on the server, under a
// key the job picks (such as the hash of a lock file):
//
//	aura-runner cache restore go-mod/$(sha256sum go.sum | cut -c1-16) --fallback go-mod/ .gomodcache
//	go build ./...
//	aura-runner cache save go-mod/$(sha256sum go.sum | cut -c1-16) .gomodcache
//
// A save of a key that exists is a no-op; a restore of a missing key says so
// and exits 0, so the job goes on.
package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aura-ci/aura/runner/internal/backoff"
)

const usageText = `Usage:
  aura-runner cache save KEY PATH…
  aura-runner cache restore KEY [--fallback PREFIX…] PATH…

Inside a job (with $AURA_SERVER_URL and $AURA_JOB_TOKEN), save keeps the PATHs
(folders or files inside the working directory; symbolic links stay links) as a
tar.gz under KEY in the job's project; a KEY that exists is kept as it is.
restore extracts the PATHs from the cache under KEY, else from the newest one
whose key starts with the first --fallback PREFIX that has any; none: it says
so and exits 0. KEY is 1 to 255 characters of A-Z a-z 0-9 . _ - and /.

Flags (anywhere after the command): --server URL, --token TOKEN, --fallback PREFIX.
`

// Run runs `aura-runner cache args…` and returns the exit code: 0 when done (or
// nothing to restore), 1 when the server refused or could not be reached or
// an archive was refused, 2 for bad usage.
func Run(ctx context.Context, args []string, getenv func(string) string, dir string, stdout, stderr io.Writer, version string) int {
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "aura-runner cache: "+format+"\n", a...)
		return 2
	}
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return 2
	}
	cmd := args[0]
	if cmd == "-h" || cmd == "--help" || cmd == "help" {
		fmt.Fprint(stdout, usageText)
		return 0
	}
	if cmd != "save" && cmd != "restore" {
		return usage("unknown command %q (save or restore)", cmd)
	}
	o := options{
		server: firstOf(getenv("AURA_SERVER_URL"), getenv("AURA_SERVER"), "http://localhost:8420"),
		token:  firstOf(getenv("AURA_JOB_TOKEN"), getenv("AURA_JOBKEY")),
	}
	var rest []string
	for i := 1; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i+1:]...)
			break
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || a == "-" {
			rest = append(rest, a)
			continue
		}
		if name == "h" || name == "help" {
			fmt.Fprint(stdout, usageText)
			return 0
		}
		if !hasVal {
			if i+1 >= len(args) {
				return usage("%s needs a value", a)
			}
			i++
			val = args[i]
		}
		switch name {
		case "server":
			o.server = val
		case "token":
			o.token = val
		case "fallback":
			if cmd != "restore" {
				return usage("--fallback is for restore")
			}
			o.fallbacks = append(o.fallbacks, val)
		default:
			return usage("unknown flag %s (see --help)", a)
		}
	}
	if len(rest) < 2 {
		return usage("want %s KEY PATH… (see --help)", cmd)
	}
	if o.token == "" {
		return usage("no token: run inside a job (AURA_JOB_TOKEN) or give --token")
	}
	if _, err := url.Parse(o.server); err != nil {
		return usage("--server %q: %v", o.server, err)
	}
	o.server = strings.TrimRight(o.server, "/")
	o.key, o.dir, o.version = rest[0], dir, version
	o.client, o.tries = &http.Client{Transport: transport()}, 6
	var paths []string
	for _, p := range rest[1:] {
		rel, err := inside(dir, p)
		if err != nil {
			return usage("%v", err)
		}
		paths = append(paths, rel)
	}
	var err error
	if cmd == "save" {
		err = o.save(ctx, paths, stdout, stderr)
	} else {
		err = o.restore(ctx, paths, stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "aura-runner cache %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

type options struct {
	server, token, key, dir, version string
	fallbacks                        []string
	client                           *http.Client
	tries                            int // sends of a request that cannot reach the server
}

// transport waits for the server's go-ahead before sending a save's body, so
// that a key the server has already costs no upload.
func transport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ExpectContinueTimeout = 10 * time.Second
	return t
}

func (o *options) request(ctx context.Context, method string, query url.Values, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, o.server+"/api/v1/caches?"+query.Encode(), body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+o.token)
	req.Header.Set("User-Agent", "aura-runner/"+o.version)
	return req, nil
}

// save streams the archive of paths to the server as it is made.
func (o *options) save(ctx context.Context, paths []string, stdout, stderr io.Writer) error {
	var n int
	resp, err := o.retry(ctx, func() (*http.Response, error) {
		var err error
		var resp *http.Response
		n, resp, err = o.saveOnce(ctx, paths, stderr)
		return resp, err
	})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var saved struct {
		Size    int64
		Created bool
	}
	if err := answer(resp, &saved); err != nil {
		return err
	}
	if !saved.Created {
		fmt.Fprintf(stdout, "cache %s exists, kept as it is\n", o.key)
		return nil
	}
	fmt.Fprintf(stdout, "cache %s saved: %d entries, %d bytes\n", o.key, n, saved.Size)
	return nil
}

// saveOnce sends one save, packing the archive into the request as it goes.
func (o *options) saveOnce(ctx context.Context, paths []string, stderr io.Writer) (int, *http.Response, error) {
	pr, pw := io.Pipe()
	type packed struct {
		n   int
		err error
	}
	done := make(chan packed, 1)
	go func() {
		n, err := pack(pw, o.dir, paths, func(msg string) { fmt.Fprintf(stderr, "aura-runner cache save: %s\n", msg) })
		pw.CloseWithError(err)
		done <- packed{n, err}
	}()
	req, err := o.request(ctx, http.MethodPut, url.Values{"key": {o.key}}, pr)
	if err != nil {
		pr.Close()
		<-done
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/gzip")
	req.Header.Set("Expect", "100-continue")
	resp, err := o.client.Do(req)
	pr.CloseWithError(io.ErrClosedPipe) // stops pack if the server answered without reading
	p := <-done
	if p.err != nil && !errors.Is(p.err, io.ErrClosedPipe) {
		if err == nil {
			resp.Body.Close()
		}
		return 0, nil, p.err // the server saw a cut upload and kept nothing
	}
	return p.n, resp, err
}

// retry calls send until it gets an answer other than 503, or an error other
// than failing to reach the server (as aura-runner submit does): a save cut
// short leaves nothing on the server, so sending it again is safe.
func (o *options) retry(ctx context.Context, send func() (*http.Response, error)) (*http.Response, error) {
	wait := backoff.Backoff{Min: 250 * time.Millisecond, Max: 4 * time.Second}
	for attempt := 1; ; attempt++ {
		resp, err := send()
		var opErr *net.OpError
		switch {
		case err == nil && resp.StatusCode != http.StatusServiceUnavailable,
			err != nil && (!errors.As(err, &opErr) || opErr.Op != "dial"),
			attempt >= o.tries:
			return resp, err
		}
		if resp != nil {
			resp.Body.Close()
		}
		if !backoff.Sleep(ctx, wait.Next()) {
			return nil, ctx.Err()
		}
	}
}

// restore extracts paths from the cache the server answers.
func (o *options) restore(ctx context.Context, paths []string, stdout io.Writer) error {
	req, err := o.request(ctx, http.MethodGet, url.Values{"key": {o.key}, "fallback": o.fallbacks}, nil)
	if err != nil {
		return err
	}
	resp, err := o.retry(ctx, func() (*http.Response, error) { return o.client.Do(req) })
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		fmt.Fprintf(stdout, "cache %s not found\n", o.key)
		return nil
	}
	if err := answer(resp, nil); err != nil {
		return err
	}
	n, err := unpack(resp.Body, o.dir, paths)
	if err != nil {
		return err
	}
	from := ""
	if got := resp.Header.Get("Aura-Cache-Key"); got != o.key {
		from = " from " + got
	}
	fmt.Fprintf(stdout, "cache %s restored%s: %d entries\n", o.key, from, n)
	return nil
}

// answer turns an error answer into an error naming the server's message, and
// decodes a JSON success into out (nil: leave the body).
func answer(resp *http.Response, out any) error {
	if resp.StatusCode >= 300 {
		var e struct{ Message string }
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(body, &e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(body))
		}
		return fmt.Errorf("the server answered %s: %s", resp.Status, e.Message)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func firstOf(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

// Main is Run with the process's environment, working directory and standard streams.
func Main(args []string, version string) int {
	dir, err := os.Getwd()
	if err != nil {
		fmt.Fprintf(os.Stderr, "aura-runner cache: %v\n", err)
		return 1
	}
	return Run(context.Background(), args, os.Getenv, dir, os.Stdout, os.Stderr, version)
}
