// Package artifact is `aura-runner artifact`: inside a job, it uploads files
// the job made (with the job token) and downloads those of another job.
//
//	aura-runner artifact upload [--name NAME] [--expire 720h] PATH…
//	aura-runner artifact download --job ID|--name NAME [--dest DIR] [PATH…]
//
// Files stream from and to the disk, never whole in memory, and are checked
// by SHA-256 on both sides.
package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	pathpkg "path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aura-ci/aura/runner/internal/apiclient"
	"github.com/aura-ci/aura/runner/internal/backoff"
)

// Env is what the command reads from its surroundings.
type Env struct {
	Getenv         func(string) string
	Stdout, Stderr io.Writer
	Version        string
}

// Main runs `aura-runner artifact args…` in the process's environment.
func Main(args []string, version string) int {
	return Run(context.Background(), args, Env{Getenv: os.Getenv, Stdout: os.Stdout, Stderr: os.Stderr, Version: version})
}

// Run runs `aura-runner artifact args…` and returns the exit code: 0 when all
// went through, 1 when a file was refused or could not be sent or fetched, 2
// for bad usage.
func Run(ctx context.Context, args []string, env Env) int {
	if len(args) == 0 {
		fmt.Fprintln(env.Stderr, "Usage: aura-runner artifact upload|download [flags] [PATH…] (see --help of each)")
		return 2
	}
	switch args[0] {
	case "upload":
		return upload(ctx, args[1:], env)
	case "download":
		return download(ctx, args[1:], env)
	case "-h", "--help", "help":
		fmt.Fprintln(env.Stdout, "Usage: aura-runner artifact upload|download [flags] [PATH…] (see --help of each)")
		return 0
	}
	fmt.Fprintf(env.Stderr, "aura-runner artifact: unknown command %q: use upload or download\n", args[0])
	return 2
}

// common are the flags both commands share.
type common struct {
	server, token string
}

func (c *common) register(fs *flag.FlagSet, env Env) {
	fs.StringVar(&c.server, "server", firstOf(env.Getenv("AURA_SERVER_URL"), env.Getenv("AURA_SERVER"), "http://localhost:8420"),
		"URL of the Aura server [$AURA_SERVER_URL]")
	fs.StringVar(&c.token, "token", firstOf(env.Getenv("AURA_JOB_TOKEN"), env.Getenv("AURA_JOBKEY")),
		"the job token [$AURA_JOB_TOKEN]")
}

func (c *common) client(env Env) (*apiclient.ClientWithResponses, error) {
	return apiclient.NewClientWithResponses(c.server,
		apiclient.WithHTTPClient(&http.Client{Transport: transport}),
		apiclient.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			req.Header.Set("User-Agent", "aura-runner/"+env.Version)
			return nil
		}))
}

// transport waits for the server's go-ahead before sending a file, so that a
// refusal (a limit, a token) comes before the bytes.
var transport = func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ExpectContinueTimeout = 5 * time.Second
	return t
}()

// retries bounds how often one file is sent again after a temporary failure.
const retries = 5

func newFlagSet(name, usage string, env Env) *flag.FlagSet {
	fs := flag.NewFlagSet("aura-runner artifact "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, letting flags follow the paths too.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return rest, nil
		}
		if args[0] == "--" {
			return append(rest, args[1:]...), nil
		}
		rest = append(rest, args[0])
		args = args[1:]
	}
}

func upload(ctx context.Context, args []string, env Env) int {
	fs := newFlagSet("upload", "Usage: aura-runner artifact upload [--name NAME] [--expire DURATION] PATH…\n\n"+
		"Uploads files, folders (with all they hold) and globs as the current job's artifacts.\n"+
		"A file keeps its name, a folder's files are under the folder's name; --name puts\n"+
		"everything under NAME instead. Links leading out of an uploaded folder are refused.\n\n", env)
	var c common
	c.register(fs, env)
	jobFlag := fs.String("job", env.Getenv("AURA_JOB_ID"), "the running job [$AURA_JOB_ID]")
	name := fs.String("name", "", "put the files under this folder name")
	expire := fs.Duration("expire", 0, "delete the artifacts this long after upload, such as 720h (default: the server's retention)")
	paths, err := parseFlags(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(env.Stderr, "aura-runner artifact upload: "+format+"\n", a...)
		return 2
	}
	job, err := strconv.ParseInt(*jobFlag, 10, 64)
	switch {
	case len(paths) == 0:
		return usage("name at least one file or folder")
	case *jobFlag == "" || c.token == "":
		return usage("no job: run inside a job ($AURA_JOB_ID, $AURA_JOB_TOKEN) or give --job and --token")
	case err != nil || job < 1:
		return usage("--job %q is not a job id", *jobFlag)
	case *expire < 0:
		return usage("--expire cannot be negative")
	case *name != "" && checkPath(*name) != nil:
		return usage("--name %q: %v", *name, checkPath(*name))
	}
	files, err := collect(paths, *name)
	if err != nil {
		fmt.Fprintf(env.Stderr, "aura-runner artifact upload: %v\n", err)
		return 1
	}
	client, err := c.client(env)
	if err != nil {
		return usage("--server %q: %v", c.server, err)
	}
	var params apiclient.UploadJobArtifactParams
	if *expire > 0 {
		secs := int64((*expire + time.Second - 1) / time.Second)
		params.XAuraExpireSeconds = &secs
	}
	failed := 0
	for _, f := range files {
		a, err := uploadFile(ctx, client, job, f, params)
		if err != nil {
			fmt.Fprintf(env.Stderr, "aura-runner artifact upload: %s: %v\n", f.local, err)
			failed++
			continue
		}
		fmt.Fprintf(env.Stdout, "uploaded %s (%d bytes, sha256 %s)\n", a.Path, a.Size, a.Sha256)
	}
	if failed > 0 {
		fmt.Fprintf(env.Stderr, "aura-runner artifact upload: %d of %d files failed\n", failed, len(files))
		return 1
	}
	return 0
}

// file is one file to upload: where it is and the artifact path it gets.
type file struct {
	local, path string
}

// collect expands paths (globs, folders) into the files to upload, refusing
// links that lead out of an uploaded folder (or, for a link named by itself,
// out of the working folder).
func collect(paths []string, name string) ([]file, error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	var files []file
	seen := map[string]string{}
	add := func(f file) error {
		if other, ok := seen[f.path]; ok && other != f.local {
			return fmt.Errorf("%s and %s would both be artifact %s: upload them with different --name", other, f.local, f.path)
		}
		if _, ok := seen[f.path]; !ok {
			seen[f.path] = f.local
			files = append(files, f)
		}
		return nil
	}
	for _, arg := range paths {
		matches := []string{arg}
		if strings.ContainsAny(arg, "*?[") {
			matches, err = filepath.Glob(arg)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", arg, err)
			}
			if len(matches) == 0 {
				return nil, fmt.Errorf("%s: no file matches", arg)
			}
		}
		for _, m := range matches {
			link, err := os.Lstat(m)
			if err != nil {
				return nil, err
			}
			if link.Mode()&fs.ModeSymlink != 0 {
				// A path named by itself may lie anywhere; a link must stay in the working folder.
				if err := within(m, wd); err != nil {
					return nil, err
				}
			}
			info, err := os.Stat(m)
			if err != nil {
				return nil, err
			}
			if !info.IsDir() {
				if !info.Mode().IsRegular() {
					return nil, fmt.Errorf("%s is not a regular file", m)
				}
				if err := add(file{local: m, path: joinName(name, filepath.Base(m))}); err != nil {
					return nil, err
				}
				continue
			}
			prefix := name
			if prefix == "" {
				prefix = filepath.Base(filepath.Clean(m))
				if prefix == "." || prefix == ".." || prefix == string(filepath.Separator) {
					prefix = filepath.Base(wd)
				}
			}
			inDir, err := walk(m)
			if err != nil {
				return nil, err
			}
			for _, rel := range inDir {
				if err := add(file{local: filepath.Join(m, rel), path: joinName(prefix, filepath.ToSlash(rel))}); err != nil {
					return nil, err
				}
			}
		}
	}
	for _, f := range files {
		if err := checkPath(f.path); err != nil {
			return nil, fmt.Errorf("%s: %v", f.local, err)
		}
	}
	return files, nil
}

// walk lists the regular files under dir (relative to it), following links
// only to files inside dir; a link leading out of dir is an error.
func walk(dir string) ([]string, error) {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.IsDir():
			return nil
		case d.Type()&fs.ModeSymlink != 0:
			if err := within(p, root); err != nil {
				return err
			}
			info, err := os.Stat(p)
			if err != nil {
				return err
			}
			if !info.Mode().IsRegular() {
				return nil // a link to a folder inside: its files are uploaded where they are
			}
		case !d.Type().IsRegular():
			return nil // sockets, pipes, devices: not files to keep
		}
		out = append(out, rel)
		return nil
	})
	return out, err
}

// within refuses p when, with its links resolved, it lies outside root.
func within(p, root string) error {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return err
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return err
	}
	real, _ = filepath.Abs(real)
	realRoot, _ = filepath.Abs(realRoot)
	rel, err := filepath.Rel(realRoot, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("%s leads to %s, out of %s: refused", p, real, root)
	}
	return nil
}

func joinName(name, p string) string {
	if name == "" {
		return p
	}
	return name + "/" + p
}

// checkPath is the server's rule for an artifact path, checked before sending
// and again before writing a download.
func checkPath(p string) error {
	switch {
	case p == "":
		return errors.New("empty path")
	case strings.HasPrefix(p, "/"):
		return errors.New("absolute path")
	case strings.ContainsRune(p, '\\'):
		return errors.New("backslash in the path")
	case strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return errors.New("control character in the path")
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("path %q has an empty, . or .. segment", p)
		}
	}
	return nil
}

// uploadFile hashes f in a first pass, then streams it, retrying temporary
// failures: each upload is complete or leaves nothing, so a retry is safe.
func uploadFile(ctx context.Context, client *apiclient.ClientWithResponses, job int64, f file,
	params apiclient.UploadJobArtifactParams) (*apiclient.Artifact, error) {
	sum, size, err := hashFile(f.local)
	if err != nil {
		return nil, err
	}
	params.XAuraSha256 = sum
	wait := backoff.Backoff{Min: 500 * time.Millisecond, Max: 8 * time.Second}
	for try := 1; ; try++ {
		a, err := sendFile(ctx, client, job, f, size, params)
		if err == nil || try > retries || !apiclient.Temporary(err) {
			return a, err
		}
		if !backoff.Sleep(ctx, wait.Next()) {
			return nil, ctx.Err()
		}
	}
}

func sendFile(ctx context.Context, client *apiclient.ClientWithResponses, job int64, f file, size int64,
	params apiclient.UploadJobArtifactParams) (*apiclient.Artifact, error) {
	in, err := os.Open(f.local)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	resp, err := client.UploadJobArtifactWithBodyWithResponse(ctx, job, f.path, &params, "", in,
		func(_ context.Context, req *http.Request) error {
			req.ContentLength = size
			req.Header.Del("Content-Type") // the server tells it by the name and the bytes
			req.Header.Set("Expect", "100-continue")
			if size == 0 {
				req.Body = http.NoBody
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	if resp.JSON201 == nil {
		return nil, apiclient.NewStatusError(resp.StatusCode(), resp.Body)
	}
	if resp.JSON201.Sha256 != params.XAuraSha256 {
		return nil, fmt.Errorf("the server stored sha256 %s, not %s", resp.JSON201.Sha256, params.XAuraSha256)
	}
	return resp.JSON201, nil
}

func hashFile(p string) (string, int64, error) {
	in, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer in.Close()
	h := sha256.New()
	n, err := io.Copy(h, in)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func download(ctx context.Context, args []string, env Env) int {
	fs := newFlagSet("download", "Usage: aura-runner artifact download --job ID|--name NAME [--dest DIR] [PATH…]\n\n"+
		"Downloads a job's artifacts (all of them, or those at or under each PATH) into DIR,\n"+
		"each checked against its SHA-256. --name picks the newest succeeded job of that name\n"+
		"on the current job's entity (or the one given).\n\n", env)
	var c common
	c.register(fs, env)
	jobFlag := fs.String("job", "", "the job whose artifacts to fetch, by id")
	jobName := fs.String("name", "", "or by name: the newest succeeded job of this name on the entity")
	project := fs.String("project", env.Getenv("AURA_PROJECT"), "the entity's project, with --name [$AURA_PROJECT]")
	entityKey := fs.String("entity-key", firstOf(env.Getenv("AURA_ENTITY_KEY"), env.Getenv("AURA_ENTITYKEY")),
		"the entity's key, with --name (default: the current job's, $AURA_ENTITY_KEY)")
	entityVal := fs.String("entity-val", firstOf(env.Getenv("AURA_ENTITY_VAL"), env.Getenv("AURA_ENTITYVAL")),
		"the entity's value, with --name (default: the current job's, $AURA_ENTITY_VAL)")
	dest := fs.String("dest", ".", "the folder to write them into")
	wanted, err := parseFlags(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(env.Stderr, "aura-runner artifact download: "+format+"\n", a...)
		return 2
	}
	var job int64
	switch {
	case (*jobFlag == "") == (*jobName == ""):
		return usage("give --job ID or --name NAME (see --help)")
	case *jobFlag != "":
		job, err = strconv.ParseInt(*jobFlag, 10, 64)
		if err != nil || job < 1 {
			return usage("--job %q is not a job id", *jobFlag)
		}
	case *project == "" || *entityKey == "" || *entityVal == "":
		return usage("--name needs the entity: run inside a job or give --project, --entity-key and --entity-val")
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(env.Stderr, "aura-runner artifact download: "+format+"\n", a...)
		return 1
	}
	client, err := c.client(env)
	if err != nil {
		return usage("--server %q: %v", c.server, err)
	}
	if *jobName != "" {
		job, err = jobByName(ctx, client, *project, *entityKey, *entityVal, *jobName)
		if err != nil {
			return fail("%v", err)
		}
	}
	list, err := client.ListJobArtifactsWithResponse(ctx, job)
	if err != nil {
		return fail("job %d: %v", job, err)
	}
	if list.JSON200 == nil {
		return fail("job %d: %v", job, apiclient.NewStatusError(list.StatusCode(), list.Body))
	}
	var picked []apiclient.Artifact
	matched := map[string]bool{}
	for _, a := range list.JSON200.Items {
		for _, w := range wanted {
			w = strings.TrimSuffix(w, "/")
			if ok, _ := pathpkg.Match(w, a.Path); ok || a.Path == w || strings.HasPrefix(a.Path, w+"/") {
				matched[w] = true
			}
		}
		if len(wanted) == 0 || anyMatch(wanted, a.Path) {
			picked = append(picked, a)
		}
	}
	for _, w := range wanted {
		if !matched[strings.TrimSuffix(w, "/")] {
			return fail("job %d has no artifact %s", job, w)
		}
	}
	if len(picked) == 0 {
		return fail("job %d has no artifacts", job)
	}
	for _, a := range picked {
		if err := fetch(ctx, client, job, a, *dest); err != nil {
			return fail("%s: %v", a.Path, err)
		}
		fmt.Fprintf(env.Stdout, "downloaded %s (%d bytes)\n", a.Path, a.Size)
	}
	return 0
}

// jobByName finds the newest succeeded job named name on an entity.
func jobByName(ctx context.Context, client *apiclient.ClientWithResponses, project, key, val, name string) (int64, error) {
	var found int64
	var newest *apiclient.Job
	params := &apiclient.GetEntityParams{}
	for {
		resp, err := client.GetEntityWithResponse(ctx, project, key, val, params)
		if err != nil {
			return 0, err
		}
		if resp.JSON200 == nil {
			return 0, fmt.Errorf("entity %s/%s of %s: %w", key, val, project, apiclient.NewStatusError(resp.StatusCode(), resp.Body))
		}
		for _, j := range resp.JSON200.Jobs {
			if j.Name != name {
				continue
			}
			newest = &j
			if j.Status == apiclient.JobStatusSucceeded {
				found = j.Id
			}
		}
		if resp.JSON200.NextCursor == nil {
			break
		}
		params.Cursor = resp.JSON200.NextCursor
	}
	switch {
	case found != 0:
		return found, nil
	case newest != nil:
		return 0, fmt.Errorf("no job %s on %s/%s succeeded: the newest, #%d, is %s", name, key, val, newest.Id, newest.Status)
	}
	return 0, fmt.Errorf("no job %s on %s/%s", name, key, val)
}

func anyMatch(wanted []string, p string) bool {
	for _, w := range wanted {
		w = strings.TrimSuffix(w, "/")
		if ok, _ := pathpkg.Match(w, p); ok || p == w || strings.HasPrefix(p, w+"/") {
			return true
		}
	}
	return false
}

// fetch streams one artifact into a temporary file beside its place, checks
// its SHA-256 and size, and only then moves it into place.
func fetch(ctx context.Context, client *apiclient.ClientWithResponses, job int64, a apiclient.Artifact, dest string) error {
	if err := checkPath(a.Path); err != nil {
		return fmt.Errorf("refused: %v", err) // never write outside dest, whatever the server says
	}
	target := filepath.Join(dest, filepath.FromSlash(a.Path))
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	resp, err := client.GetJobArtifact(ctx, job, a.Path, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return apiclient.NewStatusError(resp.StatusCode, body)
	}
	tmp, err := os.CreateTemp(filepath.Dir(target), ".aura-download-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, there is nothing to remove
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), resp.Body)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != a.Sha256 || n != a.Size {
		return fmt.Errorf("got %d bytes with sha256 %s, want %d bytes with %s", n, got, a.Size, a.Sha256)
	}
	return os.Rename(tmp.Name(), target)
}

func firstOf(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
