package artifacts

import (
	"context"
	"errors"
	"fmt"
	stdhash "hash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/musclemap/buildnet/hash"
	"github.com/musclemap/buildnet/state"
)

// Defaults of [Options].
const (
	DefaultMaxArtifactSize = 512 << 20
	DefaultMaxSize         = 10 << 30
)

// ErrNotFound is returned when a team has no artifact under a key.
var ErrNotFound = errors.New("artifacts: artifact not found")

// ErrTooLarge is returned for an upload larger than
// [Options.MaxArtifactSize].
var ErrTooLarge = errors.New("artifacts: artifact too large")

// ErrCorrupt is returned when a stored body is missing or fails
// verification. The artifacts using it have been dropped.
var ErrCorrupt = errors.New("artifacts: stored artifact corrupt")

// ErrInvalid is returned for a team or key the store does not accept.
var ErrInvalid = errors.New("artifacts: invalid team or key")

// ErrIncomplete is returned by [Store.Put] when the body ends before the
// size announced, or the reader fails: the client's fault, not the
// store's.
var ErrIncomplete = errors.New("artifacts: upload incomplete")

// Layout of a store directory.
const (
	blobsDir = "blobs"
	tmpDir   = "tmp"
)

// touchEvery is how stale an artifact's last-use time may get before a
// read records a new one: LRU order to the minute, without a database
// write for every read.
const touchEvery = time.Minute

// reasonMissing is why a blob that does not exist is bad.
const reasonMissing = "blob missing"

// evictBatch is how many artifacts eviction examines at a time.
const evictBatch = 64

// Options configures a [Store]. Dir and Index are required.
type Options struct {
	// Dir holds the blobs, such as <state dir>/artifacts. It is created
	// if needed and belongs to one Store at a time.
	Dir string
	// Index maps teams' keys to blobs; *state.DB implements it.
	Index state.ArtifactStore
	// MaxArtifactSize bounds one upload; 0 means
	// [DefaultMaxArtifactSize]. It is lowered to MaxSize if larger.
	MaxArtifactSize int64
	// MaxSize bounds the total size of the artifacts; 0 means
	// [DefaultMaxSize], a negative value no bound.
	MaxSize int64
	// MaxAge evicts artifacts not used for longer; 0 means never.
	MaxAge time.Duration
	// Logger receives warnings about corrupt blobs and failed writes;
	// nil discards them.
	Logger *slog.Logger
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Meta is what a client sends along with an artifact.
type Meta struct {
	// DurationMs is x-artifact-duration: how long the artifact took to
	// produce, in milliseconds.
	DurationMs int64
	// Tag is x-artifact-tag, kept and returned verbatim.
	Tag string
}

// Stats describes a store and counts its work since it was opened.
type Stats struct {
	Entries         int64 `json:"entries"`           // artifacts held
	Bytes           int64 `json:"bytes"`             // their total size
	MaxSize         int64 `json:"max_size"`          // bound on Bytes; 0 for none
	MaxArtifactSize int64 `json:"max_artifact_size"` // bound on one artifact
	Gets            int64 `json:"gets"`              // GET and HEAD lookups
	Puts            int64 `json:"puts"`              // artifacts stored
	Hits            int64 `json:"hits"`              // lookups that found a sound artifact
	Misses          int64 `json:"misses"`            // lookups that did not, corrupt ones included
	BytesIn         int64 `json:"bytes_in"`          // artifact bytes stored
	BytesOut        int64 `json:"bytes_out"`         // artifact bytes served
	Rejected        int64 `json:"rejected"`          // uploads refused: too large, invalid, incomplete, storage failure
	Denied          int64 `json:"denied"`            // uploads refused for want of the build role (see CountDenied)
	Corrupt         int64 `json:"corrupt"`           // blobs found missing or corrupt, and dropped
	Evictions       int64 `json:"evictions"`         // artifacts evicted for size or age
	Events          int64 `json:"events"`            // usage events clients reported
}

// EvictStats reports what [Store.Evict] removed.
type EvictStats struct {
	Entries int   `json:"entries"`
	Bytes   int64 `json:"bytes"`
}

// Store is the artifact store of a remote cache server. It is safe for
// concurrent use; one Store at a time may use a directory and its index.
type Store struct {
	dir     string
	index   state.ArtifactStore
	maxOne  int64
	maxSize int64 // 0: none
	maxAge  time.Duration
	log     *slog.Logger
	now     func() time.Time
	bufs    sync.Pool // *[]byte copy buffers

	// evictMu serialises evictions.
	evictMu sync.Mutex

	// mu serialises changes to the index with the blob files they
	// concern, so that a blob is never deleted while an upload commits
	// an artifact using it; it guards totals.
	mu     sync.Mutex
	totals state.ArtifactTotals

	gets, puts, hits, misses, bytesIn, bytesOut  atomic.Int64
	rejected, denied, corrupt, evictions, events atomic.Int64
}

// Open opens the store in opts.Dir, creating it if needed. It removes
// uploads left incomplete and blobs no artifact uses, then evicts down to
// the bounds.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.Dir == "" || opts.Index == nil {
		return nil, errors.New("open artifact store: directory and index are required")
	}
	abs, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("open artifact store %s: %w", opts.Dir, err)
	}
	s := &Store{dir: abs, index: opts.Index, maxOne: opts.MaxArtifactSize, maxSize: opts.MaxSize, maxAge: opts.MaxAge,
		log: opts.Logger, now: opts.Now}
	if s.maxOne <= 0 {
		s.maxOne = DefaultMaxArtifactSize
	}
	switch {
	case s.maxSize == 0:
		s.maxSize = DefaultMaxSize
	case s.maxSize < 0:
		s.maxSize = 0
	}
	if s.maxSize > 0 && s.maxOne > s.maxSize {
		s.maxOne = s.maxSize
	}
	if s.maxAge < 0 {
		s.maxAge = 0
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With(keyComponent, "artifacts")
	if s.now == nil {
		s.now = time.Now
	}
	s.bufs.New = func() any { b := make([]byte, 64<<10); return &b }
	// Uploads in progress when the previous process died are garbage.
	if err := os.RemoveAll(filepath.Join(abs, tmpDir)); err != nil {
		return nil, fmt.Errorf("open artifact store %s: %w", opts.Dir, err)
	}
	for _, sub := range []string{blobsDir, tmpDir} {
		if err := os.MkdirAll(filepath.Join(abs, sub), 0o755); err != nil {
			return nil, fmt.Errorf("open artifact store %s: %w", opts.Dir, err)
		}
	}
	if s.totals, err = s.index.ArtifactTotals(ctx); err != nil {
		return nil, fmt.Errorf("open artifact store %s: %w", opts.Dir, err)
	}
	if err := s.removeOrphans(ctx); err != nil {
		return nil, fmt.Errorf("open artifact store %s: %w", opts.Dir, err)
	}
	if _, err := s.Evict(ctx); err != nil {
		return nil, fmt.Errorf("open artifact store %s: %w", opts.Dir, err)
	}
	return s, nil
}

// Close releases the store. It holds no resources between calls, so it
// only reports nil; it exists so that a caller need not know that.
func (s *Store) Close() error { return nil }

// Dir returns the absolute path of the store's directory.
func (s *Store) Dir() string { return s.dir }

// MaxArtifactSize returns the bound on one upload.
func (s *Store) MaxArtifactSize() int64 { return s.maxOne }

// Stats returns the store's counters and totals.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	t := s.totals
	s.mu.Unlock()
	return Stats{
		Entries: t.Entries, Bytes: t.Bytes, MaxSize: s.maxSize, MaxArtifactSize: s.maxOne,
		Gets: s.gets.Load(), Puts: s.puts.Load(), Hits: s.hits.Load(), Misses: s.misses.Load(),
		BytesIn: s.bytesIn.Load(), BytesOut: s.bytesOut.Load(), Rejected: s.rejected.Load(), Denied: s.denied.Load(),
		Corrupt: s.corrupt.Load(), Evictions: s.evictions.Load(), Events: s.events.Load(),
	}
}

// validName reports whether s may name a team or a key: 1 to 128 ASCII
// letters, digits, '.', '_' or '-'.
func validName(s string) bool {
	if s == "" || len(s) > 128 || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

func checkNames(team, key string) error {
	switch {
	case !validName(team):
		return fmt.Errorf("%w: team %q: want 1 to 128 letters, digits, '.', '_' or '-'", ErrInvalid, team)
	case !validName(key):
		return fmt.Errorf("%w: key %q: want 1 to 128 letters, digits, '.', '_' or '-'", ErrInvalid, key)
	case key == "status":
		return fmt.Errorf("%w: key %q is reserved for /v8/artifacts/status", ErrInvalid, key)
	}
	return nil
}

// maxTag bounds x-artifact-tag: a base64 HMAC-SHA256 is 43 bytes.
const maxTag = 1024

// checkTag accepts what can be echoed as a header value: printable ASCII.
func checkTag(tag string) error {
	if len(tag) > maxTag {
		return fmt.Errorf("%w: tag longer than %d bytes", ErrInvalid, maxTag)
	}
	for i := 0; i < len(tag); i++ {
		if tag[i] < 0x20 || tag[i] > 0x7e {
			return fmt.Errorf("%w: tag holds a non-printable byte", ErrInvalid)
		}
	}
	return nil
}

// Stored describes an artifact [Store.Put] accepted.
type Stored struct {
	state.Artifact
	// Replaced is the blob of the artifact it replaced under the same
	// team and key; zero if there was none.
	Replaced hash.Digest
}

// Put stores what r yields as team's artifact under key, replacing any
// artifact stored there before. size is the length announced by the
// client, or -1 if unknown; a body larger than the bound fails with
// [ErrTooLarge], one that ends early or fails with [ErrIncomplete]. After
// the artifact is stored, older ones are evicted as the bounds require.
func (s *Store) Put(ctx context.Context, team, key string, r io.Reader, size int64, meta Meta) (Stored, error) {
	a, err := s.put(ctx, team, key, r, size, meta)
	if err != nil {
		s.rejected.Add(1)
		return Stored{}, fmt.Errorf("store artifact %s/%s: %w", team, key, err)
	}
	s.puts.Add(1)
	s.bytesIn.Add(a.Size)
	if _, err := s.Evict(ctx); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "cannot evict artifacts", slog.Any(keyErr, err))
	}
	return a, nil
}

func (s *Store) put(ctx context.Context, team, key string, r io.Reader, size int64, meta Meta) (Stored, error) {
	if err := checkNames(team, key); err != nil {
		return Stored{}, err
	}
	if err := checkTag(meta.Tag); err != nil {
		return Stored{}, err
	}
	if size > s.maxOne {
		return Stored{}, fmt.Errorf("%w: %d bytes, at most %d accepted", ErrTooLarge, size, s.maxOne)
	}
	f, err := os.CreateTemp(filepath.Join(s.dir, tmpDir), "put-")
	if err != nil {
		return Stored{}, fmt.Errorf("create upload file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	h := hash.New()
	bp := s.bufs.Get().(*[]byte)
	n, rerr := io.CopyBuffer(struct{ io.Writer }{io.MultiWriter(f, h)}, struct{ io.Reader }{io.LimitReader(r, s.maxOne+1)}, *bp)
	s.bufs.Put(bp)
	var werr error
	if rerr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	switch {
	case rerr != nil:
		// A failed write into the file is the store's fault; anything
		// else is the reader's.
		var pe *fs.PathError
		if errors.As(rerr, &pe) && pe.Path == tmp {
			return Stored{}, fmt.Errorf("write upload file: %w", rerr)
		}
		return Stored{}, fmt.Errorf("%w: read %d bytes: %w", ErrIncomplete, n, rerr)
	case n > s.maxOne:
		return Stored{}, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, s.maxOne)
	case size >= 0 && n != size:
		return Stored{}, fmt.Errorf("%w: %d bytes of %d", ErrIncomplete, n, size)
	case werr != nil:
		return Stored{}, fmt.Errorf("write upload file: %w", werr)
	}
	if err := ctx.Err(); err != nil {
		return Stored{}, err
	}
	now := s.now().UTC()
	a := state.Artifact{Team: team, Key: key, Blob: hash.FromHash(h), Size: n, DurationMs: max(meta.DurationMs, 0),
		Tag: meta.Tag, CreatedAt: now, LastUsed: now}
	replaced, err := s.commit(ctx, tmp, a)
	if err != nil {
		return Stored{}, err
	}
	s.log.LogAttrs(ctx, slog.LevelDebug, "artifact stored", slog.String(keyTeam, team), slog.String(keyKey, key),
		slog.String(keyBlob, a.Blob.String()), slog.Int64(keyBytes, n))
	return Stored{Artifact: a, Replaced: replaced}, nil
}

// commit moves the verified upload tmp into place as a's blob and indexes
// a. The blob is renamed over any existing copy, which repairs one that
// was damaged.
func (s *Store) commit(ctx context.Context, tmp string, a state.Artifact) (replacedBlob hash.Digest, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.blobPath(a.Blob)
	err = os.Rename(tmp, p)
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(filepath.Dir(p), 0o755); err == nil {
			err = os.Rename(tmp, p)
		}
	}
	if err != nil {
		return hash.Digest{}, fmt.Errorf("commit blob: %w", err)
	}
	old, replaced, err := s.index.PutArtifact(ctx, a)
	if err != nil {
		// The blob stays: it is either used by another artifact or
		// removed as an orphan at the next Open.
		return hash.Digest{}, err
	}
	s.totals.Bytes += a.Size
	if replaced {
		s.totals.Bytes -= old.Size
		if old.Blob != a.Blob {
			s.dropBlobIfUnused(ctx, old.Blob)
		}
		return old.Blob, nil
	}
	s.totals.Entries++
	return hash.Digest{}, nil
}

// dropBlobIfUnused deletes blob d unless an artifact uses it. s.mu is
// held.
func (s *Store) dropBlobIfUnused(ctx context.Context, d hash.Digest) {
	used, err := s.index.ArtifactBlobUsed(ctx, d)
	if err != nil || used {
		return // an orphan left by an error is removed at the next Open
	}
	if err := os.Remove(s.blobPath(d)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.LogAttrs(ctx, slog.LevelWarn, "cannot remove artifact blob", slog.String(keyBlob, d.String()), slog.Any(keyErr, err))
	}
}

// lookup returns the artifact of team under key, counting the lookup.
func (s *Store) lookup(ctx context.Context, team, key string) (state.Artifact, error) {
	if err := checkNames(team, key); err != nil {
		return state.Artifact{}, err
	}
	s.gets.Add(1)
	a, err := s.index.Artifact(ctx, team, key)
	if errors.Is(err, state.ErrNotFound) {
		s.misses.Add(1)
		return state.Artifact{}, ErrNotFound
	}
	return a, err
}

// Stat returns team's artifact under key, after checking that its blob
// is present with the right size (its content is verified only when it
// is read). A miss returns [ErrNotFound], a missing blob [ErrCorrupt].
func (s *Store) Stat(ctx context.Context, team, key string) (state.Artifact, error) {
	a, err := s.stat(ctx, team, key)
	if err != nil {
		return state.Artifact{}, fmt.Errorf("stat artifact %s/%s: %w", team, key, err)
	}
	return a, nil
}

func (s *Store) stat(ctx context.Context, team, key string) (state.Artifact, error) {
	a, err := s.lookup(ctx, team, key)
	if err != nil {
		return state.Artifact{}, err
	}
	fi, err := os.Stat(s.blobPath(a.Blob))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return state.Artifact{}, s.bad(ctx, a, reasonMissing, false)
	case err != nil:
		return state.Artifact{}, err
	case !fi.Mode().IsRegular() || fi.Size() != a.Size:
		return state.Artifact{}, s.bad(ctx, a, "blob has the wrong size", false)
	}
	s.used(ctx, a)
	return a, nil
}

// Get returns team's artifact under key and a reader of its body, which
// the caller closes. The reader verifies the body as it goes: if the blob
// is corrupt, the Read that would complete the body returns an error
// wrapping [ErrCorrupt] instead of the last bytes. A miss returns
// [ErrNotFound].
func (s *Store) Get(ctx context.Context, team, key string) (state.Artifact, io.ReadCloser, error) {
	a, rc, err := s.get(ctx, team, key)
	if err != nil {
		return state.Artifact{}, nil, fmt.Errorf("get artifact %s/%s: %w", team, key, err)
	}
	return a, rc, nil
}

func (s *Store) get(ctx context.Context, team, key string) (state.Artifact, io.ReadCloser, error) {
	a, err := s.lookup(ctx, team, key)
	if err != nil {
		return state.Artifact{}, nil, err
	}
	f, err := os.Open(s.blobPath(a.Blob))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return state.Artifact{}, nil, s.bad(ctx, a, reasonMissing, false)
	case err != nil:
		return state.Artifact{}, nil, err
	}
	s.used(ctx, a)
	v := &verifier{f: f, h: hash.New(), want: a.Blob, size: a.Size}
	v.onBad = func(reason string) error { return s.bad(context.WithoutCancel(ctx), a, reason, true) }
	v.onDone = func(n int64) { s.bytesOut.Add(n) }
	return a, v, nil
}

// used counts a hit and refreshes a's last use when it is stale.
func (s *Store) used(ctx context.Context, a state.Artifact) {
	s.hits.Add(1)
	now := s.now()
	if now.Sub(a.LastUsed) < touchEvery {
		return
	}
	if err := s.index.TouchArtifact(ctx, a.Team, a.Key, now.UTC()); err != nil {
		s.log.LogAttrs(ctx, slog.LevelDebug, "cannot record artifact use", slog.String(keyTeam, a.Team), slog.String(keyKey, a.Key), slog.Any(keyErr, err))
	}
}

// bad handles a's blob found missing or corrupt: every artifact using it
// is dropped, the blob deleted, and the corruption counted. When a itself
// is no longer indexed with that blob (evicted or replaced since it was
// looked up), the blob is not blamed and the result is a plain miss.
//
// hit says whether the lookup was counted as a hit: it becomes a miss.
func (s *Store) bad(ctx context.Context, a state.Artifact, reason string, hit bool) error {
	if hit {
		s.hits.Add(-1)
	}
	s.misses.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.index.Artifact(ctx, a.Team, a.Key)
	if err != nil || cur.Blob != a.Blob {
		return ErrNotFound
	}
	if reason != reasonMissing {
		// An upload of the same body may have repaired the blob since it
		// was opened.
		if d, n, err := hash.FileDigest(s.blobPath(a.Blob)); err == nil && d == a.Blob && n == a.Size {
			return fmt.Errorf("%w: %s: repaired since", ErrCorrupt, reason)
		}
	}
	s.corrupt.Add(1)
	dropped, err := s.index.DeleteArtifactsByBlob(ctx, a.Blob)
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelError, "cannot drop corrupt artifacts", slog.String(keyBlob, a.Blob.String()), slog.Any(keyErr, err))
	}
	for _, d := range dropped {
		s.totals.Entries--
		s.totals.Bytes -= d.Size
	}
	if err := os.Remove(s.blobPath(a.Blob)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.LogAttrs(ctx, slog.LevelWarn, "cannot remove corrupt blob", slog.String(keyBlob, a.Blob.String()), slog.Any(keyErr, err))
	}
	s.log.LogAttrs(ctx, slog.LevelWarn, "corrupt artifact dropped", slog.String(keyTeam, a.Team), slog.String(keyKey, a.Key),
		slog.String(keyBlob, a.Blob.String()), slog.String(keyReason, reason), slog.Int("artifacts", len(dropped)))
	return fmt.Errorf("%w: %s", ErrCorrupt, reason)
}

// Evict removes the least recently used artifacts until the total size
// is within [Options.MaxSize], and every artifact unused for longer than
// [Options.MaxAge].
func (s *Store) Evict(ctx context.Context) (EvictStats, error) {
	s.evictMu.Lock()
	defer s.evictMu.Unlock()
	var st EvictStats
	for {
		s.mu.Lock()
		over := s.maxSize > 0 && s.totals.Bytes > s.maxSize
		s.mu.Unlock()
		if !over && s.maxAge == 0 {
			return st, nil
		}
		batch, err := s.index.LeastRecentArtifacts(ctx, evictBatch)
		if err != nil {
			return st, fmt.Errorf("evict artifacts: %w", err)
		}
		oldest := s.now().Add(-s.maxAge)
		progress := false
		for _, a := range batch {
			s.mu.Lock()
			over := s.maxSize > 0 && s.totals.Bytes > s.maxSize
			old := s.maxAge > 0 && a.LastUsed.Before(oldest)
			if !over && !old {
				s.mu.Unlock()
				return st, nil
			}
			ok, err := s.index.DeleteArtifact(ctx, a.Team, a.Key, a.Blob)
			if err == nil && ok {
				s.totals.Entries--
				s.totals.Bytes -= a.Size
				s.dropBlobIfUnused(ctx, a.Blob)
				st.Entries++
				st.Bytes += a.Size
				s.evictions.Add(1)
				progress = true
			}
			s.mu.Unlock()
			if err != nil {
				return st, fmt.Errorf("evict artifacts: %w", err)
			}
		}
		if !progress {
			return st, nil
		}
	}
}

// removeOrphans deletes the blobs no artifact uses: left by a crash
// between writing a blob and indexing it, or between dropping an artifact
// and deleting its blob.
func (s *Store) removeOrphans(ctx context.Context) error {
	used, err := s.index.ArtifactBlobs(ctx)
	if err != nil {
		return err
	}
	keep := make(map[string]bool, len(used))
	for _, d := range used {
		keep[d.String()] = true
	}
	root := filepath.Join(s.dir, blobsDir)
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || keep[d.Name()] {
			return nil
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	})
}

func (s *Store) blobPath(d hash.Digest) string {
	h := d.String()
	return filepath.Join(s.dir, blobsDir, h[:2], h)
}

// verifier reads a blob of known size and digest. The Read that would
// complete the body checks that nothing follows and that the digest
// matches; if not, it returns no bytes and an error wrapping ErrCorrupt.
type verifier struct {
	f      *os.File
	h      stdhash.Hash
	want   hash.Digest
	size   int64
	n      int64
	done   bool
	err    error
	onBad  func(reason string) error
	onDone func(n int64)
}

func (v *verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if v.done {
		return 0, io.EOF
	}
	if rest := v.size - v.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	k, err := v.f.Read(p)
	v.h.Write(p[:k])
	v.n += int64(k)
	if v.n == v.size {
		var one [1]byte
		reason := ""
		if m, _ := v.f.Read(one[:]); m > 0 {
			reason = "blob longer than recorded"
		} else if hash.FromHash(v.h) != v.want {
			reason = "blob digest mismatch"
		}
		if reason != "" {
			v.err = v.onBad(reason)
			return 0, v.err
		}
		v.done = true
		v.onDone(v.n)
		return k, nil
	}
	switch {
	case err == io.EOF:
		v.err = v.onBad("blob shorter than recorded")
		return 0, v.err
	case err != nil:
		v.err = fmt.Errorf("read blob: %w", err)
		return k, v.err
	}
	return k, nil
}

func (v *verifier) Close() error { return v.f.Close() }
