package blob

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// s3PartSize bounds what one upload holds in memory: minio-go buffers one
// part at a time. 16 MiB parts allow objects up to 156 GiB (10,000 parts).
const s3PartSize = 16 << 20

// s3OpenTimeout bounds the bucket check at Open, so an unreachable endpoint
// fails startup instead of retrying for minutes.
const s3OpenTimeout = 20 * time.Second

// S3 is a Store in a bucket of S3-compatible object storage, under a prefix.
// S3 makes each object visible only once it is complete, so Put needs no
// temporary name; minio-go aborts a failed multipart upload.
type S3 struct {
	core   minio.Core
	bucket string
	prefix string // "" or ends in "/"
}

// parseS3Spec splits "s3://BUCKET/PREFIX" into the bucket and a prefix ending in "/" (or "").
func parseS3Spec(spec string) (bucket, prefix string, err error) {
	rest := strings.TrimPrefix(spec, "s3://")
	bucket, prefix, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("blob: store %q names no bucket (want s3://BUCKET/PREFIX)", spec)
	}
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix != "" {
		if err := CheckKey(prefix); err != nil {
			return "", "", fmt.Errorf("blob: store %q: bad prefix: %w", spec, err)
		}
		prefix += "/"
	}
	return bucket, prefix, nil
}

// s3Endpoint turns "host:port", "http://host:port" or "https://host" into
// minio-go's host and TLS flag; a bare host means TLS.
func s3Endpoint(endpoint string) (host string, secure bool, err error) {
	if endpoint == "" {
		return "s3.amazonaws.com", true, nil
	}
	if !strings.Contains(endpoint, "://") {
		return endpoint, true, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", false, fmt.Errorf("blob: S3 endpoint %q: %w", endpoint, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return "", false, fmt.Errorf("blob: S3 endpoint %q: want host:port, http://host:port or https://host:port", endpoint)
	}
	return u.Host, u.Scheme == "https", nil
}

// NewS3 connects to the bucket named by spec ("s3://BUCKET/PREFIX"),
// creating the bucket if it is missing.
func NewS3(ctx context.Context, spec string, cfg S3Config) (*S3, error) {
	bucket, prefix, err := parseS3Spec(spec)
	if err != nil {
		return nil, err
	}
	host, secure, err := s3Endpoint(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	var creds *credentials.Credentials
	if cfg.AccessKey != "" || cfg.SecretKey != "" {
		creds = credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, "")
	} else {
		// No keys configured: the usual AWS environment, files and instance roles.
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{}, &credentials.FileAWSCredentials{}, &credentials.IAM{},
		})
	}
	client, err := minio.New(host, &minio.Options{
		Creds:  creds,
		Secure: secure,
		Region: cfg.Region,
		// Path-style (endpoint/bucket/key): self-hosted stores rarely have a DNS name per bucket.
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		return nil, fmt.Errorf("blob: S3 endpoint %q: %w", cfg.Endpoint, err)
	}
	s := &S3{core: minio.Core{Client: client}, bucket: bucket, prefix: prefix}
	if err := s.ensureBucket(ctx, cfg.Region); err != nil {
		return nil, fmt.Errorf("blob: S3 bucket %q at %s: %w", bucket, client.EndpointURL(), err)
	}
	return s, nil
}

func openS3(ctx context.Context, spec string, cfg S3Config) (Store, error) {
	return NewS3(ctx, spec, cfg)
}

func (s *S3) ensureBucket(ctx context.Context, region string) error {
	ctx, cancel := context.WithTimeout(ctx, s3OpenTimeout)
	defer cancel()
	ok, err := s.core.BucketExists(ctx, s.bucket)
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	err = s.core.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: region})
	if code := minio.ToErrorResponse(err).Code; code == minio.BucketAlreadyOwnedByYou || code == minio.BucketAlreadyExists {
		return nil // another server created it meanwhile
	}
	return err
}

// Put implements Store.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := s.core.Client.PutObject(ctx, s.bucket, s.prefix+key, sized(ctxReader{ctx, r}, size), size, minio.PutObjectOptions{
		PartSize:    s3PartSize,
		ContentType: "application/octet-stream",
	})
	if err != nil {
		return fmt.Errorf("blob: put %s: %w", key, err)
	}
	return nil
}

// Open implements Store.
func (s *S3) Open(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := CheckKey(key); err != nil {
		return nil, err
	}
	if err := checkRange(offset, length); err != nil {
		return nil, err
	}
	if length == 0 {
		// S3 has no empty range: check the key exists and read nothing.
		if _, err := s.Stat(ctx, key); err != nil {
			return nil, err
		}
		return io.NopCloser(strings.NewReader("")), nil
	}
	var opts minio.GetObjectOptions
	switch {
	case length > 0:
		_ = opts.SetRange(offset, offset+length-1)
	case offset > 0:
		_ = opts.SetRange(offset, 0) // bytes=offset-
	}
	body, _, _, err := s.core.GetObject(ctx, s.bucket, s.prefix+key, opts)
	if err != nil {
		if minio.ToErrorResponse(err).Code == minio.InvalidRange {
			// The range starts at or past the end: like a file, read nothing.
			if _, err := s.Stat(ctx, key); err != nil {
				return nil, err
			}
			return io.NopCloser(strings.NewReader("")), nil
		}
		return nil, s3Error("open", key, err)
	}
	return body, nil
}

// Stat implements Store.
func (s *S3) Stat(ctx context.Context, key string) (Info, error) {
	if err := CheckKey(key); err != nil {
		return Info{}, err
	}
	oi, err := s.core.Client.StatObject(ctx, s.bucket, s.prefix+key, minio.StatObjectOptions{})
	if err != nil {
		return Info{}, s3Error("stat", key, err)
	}
	return Info{Key: key, Size: oi.Size, ModTime: oi.LastModified}, nil
}

// Delete implements Store.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	err := s.core.Client.RemoveObject(ctx, s.bucket, s.prefix+key, minio.RemoveObjectOptions{})
	if err != nil && !isS3NotFound(err) {
		return fmt.Errorf("blob: delete %s: %w", key, err)
	}
	return nil
}

// List implements Store.
func (s *S3) List(ctx context.Context, prefix string) ([]Info, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing goroutine on an early return
	var out []Info
	for oi := range s.core.Client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
		if oi.Err != nil {
			return nil, fmt.Errorf("blob: list %q: %w", prefix, oi.Err)
		}
		key := strings.TrimPrefix(oi.Key, s.prefix)
		if strings.HasSuffix(key, "/") || CheckKey(key) != nil {
			continue // folder markers and objects not written through a Store
		}
		out = append(out, Info{Key: key, Size: oi.Size, ModTime: oi.LastModified})
	}
	// S3 lists in key order already; sorting keeps the promise with stores that do not.
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

func isS3NotFound(err error) bool {
	r := minio.ToErrorResponse(err)
	return r.Code == minio.NoSuchKey || (r.StatusCode == http.StatusNotFound && r.Code != minio.NoSuchBucket)
}

func s3Error(op, key string, err error) error {
	if isS3NotFound(err) {
		return fmt.Errorf("blob: %s %s: %w", op, key, ErrNotFound)
	}
	return fmt.Errorf("blob: %s %s: %w", op, key, err)
}
