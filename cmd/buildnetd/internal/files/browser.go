package files

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/musclemap/buildnet/state"
)

// Package is a workspace package as the browser sees it.
type Package struct {
	Name string `json:"name"`
	// Path is relative to the workspace root, slash-separated.
	Path string `json:"path"`
}

// VersionStore keeps the saved versions of files. *state.DB implements
// it.
type VersionStore interface {
	PutFileVersion(ctx context.Context, v state.FileVersion) (int64, error)
	FileVersions(ctx context.Context, path string) ([]state.FileVersion, error)
	FileVersion(ctx context.Context, path string, seq int64) (state.FileVersion, error)
	MoveFileVersions(ctx context.Context, from, to string) error
}

// Options configures a [Browser].
type Options struct {
	// Root is the workspace root. Required.
	Root string
	// Packages returns the workspace's packages, read at every call so
	// that a configuration reload is seen. Required.
	Packages func() []Package
	// Versions keeps saved versions; nil keeps none.
	Versions VersionStore
	// MaxFileBytes bounds the files shown and edited inline; 0 means 1 MiB.
	MaxFileBytes int64
	// Git is the git program; "" means "git" on PATH.
	Git string
}

// Browser serves the files of a workspace's packages. It is safe for
// concurrent use.
type Browser struct {
	root     *os.Root
	rootPath string
	pkgs     func() []Package
	versions VersionStore
	max      int64
	git      string
}

// DefaultMaxFileBytes is the default of Options.MaxFileBytes.
const DefaultMaxFileBytes = 1 << 20

// New opens the workspace root. Close releases it.
func New(opts Options) (*Browser, error) {
	if opts.Packages == nil {
		return nil, errors.New("files: no package list")
	}
	r, err := os.OpenRoot(opts.Root)
	if err != nil {
		return nil, fmt.Errorf("open workspace %s: %w", opts.Root, err)
	}
	b := &Browser{root: r, rootPath: opts.Root, pkgs: opts.Packages, versions: opts.Versions, max: opts.MaxFileBytes, git: opts.Git}
	if b.max <= 0 {
		b.max = DefaultMaxFileBytes
	}
	if b.git == "" {
		b.git = "git"
	}
	return b, nil
}

// Close releases the workspace root.
func (b *Browser) Close() error { return b.root.Close() }

// Packages returns the packages, sorted by path.
func (b *Browser) Packages() []Package {
	ps := slices.Clone(b.pkgs())
	for i := range ps {
		ps[i].Path = path.Clean(strings.TrimPrefix(ps[i].Path, "./"))
		if ps[i].Path == "." {
			ps[i].Path = ""
		}
	}
	slices.SortFunc(ps, func(a, b Package) int { return strings.Compare(a.Path, b.Path) })
	return ps
}

// resolve checks p and returns it cleaned with the package it is in: it
// must be inside a package, outside .git and .buildnet, and no component
// of it may be a symbolic link.
func (b *Browser) resolve(p string) (string, Package, error) {
	c, err := Clean(p)
	if err != nil {
		return "", Package{}, err
	}
	if hidden(c) {
		return "", Package{}, fmt.Errorf("%w: %s", ErrNotInPackage, c)
	}
	var pkg Package
	found := false
	for _, pk := range b.Packages() {
		// The deepest package containing the path.
		if within(c, pk.Path) && (!found || len(pk.Path) > len(pkg.Path)) {
			pkg, found = pk, true
		}
	}
	if !found {
		return "", Package{}, fmt.Errorf("%w: %s", ErrNotInPackage, c)
	}
	if err := b.noLinks(c); err != nil {
		return "", Package{}, err
	}
	return c, pkg, nil
}

// noLinks refuses a path any existing component of which is a symbolic
// link.
func (b *Browser) noLinks(c string) error {
	if c == "" {
		return nil
	}
	parts := strings.Split(c, "/")
	for i := range parts {
		sub := strings.Join(parts[:i+1], "/")
		fi, err := b.root.Lstat(sub)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return mapErr(err, sub)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("%w: %s", ErrSymlink, sub)
		}
	}
	return nil
}

// mapErr turns file system errors into the package's.
func mapErr(err error, p string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %s", ErrNotFound, p)
	case strings.Contains(err.Error(), "escapes from parent"):
		return fmt.Errorf("%w: %s", ErrOutside, p)
	case strings.Contains(err.Error(), "too many levels of symbolic links"):
		return fmt.Errorf("%w: %s", ErrSymlink, p)
	}
	return err
}

// Entry is one item of a directory listing.
type Entry struct {
	Name string `json:"name"`
	Path string `json:"path"`
	// Type is file, dir or symlink.
	Type    string    `json:"type"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mod_time"`
	// Package names the package a root entry is.
	Package string `json:"package,omitempty"`
}

// maxEntries bounds a directory listing.
const maxEntries = 5000

// List returns the entries of directory dir, directories first, then by
// name; dir "" lists the packages themselves. Symbolic links are listed,
// never followed.
func (b *Browser) List(ctx context.Context, dir string) ([]Entry, error) {
	c, err := Clean(dir)
	if err != nil {
		return nil, err
	}
	if c == "" {
		var out []Entry
		for _, p := range b.Packages() {
			e := Entry{Name: p.Name, Path: p.Path, Type: "dir", Package: p.Name}
			if fi, err := b.root.Lstat(orDot(p.Path)); err == nil {
				e.ModTime = fi.ModTime().UTC()
			}
			out = append(out, e)
		}
		return out, nil
	}
	c, _, err = b.resolve(c)
	if err != nil {
		return nil, err
	}
	f, err := b.root.Open(orDot(c))
	if err != nil {
		return nil, mapErr(err, c)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, mapErr(err, c)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%w: %s", ErrNotDir, c)
	}
	des, err := f.ReadDir(maxEntries)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, mapErr(err, c)
	}
	out := []Entry{}
	for _, de := range des {
		p := path.Join(c, de.Name())
		if hidden(p) {
			continue
		}
		e := Entry{Name: de.Name(), Path: p, Type: "file"}
		switch {
		case de.Type()&fs.ModeSymlink != 0:
			e.Type = "symlink"
		case de.IsDir():
			e.Type = "dir"
		}
		if info, err := de.Info(); err == nil {
			e.Size, e.ModTime = info.Size(), info.ModTime().UTC()
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(x, y Entry) int {
		if (x.Type == "dir") != (y.Type == "dir") {
			if x.Type == "dir" {
				return -1
			}
			return 1
		}
		return strings.Compare(x.Name, y.Name)
	})
	return out, nil
}

func orDot(p string) string {
	if p == "" {
		return "."
	}
	return p
}

// File describes a file and, when it is text within the size limit,
// holds its content.
type File struct {
	Path    string    `json:"path"`
	Package string    `json:"package"`
	Size    int64     `json:"size"`
	Mode    string    `json:"mode"`
	ModTime time.Time `json:"mod_time"`
	// SHA256 of the content: send it back as the base of an edit.
	SHA256 string `json:"sha256"`
	// Binary is set for content that is not UTF-8 text or holds a NUL.
	Binary bool `json:"binary"`
	// TooLarge is set when the file is over the size limit: no content.
	TooLarge bool `json:"too_large,omitempty"`
	// Content is the text, empty for binary and too large files.
	Content string `json:"content"`
}

// IsBinary reports whether data is not text: it holds a NUL byte or is
// not valid UTF-8.
func IsBinary(data []byte) bool {
	return bytes.IndexByte(data, 0) >= 0 || !utf8.Valid(data)
}

func digest(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// Read returns file p, with its content when it is text and not over the
// size limit, and the raw bytes (nil when too large).
func (b *Browser) Read(ctx context.Context, p string) (File, []byte, error) {
	c, pkg, err := b.resolve(p)
	if err != nil {
		return File{}, nil, err
	}
	if c == "" {
		return File{}, nil, fmt.Errorf("%w: the workspace root", ErrIsDir)
	}
	f, err := b.root.Open(c)
	if err != nil {
		return File{}, nil, mapErr(err, c)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return File{}, nil, mapErr(err, c)
	}
	if fi.IsDir() {
		return File{}, nil, fmt.Errorf("%w: %s", ErrIsDir, c)
	}
	out := File{Path: c, Package: pkg.Name, Size: fi.Size(), Mode: fi.Mode().Perm().String(), ModTime: fi.ModTime().UTC()}
	if fi.Size() > b.max {
		out.TooLarge = true
		return out, nil, nil
	}
	data, err := io.ReadAll(io.LimitReader(f, b.max+1))
	if err != nil {
		return File{}, nil, mapErr(err, c)
	}
	if int64(len(data)) > b.max {
		out.TooLarge = true
		return out, nil, nil
	}
	out.Size, out.SHA256, out.Binary = int64(len(data)), digest(data), IsBinary(data)
	if !out.Binary {
		out.Content = string(data)
	}
	return out, data, nil
}

// Open opens file p for reading (raw download), with its size.
func (b *Browser) Open(ctx context.Context, p string) (*os.File, File, error) {
	c, pkg, err := b.resolve(p)
	if err != nil {
		return nil, File{}, err
	}
	f, err := b.root.Open(orDot(c))
	if err != nil {
		return nil, File{}, mapErr(err, c)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, File{}, mapErr(err, c)
	}
	if fi.IsDir() {
		f.Close()
		return nil, File{}, fmt.Errorf("%w: %s", ErrIsDir, c)
	}
	return f, File{Path: c, Package: pkg.Name, Size: fi.Size(), Mode: fi.Mode().Perm().String(), ModTime: fi.ModTime().UTC()}, nil
}

// Write replaces (or creates) file p with data, atomically: a temporary
// file in the same directory is written, synced and renamed over it. When
// base is not "", the file must still have that SHA-256 (or not exist
// when base is "new"), else ErrConflict. The previous and the new content
// are kept as saved versions, recorded as written by actor.
func (b *Browser) Write(ctx context.Context, p string, data []byte, base, actor string) (File, error) {
	c, _, err := b.resolve(p)
	if err != nil {
		return File{}, err
	}
	if c == "" {
		return File{}, fmt.Errorf("%w: the workspace root", ErrIsDir)
	}
	if int64(len(data)) > b.max {
		return File{}, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(data), b.max)
	}
	if IsBinary(data) {
		return File{}, fmt.Errorf("%w: the new content is not UTF-8 text", ErrBinary)
	}
	mode := fs.FileMode(0o644)
	old, oldData, err := b.Read(ctx, c)
	switch {
	case errors.Is(err, ErrNotFound):
		if base != "" && base != "new" {
			return File{}, fmt.Errorf("%w: %s no longer exists", ErrConflict, c)
		}
		if err := b.root.MkdirAll(orDot(path.Dir(c)), 0o755); err != nil {
			return File{}, mapErr(err, c)
		}
		// A directory just made must not be a link either.
		if err := b.noLinks(c); err != nil {
			return File{}, err
		}
	case err != nil:
		return File{}, err
	default:
		if old.Binary || old.TooLarge {
			return File{}, fmt.Errorf("%w: %s cannot be edited inline", ErrBinary, c)
		}
		if base != "" && base != old.SHA256 {
			return File{}, fmt.Errorf("%w: %s", ErrConflict, c)
		}
		if fi, err := b.root.Lstat(c); err == nil {
			mode = fi.Mode().Perm()
		}
	}
	if b.versions != nil && oldData != nil {
		if err := b.saveVersion(ctx, c, oldData, ""); err != nil {
			return File{}, err
		}
	}
	if err := b.writeAtomic(c, data, mode); err != nil {
		return File{}, err
	}
	if b.versions != nil {
		if err := b.saveVersion(ctx, c, data, actor); err != nil {
			return File{}, err
		}
	}
	f, _, err := b.Read(ctx, c)
	return f, err
}

func (b *Browser) saveVersion(ctx context.Context, p string, data []byte, actor string) error {
	_, err := b.versions.PutFileVersion(ctx, state.FileVersion{Path: p, SHA256: digest(data), Data: data, Actor: actor})
	return err
}

// writeAtomic writes data to c through a synced temporary file renamed
// over it.
func (b *Browser) writeAtomic(c string, data []byte, mode fs.FileMode) error {
	var rb [6]byte
	_, _ = rand.Read(rb[:])
	tmp := path.Join(path.Dir(c), "."+path.Base(c)+".bn-tmp-"+hex.EncodeToString(rb[:]))
	f, err := b.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return mapErr(err, c)
	}
	ok := false
	defer func() {
		if !ok {
			_ = b.root.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", c, err)
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", c, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", c, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", c, err)
	}
	if err := b.root.Rename(tmp, c); err != nil {
		return mapErr(err, c)
	}
	ok = true
	if d, err := b.root.Open(orDot(path.Dir(c))); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// Move moves file from to to; both must be inside packages (the same or
// different ones), to must not exist. Its saved versions move with it.
func (b *Browser) Move(ctx context.Context, from, to string) (File, error) {
	src, _, err := b.resolve(from)
	if err != nil {
		return File{}, err
	}
	dst, _, err := b.resolve(to)
	if err != nil {
		return File{}, err
	}
	if src == "" || dst == "" {
		return File{}, fmt.Errorf("%w: cannot move the workspace root", ErrBadPath)
	}
	fi, err := b.root.Lstat(src)
	if err != nil {
		return File{}, mapErr(err, src)
	}
	if fi.IsDir() {
		return File{}, fmt.Errorf("%w: %s (only files move)", ErrIsDir, src)
	}
	if _, err := b.root.Lstat(dst); err == nil {
		return File{}, fmt.Errorf("%w: %s", ErrExists, dst)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return File{}, mapErr(err, dst)
	}
	if err := b.root.MkdirAll(orDot(path.Dir(dst)), 0o755); err != nil {
		return File{}, mapErr(err, dst)
	}
	if err := b.noLinks(dst); err != nil {
		return File{}, err
	}
	if err := b.root.Rename(src, dst); err != nil {
		return File{}, mapErr(err, src)
	}
	if b.versions != nil {
		if err := b.versions.MoveFileVersions(ctx, src, dst); err != nil {
			return File{}, err
		}
	}
	f, _, err := b.Read(ctx, dst)
	return f, err
}

// Commit is one entry of a file's git history.
type Commit struct {
	Hash    string    `json:"hash"`
	Author  string    `json:"author"`
	Email   string    `json:"email"`
	Time    time.Time `json:"time"`
	Subject string    `json:"subject"`
}

// gitRun runs git with args in the workspace root and returns stdout.
func (b *Browser) gitRun(ctx context.Context, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	full := append([]string{"-c", "core.fsmonitor=false", "-c", "core.quotepath=false", "--no-pager"}, args...)
	cmd := exec.CommandContext(ctx, b.git, full...)
	cmd.Dir = b.rootPath
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_OPTIONAL_LOCKS=0", "LC_ALL=C")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if errors.Is(err, exec.ErrNotFound) || strings.Contains(msg, "not a git repository") {
			return nil, ErrNoGit
		}
		return nil, fmt.Errorf("git %s: %w: %s", args[0], err, msg)
	}
	return out, nil
}

// GitShow returns the content of file p at revision rev ("" means HEAD),
// or ErrNotFound when the file is not in that revision.
func (b *Browser) GitShow(ctx context.Context, p, rev string) ([]byte, error) {
	c, _, err := b.resolve(p)
	if err != nil {
		return nil, err
	}
	if rev == "" {
		rev = "HEAD"
	}
	if err := checkRev(rev); err != nil {
		return nil, err
	}
	// HEAD:./path is relative to the working directory, the root, which
	// may be below the repository's top.
	out, err := b.gitRun(ctx, "show", rev+":./"+c)
	if err != nil {
		if errors.Is(err, ErrNoGit) {
			return nil, err
		}
		if strings.Contains(err.Error(), "does not exist") || strings.Contains(err.Error(), "exists on disk, but not in") ||
			strings.Contains(err.Error(), "invalid object name") || strings.Contains(err.Error(), "bad revision") {
			return nil, fmt.Errorf("%w: %s at %s", ErrNotFound, c, rev)
		}
		return nil, err
	}
	return out, nil
}

// checkRev refuses revisions that could be read as options or ranges.
func checkRev(rev string) error {
	if rev == "" || strings.HasPrefix(rev, "-") || strings.ContainsAny(rev, ": \t\n\x00") || strings.Contains(rev, "..") {
		return fmt.Errorf("%w: revision %q", ErrBadPath, rev)
	}
	return nil
}

// GitLog returns the commits that changed file p, newest first, following
// renames, at most limit (0 means 100).
func (b *Browser) GitLog(ctx context.Context, p string, limit int) ([]Commit, error) {
	c, _, err := b.resolve(p)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = 100
	}
	out, err := b.gitRun(ctx, "log", "--follow", "-n", strconv.Itoa(limit), "--format=%H%x1f%an%x1f%ae%x1f%aI%x1f%s%x1e", "--", c)
	if err != nil {
		return nil, err
	}
	commits := []Commit{}
	for rec := range strings.SplitSeq(string(out), "\x1e") {
		rec = strings.TrimSpace(rec)
		if rec == "" {
			continue
		}
		f := strings.Split(rec, "\x1f")
		if len(f) != 5 {
			continue
		}
		t, _ := time.Parse(time.RFC3339, f[3])
		commits = append(commits, Commit{Hash: f[0], Author: f[1], Email: f[2], Time: t.UTC(), Subject: f[4]})
	}
	return commits, nil
}

// content returns one side of a diff: "working" (or ""), "git" or
// "git:REV", or "version:SEQ".
func (b *Browser) content(ctx context.Context, p, side string) ([]byte, error) {
	switch {
	case side == "" || side == "working":
		_, data, err := b.Read(ctx, p)
		if errors.Is(err, ErrNotFound) {
			return []byte{}, nil
		}
		if err == nil && data == nil {
			return nil, fmt.Errorf("%w: %s", ErrTooLarge, p)
		}
		return data, err
	case side == "git" || strings.HasPrefix(side, "git:"):
		data, err := b.GitShow(ctx, p, strings.TrimPrefix(strings.TrimPrefix(side, "git"), ":"))
		if errors.Is(err, ErrNotFound) {
			return []byte{}, nil // not committed yet: all added
		}
		return data, err
	case strings.HasPrefix(side, "version:"):
		if b.versions == nil {
			return nil, fmt.Errorf("%w: no saved versions", ErrNotFound)
		}
		seq, err := strconv.ParseInt(strings.TrimPrefix(side, "version:"), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: version %q", ErrBadPath, side)
		}
		c, _, err := b.resolve(p)
		if err != nil {
			return nil, err
		}
		v, err := b.versions.FileVersion(ctx, c, seq)
		if errors.Is(err, state.ErrNotFound) {
			return nil, fmt.Errorf("%w: version %d of %s", ErrNotFound, seq, c)
		}
		return v.Data, err
	}
	return nil, fmt.Errorf("%w: diff side %q: want working, git[:REV] or version:N", ErrBadPath, side)
}

// Diff compares two versions of file p: from and to are each "working"
// (the file on disk), "git" or "git:REV" (HEAD by default), or
// "version:SEQ" (a saved version). A file missing on one side is empty
// there.
func (b *Browser) Diff(ctx context.Context, p, from, to string) (Diff, error) {
	c, _, err := b.resolve(p)
	if err != nil {
		return Diff{}, err
	}
	if from == "" {
		from = "git"
	}
	if to == "" {
		to = "working"
	}
	old, err := b.content(ctx, c, from)
	if err != nil {
		return Diff{}, err
	}
	cur, err := b.content(ctx, c, to)
	if err != nil {
		return Diff{}, err
	}
	name := func(side string) string {
		if side == "working" {
			return "b/" + c
		}
		return "a/" + c + " (" + side + ")"
	}
	if IsBinary(old) || IsBinary(cur) {
		return Diff{From: from, To: to, Binary: true, Changed: !bytes.Equal(old, cur), Hunks: []Hunk{}}, nil
	}
	d := TextDiff(name(from), name(to), string(old), string(cur))
	d.From, d.To = from, to
	return d, nil
}

// Versions lists the saved versions of file p, newest first.
func (b *Browser) Versions(ctx context.Context, p string) ([]state.FileVersion, error) {
	c, _, err := b.resolve(p)
	if err != nil {
		return nil, err
	}
	if b.versions == nil {
		return []state.FileVersion{}, nil
	}
	return b.versions.FileVersions(ctx, c)
}
