package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/aura-ci/aura/backend/internal/seal"
)

// The store is where secrets cross the sealed line: every sealed column (see
// SealedColumns) is sealed and opened here and nowhere else. Callers hand the
// store plain text and get it back opened only from the reads that need it: a
// claim (the job's secret env), IntegrationOpen and IntegrationsByRepository
// (verifying a delivery, reporting a status), ProjectSecretsOpen (a delivery's
// jobs), StatusClaim (the access token), and the log masking.

// sealSecrets seals a secret env as JSON; none is NULL.
func (s *Store) sealSecrets(env map[string]string) ([]byte, error) {
	if len(env) == 0 {
		return nil, nil
	}
	plain, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("store: seal secrets: %w", err)
	}
	return s.box.Seal(plain), nil
}

// openSecrets opens what sealSecrets sealed.
func (s *Store) openSecrets(sealed []byte) (map[string]string, error) {
	if len(sealed) == 0 {
		return map[string]string{}, nil
	}
	plain, err := s.box.Open(sealed)
	if err != nil {
		return nil, fmt.Errorf("store: open secrets: %w", err)
	}
	var env map[string]string
	if err := json.Unmarshal(plain, &env); err != nil {
		return nil, fmt.Errorf("store: open secrets: %w", err)
	}
	return env, nil
}

// sealString seals one secret value; "" (none) is NULL.
func (s *Store) sealString(v string) []byte {
	if v == "" {
		return nil
	}
	return s.box.Seal([]byte(v))
}

// sealToken seals an optional value: nil and "" are NULL.
func (s *Store) sealToken(v *string) []byte {
	if v == nil {
		return nil
	}
	return s.sealString(*v)
}

// openString opens what sealString sealed; NULL is "".
func (s *Store) openString(sealed []byte) (string, error) {
	if sealed == nil {
		return "", nil
	}
	plain, err := s.box.Open(sealed)
	return string(plain), err
}

// SealedColumn names a column of sealed values, so a key rotation finds every one.
type SealedColumn struct {
	Table, Key, Column string
}

// SealedColumns lists every column that holds values sealed with the server key.
// A new sealed column is added here, and only here, to be rotated with the rest.
var SealedColumns = []SealedColumn{
	{Table: "jobs", Key: "id", Column: "secret_sealed"},
	{Table: "integrations", Key: "id", Column: "secret_sealed"},
	{Table: "integrations", Key: "id", Column: "token_sealed"},
	{Table: "project_secrets", Key: "id", Column: "value_sealed"},
	{Table: "seal_check", Key: "id", Column: "sealed"},
}

// ErrWrongSealKey means the server key is not the one the database's secrets are
// sealed with.
var ErrWrongSealKey = errors.New("this server's secret key is not the one the database's secrets are sealed with: " +
	"give every server on one database the same key (AURA_SECRET_KEY, --secret-key, or a copy of the first server's <data>/secret.key)")

const sealCheckText = "aura seal check"

// SealCheck makes sure the server key opens the database's secrets, before the
// server serves anything: servers sharing a database with different keys would
// each fail the secrets the others sealed. The first server records a value
// sealed with its key; a database from before the check is tried on one of its
// sealed values instead.
func (s *Store) SealCheck(ctx context.Context) error {
	var sealed []byte
	err := s.pool.QueryRow(ctx, `SELECT sealed FROM seal_check WHERE id = 1`).Scan(&sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		for _, c := range SealedColumns {
			q := fmt.Sprintf(`SELECT %[2]s FROM %[1]s WHERE %[2]s IS NOT NULL LIMIT 1`,
				pgx.Identifier{c.Table}.Sanitize(), pgx.Identifier{c.Column}.Sanitize())
			var v []byte
			err := s.pool.QueryRow(ctx, q).Scan(&v)
			if errors.Is(err, pgx.ErrNoRows) {
				continue
			}
			if err != nil {
				return interpret(err, "seal check")
			}
			if _, err := s.box.Open(v); err != nil {
				return ErrWrongSealKey
			}
			break
		}
		const q = `INSERT INTO seal_check (id, sealed) VALUES (1, $1) ON CONFLICT DO NOTHING`
		if _, err := s.pool.Exec(ctx, q, s.box.Seal([]byte(sealCheckText))); err != nil {
			return interpret(err, "seal check")
		}
		err = s.pool.QueryRow(ctx, `SELECT sealed FROM seal_check WHERE id = 1`).Scan(&sealed)
	}
	if err != nil {
		return interpret(err, "seal check")
	}
	if plain, err := s.box.Open(sealed); err != nil || string(plain) != sealCheckText {
		return ErrWrongSealKey
	}
	return nil
}

// SecretsSealLegacy seals the plain-text secret env left by schema version 1 and
// empties it, so a dump holds no secret. It returns how many jobs it sealed.
func (s *Store) SecretsSealLegacy(ctx context.Context) (int, error) {
	total := 0
	for {
		n := 0
		err := s.inTx(ctx, func(tx pgx.Tx) error {
			const q = `SELECT id, secret_env FROM jobs WHERE secret_env <> '{}' LIMIT 500 FOR UPDATE SKIP LOCKED`
			rows, _ := tx.Query(ctx, q)
			type legacy struct {
				ID        int64             `db:"id"`
				SecretEnv map[string]string `db:"secret_env"`
			}
			found, err := pgx.CollectRows(rows, pgx.RowToStructByName[legacy])
			if err != nil {
				return interpret(err, "seal legacy secrets")
			}
			for _, j := range found {
				sealed, err := s.sealSecrets(j.SecretEnv)
				if err != nil {
					return err
				}
				const u = `UPDATE jobs SET secret_sealed = $2, secret_env = '{}' WHERE id = $1`
				if _, err := tx.Exec(ctx, u, j.ID, sealed); err != nil {
					return interpret(err, "seal legacy secrets")
				}
			}
			n = len(found)
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
		if n == 0 {
			return total, nil
		}
	}
}

// SecretsRotate re-seals every sealed value that is not under box's current key
// (box opens with the old key too). It works in batches and may be run again
// after an interruption. It returns how many values it re-sealed.
func (s *Store) SecretsRotate(ctx context.Context, box *seal.Box) (int, error) {
	total := 0
	for _, c := range SealedColumns {
		after := int64(0)
		for {
			var ids []int64
			var values [][]byte
			q := fmt.Sprintf(`SELECT %[2]s, %[3]s FROM %[1]s WHERE %[3]s IS NOT NULL AND %[2]s > $1 ORDER BY %[2]s LIMIT 500`,
				pgx.Identifier{c.Table}.Sanitize(), pgx.Identifier{c.Key}.Sanitize(), pgx.Identifier{c.Column}.Sanitize())
			rows, _ := s.pool.Query(ctx, q, after)
			var id int64
			var v []byte
			_, err := pgx.ForEachRow(rows, []any{&id, &v}, func() error {
				ids, values = append(ids, id), append(values, v)
				return nil
			})
			if err != nil {
				return total, interpret(err, "rotate secrets")
			}
			if len(ids) == 0 {
				break
			}
			after = ids[len(ids)-1]
			batch := &pgx.Batch{}
			u := fmt.Sprintf(`UPDATE %[1]s SET %[3]s = $2 WHERE %[2]s = $1 AND %[3]s = $3`,
				pgx.Identifier{c.Table}.Sanitize(), pgx.Identifier{c.Key}.Sanitize(), pgx.Identifier{c.Column}.Sanitize())
			for i, sealed := range values {
				if box.SealedWithCurrent(sealed) {
					continue
				}
				plain, err := box.Open(sealed)
				if err != nil {
					return total, fmt.Errorf("store: rotate %s.%s of %d: %w", c.Table, c.Column, ids[i], err)
				}
				batch.Queue(u, ids[i], box.Seal(plain), sealed)
				total++
			}
			if batch.Len() > 0 {
				if err := s.pool.SendBatch(ctx, batch).Close(); err != nil {
					return total, interpret(err, "rotate secrets")
				}
			}
		}
	}
	return total, nil
}
