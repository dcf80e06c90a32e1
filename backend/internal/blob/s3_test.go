package blob

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aura-ci/aura/backend/internal/s3test"
	"github.com/minio/minio-go/v7"
)

func s3Config(srv *s3test.Server) S3Config {
	return S3Config{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Region: srv.Region}
}

// TestS3Contract runs the contract suite against a real SeaweedFS S3 server,
// through Open as the server does, in a bucket Open has to create; then how
// Open fails (on the same server: each start costs seconds).
func TestS3Contract(t *testing.T) {
	srv := s3test.Start(t)
	t.Run("OpenErrors", func(t *testing.T) { testS3OpenErrors(t, srv) })
	s, err := Open(t.Context(), "s3://aura-contract/some/prefix", "", s3Config(srv))
	if err != nil {
		t.Fatal(err)
	}
	testContract(t, s)

	// Everything went under the prefix: nothing else is in the bucket.
	client, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	for oi := range client.ListObjects(t.Context(), "aura-contract", minioListAll()) {
		if oi.Err != nil {
			t.Fatal(oi.Err)
		}
		if !strings.HasPrefix(oi.Key, "some/prefix/") {
			t.Errorf("object outside the prefix: %q", oi.Key)
		}
	}
	// A second store on the same bucket (another server) sees the same objects.
	other, err := Open(t.Context(), "s3://aura-contract/some/prefix/", "", s3Config(srv))
	if err != nil {
		t.Fatal(err)
	}
	put(t, s, "shared/key", "from one server", -1)
	if got := read(t, other, "shared/key", 0, -1); got != "from one server" {
		t.Fatalf("other server reads %q", got)
	}
}

func testS3OpenErrors(t *testing.T, srv *s3test.Server) {
	cfg := s3Config(srv)
	wrongKey := cfg
	wrongKey.SecretKey = "not-the-secret"
	if _, err := Open(t.Context(), "s3://aura-denied", "", wrongKey); err == nil {
		t.Error("wrong secret key accepted")
	} else {
		t.Logf("wrong key: %v", err)
	}
	unreachable := cfg
	unreachable.Endpoint = "http://127.0.0.1:1"
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err := Open(ctx, "s3://aura-unreachable", "", unreachable)
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("unreachable endpoint: %v", err)
	}
	t.Logf("unreachable endpoint failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
	for _, bad := range []string{"s3://", "s3:///x", "s3://b/../x", "s3://b//x"} {
		if _, err := Open(t.Context(), bad, "", cfg); err == nil {
			t.Errorf("spec %q accepted", bad)
		}
	}
	if _, err := Open(t.Context(), "s3://b", "", S3Config{Endpoint: "ftp://x"}); err == nil {
		t.Error("ftp endpoint accepted")
	}
}

func minioListAll() minio.ListObjectsOptions { return minio.ListObjectsOptions{Recursive: true} }
