package api

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/store"
)

// validateTags lists the validate tags of t's fields by their JSON path, those
// of embedded and nested structs too.
func validateTags(t reflect.Type, prefix string, out map[string]string) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		path := prefix + name
		if f.Anonymous {
			path = strings.TrimSuffix(prefix, ".")
		}
		if tag := f.Tag.Get("validate"); tag != "" {
			out[path] = tag
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != timeType && ft.PkgPath() != "time" {
			p := path + "."
			if f.Anonymous {
				p = prefix
			}
			validateTags(ft, p, out)
		}
	}
}

// TestPlainlyValid: a submit body that plainlyValid passes is one the
// validator passes, over every field's edges; the jobs aura-bench and
// webhooks submit are plain; and the tags plainlyValid follows are the tags
// there are: a changed tag fails here until plainlyValid follows it.
func TestPlainlyValid(t *testing.T) {
	t.Parallel()
	tags := map[string]string{}
	validateTags(reflect.TypeFor[jobBatchSubmit](), "", tags)
	require.Equal(t, map[string]string{
		"jobs":                          "required,min=1,dive",
		"jobs.project":                  "omitempty,slug",
		"jobs.entityKey":                "required,slug",
		"jobs.entityVal":                "required,slug",
		"jobs.name":                     "required,slug",
		"jobs.cmd":                      "required,max=65536",
		"jobs.env":                      "max=500,dive,keys,envname,endkeys",
		"jobs.tag":                      "required,tag",
		"jobs.priority":                 "min=-1000,max=1000",
		"jobs.secretEnv":                "max=100,dive,keys,envname,endkeys,secretvalue",
		"jobs.collections":              "max=50,dive,keys,slug,endkeys,slug",
		"jobs.precedingJobs":            "max=100,dive,min=1",
		"jobs.precedingNames":           "max=100,dive,slug",
		"jobs.timeoutSeconds":           "omitnil,min=1,max=604800",
		"jobs.maxAttempts":              "omitnil,min=1,max=10",
		"jobs.entityTitle":              "max=1000",
		"jobs.entityMeta.message":       "max=1000",
		"jobs.entityMeta.authorName":    "max=200",
		"jobs.entityMeta.authorLogin":   "max=200",
		"jobs.entityMeta.branch":        "max=260",
		"jobs.entityMeta.requestNumber": "min=0",
		"jobs.entityMeta.requestTitle":  "max=1000",
		"jobs.entityMeta.commitUrl":     "omitempty,max=2000,http_url",
		"jobs.entityMeta.requestUrl":    "omitempty,max=2000,http_url",
	}, tags, "a validate tag changed: make plainlyValid (submitcheck.go) follow it, then this list")

	base := func() jobSubmit {
		return jobSubmit{EntityKey: "commit", EntityVal: "f2ac9bab", JobSpec: store.JobSpec{Name: "build", Cmd: "make", Tag: "native,linux"}}
	}
	ptr := func(n int) *int { return &n }
	long := func(n int, c string) string { return strings.Repeat(c, n) }
	envOf := func(n int) map[string]string {
		m := map[string]string{}
		for i := range n {
			m["V"+strings.Repeat("_", i)] = "x"
		}
		return m
	}
	slugsOf := func(n int) []string {
		s := make([]string, n)
		for i := range s {
			s[i] = "a"
		}
		return s
	}
	var cases []func(*jobSubmit)
	for _, s := range []string{"", "a", "A-z_0.9:x", long(260, "a"), long(261, "a"), "a b", "é", "a/b", "a\x00"} {
		cases = append(cases, func(b *jobSubmit) { b.Project = s }, func(b *jobSubmit) { b.EntityKey = s },
			func(b *jobSubmit) { b.EntityVal = s }, func(b *jobSubmit) { b.Name = s },
			func(b *jobSubmit) { b.Collections = map[string]string{s: "main"} }, func(b *jobSubmit) { b.Collections = map[string]string{"ref": s} },
			func(b *jobSubmit) { b.PrecedingNames = []string{s} })
	}
	for _, s := range []string{"", "x", long(65536, "x"), long(65537, "x"), long(65536, "é")} {
		cases = append(cases, func(b *jobSubmit) { b.Cmd = s })
	}
	for _, s := range []string{"", "linux", "a,b", long(260, "t"), long(261, "t"), "a b", "a\tb", "é", "\x7f", "~!"} {
		cases = append(cases, func(b *jobSubmit) { b.Tag = s })
	}
	for _, p := range []int{-1001, -1000, 0, 1000, 1001} {
		cases = append(cases, func(b *jobSubmit) { b.Priority = p })
	}
	for _, k := range []string{"", "A", "_", "a1", "1a", "A-B", "é", "A B"} {
		cases = append(cases, func(b *jobSubmit) { b.Env = map[string]string{k: "v"} })
	}
	for _, n := range []int{0, 500, 501} {
		cases = append(cases, func(b *jobSubmit) { b.Env = envOf(n) })
	}
	for _, n := range []int{0, 1, 50, 51} {
		cases = append(cases, func(b *jobSubmit) {
			b.Collections = map[string]string{}
			for i := range n {
				b.Collections["k"+strings.Repeat("k", i)] = "v"
			}
		})
	}
	for _, ids := range [][]int64{nil, {1}, {0}, {-1}, make([]int64, 101)} {
		cases = append(cases, func(b *jobSubmit) { b.PrecedingJobs = ids })
	}
	cases = append(cases, func(b *jobSubmit) {
		b.PrecedingJobs = make([]int64, 100)
		for i := range b.PrecedingJobs {
			b.PrecedingJobs[i] = int64(i + 1)
		}
	})
	for _, n := range []int{100, 101} {
		cases = append(cases, func(b *jobSubmit) { b.PrecedingNames = slugsOf(n) })
	}
	for _, v := range []*int{nil, ptr(0), ptr(1), ptr(604800), ptr(604801)} {
		cases = append(cases, func(b *jobSubmit) { b.TimeoutSeconds = v })
	}
	for _, v := range []*int{nil, ptr(0), ptr(1), ptr(10), ptr(11)} {
		cases = append(cases, func(b *jobSubmit) { b.MaxAttempts = v })
	}
	for _, s := range []string{"", long(1000, "t"), long(1001, "t"), long(1000, "é")} {
		cases = append(cases, func(b *jobSubmit) { b.EntityTitle = s })
	}
	cases = append(cases,
		func(b *jobSubmit) { b.SecretEnv = map[string]string{"TOKEN": "s3cret-value"} },
		func(b *jobSubmit) { b.EntityMeta = &store.EntityMeta{Branch: "main"} },
		func(b *jobSubmit) { b.EntityMeta = &store.EntityMeta{RequestNumber: -1} })

	plain := 0
	for i, mutate := range cases {
		b := base()
		mutate(&b)
		batch := jobBatchSubmit{Jobs: []jobSubmit{base(), b}}
		if b.plainlyValid() {
			plain++
			require.NoError(t, validateStruct(&b), "case %d: plainly valid, but not valid: %+v", i, b)
			require.True(t, batch.plainlyValid())
			require.NoError(t, validateStruct(&batch), "case %d", i)
		} else {
			require.False(t, batch.plainlyValid(), "case %d", i)
		}
	}
	require.Greater(t, plain, len(cases)/3, "most valid cases are plain")
	require.False(t, (&jobBatchSubmit{}).plainlyValid(), "a batch needs a job")

	// What clients send, the bench's DAG and a forge's first job, is plain.
	dag := base()
	dag.Name, dag.Tag, dag.PrecedingNames, dag.PrecedingJobs = "job7", "dag", []string{"job3"}, []int64{42}
	hook := base()
	hook.Project, hook.Collections, hook.Env = "proj", map[string]string{"ref": "main"}, map[string]string{"AURA_GIT_URL": "x"}
	for _, b := range []jobSubmit{base(), dag, hook} {
		require.True(t, b.plainlyValid(), "%+v", b)
	}

	// The plain checks of strings imply the patterns.
	alphabet := []string{"a", "Z", "0", "_", ":", ".", "-", " ", "\t", "é", "/", ",", "~", "\x00", "\x7f", "\n"}
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var sb strings.Builder
		for range r.IntN(6) {
			sb.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		s := sb.String()
		if plainSlug(s) {
			require.True(t, slugPattern.MatchString(s), "%q", s)
		}
		if plainTag(s) {
			require.True(t, tagPattern.MatchString(s), "%q", s)
		}
		require.Equal(t, envNamePattern.MatchString(s), plainEnvName(s), "%q", s)
	}
	for _, n := range []int{259, 260, 261} {
		s := long(n, "a")
		require.Equal(t, slugPattern.MatchString(s), plainSlug(s), n)
		require.Equal(t, tagPattern.MatchString(s), plainTag(s), n)
	}
}
