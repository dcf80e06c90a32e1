package submit

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzJobsFile reads a repository's .aura/jobs.yaml: never a panic or a
// hang; either problems that each name a place in the file (at most
// maxFileErrors and a "more" line), or jobs the server will take: valid
// names, commands and tags, no name twice, and an after: graph without cycles.
func FuzzJobsFile(f *testing.F) {
	for _, s := range []string{
		goodFile,
		"jobs:\n  - {name: a, cmd: x, tag: t, after: [b]}\n  - {name: b, cmd: x, tag: t, after: [a]}\n",
		"jobs:\n  - &j {name: a, cmd: x, tag: t}\n  - *j\n",
		"a: &a [*a]\n",
		"jobs: []\n", "jobs:\n  - 1\n", "", "---\n...\n", "jobs:\n  - name: a\n    name: b\n",
		"jobs:\n  - {name: a, cmd: x, tag: t, after: [0, -1, 99999999999999999999]}\n",
		"jobs:\n  - {name: a, cmd: x, tag: t, delay: 10m, earliest-start: 2026-12-06T12:00:00Z, timeout: -1s, priority: 1e9}\n",
		"jobs:\n  - {name: a, cmd: x, tag: t, when: {branch: [main, 'release/*'], event: [push, tag]}}\n",
		"jobs:\n  - {name: a, cmd: x, tag: t, env: {A: 1, 'B C': 2}, secrets: [DEPLOY_KEY, 'x-y'], collection: {suite: full}}\n",
		"jobs:\n\t- name: tab\n",
	} {
		f.Add([]byte(s))
	}
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		jobs, err := parseJobsFile(".aura/jobs.yaml", data, now)
		if err != nil {
			var fe *FileErrors
			if !errors.As(err, &fe) || len(fe.Errors) == 0 || len(fe.Errors) > maxFileErrors+1 || jobs != nil {
				t.Fatalf("error %T %v", err, err)
			}
			for _, e := range fe.Errors {
				if e.Message == "" || e.Line < 0 || e.Column < 0 {
					t.Fatalf("problem %+v", e)
				}
			}
			return
		}
		if len(jobs) == 0 || len(jobs) > maxFileJobs {
			t.Fatalf("%d jobs and no problem", len(jobs))
		}
		index := map[string]int{}
		for i, j := range jobs {
			b := j.body
			if !slugPattern.MatchString(b.Name) || strings.TrimSpace(b.Cmd) == "" || len(b.Cmd) > 65536 || !tagPattern.MatchString(b.Tag) {
				t.Fatalf("job %q cmd %q tag %q passed", b.Name, b.Cmd, b.Tag)
			}
			if _, dup := index[b.Name]; dup {
				t.Fatalf("two jobs named %q passed", b.Name)
			}
			index[b.Name] = i
			for k := range b.Env {
				if !envNamePattern.MatchString(k) {
					t.Fatalf("variable %q passed", k)
				}
			}
			for _, id := range b.PrecedingJobs {
				if id < 1 {
					t.Fatalf("after job %d passed", id)
				}
			}
		}
		// Every name a job comes after is an earlier job in some order: take
		// jobs whose predecessors are taken until none is left.
		taken := map[string]bool{}
		for len(taken) < len(jobs) {
			progress := false
			for _, j := range jobs {
				if taken[j.body.Name] {
					continue
				}
				if !slices.ContainsFunc(j.body.PrecedingNames, func(n string) bool { return !taken[n] }) {
					for _, n := range j.body.PrecedingNames {
						if _, ok := index[n]; !ok {
							t.Fatalf("after %q, no such job", n)
						}
					}
					taken[j.body.Name] = true
					progress = true
				}
			}
			if !progress {
				t.Fatal("a cycle of after: passed")
			}
		}
	})
}

// FuzzFlags reads the repeatable --env K=V and --after ID flags.
func FuzzFlags(f *testing.F) {
	for _, s := range []string{"A=1", "=x", "A", "A==", "1,2 3\t4\n5", "0", "-1", "99999999999999999999", ",,", "１"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		p := pairs{}
		if err := p.Set(v); err == nil {
			k, val, _ := strings.Cut(v, "=")
			if k == "" || p[k] != val || len(p) != 1 {
				t.Fatalf("%q read as %v", v, p)
			}
		}
		var l ids
		if err := l.Set(v); err == nil {
			for _, id := range l {
				if id < 1 {
					t.Fatalf("%q read as %v", v, l)
				}
			}
		} else if !strings.Contains(err.Error(), "is not a job id") {
			t.Fatalf("%q: %v", v, err)
		}
	})
}
