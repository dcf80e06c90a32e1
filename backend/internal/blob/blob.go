// Package blob keeps large byte streams (artifacts, caches, archived logs) outside PostgreSQL.
//
// A Store holds objects under slash-separated keys that callers build (for
// example artifacts/<job>/<attempt>/<path>). Two implementations: a folder on
// the local disk (the default) and S3-compatible object storage, which lets
// several servers on one database share what builds leave behind.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Info describes one stored object.
type Info struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// Store is where large byte streams live. Every method is safe for concurrent use.
type Store interface {
	// Put stores r under key. The object becomes visible only once all of r is stored: an interrupted Put (error, cancelled ctx, short reader when size >= 0) leaves nothing and may be retried. size is -1 when unknown.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Open reads length bytes from offset (length -1: to the end); ErrNotFound if missing.
	Open(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// List returns the objects whose keys start with prefix, in key order.
	List(ctx context.Context, prefix string) ([]Info, error)
}

// ErrNotFound is returned (wrapped) by Open and Stat for a missing key.
var ErrNotFound = errors.New("blob: not found")

// ErrInvalidKey is returned (wrapped) for a key that is not a clean relative path.
var ErrInvalidKey = errors.New("blob: invalid key")

// S3Config holds what reaching an S3-compatible store needs besides its bucket.
type S3Config struct {
	// Endpoint is host:port or a URL (http:// means no TLS); empty: s3.amazonaws.com.
	Endpoint, AccessKey, SecretKey, Region string
}

// Open opens the store named by spec: "dir:PATH" or "s3://BUCKET/PREFIX" (endpoint and keys from S3Config); "" means dir:<dataDir>/store.
func Open(ctx context.Context, spec, dataDir string, s3 S3Config) (Store, error) {
	switch {
	case spec == "":
		if dataDir == "" {
			return nil, errors.New("blob: no store given and no data directory to keep one in")
		}
		return NewDir(dataDir + "/store")
	case strings.HasPrefix(spec, "dir:"):
		path := strings.TrimPrefix(spec, "dir:")
		if path == "" {
			return nil, fmt.Errorf("blob: store %q names no folder (want dir:PATH)", spec)
		}
		return NewDir(path)
	case strings.HasPrefix(spec, "s3://"):
		return openS3(ctx, spec, s3)
	default:
		return nil, fmt.Errorf("blob: unknown store %q (want dir:PATH or s3://BUCKET/PREFIX)", spec)
	}
}

// CheckKey reports whether key is a slash-separated relative path with no
// empty, "." or ".." segment and no NUL byte.
func CheckKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	if strings.HasPrefix(key, "/") {
		return fmt.Errorf("%w %q: leading /", ErrInvalidKey, key)
	}
	if strings.ContainsRune(key, 0) {
		return fmt.Errorf("%w %q: NUL byte", ErrInvalidKey, key)
	}
	if strings.Contains(key, `\`) {
		// A backslash is a separator on Windows folders; refusing it keeps both stores alike.
		return fmt.Errorf("%w %q: backslash", ErrInvalidKey, key)
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch {
		case seg == "":
			return fmt.Errorf("%w %q: empty segment", ErrInvalidKey, key)
		case seg == "." || seg == "..":
			return fmt.Errorf("%w %q: %q segment", ErrInvalidKey, key, seg)
		case strings.HasPrefix(seg, tempPrefix):
			return fmt.Errorf("%w %q: names starting %q are reserved", ErrInvalidKey, key, tempPrefix)
		}
	}
	return nil
}

// tempPrefix starts the names of the folder store's unfinished files; keys may
// not use it, in either store, so both accept the same keys.
const tempPrefix = ".aura-tmp-"

// checkPrefix accepts "" or a prefix that would be the start of a valid key
// (it may end in "/" or in a partial segment).
func checkPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	return CheckKey(strings.TrimSuffix(prefix, "/"))
}

// checkRange validates Open's offset and length.
func checkRange(offset, length int64) error {
	if offset < 0 || length < -1 {
		return fmt.Errorf("blob: bad range offset %d length %d", offset, length)
	}
	return nil
}
