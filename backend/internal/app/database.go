package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/aura-ci/aura/backend/internal/pgcluster"
)

// openDatabase returns the database URL to use: the configured one, or that of an
// embedded cluster started in the data folder (stop it with the returned func).
func openDatabase(ctx context.Context, cfg *Config, logf func(string, ...any)) (string, func(), error) {
	if cfg.DatabaseURL != "" {
		return cfg.DatabaseURL, func() {}, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return "", nil, fmt.Errorf("data folder: %w", err)
	}
	password, err := clusterPassword(filepath.Join(cfg.DataDir, "postgres.password"))
	if err != nil {
		return "", nil, err
	}
	logf("starting the embedded PostgreSQL in %s", filepath.Join(cfg.DataDir, "postgres"))
	c, err := pgcluster.Start(ctx, pgcluster.Config{
		Dir:      filepath.Join(cfg.DataDir, "postgres"),
		Password: password,
		Logf:     logf,
	})
	if err != nil {
		return "", nil, fmt.Errorf("embedded PostgreSQL: %w", err)
	}
	stop := func() {
		if err := c.Stop(); err != nil {
			logf("stopping the embedded PostgreSQL: %v", err)
		}
	}
	if err := createDatabase(ctx, c.URL("postgres"), "aura"); err != nil {
		stop()
		return "", nil, err
	}
	return c.URL("aura"), stop, nil
}

// clusterPassword reads the embedded cluster's password, creating it on first start.
func clusterPassword(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	pw := hex.EncodeToString(raw)
	return pw, os.WriteFile(path, []byte(pw+"\n"), 0o600)
}

func createDatabase(ctx context.Context, maintenanceURL, name string) error {
	conn, err := pgx.Connect(ctx, maintenanceURL)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return fmt.Errorf("look for database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}
