package cache_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/musclemap/buildnet/cache"
	"github.com/musclemap/buildnet/hash"
)

// node is one entry of a test tree: a file (data), a directory (dir) or a
// symbolic link (link).
type node struct {
	mode fs.FileMode // permission bits; type bits are implied
	data string
	link string
	dir  bool
}

func file(perm fs.FileMode, data string) node { return node{mode: perm, data: data} }
func dir(perm fs.FileMode) node               { return node{mode: perm, dir: true} }
func link(target string) node                 { return node{link: target} }

// writeTree creates tree under root with exact permission bits.
func writeTree(t *testing.T, root string, tree map[string]node) {
	t.Helper()
	require.NoError(t, os.MkdirAll(root, 0o755))
	for p, n := range tree {
		full := filepath.Join(root, filepath.FromSlash(p))
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		switch {
		case n.dir:
			require.NoError(t, os.MkdirAll(full, 0o755))
			require.NoError(t, os.Chmod(full, n.mode))
		case n.link != "":
			require.NoError(t, os.Symlink(n.link, full))
		default:
			require.NoError(t, os.WriteFile(full, []byte(n.data), 0o600))
			require.NoError(t, os.Chmod(full, n.mode))
		}
	}
}

// snapshot reads the tree under root back into the form writeTree takes.
func snapshot(t *testing.T, root string) map[string]node {
	t.Helper()
	out := map[string]node{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case fi.IsDir():
			out[rel] = dir(fi.Mode().Perm())
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = link(target)
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = file(fi.Mode().Perm(), string(b))
		}
		return nil
	})
	if os.IsNotExist(err) {
		return out
	}
	require.NoError(t, err)
	return out
}

func openCache(t *testing.T, dir string, opts cache.Options) *cache.Cache {
	t.Helper()
	c, err := cache.Open(dir, opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })
	return c
}

func newCache(t *testing.T) *cache.Cache {
	t.Helper()
	return openCache(t, t.TempDir(), cache.Options{})
}

func keyOf(s string) hash.Digest { return hash.Sum([]byte(s)) }

func blobPath(c *cache.Cache, d hash.Digest) string {
	h := d.String()
	return filepath.Join(c.Dir(), "blobs", h[:2], h)
}

func entryPath(c *cache.Cache, d hash.Digest) string {
	h := d.String()
	return filepath.Join(c.Dir(), "actions", h[:2], h)
}

// digestOf returns the digest recorded in m for path p.
func digestOf(t *testing.T, m *cache.Manifest, p string) hash.Digest {
	t.Helper()
	for _, f := range m.Files {
		if f.Path == p {
			return f.Digest
		}
	}
	t.Fatalf("%s not in manifest", p)
	return hash.Digest{}
}

// quarantined lists the names in the cache's quarantine directory that
// start with prefix.
func quarantined(t *testing.T, c *cache.Cache, prefix string) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(c.Dir(), "quarantine"))
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			names = append(names, e.Name())
		}
	}
	return names
}

// setLastUsed backdates the entry for key.
func setLastUsed(t *testing.T, c *cache.Cache, key hash.Digest, at time.Time) {
	t.Helper()
	require.NoError(t, os.Chtimes(entryPath(c, key), at, at))
}

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Lstat(p)
	require.NoError(t, err)
	return fi.Sys().(*syscall.Stat_t).Ino
}
