package store_test

import (
	"fmt"
	"io/fs"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/aura-ci/aura/backend/internal/store"
)

func TestOutOfSpace(t *testing.T) {
	require.True(t, store.OutOfSpace(fmt.Errorf("blob: put k: %w", &fs.PathError{Op: "write", Path: "/x", Err: syscall.ENOSPC})))
	require.True(t, store.OutOfSpace(syscall.EDQUOT))
	require.True(t, store.OutOfSpace(fmt.Errorf("append: %w", &pgconn.PgError{Code: "53100"})))
	require.False(t, store.OutOfSpace(&pgconn.PgError{Code: "23505"}))
	require.False(t, store.OutOfSpace(syscall.EIO))
	require.False(t, store.OutOfSpace(nil))
}
