// Package migrations holds Aura's SQL schema migrations, embedded so the binary
// applies them itself at start.
package migrations

import "embed"

// FS holds the NNNNNN_name.{up,down}.sql files for golang-migrate's iofs source.
//
//go:embed *.sql
var FS embed.FS
