package store

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"sort"
	"strings"

	"github.com/golang-migrate/migrate/v4"
	_ "github.com/golang-migrate/migrate/v4/database/pgx/v5" // registers pgx5://
	"github.com/golang-migrate/migrate/v4/source/iofs"

	"github.com/aura-ci/aura/migrations"
)

// MigrateUp applies every pending migration to the database at databaseURL.
func MigrateUp(databaseURL string) error {
	return withMigrate(databaseURL, func(m *migrate.Migrate) error {
		if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
			return err
		}
		return nil
	})
}

// MigrateDown reverts every migration.
func MigrateDown(databaseURL string) error {
	return withMigrate(databaseURL, func(m *migrate.Migrate) error {
		if err := m.Down(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
			return err
		}
		return nil
	})
}

// MigrateVersion reports the applied schema version and whether a migration failed half-way.
func MigrateVersion(databaseURL string) (version uint, dirty bool, err error) {
	err = withMigrate(databaseURL, func(m *migrate.Migrate) error {
		version, dirty, err = m.Version()
		if errors.Is(err, migrate.ErrNilVersion) {
			return nil
		}
		return err
	})
	return version, dirty, err
}

// MigrationsHash identifies the set of migrations, so test templates are rebuilt when it changes.
func MigrationsHash() string {
	names, _ := fs.Glob(migrations.FS, "*.sql")
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		b, _ := fs.ReadFile(migrations.FS, n)
		h.Write([]byte(n))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func withMigrate(databaseURL string, fn func(*migrate.Migrate) error) error {
	src, err := iofs.New(migrations.FS, ".")
	if err != nil {
		return fmt.Errorf("store: migrations: %w", err)
	}
	m, err := migrate.NewWithSourceInstance("iofs", src, pgx5URL(databaseURL))
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	defer m.Close()
	if err := fn(m); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}

// pgx5URL rewrites a postgres:// URL to the scheme golang-migrate's pgx/v5 driver registers.
func pgx5URL(databaseURL string) string {
	databaseURL = ConnURL(databaseURL)
	u, err := url.Parse(databaseURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return strings.Replace(databaseURL, "postgres://", "pgx5://", 1)
	}
	u.Scheme = "pgx5"
	return u.String()
}
