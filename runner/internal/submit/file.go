package submit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/aura-ci/aura/runner/internal/apiclient"
)

// A jobs file (`aura-runner submit --file .aura/jobs.yaml`) describes a set of
// jobs that is submitted at once, all or none:
//
//	jobs:
//	  - name: build
//	    cmd: make
//	    tag: native,linux
//	  - name: deploy
//	    cmd: ./deploy.sh
//	    tag: native,linux
//	    after: [build]
//	    secrets: [DEPLOY_KEY]
//	    when: {branch: main, event: push}
//
// A job's fields are named like submit's flags. The file is checked whole before
// anything is sent; every problem is reported as path:line:column.

// fileFields are the fields a job may have, in the order the help lists them.
var fileFields = []string{"name", "cmd", "tag", "after", "env", "secrets", "collection",
	"delay", "earliest-start", "timeout", "priority", "max-attempts", "when"}

// fieldHints answer a field that is not one, where a likely meaning is known.
var fieldHints = map[string]string{
	"secret-env":  "a secret's value cannot be in a repository: list its name under secrets, and the job that submits the file passes it on from its environment",
	"collections": "the field is collection, as the flag --collection",
	"command":     "the field is cmd",
	"script":      "the field is cmd",
	"tags":        "a job has one tag, such as native,linux: the field is tag",
	"needs":       "the field is after",
	"depends_on":  "the field is after",
}

// maxFileJobs is what one batch may hold (POST /api/v1/jobs/batch).
const maxFileJobs = 1000

var (
	slugPattern    = regexp.MustCompile(`^[0-9A-Za-z_:.-]{1,260}$`)
	envNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	tagPattern     = regexp.MustCompile(`^\S{1,260}$`)
	yamlLine       = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
)

// fileJob is one job read from a jobs file.
type fileJob struct {
	line, column int
	body         apiclient.BatchJobSubmit
	after        []nameRef // jobs of the file
	secrets      []nameRef
	branches     []string // when: branch; empty: any
	events       []string // when: event; empty: any
}

// nameRef is a name as written in the file, with where.
type nameRef struct {
	name         string
	line, column int
}

// FileError is one problem in a jobs file.
type FileError struct {
	Line, Column int
	Message      string
}

// FileErrors are the problems of a jobs file; nothing was submitted.
type FileErrors struct {
	Path   string
	Errors []FileError
}

func (e *FileErrors) Error() string {
	lines := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		switch {
		case fe.Column > 0:
			lines[i] = fmt.Sprintf("%s:%d:%d: %s", e.Path, fe.Line, fe.Column, fe.Message)
		case fe.Line > 0:
			lines[i] = fmt.Sprintf("%s:%d: %s", e.Path, fe.Line, fe.Message)
		default:
			lines[i] = fmt.Sprintf("%s: %s", e.Path, fe.Message)
		}
	}
	return strings.Join(lines, "\n")
}

// maxFileErrors bounds the problems reported at once.
const maxFileErrors = 20

// fileParser collects the problems of one file.
type fileParser struct {
	errs []FileError
	now  time.Time
}

func (p *fileParser) errorf(n *yaml.Node, format string, a ...any) {
	if len(p.errs) == maxFileErrors {
		p.errs = append(p.errs, FileError{Message: "more problems not shown"})
	}
	if len(p.errs) > maxFileErrors {
		return
	}
	fe := FileError{Message: fmt.Sprintf(format, a...)}
	if n != nil {
		fe.Line, fe.Column = n.Line, n.Column
	}
	p.errs = append(p.errs, fe)
}

// parseJobsFile reads and checks a jobs file. It returns every job of the file
// (entity and project left for the caller), or *FileErrors.
func parseJobsFile(filePath string, data []byte, now time.Time) ([]*fileJob, error) {
	p := &fileParser{now: now}
	jobs := p.parse(data)
	if len(p.errs) > 0 {
		return nil, &FileErrors{Path: filePath, Errors: p.errs}
	}
	return jobs, nil
}

func (p *fileParser) parse(data []byte) []*fileJob {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			p.errs = append(p.errs, FileError{Line: line, Message: m[2]})
		} else {
			p.errs = append(p.errs, FileError{Message: msg})
		}
		return nil
	}
	if len(doc.Content) == 0 {
		p.errorf(nil, "the file is empty: want a jobs: list")
		return nil
	}
	root := resolve(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		p.errorf(root, "want a mapping with a jobs: list, not %s", kindOf(root))
		return nil
	}
	var list *yaml.Node
	p.fields(root, func(key, value *yaml.Node) {
		if key.Value != "jobs" {
			p.errorf(key, "unknown field %q at the top (the file holds jobs:)", key.Value)
			return
		}
		list = value
	})
	if list == nil {
		if len(p.errs) == 0 {
			p.errorf(root, "no jobs: list")
		}
		return nil
	}
	if list.Kind != yaml.SequenceNode {
		p.errorf(list, "jobs: want a list of jobs, not %s", kindOf(list))
		return nil
	}
	if len(list.Content) == 0 {
		p.errorf(list, "jobs: the list is empty")
		return nil
	}
	if len(list.Content) > maxFileJobs {
		p.errorf(list, "jobs: %d jobs, at most %d are submitted at once", len(list.Content), maxFileJobs)
		return nil
	}
	var jobs []*fileJob
	for _, item := range list.Content {
		if j := p.job(resolve(item)); j != nil {
			jobs = append(jobs, j)
		}
	}
	p.links(jobs)
	return jobs
}

// fields calls f for each key and value of a mapping, reporting a key given twice.
func (p *fileParser) fields(m *yaml.Node, f func(key, value *yaml.Node)) {
	seen := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		key, value := resolve(m.Content[i]), resolve(m.Content[i+1])
		if key.Kind != yaml.ScalarNode {
			p.errorf(key, "a field name must be a plain word, not %s", kindOf(key))
			continue
		}
		if line, ok := seen[key.Value]; ok {
			p.errorf(key, "field %s given twice (first on line %d)", key.Value, line)
			continue
		}
		seen[key.Value] = key.Line
		f(key, value)
	}
}

func (p *fileParser) job(n *yaml.Node) *fileJob {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "a job is a mapping of fields (name:, cmd:, tag:, …), not %s", kindOf(n))
		return nil
	}
	j := &fileJob{line: n.Line, column: n.Column}
	var delay, earliest *yaml.Node
	p.fields(n, func(key, v *yaml.Node) {
		switch key.Value {
		case "name":
			if s, ok := p.str(key, v); ok {
				if !slugPattern.MatchString(s) {
					p.errorf(v, "name %q: use 1 to 260 of A-Z a-z 0-9 _ : . -", s)
				}
				j.body.Name = s
			}
		case "cmd":
			if s, ok := p.str(key, v); ok {
				switch {
				case strings.TrimSpace(s) == "":
					p.errorf(v, "cmd is empty")
				case len(s) > 65536:
					p.errorf(v, "cmd is %d bytes, at most 65536", len(s))
				}
				j.body.Cmd = s
			}
		case "tag":
			if s, ok := p.str(key, v); ok {
				if !tagPattern.MatchString(s) {
					p.errorf(v, "tag %q: one tag such as native,linux, without spaces", s)
				}
				j.body.Tag = s
			}
		case "after":
			for _, item := range p.list(key, v) {
				if item.Tag == "!!int" {
					id, err := strconv.ParseInt(item.Value, 10, 64)
					if err != nil || id < 1 {
						p.errorf(item, "after: %s is not a job id", item.Value)
						continue
					}
					j.body.PrecedingJobs = append(j.body.PrecedingJobs, id)
					continue
				}
				j.after = append(j.after, nameRef{item.Value, item.Line, item.Column})
			}
		case "secrets":
			for _, item := range p.list(key, v) {
				if !envNamePattern.MatchString(item.Value) {
					p.errorf(item, "secrets: %q is not a variable name", item.Value)
					continue
				}
				j.secrets = append(j.secrets, nameRef{item.Value, item.Line, item.Column})
			}
		case "env":
			j.body.Env = p.pairs(key, v, func(k *yaml.Node) bool {
				if !envNamePattern.MatchString(k.Value) {
					p.errorf(k, "env: %q is not a variable name", k.Value)
					return false
				}
				return true
			}, nil)
		case "collection":
			j.body.Collections = p.pairs(key, v, func(k *yaml.Node) bool {
				if !slugPattern.MatchString(k.Value) {
					p.errorf(k, "collection: key %q: use 1 to 260 of A-Z a-z 0-9 _ : . -", k.Value)
					return false
				}
				return true
			}, func(val *yaml.Node) bool {
				if !slugPattern.MatchString(val.Value) {
					p.errorf(val, "collection: value %q: use 1 to 260 of A-Z a-z 0-9 _ : . -", val.Value)
					return false
				}
				return true
			})
		case "delay":
			if d, ok := p.duration(key, v); ok {
				if d < 0 {
					p.errorf(v, "delay cannot be negative")
					return
				}
				delay = v
				at := p.now.Add(d).UTC()
				j.body.EarliestStart = &at
			}
		case "earliest-start":
			if s, ok := p.str(key, v); ok {
				at, err := time.Parse(time.RFC3339, s)
				if err != nil {
					p.errorf(v, "earliest-start %q: want an RFC 3339 time such as 2024-05-01T12:00:00Z", s)
					return
				}
				earliest = v
				j.body.EarliestStart = &at
			}
		case "timeout":
			if d, ok := p.duration(key, v); ok {
				secs := int((d + time.Second - 1) / time.Second)
				if secs < 1 || secs > 604800 {
					p.errorf(v, "timeout must be from 1s to 168h")
					return
				}
				j.body.TimeoutSeconds = &secs
			}
		case "priority":
			if n, ok := p.integer(key, v, -1000, 1000); ok {
				j.body.Priority = &n
			}
		case "max-attempts":
			if n, ok := p.integer(key, v, 1, 10); ok {
				j.body.MaxAttempts = &n
			}
		case "when":
			p.when(j, key, v)
		default:
			if hint, ok := fieldHints[key.Value]; ok {
				p.errorf(key, "unknown field %q: %s", key.Value, hint)
				return
			}
			p.errorf(key, "unknown field %q (a job has %s)", key.Value, strings.Join(fileFields, ", "))
		}
	})
	if delay != nil && earliest != nil {
		p.errorf(delay, "give delay or earliest-start, not both")
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"name", j.body.Name}, {"cmd", j.body.Cmd}, {"tag", j.body.Tag}} {
		if f.v == "" && !hasField(n, f.name) {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		p.errorf(n, "a job needs %s", strings.Join(missing, ", "))
	}
	return j
}

// when reads `when: {branch: …, event: …}`: the job is left out of the
// submission unless the commit's branch and the event match.
func (p *fileParser) when(j *fileJob, key, v *yaml.Node) {
	if v.Kind != yaml.MappingNode {
		p.errorf(v, "when: want a mapping such as {branch: main, event: push}, not %s", kindOf(v))
		return
	}
	p.fields(v, func(k, val *yaml.Node) {
		switch k.Value {
		case "branch":
			for _, item := range p.list(k, val) {
				if _, err := path.Match(item.Value, ""); err != nil {
					p.errorf(item, "when: branch %q is not a pattern: %v", item.Value, err)
					continue
				}
				j.branches = append(j.branches, item.Value)
			}
		case "event":
			for _, item := range p.list(k, val) {
				if !slices.Contains([]string{"push", "tag", "request"}, item.Value) {
					p.errorf(item, "when: event %q: want push, tag or request", item.Value)
					continue
				}
				j.events = append(j.events, item.Value)
			}
		default:
			p.errorf(k, "unknown field %q in when (it has branch, event)", k.Value)
		}
	})
}

func hasField(m *yaml.Node, name string) bool {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == name {
			return true
		}
	}
	return false
}

// str reads a text value; a number or true is text too, a list or mapping is not.
func (p *fileParser) str(key, v *yaml.Node) (string, bool) {
	if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
		p.errorf(v, "%s: want text, not %s", key.Value, kindOf(v))
		return "", false
	}
	return v.Value, true
}

// list reads a list of words, or one word alone.
func (p *fileParser) list(key, v *yaml.Node) []*yaml.Node {
	if v.Kind == yaml.ScalarNode && v.Tag != "!!null" {
		return []*yaml.Node{v}
	}
	if v.Kind != yaml.SequenceNode {
		p.errorf(v, "%s: want a list, not %s", key.Value, kindOf(v))
		return nil
	}
	var out []*yaml.Node
	for _, item := range v.Content {
		item = resolve(item)
		if item.Kind != yaml.ScalarNode || item.Tag == "!!null" {
			p.errorf(item, "%s: want a word in the list, not %s", key.Value, kindOf(item))
			continue
		}
		out = append(out, item)
	}
	return out
}

// pairs reads a mapping of words to words.
func (p *fileParser) pairs(key, v *yaml.Node, okKey, okValue func(*yaml.Node) bool) map[string]string {
	if v.Kind != yaml.MappingNode {
		p.errorf(v, "%s: want a mapping such as {KEY: value}, not %s", key.Value, kindOf(v))
		return nil
	}
	out := map[string]string{}
	p.fields(v, func(k, val *yaml.Node) {
		if val.Kind != yaml.ScalarNode {
			p.errorf(val, "%s: %s: want text, not %s", key.Value, k.Value, kindOf(val))
			return
		}
		if !okKey(k) || (okValue != nil && !okValue(val)) {
			return
		}
		out[k.Value] = val.Value
	})
	return out
}

func (p *fileParser) duration(key, v *yaml.Node) (time.Duration, bool) {
	s, ok := p.str(key, v)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		p.errorf(v, "%s %q: want a duration such as 90s or 10m", key.Value, s)
		return 0, false
	}
	return d, true
}

func (p *fileParser) integer(key, v *yaml.Node, lo, hi int) (int, bool) {
	if v.Kind != yaml.ScalarNode || v.Tag != "!!int" {
		p.errorf(v, "%s: want a whole number from %d to %d, not %s", key.Value, lo, hi, kindOf(v))
		return 0, false
	}
	n, err := strconv.Atoi(v.Value)
	if err != nil || n < lo || n > hi {
		p.errorf(v, "%s: want a whole number from %d to %d, not %s", key.Value, lo, hi, v.Value)
		return 0, false
	}
	return n, true
}

// links checks names across jobs: no two alike, every after names a job of the
// file, and no cycle.
func (p *fileParser) links(jobs []*fileJob) {
	byName := map[string]*fileJob{}
	for _, j := range jobs {
		if j.body.Name == "" {
			continue
		}
		if first, ok := byName[j.body.Name]; ok {
			p.errorf(nameNode(j), "two jobs are named %s (the first on line %d)", j.body.Name, first.line)
			continue
		}
		byName[j.body.Name] = j
	}
	for _, j := range jobs {
		for _, a := range j.after {
			switch target, ok := byName[a.name]; {
			case !ok:
				p.errorf(refNode(a), "after: no job named %s in this file", a.name)
			case target == j:
				p.errorf(refNode(a), "after: job %s cannot come after itself", a.name)
			default:
				j.body.PrecedingNames = append(j.body.PrecedingNames, a.name)
			}
		}
	}
	if len(p.errs) > 0 {
		return
	}
	// A cycle, found by depth-first search, is reported once, where it closes.
	const (
		unseen = iota
		open
		done
	)
	state := map[*fileJob]int{}
	var stack []*fileJob
	var visit func(j *fileJob) bool
	visit = func(j *fileJob) bool {
		state[j] = open
		stack = append(stack, j)
		for _, a := range j.after {
			next := byName[a.name]
			switch state[next] {
			case open:
				var names []string
				for _, s := range stack[slices.Index(stack, next):] {
					names = append(names, s.body.Name)
				}
				names = append(names, next.body.Name)
				p.errorf(refNode(a), "after: a cycle: %s", strings.Join(names, " after "))
				return false
			case unseen:
				if !visit(next) {
					return false
				}
			}
		}
		stack = stack[:len(stack)-1]
		state[j] = done
		return true
	}
	for _, j := range jobs {
		if state[j] == unseen && !visit(j) {
			return
		}
	}
}

func nameNode(j *fileJob) *yaml.Node { return &yaml.Node{Line: j.line, Column: j.column} }

func refNode(r nameRef) *yaml.Node { return &yaml.Node{Line: r.line, Column: r.column} }

// resolve follows an alias (*anchor) to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func kindOf(n *yaml.Node) string {
	switch {
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Tag == "!!null":
		return "nothing"
	case n.Tag == "!!int" || n.Tag == "!!float":
		return "the number " + n.Value
	case n.Tag == "!!bool":
		return n.Value
	}
	return strconv.Quote(n.Value)
}

// gitEvent is the event that started the job submitting the file, from the
// variables an integration's job has: request, tag, push, or "" (none).
func gitEvent(getenv func(string) string) string {
	switch {
	case getenv("AURA_GIT_REQUEST") != "":
		return "request"
	case getenv("AURA_GIT_TAG") != "":
		return "tag"
	case getenv("AURA_GIT_BRANCH") != "":
		return "push"
	}
	return ""
}

// matches says whether the job's when: holds for this submission.
func (j *fileJob) matches(branch, event string) bool {
	if len(j.events) > 0 && !slices.Contains(j.events, event) {
		return false
	}
	if len(j.branches) == 0 {
		return true
	}
	for _, b := range j.branches {
		if ok, _ := path.Match(b, branch); ok && branch != "" {
			return true
		}
	}
	return false
}

// selectJobs leaves out the jobs whose when: does not hold, and those after
// them, and fills in their secrets from getenv. It returns the jobs to submit,
// a line for each job left out, and the problems (a secret not set) as
// *FileErrors.
func selectJobs(filePath string, jobs []*fileJob, getenv func(string) string) (kept []*fileJob, skipped []string, err error) {
	// As in Woodpecker, a request's branch is the one it would merge into.
	branch, event := getenv("AURA_GIT_BRANCH"), gitEvent(getenv)
	if event == "request" {
		branch = getenv("AURA_GIT_TARGET_BRANCH")
	}
	out := map[string]string{} // name → why it is left out
	// The file has no cycle: repeat until nothing changes (at most len(jobs) rounds).
	for changed := true; changed; {
		changed = false
		for _, j := range jobs {
			if _, gone := out[j.body.Name]; gone {
				continue
			}
			if !j.matches(branch, event) {
				out[j.body.Name] = fmt.Sprintf("left out %s: when (branch %q, event %q) does not hold", j.body.Name, branch, event)
				changed = true
				continue
			}
			for _, a := range j.after {
				if _, gone := out[a.name]; gone {
					out[j.body.Name] = fmt.Sprintf("left out %s: it comes after %s, which is left out", j.body.Name, a.name)
					changed = true
					break
				}
			}
		}
	}
	p := &fileParser{}
	for _, j := range jobs {
		if why, gone := out[j.body.Name]; gone {
			skipped = append(skipped, why)
			continue
		}
		for _, s := range j.secrets {
			v := getenv(s.name)
			if v == "" {
				p.errorf(refNode(s), "secrets: %s is not set in this job's environment (give it to the job that submits the file)", s.name)
				continue
			}
			if j.body.SecretEnv == nil {
				j.body.SecretEnv = map[string]string{}
			}
			j.body.SecretEnv[s.name] = v
		}
		kept = append(kept, j)
	}
	if len(p.errs) > 0 {
		return nil, nil, &FileErrors{Path: filePath, Errors: p.errs}
	}
	return kept, skipped, nil
}

// fileArgs are the flags that go with --file.
type fileArgs struct {
	path, server, token, project, entityKey, entityVal string
}

// submitFile is `aura-runner submit --file PATH`: it checks the whole file, then
// submits its jobs in one request (POST /api/v1/jobs/batch), all or none, and
// prints their ids in the file's order.
func submitFile(ctx context.Context, a fileArgs, getenv func(string) string, stdout, stderr io.Writer,
	version string, retry retryPolicy) int {
	fail := func(code int, format string, args ...any) int {
		fmt.Fprintf(stderr, "aura-runner submit: "+format+"\n", args...)
		return code
	}
	data, err := os.ReadFile(a.path)
	if err != nil {
		return fail(2, "%v", err)
	}
	jobs, err := parseJobsFile(a.path, data, time.Now())
	if err == nil {
		var skipped []string
		jobs, skipped, err = selectJobs(a.path, jobs, getenv)
		for _, s := range skipped {
			fmt.Fprintf(stderr, "aura-runner submit: %s\n", s)
		}
	}
	if err != nil {
		for line := range strings.SplitSeq(err.Error(), "\n") {
			fmt.Fprintf(stderr, "aura-runner submit: %s\n", line)
		}
		return fail(2, "nothing submitted")
	}
	var missing []string
	if a.entityKey == "" {
		missing = append(missing, "--entity-key")
	}
	if a.entityVal == "" {
		missing = append(missing, "--entity-val")
	}
	if len(missing) > 0 {
		return fail(2, "missing %s (see --help)", strings.Join(missing, ", "))
	}
	if a.token == "" {
		return fail(2, "no token: run inside a job (AURA_JOB_TOKEN) or give --token")
	}
	if len(jobs) == 0 {
		fmt.Fprintf(stderr, "aura-runner submit: %s: every job is left out, nothing to submit\n", a.path)
		return 0
	}
	body := apiclient.JobBatchSubmit{Jobs: make([]apiclient.BatchJobSubmit, len(jobs))}
	for i, j := range jobs {
		b := j.body
		b.EntityKey, b.EntityVal = a.entityKey, a.entityVal
		passGitEnv(&b, getenv)
		if a.project != "" {
			b.Project = &a.project
		}
		body.Jobs[i] = b
	}
	client, err := newClient(a.server, a.token, version)
	if err != nil {
		return fail(2, "--server %q: %v", a.server, err)
	}
	created, err := retrying(ctx, retry, func(ctx context.Context) (*apiclient.JobList, error) {
		resp, err := client.SubmitJobBatchWithResponse(ctx, body)
		if err != nil {
			return nil, err
		}
		if resp.JSON201 != nil {
			return resp.JSON201, nil
		}
		return nil, apiclient.NewStatusError(resp.StatusCode(), resp.Body)
	})
	if err != nil {
		// The server names a field as jobs[i].…: say where that job is in the file.
		var se *apiclient.StatusError
		if errors.As(err, &se) {
			if m := batchField.FindStringSubmatch(se.Field); m != nil {
				if i, _ := strconv.Atoi(m[1]); i < len(jobs) {
					return fail(1, "%s:%d:%d: job %s: %v; nothing submitted", a.path, jobs[i].line, jobs[i].column, jobs[i].body.Name, err)
				}
			}
		}
		return fail(1, "%v; nothing submitted", err)
	}
	for i, j := range created.Items {
		fmt.Fprintln(stdout, j.Id)
		after := ""
		if i < len(jobs) && len(jobs[i].body.PrecedingNames) > 0 {
			after = " after " + strings.Join(jobs[i].body.PrecedingNames, ", ")
		}
		fmt.Fprintf(stderr, "aura-runner submit: submitted %s (job %d)%s\n", j.Name, j.Id, after)
	}
	return 0
}

// gitVariables are what an integration tells its job about the commit; the jobs
// of a file are about the same commit, and get them too.
var gitVariables = []string{"AURA_GIT_URL", "AURA_GIT_REF", "AURA_GIT_SHA", "AURA_GIT_BRANCH", "AURA_GIT_TAG",
	"AURA_GIT_REQUEST", "AURA_GIT_SOURCE_BRANCH", "AURA_GIT_TARGET_BRANCH"}

// passGitEnv gives the job the submitting job's AURA_GIT_* variables, unless the
// file sets them.
func passGitEnv(b *apiclient.BatchJobSubmit, getenv func(string) string) {
	for _, name := range gitVariables {
		v := getenv(name)
		if v == "" {
			continue
		}
		if _, set := b.Env[name]; set {
			continue
		}
		if b.Env == nil {
			b.Env = map[string]string{}
		}
		b.Env[name] = v
	}
}

// batchField matches a field the batch route names, such as jobs[2].env.
var batchField = regexp.MustCompile(`^jobs\[(\d+)\]`)
