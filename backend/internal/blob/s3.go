package blob

import (
	"context"
	"errors"
)

// openS3 is filled in by the S3 implementation.
func openS3(ctx context.Context, spec string, cfg S3Config) (Store, error) {
	return nil, errors.New("blob: s3 store not built yet")
}
