// Package s3test starts a real S3 server (SeaweedFS) on loopback for tests.
//
// The server is the weed command of github.com/seaweedfs/seaweedfs at
// WeedVersion, built once from the Go module proxy into a cache folder outside
// the repository (Build; scripts/setup runs it ahead of the tests). Where it
// cannot be built, Start skips the test and says why.
package s3test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// WeedModule and WeedVersion name the SeaweedFS release the tests run against.
const (
	WeedModule  = "github.com/seaweedfs/seaweedfs"
	WeedVersion = "v0.0.0-20261109003541-7506e5f91cd6"
)

// Server is a running SeaweedFS with an S3 gateway.
type Server struct {
	// Endpoint is the S3 gateway's URL, e.g. http://127.0.0.1:40123.
	Endpoint             string
	AccessKey, SecretKey string
	Region               string
	dir                  string
	log                  string
}

// CacheDir is where Build keeps weed: $AURA_WEED_CACHE, or aura/weed-<version>
// under the user's cache folder ($XDG_CACHE_HOME or ~/.cache).
func CacheDir() (string, error) {
	if d := os.Getenv("AURA_WEED_CACHE"); d != "" {
		return d, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache folder to build weed in (set XDG_CACHE_HOME or AURA_WEED_CACHE): %w", err)
	}
	return filepath.Join(base, "aura", "weed-"+WeedVersion), nil
}

// Build returns the path of the weed binary, building it first if the cache
// lacks it. A file lock makes test packages running in parallel build it once.
// $AURA_WEED names a ready binary instead.
func Build() (string, error) {
	if p := os.Getenv("AURA_WEED"); p != "" {
		return p, nil
	}
	dir, err := CacheDir()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "weed")
	if isExecutable(bin) {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(dir, "build.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("lock %s: %w", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing unlocks too
	if isExecutable(bin) {
		return bin, nil // another process built it while this one waited
	}
	if err := build(dir, bin); err != nil {
		return "", err
	}
	return bin, nil
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// build fetches the module through the Go module proxy, copies it out of the
// read-only module cache and builds ./weed there.
func build(dir, bin string) error {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("no go command to build weed with: %w", err)
	}
	out, err := exec.Command(goCmd, "mod", "download", "-json", WeedModule+"@"+WeedVersion).Output()
	var dl struct{ Dir, Error string }
	_ = json.Unmarshal(out, &dl)
	if err != nil || dl.Dir == "" {
		msg := dl.Error
		if msg == "" {
			msg = fmt.Sprint(err)
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				msg += ": " + strings.TrimSpace(string(ee.Stderr))
			}
		}
		return fmt.Errorf("go mod download %s@%s: %s", WeedModule, WeedVersion, msg)
	}
	src, err := os.MkdirTemp(dir, "src-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(src)
	if err := copyTree(dl.Dir, src); err != nil {
		return fmt.Errorf("copy %s: %w", dl.Dir, err)
	}
	tmp := bin + ".tmp"
	cmd := exec.Command(goCmd, "build", "-o", tmp, "./weed")
	cmd.Dir = src
	// Build as its own module, whatever the calling module or environment says.
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-buildvcs=false -mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build weed: %v: %s", err, lastLines(string(out), 20))
	}
	return os.Rename(tmp, bin)
}

// copyTree copies the regular files and folders under from into to, writable.
func copyTree(from, to string) error {
	return filepath.WalkDir(from, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		if e.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		if !e.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
}

// Start builds weed if needed and runs `weed server -filer -s3` on free
// loopback ports with a fresh data folder; t.Cleanup stops it. The test is
// skipped when weed cannot be built.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Build()
	if err != nil {
		t.Skipf("s3test: no S3 server to test against: building SeaweedFS weed %s failed (it needs the Go module proxy; scripts/setup builds it ahead): %v", WeedVersion, err)
	}
	// A short path of its own: weed puts unix sockets in it, and their names are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "aura-weed-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &Server{AccessKey: "aura-test", SecretKey: "aura-test-secret-key", Region: "us-east-1", dir: dir, log: filepath.Join(dir, "weed.log")}
	config := map[string]any{"identities": []any{map[string]any{
		"name":        "aura",
		"credentials": []any{map[string]string{"accessKey": s.AccessKey, "secretKey": s.SecretKey}},
		"actions":     []string{"Admin", "Read", "Write", "List", "Tagging"},
	}}}
	b, _ := json.Marshal(config)
	if err := os.WriteFile(filepath.Join(dir, "s3.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 8)
	port := func(i int) string { return strconv.Itoa(ports[i]) }
	args := []string{"server",
		"-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-dir=" + data,
		"-master.port=" + port(0), "-master.port.grpc=" + port(1),
		"-master.telemetry=false", "-master.volumeSizeLimitMB=1024",
		"-volume.port=" + port(2), "-volume.port.grpc=" + port(3), "-volume.max=16",
		"-filer", "-filer.port=" + port(4), "-filer.port.grpc=" + port(5),
		"-filer.localSocket=" + filepath.Join(dir, "filer.sock"),
		"-s3", "-s3.port=" + port(6), "-s3.port.grpc=" + port(7),
		"-s3.port.iceberg=0", "-s3.iam=false",
		"-s3.localSocket=" + filepath.Join(dir, "s3.sock"),
		"-s3.config=" + filepath.Join(dir, "s3.json"),
	}
	logFile, err := os.Create(s.log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("s3test: start weed: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logFile.Close() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	s.Endpoint = "http://127.0.0.1:" + port(6)
	if err := s.waitReady(exited); err != nil {
		t.Fatalf("s3test: weed server did not become ready: %v\n%s", err, s.LogTail(40))
	}
	return s
}

// freePorts asks the kernel for n free loopback ports (all held open at once, so they differ).
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// waitReady polls until a bucket can be made and an object written: only then
// are master, volume server, filer and gateway all up.
func (s *Server) waitReady(exited <-chan error) error {
	client, err := s.Client()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(2 * time.Minute)
	const bucket = "s3test-ready"
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = client.MakeBucket(ctx, bucket, minio.MakeBucketOptions{})
		if code := minio.ToErrorResponse(err).Code; code == minio.BucketAlreadyOwnedByYou || code == minio.BucketAlreadyExists {
			err = nil
		}
		if err == nil {
			_, err = client.PutObject(ctx, bucket, "probe", bytes.NewReader([]byte("ok")), 2, minio.PutObjectOptions{})
		}
		if err == nil {
			_ = client.RemoveObject(ctx, bucket, "probe", minio.RemoveObjectOptions{})
			_ = client.RemoveBucket(ctx, bucket)
		}
		cancel()
		if err == nil {
			return nil
		}
		select {
		case werr := <-exited:
			return fmt.Errorf("weed exited: %v", werr)
		case <-time.After(250 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("still failing after 2 minutes: %w", err)
		}
	}
}

// Client is a minio-go client for the server, path-style.
func (s *Server) Client() (*minio.Client, error) {
	return minio.New(strings.TrimPrefix(s.Endpoint, "http://"), &minio.Options{
		Creds:        credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Region:       s.Region,
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   1,
	})
}

// LogTail returns the last n lines weed wrote, for failure messages.
func (s *Server) LogTail(n int) string {
	b, _ := os.ReadFile(s.log)
	return lastLines(string(b), n)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
