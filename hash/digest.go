package hash

import (
	"encoding/hex"
	"errors"
	"fmt"
	stdhash "hash"
	"io"
	"os"

	"github.com/zeebo/blake3"
)

// Size is the length of a [Digest] in bytes.
const Size = 32

// ErrBadDigest is returned when text does not hold a valid hex digest.
var ErrBadDigest = errors.New("hash: malformed digest")

// Digest is a BLAKE3-256 digest. It is a comparable value type, usable as a
// map key. The zero Digest is never produced by hashing and means "none".
type Digest [Size]byte

// Sum returns the BLAKE3 digest of b.
func Sum(b []byte) Digest { return Digest(blake3.Sum256(b)) }

// New returns a streaming BLAKE3 hasher; Sum(nil) on it yields the 32 bytes
// of a [Digest].
func New() stdhash.Hash { return blake3.New() }

// FromHash reads the 32-byte digest out of a hasher returned by [New].
func FromHash(h stdhash.Hash) Digest {
	var d Digest
	h.Sum(d[:0])
	return d
}

// Reader hashes everything r yields and returns its digest and length.
func Reader(r io.Reader) (Digest, int64, error) {
	h := blake3.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return Digest{}, n, err
	}
	return FromHash(h), n, nil
}

// FileDigest returns the BLAKE3 digest and size of the file at path.
func FileDigest(path string) (Digest, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return Digest{}, 0, err
	}
	defer f.Close()
	d, n, err := Reader(f)
	if err != nil {
		return Digest{}, n, fmt.Errorf("hash %s: %w", path, err)
	}
	return d, n, nil
}

// ParseDigest parses the 64-character lower- or upper-case hex form of a
// digest.
func ParseDigest(s string) (Digest, error) {
	var d Digest
	if len(s) != 2*Size {
		return d, fmt.Errorf("%w: %q has %d characters, want %d", ErrBadDigest, s, len(s), 2*Size)
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return Digest{}, fmt.Errorf("%w: %q: %v", ErrBadDigest, s, err)
	}
	return d, nil
}

// String returns the lower-case hex form of d.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// Short returns the first 12 hex characters of d, for display.
func (d Digest) Short() string { return d.String()[:12] }

// IsZero reports whether d is the zero Digest.
func (d Digest) IsZero() bool { return d == Digest{} }

// MarshalText implements [encoding.TextMarshaler]; the zero Digest encodes
// as the empty string.
func (d Digest) MarshalText() ([]byte, error) {
	if d.IsZero() {
		return []byte{}, nil
	}
	b := make([]byte, 2*Size)
	hex.Encode(b, d[:])
	return b, nil
}

// UnmarshalText implements [encoding.TextUnmarshaler]; the empty string
// decodes to the zero Digest.
func (d *Digest) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*d = Digest{}
		return nil
	}
	p, err := ParseDigest(string(b))
	if err != nil {
		return err
	}
	*d = p
	return nil
}

// Keyed returns the BLAKE3 keyed hash of b under a 32-byte key; a key of
// another length is first hashed down to 32 bytes. Without the key the
// digest reveals nothing about b, even when b is short and guessable.
func Keyed(key, b []byte) Digest {
	if len(key) != Size {
		k := blake3.Sum256(key)
		key = k[:]
	}
	h, err := blake3.NewKeyed(key)
	if err != nil {
		panic(err) // unreachable: the key has the right length
	}
	h.Write(b)
	return FromHash(h)
}
