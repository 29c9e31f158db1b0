package buildnet

import (
	"encoding/binary"
	"errors"
	"slices"
	"strings"

	"github.com/musclemap/buildnet/hash"
)

// digestVersion changes whenever the input digest's recipe changes, so
// old cache entries are never mistaken for new ones.
const digestVersion = "buildnet-input-v1"

// snapshot is what the engine remembers about a package's last success:
// enough to decide instant_skip with stat calls only.
type snapshot struct {
	configKey hash.Digest // command, hooks, env values, globals, paths
	deps      []depDigest // sorted by name
	sources   []hash.File // sorted by path, root-relative, with sums
	outputs   []hash.File // sorted by path, root-relative, stats only
}

type depDigest struct {
	name   string
	digest hash.Digest
}

const snapshotMagic = 1

var errBadSnapshot = errors.New("buildnet: unreadable package snapshot")

func (s *snapshot) encode() []byte {
	b := make([]byte, 0, 64+len(s.sources)*48+len(s.outputs)*40)
	b = append(b, snapshotMagic)
	b = append(b, s.configKey[:]...)
	b = binary.AppendUvarint(b, uint64(len(s.deps)))
	for _, d := range s.deps {
		b = appendString(b, d.name)
		b = append(b, d.digest[:]...)
	}
	b = appendFiles(b, s.sources, true)
	b = appendFiles(b, s.outputs, false)
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendFiles writes sorted files with their paths prefix-compressed.
func appendFiles(b []byte, files []hash.File, sums bool) []byte {
	b = binary.AppendUvarint(b, uint64(len(files)))
	prev := ""
	for _, f := range files {
		n := commonPrefix(prev, f.Path)
		b = binary.AppendUvarint(b, uint64(n))
		b = appendString(b, f.Path[n:])
		b = binary.AppendVarint(b, f.Stat.Size)
		b = binary.AppendVarint(b, f.Stat.MtimeNs)
		b = binary.AppendUvarint(b, f.Stat.Inode)
		b = binary.AppendUvarint(b, uint64(f.Stat.Mode))
		if sums {
			b = append(b, f.Sum[:]...)
		}
		prev = f.Path
	}
	return b
}

func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

type reader struct {
	b   []byte
	err bool
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes(n uint64) []byte {
	if r.err || uint64(len(r.b)) < n {
		r.err = true
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) string() string { return string(r.bytes(r.uvarint())) }

func decodeSnapshot(b []byte) (*snapshot, error) {
	if len(b) == 0 || b[0] != snapshotMagic {
		return nil, errBadSnapshot
	}
	r := &reader{b: b[1:]}
	s := new(snapshot)
	copy(s.configKey[:], r.bytes(hash.Size))
	nd := r.uvarint()
	if nd > uint64(len(r.b)) {
		return nil, errBadSnapshot
	}
	s.deps = make([]depDigest, 0, nd)
	for range nd {
		var d depDigest
		d.name = r.string()
		copy(d.digest[:], r.bytes(hash.Size))
		s.deps = append(s.deps, d)
	}
	s.sources = readFiles(r, true)
	s.outputs = readFiles(r, false)
	if r.err || len(r.b) != 0 {
		return nil, errBadSnapshot
	}
	return s, nil
}

func readFiles(r *reader, sums bool) []hash.File {
	n := r.uvarint()
	if r.err || n > uint64(len(r.b)) {
		r.err = true
		return nil
	}
	files := make([]hash.File, 0, n)
	prev := ""
	var sb strings.Builder
	for range n {
		shared := r.uvarint()
		suffix := r.bytes(r.uvarint())
		if r.err || shared > uint64(len(prev)) {
			r.err = true
			return nil
		}
		sb.Reset()
		sb.WriteString(prev[:shared])
		sb.Write(suffix)
		f := hash.File{Path: sb.String()}
		f.Stat.Size = r.varint()
		f.Stat.MtimeNs = r.varint()
		f.Stat.Inode = r.uvarint()
		f.Stat.Mode = uint32(r.uvarint())
		if sums {
			copy(f.Sum[:], r.bytes(16))
		}
		if r.err {
			return nil
		}
		files = append(files, f)
		prev = f.Path
	}
	return files
}

// sameStats reports whether two sorted file lists name the same paths with
// the same fingerprints.
func sameStats(a, b []hash.File) bool {
	return slices.EqualFunc(a, b, func(x, y hash.File) bool { return x.Path == y.Path && x.Stat == y.Stat })
}

func sameDeps(a, b []depDigest) bool { return slices.Equal(a, b) }

// digester writes length-prefixed fields into a BLAKE3 hasher, so that no
// two different field sequences hash alike.
type digester struct {
	h interface{ Write([]byte) (int, error) }
}

func (d digester) field(tag string, parts ...[]byte) {
	var lb [binary.MaxVarintLen64]byte
	d.h.Write(lb[:binary.PutUvarint(lb[:], uint64(len(tag)))])
	d.h.Write([]byte(tag))
	for _, p := range parts {
		d.h.Write(lb[:binary.PutUvarint(lb[:], uint64(len(p)))])
		d.h.Write(p)
	}
}
