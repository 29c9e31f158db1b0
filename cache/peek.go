package cache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/musclemap/buildnet/hash"
)

// Peek reports what a cache directory holds for key without opening the
// cache or changing anything in it: no counters, no last-use time, no
// quarantine, no files created. It returns the manifest when the entry is
// readable and all its blobs exist, ErrNotFound on a miss (a missing
// directory included), and an error wrapping ErrCorrupt for an entry that
// Lookup would reject. Dry runs use it.
func Peek(dir string, key hash.Digest) (*Manifest, error) {
	c := &Cache{dir: dir}
	b, err := os.ReadFile(c.entryPath(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("peek %s: %w", key.Short(), err)
	}
	m, err := DecodeManifest(b)
	if err != nil {
		return nil, err
	}
	if m.Key != key {
		return nil, fmt.Errorf("%w: entry holds key %s", ErrCorrupt, m.Key.Short())
	}
	for _, d := range m.blobs() {
		if _, err := os.Lstat(c.blobPath(d)); err != nil {
			return nil, fmt.Errorf("%w: blob %s missing", ErrCorrupt, d.Short())
		}
	}
	return m, nil
}
