package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// KeyPrefix starts every API key, so that a key is recognisable in a
// file, a log or a secret scanner.
const KeyPrefix = "bnk_"

// keySecretBytes is the randomness in a key.
const keySecretBytes = 32

// keyShown is how many characters of a key are kept, as its prefix, to
// tell keys apart.
const keyShown = len(KeyPrefix) + 6

// MinPasswordLen is the shortest password a user may have.
const MinPasswordLen = 8

// maxPasswordLen is bcrypt's limit.
const maxPasswordLen = 72

// ErrWeakPassword is returned for a password that is too short or too
// long.
var ErrWeakPassword = fmt.Errorf("auth: password must be %d to %d bytes", MinPasswordLen, maxPasswordLen)

// ErrInvalidName is returned for a user or key name that is empty, too
// long or holds characters other than letters, digits, '.', '_', '-' and
// '@'.
var ErrInvalidName = errors.New("auth: invalid name: use 1 to 64 letters, digits, '.', '_', '-' or '@'")

// NewKey returns a new random API key: KeyPrefix and 64 hex digits.
func NewKey() (string, error) {
	var b [keySecretBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate key: %w", err)
	}
	return KeyPrefix + hex.EncodeToString(b[:]), nil
}

// IsKey reports whether s has the form of an API key.
func IsKey(s string) bool {
	rest, ok := strings.CutPrefix(s, KeyPrefix)
	if !ok || len(rest) != 2*keySecretBytes {
		return false
	}
	_, err := hex.DecodeString(rest)
	return err == nil
}

// HashKey returns the SHA-256 of key, the form the store keeps. A key
// holds 256 random bits, so a fast hash is enough: there is nothing to
// guess.
func HashKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// newID returns a short random id with the given prefix.
func newID(prefix string, n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate id: %w", err)
	}
	return prefix + hex.EncodeToString(b), nil
}

// HashPassword returns the bcrypt hash of password at the given cost (0
// means bcrypt.DefaultCost).
func HashPassword(password string, cost int) (string, error) {
	if len(password) < MinPasswordLen || len(password) > maxPasswordLen || !utf8.ValidString(password) {
		return "", ErrWeakPassword
	}
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// CheckPassword reports whether password matches hash, in time that does
// not depend on where they differ.
func CheckPassword(hash, password string) bool {
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}

// ValidName reports whether s may name a user or a key.
func ValidName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-', r == '@':
		default:
			return false
		}
	}
	return true
}
