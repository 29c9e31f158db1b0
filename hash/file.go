package hash

import (
	"context"
	"encoding/hex"
	"fmt"
	stdhash "hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/zeebo/xxh3"
	"golang.org/x/sys/unix"
)

// Sum128 is the xxh3-128 hash of a file's content (of its target string for
// a symbolic link).
type Sum128 [16]byte

// String returns the hex form of s.
func (s Sum128) String() string { return hex.EncodeToString(s[:]) }

// Sum128Of returns the xxh3-128 hash of b.
func Sum128Of(b []byte) Sum128 { return xxh3.Hash128(b).Bytes() }

// Fingerprint is what lstat reports about a file. Two equal fingerprints
// are taken to mean equal content; when they differ the content is re-read.
type Fingerprint struct {
	Size    int64  `json:"size"`
	MtimeNs int64  `json:"mtime_ns"`
	Inode   uint64 `json:"inode"`
	Mode    uint32 `json:"mode"` // fs.FileMode bits
}

// FingerprintOf extracts a fingerprint from the result of os.Lstat.
func FingerprintOf(fi fs.FileInfo) Fingerprint {
	fp := Fingerprint{Size: fi.Size(), MtimeNs: fi.ModTime().UnixNano(), Mode: uint32(fi.Mode())}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		fp.Inode = st.Ino
	}
	return fp
}

// FingerprintOfStat builds a fingerprint from raw stat(2) fields (st_mode
// as the kernel reports it). It agrees with [FingerprintOf] for the same
// file.
func FingerprintOfStat(size, mtimeNs int64, inode uint64, rawMode uint32) Fingerprint {
	mode := fs.FileMode(rawMode & 0o777)
	switch rawMode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		mode |= fs.ModeDir
	case syscall.S_IFLNK:
		mode |= fs.ModeSymlink
	case syscall.S_IFIFO:
		mode |= fs.ModeNamedPipe
	case syscall.S_IFSOCK:
		mode |= fs.ModeSocket
	case syscall.S_IFBLK:
		mode |= fs.ModeDevice
	case syscall.S_IFCHR:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	}
	if rawMode&syscall.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if rawMode&syscall.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if rawMode&syscall.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return Fingerprint{Size: size, MtimeNs: mtimeNs, Inode: inode, Mode: uint32(mode)}
}

// IsLink reports whether the fingerprint is of a symbolic link.
func (f Fingerprint) IsLink() bool { return fs.FileMode(f.Mode)&fs.ModeSymlink != 0 }

// Executable reports whether any execute bit is set.
func (f Fingerprint) Executable() bool { return fs.FileMode(f.Mode)&0o111 != 0 }

// File is one file as the hasher sees it.
type File struct {
	// Path is slash-separated and relative to the root given to the Hasher.
	Path string `json:"path"`
	// Stat is the file's fingerprint when it was scanned.
	Stat Fingerprint `json:"stat"`
	// Sum is the content hash; zero until hashed.
	Sum Sum128 `json:"sum"`
}

// Counters reports the work a [Hasher] has done since it was created.
type Counters struct {
	FilesRead int64 `json:"files_read"` // regular files whose content was read
	BytesRead int64 `json:"bytes_read"`
	LinksRead int64 `json:"links_read"` // symbolic links whose target was read
}

// Hasher computes content hashes of files, reading only those whose
// fingerprint changed. It is safe for concurrent use.
type Hasher struct {
	workers   int
	alg       *Algorithm // nil: xxh3-128
	filesRead atomic.Int64
	bytesRead atomic.Int64
	linksRead atomic.Int64
	bufs      sync.Pool
}

// Algorithm is a content hash for source files other than the default
// xxh3-128. Its digests are cut (or zero-padded) to 16 bytes.
type Algorithm struct {
	// Name identifies the algorithm; it becomes part of every input
	// digest, so switching algorithms rebuilds everything once.
	Name string
	// New returns a fresh hasher.
	New func() stdhash.Hash
}

// sum hashes b with a.
func (a *Algorithm) sum(b []byte) Sum128 {
	h := a.New()
	h.Write(b)
	var s Sum128
	copy(s[:], h.Sum(nil))
	return s
}

// NewHasher returns a Hasher that reads at most workers files at once;
// workers <= 0 means runtime.GOMAXPROCS(0).
func NewHasher(workers int) *Hasher { return NewHasherWith(workers, nil) }

// NewHasherWith is NewHasher with another content hash; nil means
// xxh3-128.
func NewHasherWith(workers int, alg *Algorithm) *Hasher {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	h := &Hasher{workers: workers, alg: alg}
	h.bufs.New = func() any { b := make([]byte, 64<<10); return &b }
	return h
}

// Counters returns the work done so far.
func (h *Hasher) Counters() Counters {
	return Counters{FilesRead: h.filesRead.Load(), BytesRead: h.bytesRead.Load(), LinksRead: h.linksRead.Load()}
}

// Update fills in Sum for each of files under root. A file whose Stat equals
// the fingerprint of the same path in prev keeps prev's Sum without being
// read. It returns the indexes of the files it read, in ascending order.
func (h *Hasher) Update(ctx context.Context, root string, files []File, prev map[string]File) ([]int, error) {
	var todo []int
	for i := range files {
		if p, ok := prev[files[i].Path]; ok && p.Stat == files[i].Stat {
			files[i].Sum = p.Sum
			continue
		}
		todo = append(todo, i)
	}
	if len(todo) == 0 {
		return nil, nil
	}
	workers := min(h.workers, len(todo))
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	for range workers {
		wg.Go(func() {
			for {
				n := int(next.Add(1)) - 1
				if n >= len(todo) || ctx.Err() != nil {
					return
				}
				f := &files[todo[n]]
				sum, err := h.hashOne(filepath.Join(root, filepath.FromSlash(f.Path)), f.Stat)
				if err != nil {
					errOnce.Do(func() { first = err })
					return
				}
				f.Sum = sum
			}
		})
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return todo, nil
}

// Sum hashes one file (or link) outside of any memo.
func (h *Hasher) Sum(path string) (Sum128, Fingerprint, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return Sum128{}, Fingerprint{}, err
	}
	fp := FingerprintOf(fi)
	s, err := h.hashOne(path, fp)
	return s, fp, err
}

func (h *Hasher) hashOne(path string, fp Fingerprint) (Sum128, error) {
	if fp.IsLink() {
		target, err := os.Readlink(path)
		if err != nil {
			return Sum128{}, fmt.Errorf("read link: %w", err)
		}
		h.linksRead.Add(1)
		if h.alg != nil {
			return h.alg.sum([]byte(target)), nil
		}
		return Sum128Of([]byte(target)), nil
	}
	if fs.FileMode(fp.Mode)&fs.ModeType != 0 {
		// Never open a FIFO, socket or device: reading it could block
		// forever. Its type is all there is to hash.
		return Sum128Of([]byte(fs.FileMode(fp.Mode).String())), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return Sum128{}, fmt.Errorf("hash source: %w", err)
	}
	defer f.Close()
	bp := h.bufs.Get().(*[]byte)
	defer h.bufs.Put(bp)
	buf := *bp
	h.filesRead.Add(1)
	if h.alg != nil {
		a := h.alg.New()
		n, err := io.CopyBuffer(a, f, buf)
		h.bytesRead.Add(n)
		if err != nil {
			return Sum128{}, fmt.Errorf("hash source %s: %w", path, err)
		}
		var s Sum128
		copy(s[:], a.Sum(nil))
		return s, nil
	}
	// Large files are hashed straight from the page cache through a
	// mapping: read(2) would first copy every byte.
	if fp.Size >= mmapThreshold {
		if sum, ok := h.mapped(f, fp.Size); ok {
			h.bytesRead.Add(fp.Size)
			return sum, nil
		}
	}
	// Small files, the common case, are hashed in one call without the
	// streaming hasher's state.
	n, err := io.ReadFull(f, buf)
	h.bytesRead.Add(int64(n))
	switch err {
	case io.EOF, io.ErrUnexpectedEOF:
		return xxh3.Hash128(buf[:n]).Bytes(), nil
	case nil:
	default:
		return Sum128{}, fmt.Errorf("hash source %s: %w", path, err)
	}
	x := xxh3.New()
	x.Write(buf[:n])
	for {
		n, err := f.Read(buf)
		x.Write(buf[:n])
		h.bytesRead.Add(int64(n))
		if err == io.EOF {
			break
		}
		if err != nil {
			return Sum128{}, fmt.Errorf("hash source %s: %w", path, err)
		}
	}
	return x.Sum128().Bytes(), nil
}

// mmapThreshold is the size from which a file is mapped rather than read.
const mmapThreshold = 1 << 20

// mapped hashes a file of the given size through a read-only mapping. It
// reports false when the file cannot be mapped (the caller then reads it).
func (h *Hasher) mapped(f *os.File, size int64) (Sum128, bool) {
	if h.alg != nil || size > 1<<40 {
		return Sum128{}, false
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return Sum128{}, false
	}
	defer unix.Munmap(data)
	return xxh3.Hash128(data).Bytes(), true
}
