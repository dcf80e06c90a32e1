package blob

import (
	"fmt"
	"io"
	"path/filepath"
	"testing"

	"github.com/aura-ci/aura/backend/internal/s3test"
)

// BenchmarkStores measures put and get throughput of 64 MiB objects on both
// stores: go test -run '^$' -bench Stores -benchtime 10x ./backend/internal/blob/
func BenchmarkStores(b *testing.B) {
	const size = 64 << 20
	stores := map[string]func(b *testing.B) Store{
		"dir": func(b *testing.B) Store {
			s, err := NewDir(filepath.Join(b.TempDir(), "store"))
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
		"s3": func(b *testing.B) Store {
			srv := s3test.Start(b)
			s, err := Open(b.Context(), "s3://aura-bench", "", s3Config(srv))
			if err != nil {
				b.Fatal(err)
			}
			return s
		},
	}
	for _, name := range []string{"dir", "s3"} {
		b.Run(name, func(b *testing.B) {
			s := stores[name](b)
			b.Run("put", func(b *testing.B) {
				b.SetBytes(size)
				for i := 0; b.Loop(); i++ {
					if err := s.Put(b.Context(), fmt.Sprintf("bench/%d", i%4), &patternReader{size: size}, size); err != nil {
						b.Fatal(err)
					}
				}
			})
			if err := s.Put(b.Context(), "bench/get", &patternReader{size: size}, size); err != nil {
				b.Fatal(err)
			}
			b.Run("get", func(b *testing.B) {
				b.SetBytes(size)
				for b.Loop() {
					rc, err := s.Open(b.Context(), "bench/get", 0, -1)
					if err != nil {
						b.Fatal(err)
					}
					if n, err := io.Copy(io.Discard, rc); err != nil || n != size {
						b.Fatal(n, err)
					}
					rc.Close()
				}
			})
		})
	}
}
