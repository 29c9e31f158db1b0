package cache

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/musclemap/buildnet/hash"
)

// Backend is a secondary store, such as a remote cache, that holds whole
// artifacts by key. An artifact is the stream written by [Cache.Export] and
// read by [Cache.Import]. Implementations must be safe for concurrent use;
// package cachetest checks the contract.
type Backend interface {
	// Get returns the artifact stored under key; the caller closes it.
	// It returns an error wrapping [ErrNotFound] on a miss.
	Get(ctx context.Context, key hash.Digest) (io.ReadCloser, error)
	// Put stores what r yields under key, replacing any previous artifact.
	// size is the length of r's content, or -1 if unknown. If r fails, or
	// ctx ends, before its end, nothing is stored.
	Put(ctx context.Context, key hash.Digest, r io.Reader, size int64) error
}

// Names inside an artifact.
const (
	archiveManifest = "manifest.json"
	archiveBlobs    = "blobs/"
	// maxManifest bounds the manifest read from an artifact.
	maxManifest = 64 << 20
)

// Export writes the entry for key as an artifact to w: a gzip-compressed tar
// stream holding "manifest.json" and every blob the entry references as
// "blobs/<hex>". It returns an error wrapping [ErrNotFound] if there is no
// such entry. Blobs are verified while they are written; on a mismatch the
// blob is quarantined and Export fails with an error wrapping [ErrCorrupt]
// (w then holds a truncated stream).
func (c *Cache) Export(ctx context.Context, key hash.Digest, w io.Writer) error {
	if err := c.export(ctx, key, w); err != nil {
		return fmt.Errorf("export %s: %w", key.Short(), err)
	}
	return nil
}

func (c *Cache) export(ctx context.Context, key hash.Digest, w io.Writer) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := c.lock.rlock(); err != nil {
		return err
	}
	defer c.lock.runlock()
	m, err := c.loadEntry(ctx, key)
	if err != nil {
		return err
	}
	raw, err := EncodeManifest(m)
	if err != nil {
		return err
	}
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	if err := writeMember(tw, archiveManifest, int64(len(raw))); err != nil {
		return err
	}
	if _, err := tw.Write(raw); err != nil {
		return err
	}
	for _, d := range m.blobs() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := c.exportBlob(ctx, tw, m, d); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

func (c *Cache) exportBlob(ctx context.Context, tw *tar.Writer, m *Manifest, d hash.Digest) error {
	f, err := os.Open(c.blobPath(d))
	if errors.Is(err, fs.ErrNotExist) {
		return c.badBlob(ctx, m, d, "missing")
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := writeMember(tw, archiveBlobs+d.String(), fi.Size()); err != nil {
		return err
	}
	ok, err := c.copyVerify(tw, f, fi.Size(), d)
	if err != nil {
		if errors.Is(err, tar.ErrWriteTooLong) {
			// The blob grew after Stat: it cannot be what was stored.
			return c.badBlob(ctx, m, d, "digest mismatch")
		}
		return err
	}
	if !ok {
		return c.badBlob(ctx, m, d, "digest mismatch")
	}
	return nil
}

func writeMember(tw *tar.Writer, name string, size int64) error {
	return tw.WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Mode:     0o644,
		Size:     size,
		ModTime:  time.Unix(0, 0),
		Format:   tar.FormatPAX,
	})
}

// Import reads an artifact written by [Cache.Export] and stores it as the
// entry for key. The manifest must decode and hold key, every blob must match
// its name, the archive must hold exactly the blobs the manifest references
// and nothing else. Otherwise Import fails with an error wrapping
// [ErrCorrupt] and nothing becomes visible.
func (c *Cache) Import(ctx context.Context, key hash.Digest, r io.Reader) (*Manifest, error) {
	m, err := c.importArtifact(ctx, key, r)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", key.Short(), err)
	}
	return m, nil
}

// importedBlob is a verified blob waiting in the work directory.
type importedBlob struct {
	tmp  string
	size int64
}

func (c *Cache) importArtifact(ctx context.Context, key hash.Digest, r io.Reader) (*Manifest, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if c.lock.isClosed() {
		return nil, errClosed
	}
	blobs := map[hash.Digest]importedBlob{}
	defer func() {
		for _, b := range blobs {
			if b.tmp != "" {
				os.Remove(b.tmp)
			}
		}
	}()
	raw, err := c.readArtifact(ctx, r, blobs)
	if err != nil {
		return nil, err
	}
	m, err := c.checkArtifact(key, raw, blobs)
	if err != nil {
		c.corrupt.Add(1)
		return nil, err
	}
	// Everything is verified: move the blobs, then the entry, into place.
	if err := c.lock.rlock(); err != nil {
		return nil, err
	}
	defer c.lock.runlock()
	for d, b := range blobs {
		// Replacing a present blob with the verified copy is harmless and
		// repairs a damaged one.
		if err := commit(b.tmp, c.blobPath(d), false); err != nil {
			return nil, err
		}
		blobs[d] = importedBlob{size: b.size}
	}
	if err := c.writeFile(c.entryPath(key), raw, true); err != nil {
		return nil, fmt.Errorf("write entry: %w", err)
	}
	return m, nil
}

// readArtifact reads the whole archive, writing each verified blob to the
// work directory and recording it in blobs. It returns the manifest bytes.
func (c *Cache) readArtifact(ctx context.Context, r io.Reader, blobs map[hash.Digest]importedBlob) ([]byte, error) {
	corrupt := func(format string, args ...any) error {
		c.corrupt.Add(1)
		return fmt.Errorf("%w: %w", ErrCorrupt, fmt.Errorf(format, args...))
	}
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, corrupt("read artifact: %w", err)
	}
	tr := tar.NewReader(gz)
	var raw []byte
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, corrupt("read artifact: %w", err)
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil, corrupt("artifact member %q is not a regular file", hdr.Name)
		}
		switch name := hdr.Name; {
		case name == archiveManifest:
			if raw != nil {
				return nil, corrupt("artifact holds two manifests")
			}
			if hdr.Size > maxManifest {
				return nil, corrupt("artifact manifest of %d bytes is too large", hdr.Size)
			}
			if raw, err = io.ReadAll(tr); err != nil {
				return nil, corrupt("read artifact manifest: %w", err)
			}
		case strings.HasPrefix(name, archiveBlobs):
			hex := name[len(archiveBlobs):]
			d, err := hash.ParseDigest(hex)
			if err != nil || d.String() != hex {
				return nil, corrupt("artifact member %q is not a blob name", name)
			}
			if _, dup := blobs[d]; dup {
				return nil, corrupt("artifact holds blob %s twice", d.Short())
			}
			got, n, err := c.receiveBlob(tr, blobs, d)
			if err != nil {
				return nil, fmt.Errorf("read artifact blob %s: %w", d.Short(), err)
			}
			if got != d {
				return nil, corrupt("artifact blob %s has digest %s", d.Short(), got.Short())
			}
			if n != hdr.Size {
				return nil, corrupt("artifact blob %s truncated", d.Short())
			}
		default:
			return nil, corrupt("unexpected artifact member %q", name)
		}
	}
	// Reading to the end checks the gzip trailer.
	if _, err := io.Copy(io.Discard, gz); err != nil {
		return nil, corrupt("read artifact: %w", err)
	}
	if raw == nil {
		return nil, corrupt("artifact has no manifest")
	}
	return raw, nil
}

// receiveBlob writes what r yields to a temporary file, registered in blobs
// under d before anything is written so that it is always cleaned up.
func (c *Cache) receiveBlob(r io.Reader, blobs map[hash.Digest]importedBlob, d hash.Digest) (hash.Digest, int64, error) {
	f, err := c.createTemp()
	if err != nil {
		return hash.Digest{}, 0, err
	}
	blobs[d] = importedBlob{tmp: f.Name()}
	h := hash.New()
	n, err := c.copy(io.MultiWriter(f, h), r)
	if err != nil {
		f.Close()
		return hash.Digest{}, n, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if err := syncClose(f); err != nil {
		return hash.Digest{}, n, err
	}
	blobs[d] = importedBlob{tmp: f.Name(), size: n}
	return hash.FromHash(h), n, nil
}

// checkArtifact decodes the manifest and checks that it holds key and that
// the archive held exactly the blobs it references, with the recorded sizes.
func (c *Cache) checkArtifact(key hash.Digest, raw []byte, blobs map[hash.Digest]importedBlob) (*Manifest, error) {
	m, err := DecodeManifest(raw)
	if err != nil {
		return nil, err
	}
	if m.Key != key {
		return nil, fmt.Errorf("%w: artifact holds key %s", ErrCorrupt, m.Key.Short())
	}
	want := m.blobs()
	for _, d := range want {
		if _, ok := blobs[d]; !ok {
			return nil, fmt.Errorf("%w: artifact lacks blob %s", ErrCorrupt, d.Short())
		}
	}
	if len(blobs) != len(want) {
		return nil, fmt.Errorf("%w: artifact holds blobs the manifest does not reference", ErrCorrupt)
	}
	for _, f := range m.Files {
		if fs.FileMode(f.Mode).IsRegular() && blobs[f.Digest].size != f.Size {
			return nil, fmt.Errorf("%w: %q is %d bytes, its blob %d", ErrCorrupt, f.Path, f.Size, blobs[f.Digest].size)
		}
	}
	return m, nil
}
