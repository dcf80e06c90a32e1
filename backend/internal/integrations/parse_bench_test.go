package integrations

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkParseGiteaPush verifies and parses Gitea 1.27's captured push to main.
func BenchmarkParseGiteaPush(b *testing.B) {
	body, err := os.ReadFile(filepath.Join("testdata", "webhooks", "gitea-1.27-real", "push.main.body"))
	if err != nil {
		b.Fatal(err)
	}
	h := http.Header{"X-Gitea-Event": {"push"}, "X-Gitea-Signature": {sign("s", body)}}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(KindGitea, []byte("s"), h, body); err != nil {
			b.Fatal(err)
		}
	}
}
