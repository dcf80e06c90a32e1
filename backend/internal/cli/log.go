package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gorilla/websocket"
)

const logUsage = `[-f] [--color auto|always|never] JOB

Prints a job's log. With -f it follows the log live until the job ends and
exits with its result: 0 succeeded, 1 failed, timed out or lost, 7 cancelled.
Colours pass through to a terminal and are stripped otherwise (--color).`

func (c *command) log(ctx context.Context, args []string) error {
	var co common
	fs := c.flagSet("log", logUsage, &co)
	follow := fs.Bool("f", false, "follow the log until the job ends; exit with its result")
	fs.BoolVar(follow, "follow", false, "the same as -f")
	colour := fs.String("color", "auto", "colours: auto (on a terminal), always or never")
	attempt := fs.Int("attempt", 0, "the attempt to print (the current one when 0; not with -f)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return usagef("give one job id")
	}
	ids, err := jobIDs(pos)
	if err != nil {
		return err
	}
	var keep bool
	switch *colour {
	case "auto":
		keep = c.env.Terminal
	case "always":
		keep = true
	case "never":
	default:
		return usagef("--color %q: want auto, always or never", *colour)
	}
	if *follow && *attempt != 0 {
		return usagef("--attempt does not go with -f")
	}
	cl, err := c.client(&co)
	if err != nil {
		return err
	}
	id := ids[0]
	j, _, err := cl.job(ctx, id)
	if err != nil {
		return err
	}
	if !*follow {
		out := newEscapeFilter(c.env.Stdout, keep)
		a := j.Attempt
		if *attempt > j.Attempt {
			return exitf(ExitNotFound, "job %d has had %d attempt(s), not %d", id, j.Attempt, *attempt)
		}
		if *attempt != 0 {
			a = *attempt
		}
		_, err := cl.copyLog(ctx, out, id, a, 0)
		return err
	}
	return c.follow(ctx, cl, j, keep)
}

// follow prints job j's log live until it ends and returns the job's result as
// an *exitError (nil when it succeeded).
func (c *command) follow(ctx context.Context, cl *client, j Job, colour bool) error {
	if !ended(j.Status) && j.Status != "running" {
		msg := fmt.Sprintf("aura: job %d is %s", j.ID, j.Status)
		if n := note(j); n != "" {
			msg += ": " + n
		}
		fmt.Fprintln(c.env.Stderr, msg)
	}
	f := &follower{cl: cl, out: newEscapeFilter(c.env.Stdout, colour), stderr: c.env.Stderr, id: j.ID, attempt: j.Attempt}
	status, err := f.run(ctx, j)
	if err != nil {
		return err
	}
	if code := jobExit(status); code != ExitOK {
		return exitf(code, "job %d %s", j.ID, status)
	}
	return nil
}

// copyLog writes attempt's log from offset to out, page by page, and returns
// where the log ends.
func (c *client) copyLog(ctx context.Context, out io.Writer, id int64, attempt int, offset int64) (int64, error) {
	const page = 4 << 20
	for {
		q := url.Values{"attempt": {strconv.Itoa(attempt)}, "offset": {strconv.FormatInt(offset, 10)},
			"limit": {strconv.Itoa(page)}}
		data, h, err := c.do(ctx, http.MethodGet, fmt.Sprintf("/api/v1/jobs/%d/log", id), q, nil)
		if err != nil {
			var ae *apiError
			if offset == 0 && errors.As(err, &ae) && ae.status == http.StatusNotFound {
				return 0, nil // the attempt has no log yet
			}
			return offset, err
		}
		if _, err := out.Write(data); err != nil {
			return offset, err
		}
		end, err := strconv.ParseInt(h.Get("X-Log-Length"), 10, 64)
		if err != nil {
			return offset, fmt.Errorf("the log's answer has no X-Log-Length")
		}
		if offset+page >= end {
			return end, nil
		}
		offset += page
	}
}

// follower follows one job's log over the event websocket.
type follower struct {
	cl      *client
	out     io.Writer
	stderr  io.Writer
	id      int64
	attempt int   // the attempt being printed
	have    int64 // bytes of it printed (in log offsets)
}

type event struct {
	Type    string `json:"type"`
	JobID   int64  `json:"jobId"`
	Status  string `json:"status"`
	Attempt int    `json:"attempt"`
	Offset  int64  `json:"offset"`
	Length  int64  `json:"length"`
	Data    []byte `json:"data"`
	Code    int    `json:"code"`
	Message string `json:"message"`
	Topic   string `json:"topic"`
}

// run follows until the job ends and returns its final status. A broken
// socket is reopened, and the log resumes where it stopped.
func (f *follower) run(ctx context.Context, j Job) (string, error) {
	if ended(j.Status) {
		return f.finish(ctx, j)
	}
	failures := 0
	for {
		start := time.Now()
		status, err := f.session(ctx)
		if time.Since(start) > time.Minute {
			failures = 0 // a socket that served a while is not a failure in a row
		}
		if status != "" || ctx.Err() != nil {
			return status, err
		}
		if !transient(err) {
			return "", err
		}
		failures++
		if failures > 30 {
			return "", &apiError{message: fmt.Sprintf("lost the event stream: %v", err)}
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Duration(min(failures, 5)) * time.Second):
		}
	}
}

// session runs one websocket connection; it returns the job's final status,
// or an error after which run reconnects (unless it is an *exitError).
func (f *follower) session(ctx context.Context) (string, error) {
	u := *f.cl.base
	u.Scheme = map[string]string{"http": "ws", "https": "wss"}[u.Scheme]
	u.Path += "/api/v1/events"
	h := http.Header{}
	if f.cl.token != "" {
		h.Set("Authorization", "Bearer "+f.cl.token)
	}
	dialer := websocket.Dialer{HandshakeTimeout: 15 * time.Second, Proxy: http.ProxyFromEnvironment}
	conn, resp, err := dialer.DialContext(ctx, u.String(), h)
	if err != nil {
		if resp != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
			return "", exitf(ExitNotAllowed, "the server refused the token for the event stream (%s)", resp.Status)
		}
		if resp != nil && resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusTooManyRequests {
			return "", exitf(ExitError, "the server refused the event stream (%s)", resp.Status)
		}
		return "", fmt.Errorf("cannot open the event stream: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	topicJob := fmt.Sprintf("job:%d", f.id)
	send := func(m map[string]any) error { return conn.WriteJSON(m) }
	if err := send(map[string]any{"op": "subscribe", "topic": topicJob}); err != nil {
		return "", err
	}
	if err := send(map[string]any{"op": "subscribe", "topic": fmt.Sprintf("log:%d", f.id),
		"offset": f.have, "attempt": f.attempt}); err != nil {
		return "", err
	}
	// Every 15 s without an end, ask for the job: an event lost to a
	// reconnect or a resync cannot keep the command waiting.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	reads := make(chan event)
	readErr := make(chan error, 1)
	go func() {
		for {
			var ev event
			_, data, err := conn.ReadMessage()
			if err == nil {
				err = json.Unmarshal(data, &ev)
			}
			if err != nil {
				readErr <- err
				return
			}
			select {
			case reads <- ev:
			case <-sctx.Done():
				return
			}
		}
	}()
	tick := time.NewTicker(15 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case err := <-readErr:
			if websocket.IsCloseError(err, 4001) {
				return "", exitf(ExitNotAllowed, "the server closed the event stream: the token is no longer valid")
			}
			return "", err
		case <-tick.C:
			if st, done, err := f.checkEnded(ctx); done || err != nil {
				return st, err
			}
		case ev := <-reads:
			switch ev.Type {
			case "subscribed":
				if ev.Topic == topicJob {
					// Subscribed: an end from now on arrives as an event; one
					// before it shows in the job.
					if st, done, err := f.checkEnded(ctx); done || err != nil {
						return st, err
					}
				}
			case "log":
				if err := f.write(ev); err != nil {
					return "", err
				}
			case "job":
				if ended(ev.Status) {
					if st, done, err := f.checkEnded(ctx); done || err != nil {
						return st, err
					}
				}
			case "resync":
				if st, done, err := f.checkEnded(ctx); done || err != nil {
					return st, err
				}
			case "error":
				code := ExitError
				switch ev.Code {
				case 404:
					code = ExitNotFound
				case 401, 403:
					code = ExitNotAllowed
				}
				return "", exitf(code, "the event stream refused %s: %s", ev.Topic, ev.Message)
			}
		}
	}
}

// write prints a log event's bytes that were not printed yet.
func (f *follower) write(ev event) error {
	if ev.Attempt < f.attempt {
		return nil
	}
	if ev.Attempt > f.attempt {
		fmt.Fprintf(f.stderr, "aura log: job %d runs again (attempt %d)\n", f.id, ev.Attempt)
		f.attempt, f.have = ev.Attempt, 0
	}
	end := ev.Offset + int64(len(ev.Data))
	if end <= f.have {
		return nil
	}
	data := ev.Data
	if ev.Offset < f.have {
		data = data[f.have-ev.Offset:]
	}
	f.have = end
	_, err := f.out.Write(data)
	return err
}

// checkEnded asks for the job; when it has ended, it prints the rest of its
// log and returns its status with done set.
func (f *follower) checkEnded(ctx context.Context) (string, bool, error) {
	j, _, err := f.cl.job(ctx, f.id)
	if err != nil {
		return "", false, err
	}
	if !ended(j.Status) {
		return "", false, nil
	}
	st, err := f.finish(ctx, j)
	return st, true, err
}

// finish prints what the websocket did not bring of the job's last attempt.
func (f *follower) finish(ctx context.Context, j Job) (string, error) {
	if j.Attempt != f.attempt {
		f.attempt, f.have = j.Attempt, 0
	}
	end, err := f.cl.copyLog(ctx, f.out, f.id, f.attempt, f.have)
	if err != nil {
		return "", err
	}
	f.have = end
	return j.Status, nil
}

// transient reports whether err may pass when the socket is opened again: a
// broken connection or an unavailable server, not a refusal.
func transient(err error) bool {
	var ee *exitError
	var ae *apiError
	switch {
	case errors.As(err, &ee):
		return false
	case errors.As(err, &ae):
		return ae.exitCode() == ExitUnreachable
	}
	return true
}
