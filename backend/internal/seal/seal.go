// Package seal is the one place that encrypts and decrypts Aura's secrets at rest:
// a job's secret env, project secrets, forge access tokens. Values are sealed with
// AES-256-GCM under the server key, so a database dump alone reveals nothing.
//
// A sealed value is: version byte (1) | key id (8 bytes) | nonce (12) | ciphertext+tag.
// The key id lets a Box hold an old key beside the new one while a rotation runs.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the length of a server key: AES-256.
const KeySize = 32

const (
	version  = 1
	idSize   = 8
	headSize = 1 + idSize
)

// ErrOpen means a sealed value could not be opened: a wrong key, or it was tampered with.
var ErrOpen = errors.New("seal: cannot open sealed value")

type key struct {
	id   [idSize]byte
	aead cipher.AEAD
}

// Box seals with its first key and opens with any of its keys.
type Box struct {
	keys []key
}

// New returns a Box that seals with keys[0] and opens with any of keys.
func New(keys ...[]byte) (*Box, error) {
	if len(keys) == 0 {
		return nil, errors.New("seal: no key")
	}
	b := &Box{}
	for _, k := range keys {
		if len(k) != KeySize {
			return nil, fmt.Errorf("seal: a key must be %d bytes, not %d", KeySize, len(k))
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		b.keys = append(b.keys, key{id: KeyID(k), aead: aead})
	}
	return b, nil
}

// KeyID names a key without revealing it: the start of its SHA-256.
func KeyID(k []byte) [idSize]byte {
	sum := sha256.Sum256(append([]byte("aura-seal-key-id:"), k...))
	var id [idSize]byte
	copy(id[:], sum[:])
	return id
}

// Seal encrypts plain under the Box's first key.
func (b *Box) Seal(plain []byte) []byte {
	k := b.keys[0]
	out := make([]byte, headSize, headSize+k.aead.NonceSize()+len(plain)+k.aead.Overhead())
	out[0] = version
	copy(out[1:], k.id[:])
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	out = append(out, nonce...)
	// The header is authenticated too, so a value cannot be moved to another key id.
	return k.aead.Seal(out, nonce, plain, out[:headSize])
}

// Open decrypts a value sealed under any of the Box's keys.
func (b *Box) Open(sealed []byte) ([]byte, error) {
	if len(sealed) < headSize || sealed[0] != version {
		return nil, ErrOpen
	}
	for _, k := range b.keys {
		if [idSize]byte(sealed[1:headSize]) != k.id {
			continue
		}
		ns := k.aead.NonceSize()
		if len(sealed) < headSize+ns {
			return nil, ErrOpen
		}
		plain, err := k.aead.Open(nil, sealed[headSize:headSize+ns], sealed[headSize+ns:], sealed[:headSize])
		if err != nil {
			return nil, ErrOpen
		}
		return plain, nil
	}
	return nil, ErrOpen
}

// SealedWithCurrent reports whether sealed is under the Box's first key (a rotation
// skips those).
func (b *Box) SealedWithCurrent(sealed []byte) bool {
	return len(sealed) >= headSize && [idSize]byte(sealed[1:headSize]) == b.keys[0].id
}

// DeriveKey returns a key for purpose derived from the server key with HKDF-SHA256,
// so the keys Aura needs besides the seal key (the one that signs job tokens) live
// where the server key lives, never in the database, and rotate with it.
func DeriveKey(serverKey []byte, purpose string) []byte {
	k, err := hkdf.Key(sha256.New, serverKey, nil, purpose, KeySize)
	if err != nil {
		panic(err) // only for lengths HKDF-SHA256 cannot give; KeySize is not one
	}
	return k
}

// NewKey returns a fresh random key.
func NewKey() []byte {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		panic(err)
	}
	return k
}

// EncodeKey is the text form of a key, as kept in the key file and AURA_SECRET_KEY.
func EncodeKey(k []byte) string { return base64.StdEncoding.EncodeToString(k) }

// ParseKey reads a key in base64 (standard or URL, padded or not) or hex.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == KeySize {
			return k, nil
		}
	}
	if k, err := hex.DecodeString(s); err == nil && len(k) == KeySize {
		return k, nil
	}
	return nil, fmt.Errorf("seal: a key must be %d bytes in base64 or hex", KeySize)
}

// KeyFile is the name of the key file in the data folder.
const KeyFile = "secret.key"

// LoadKey returns the server key: value (AURA_SECRET_KEY) when given, else the key
// file in dataDir, created with mode 0600 on first use. A key file that other
// users may read is refused: whoever reads it opens every secret and mints job
// tokens.
func LoadKey(value, dataDir string) ([]byte, error) {
	if value != "" {
		return ParseKey(value)
	}
	path := filepath.Join(dataDir, KeyFile)
	text, err := readPrivate(path)
	if err == nil {
		k, err := ParseKey(string(text))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return k, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("seal: read key: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	k := NewKey()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return LoadKey("", dataDir) // another process just made it
	}
	if err != nil {
		return nil, fmt.Errorf("seal: create key: %w", err)
	}
	_, err = f.WriteString(EncodeKey(k) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("seal: write key: %w", err)
	}
	return k, nil
}

// ErrKeyExposed means a key file other users may read.
var ErrKeyExposed = errors.New("seal: key file readable by other users")

// readPrivate reads a key file, refusing one that its group or others may read
// (or write).
func readPrivate(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if mode := info.Mode().Perm(); mode&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o; run: chmod 600 %s", ErrKeyExposed, path, mode, path)
	}
	return io.ReadAll(f)
}
