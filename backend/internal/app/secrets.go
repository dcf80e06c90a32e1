package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/aura-ci/aura/backend/internal/api"
	"github.com/aura-ci/aura/backend/internal/auth"
	"github.com/aura-ci/aura/backend/internal/seal"
	"github.com/aura-ci/aura/backend/internal/store"
)

// openBox loads the server key: the box that seals secrets at rest, and the keys
// derived from it that sign job tokens and artifact links. Neither is in the database, and both
// change with `aura secrets rotate` (job tokens of running jobs then stop working;
// rotation runs with the servers stopped).
func openBox(cfg *Config) (box *seal.Box, tokenKey, linkKey []byte, err error) {
	key, err := seal.LoadKey(cfg.SecretKey, cfg.DataDir)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("server key: %w", err)
	}
	box, err = seal.New(key)
	if err != nil {
		return nil, nil, nil, err
	}
	return box, seal.DeriveKey(key, auth.SigningKeyPurpose), seal.DeriveKey(key, api.ArtifactLinkPurpose), nil
}

// secretsCmd is `aura secrets rotate`: every sealed value is opened with the
// current key and sealed again under a new one. With the key in the data folder,
// the new key is kept in secret.key.new until every value is re-sealed and then
// replaces secret.key, so an interrupted rotation is finished by running it again.
// With AURA_SECRET_KEY, the new key is given with --new-key (or generated and
// printed) and the operator swaps the variable afterwards.
func secretsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "rotate" {
		return errors.New("usage: aura secrets rotate [--new-key KEY] [flags]")
	}
	var cfg Config
	fs := flag.NewFlagSet("aura secrets rotate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.flags(fs)
	newKeyText := fs.String("new-key", "", "the new key (32 bytes, base64 or hex); empty: generate one")
	if err := cfg.parse(fs, args[1:]); err != nil {
		return err
	}
	oldKey, err := seal.LoadKey(cfg.SecretKey, cfg.DataDir)
	if err != nil {
		return fmt.Errorf("current server key: %w", err)
	}
	pending := filepath.Join(cfg.DataDir, seal.KeyFile+".new")
	var newKey []byte
	switch {
	case *newKeyText != "":
		if newKey, err = seal.ParseKey(*newKeyText); err != nil {
			return err
		}
	case cfg.SecretKey == "":
		// A rotation that was interrupted goes on with the key it began with.
		if text, err := os.ReadFile(pending); err == nil {
			if newKey, err = seal.ParseKey(string(text)); err != nil {
				return fmt.Errorf("%s: %w", pending, err)
			}
		}
	}
	if newKey == nil {
		newKey = seal.NewKey()
	}
	if cfg.SecretKey == "" {
		if err := os.WriteFile(pending, []byte(seal.EncodeKey(newKey)+"\n"), 0o600); err != nil {
			return fmt.Errorf("keep the new key: %w", err)
		}
	}
	box, err := seal.New(newKey, oldKey)
	if err != nil {
		return err
	}
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }
	dbURL, stopDB, err := openDatabase(ctx, &cfg, logf, nil)
	if err != nil {
		return err
	}
	defer stopDB()
	if err := store.MigrateUp(dbURL); err != nil {
		return err
	}
	pool, err := newPool(ctx, dbURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	st := store.New(pool, box)
	if _, err := st.SecretsSealLegacy(ctx); err != nil {
		return err
	}
	n, err := st.SecretsRotate(ctx, box)
	if err != nil {
		return fmt.Errorf("rotation stopped (run it again to finish): %w", err)
	}
	if cfg.SecretKey == "" {
		if err := os.Rename(pending, filepath.Join(cfg.DataDir, seal.KeyFile)); err != nil {
			return fmt.Errorf("install the new key: %w", err)
		}
		fmt.Fprintf(stdout, "re-sealed %d secrets; %s now holds the new key\n", n, filepath.Join(cfg.DataDir, seal.KeyFile))
		return nil
	}
	fmt.Fprintf(stdout, "re-sealed %d secrets; set AURA_SECRET_KEY to the new key before the next start:\n%s\n", n, seal.EncodeKey(newKey))
	return nil
}
