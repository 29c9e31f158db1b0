package buildnet

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/musclemap/buildnet/graph"
)

// ConfigFile is the workspace configuration's location relative to the
// workspace root.
const ConfigFile = ".buildnet/config.json"

// DefaultMaxCacheSize is the cache size bound used when none is configured.
const DefaultMaxCacheSize = 10 << 30

// ErrConfig is matched by every configuration error.
var ErrConfig = errors.New("buildnet: invalid configuration")

// ConfigError describes what is wrong with a configuration and where.
type ConfigError struct {
	File  string // the file read, if any
	Line  int    // 1-based; 0 when not tied to a position
	Col   int
	Field string // e.g. packages[2].output_dir
	Msg   string
	Err   error // underlying cause, if any
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d:%d", e.Line, e.Col)
		}
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Is reports whether target is [ErrConfig].
func (e *ConfigError) Is(target error) bool { return target == ErrConfig }

// Unwrap returns the underlying cause.
func (e *ConfigError) Unwrap() error { return e.Err }

// Workspace is the content of .buildnet/config.json. Zero values mean the
// defaults documented on each field.
type Workspace struct {
	// Version of the file format; 0 or 1.
	Version int `json:"version"`
	// Concurrency is how many build commands run at once; 0 means the
	// number of CPUs.
	Concurrency int `json:"concurrency,omitempty"`
	// GlobalInputs are patterns of files whose content every package's
	// digest includes (lockfiles, root tool configs).
	GlobalInputs []string `json:"global_inputs,omitempty"`
	// Env names environment variables whose values every package's digest
	// includes. Values are hashed, never stored.
	Env []string `json:"env,omitempty"`
	// Cache configures the local cache.
	Cache CacheConfig `json:"cache"`
	// History bounds what the state keeps.
	History HistoryConfig `json:"history,omitzero"`
	// Hash names the content hash of source files, from the engine's
	// [Registry]; "" means xxh3.
	Hash string `json:"hash,omitempty"`
	// Packages lists the workspace's packages. Required.
	Packages []Package `json:"packages"`
	// Alerts configures alert rules and notification channels; the engine
	// keeps it as is, and package alert reads it.
	Alerts json.RawMessage `json:"alerts,omitempty"`
}

// CacheConfig configures the local content-addressed cache.
type CacheConfig struct {
	// Dir is the cache directory, relative to the root unless absolute;
	// "" means .buildnet/cache.
	Dir string `json:"dir,omitempty"`
	// MaxSize bounds the cache ("10GB", "500MB", or bytes); "" means 10GB.
	MaxSize ByteSize `json:"max_size,omitempty"`
	// MaxAge evicts entries unused for longer ("168h"); "" means never.
	MaxAge Duration `json:"max_age,omitempty"`
	// Remote is a cache shared between machines; the zero value means
	// none. See [RemoteConfig].
	Remote RemoteConfig `json:"remote,omitzero"`
}

// HistoryConfig bounds the build history and the input manifests kept.
type HistoryConfig struct {
	// Builds is how many finished builds are kept; 0 means 1000.
	Builds int `json:"builds,omitempty"`
	// Manifests is how many input manifests are kept per package, for
	// `why` and `diff`; 0 means 20.
	Manifests int `json:"manifests,omitempty"`
}

func (h HistoryConfig) keepBuilds() int {
	if h.Builds <= 0 {
		return 1000
	}
	return h.Builds
}

func (h HistoryConfig) keepManifests() int {
	if h.Manifests <= 0 {
		return 20
	}
	return h.Manifests
}

// Package is one buildable package of the workspace.
type Package struct {
	// Name identifies the package. Required and unique.
	Name string `json:"name"`
	// Path is the package directory relative to the root; build commands
	// run there. Required.
	Path string `json:"path"`
	// BuildCmd runs through sh -c. Required.
	BuildCmd string `json:"build_cmd"`
	// Dependencies name packages that must build first.
	Dependencies []string `json:"dependencies,omitempty"`
	// Sources are patterns relative to the root; empty means every file
	// under Path except OutputDir, node_modules and dot-folders.
	Sources []string `json:"sources,omitempty"`
	// OutputDir holds what the build produces; "" means <path>/dist.
	OutputDir string `json:"output_dir,omitempty"`
	// Env names more environment variables hashed for this package.
	Env []string `json:"env,omitempty"`
	// Hooks run around the build command and are part of the digest.
	Hooks Hooks `json:"hooks,omitzero"`
	// Runner names how commands run, from the engine's [Registry]; ""
	// means sh -c.
	Runner string `json:"runner,omitempty"`
}

// Hooks are shell commands run around a package's build command, in the
// package directory.
type Hooks struct {
	// PreBuild runs before the build command; its failure fails the package.
	PreBuild string `json:"pre_build,omitempty"`
	// PostBuild runs after a successful build command.
	PostBuild string `json:"post_build,omitempty"`
}

// ByteSize is a size in bytes that reads "10GB", "512MB", "1.5GiB" or a
// plain number from JSON.
type ByteSize int64

// sizeRE and envNameRE are compiled when first used: a command that
// never reads a size or an env name does not pay for them at start.
var sizeRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?I?B?)?\s*$`)
})

// ParseByteSize parses a size such as "10GB" (decimal and binary units are
// both taken as powers of 1024, as most tools do).
func ParseByteSize(s string) (ByteSize, error) {
	m := sizeRE().FindStringSubmatch(strings.ToUpper(s))
	if m == nil {
		return 0, fmt.Errorf("bad size %q: want a number with an optional unit such as 500MB or 10GB", s)
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("bad size %q: %w", s, err)
	}
	mult := 1.0
	switch strings.TrimSuffix(strings.TrimSuffix(m[2], "B"), "I") {
	case "K":
		mult = 1 << 10
	case "M":
		mult = 1 << 20
	case "G":
		mult = 1 << 30
	case "T":
		mult = 1 << 40
	}
	return ByteSize(f * mult), nil
}

// UnmarshalJSON accepts a number of bytes or a string with a unit.
func (b *ByteSize) UnmarshalJSON(data []byte) error {
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		if s == "" {
			*b = 0
			return nil
		}
		v, err := ParseByteSize(s)
		if err != nil {
			return err
		}
		*b = v
		return nil
	}
	var n int64
	if err := json.Unmarshal(data, &n); err != nil {
		return fmt.Errorf("bad size %s: want a number or a string such as \"10GB\"", data)
	}
	*b = ByteSize(n)
	return nil
}

// Duration is a time.Duration that reads "90s", "168h" or a number of
// seconds from JSON.
type Duration time.Duration

// UnmarshalJSON accepts a Go duration string or a number of seconds.
func (d *Duration) UnmarshalJSON(data []byte) error {
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		if s == "" {
			*d = 0
			return nil
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("bad duration %q: want e.g. \"90s\" or \"168h\"", s)
		}
		*d = Duration(v)
		return nil
	}
	var n float64
	if err := json.Unmarshal(data, &n); err != nil {
		return fmt.Errorf("bad duration %s: want seconds or a string such as \"168h\"", data)
	}
	*d = Duration(n * float64(time.Second))
	return nil
}

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// ParseWorkspace decodes and validates a configuration. file is used in
// error messages only. root is the workspace root against which paths are
// checked; "" skips the checks that need the file system.
func ParseWorkspace(data []byte, root, file string) (*Workspace, error) {
	ws := new(Workspace)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(ws); err != nil {
		return nil, jsonError(data, file, err)
	}
	if dec.More() {
		line, col := position(data, dec.InputOffset())
		return nil, &ConfigError{File: file, Line: line, Col: col, Msg: "unexpected data after the configuration object"}
	}
	if err := ws.Validate(root); err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) && ce.File == "" {
			ce.File = file
		}
		return nil, err
	}
	return ws, nil
}

// LoadWorkspace reads and validates <root>/.buildnet/config.json.
func LoadWorkspace(root string) (*Workspace, error) {
	file := filepath.Join(root, ConfigFile)
	data, err := os.ReadFile(file)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &ConfigError{File: file, Msg: "no configuration: run `buildnetd init` to create one from an npm, yarn or pnpm workspace", Err: err}
		}
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return ParseWorkspace(data, root, file)
}

func jsonError(data []byte, file string, err error) error {
	ce := &ConfigError{File: file, Err: err}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		ce.Line, ce.Col = position(data, se.Offset)
		ce.Msg = "malformed JSON: " + se.Error()
	case errors.As(err, &te):
		ce.Line, ce.Col = position(data, te.Offset)
		ce.Field = te.Field
		ce.Msg = fmt.Sprintf("wrong type: got JSON %s, want %s", te.Value, te.Type)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		ce.Line, ce.Col = position(data, int64(len(data)))
		ce.Msg = "malformed JSON: unexpected end of file"
	default:
		msg := err.Error()
		msg = strings.TrimPrefix(msg, "json: ")
		ce.Msg = msg
		if strings.HasPrefix(msg, "unknown field") {
			ce.Msg = msg + " (check the spelling; see docs/configuration.md)"
		}
	}
	return ce
}

func position(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	line, col = 1, 1
	for _, c := range data[:off] {
		if c == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}

var envNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })

// Validate checks the configuration and fills in defaults. root is the
// workspace root; "" skips the checks that need the file system.
func (ws *Workspace) Validate(root string) error {
	var rc *rootChecker
	if root != "" {
		rc = newRootChecker(root)
	}
	return ws.validate(rc)
}

func (ws *Workspace) validate(root *rootChecker) error {
	if ws.Version != 0 && ws.Version != 1 {
		return &ConfigError{Field: "version", Msg: fmt.Sprintf("unsupported version %d: this BuildNet reads version 1", ws.Version)}
	}
	ws.Version = 1
	if ws.Concurrency < 0 {
		return &ConfigError{Field: "concurrency", Msg: "must be 0 (number of CPUs) or more"}
	}
	if len(ws.Packages) == 0 {
		return &ConfigError{Field: "packages", Msg: "no packages: list at least one package with name, path and build_cmd"}
	}
	if ws.Cache.MaxSize < 0 {
		return &ConfigError{Field: "cache.max_size", Msg: "must not be negative"}
	}
	if err := ws.Cache.Remote.validate(); err != nil {
		return err
	}
	for i, e := range ws.Env {
		if !envNameRE().MatchString(e) {
			return &ConfigError{Field: fmt.Sprintf("env[%d]", i), Msg: fmt.Sprintf("%q is not an environment variable name", e)}
		}
	}
	for i, g := range ws.GlobalInputs {
		if err := checkPattern(root, g); err != nil {
			return &ConfigError{Field: fmt.Sprintf("global_inputs[%d]", i), Msg: err.Error()}
		}
	}
	nodes := make([]graph.Node, len(ws.Packages))
	for i := range ws.Packages {
		p := &ws.Packages[i]
		field := fmt.Sprintf("packages[%d]", i)
		if p.Name != "" {
			field = fmt.Sprintf("packages[%d] (%s)", i, p.Name)
		}
		if err := p.validate(root); err != nil {
			err.Field = field + "." + err.Field
			return err
		}
		nodes[i] = graph.Node{Name: p.Name, Deps: p.Dependencies}
	}
	if _, err := graph.New(nodes); err != nil {
		return &ConfigError{Field: "packages", Msg: err.Error(), Err: err}
	}
	return nil
}

func (p *Package) validate(root *rootChecker) *ConfigError {
	switch {
	case strings.TrimSpace(p.Name) == "":
		return &ConfigError{Field: "name", Msg: "missing: every package needs a name"}
	case strings.ContainsAny(p.Name, " \t\n/\\") && !strings.HasPrefix(p.Name, "@"):
		return &ConfigError{Field: "name", Msg: fmt.Sprintf("%q may not contain spaces or slashes", p.Name)}
	case p.Path == "":
		return &ConfigError{Field: "path", Msg: "missing: the package directory relative to the workspace root"}
	case strings.TrimSpace(p.BuildCmd) == "":
		return &ConfigError{Field: "build_cmd", Msg: "missing: the shell command that builds the package, e.g. \"npm run build\""}
	}
	clean, err := relPath(root, p.Path, true)
	if err != nil {
		return &ConfigError{Field: "path", Msg: err.Error()}
	}
	p.Path = clean
	if root != nil && !root.isDir(clean) {
		return &ConfigError{Field: "path", Msg: fmt.Sprintf("%q is not a directory under the workspace root", clean)}
	}
	if p.OutputDir == "" {
		p.OutputDir = path.Join(p.Path, "dist")
	}
	out, err := relPath(root, p.OutputDir, false)
	if err != nil {
		return &ConfigError{Field: "output_dir", Msg: err.Error()}
	}
	if out == "" || out == "." {
		return &ConfigError{Field: "output_dir", Msg: "may not be the workspace root"}
	}
	if out == p.Path {
		return &ConfigError{Field: "output_dir", Msg: "may not be the package directory itself: outputs would be their own sources"}
	}
	p.OutputDir = out
	for i, s := range p.Sources {
		if err := checkPattern(root, s); err != nil {
			return &ConfigError{Field: fmt.Sprintf("sources[%d]", i), Msg: err.Error()}
		}
	}
	for i, e := range p.Env {
		if !envNameRE().MatchString(e) {
			return &ConfigError{Field: fmt.Sprintf("env[%d]", i), Msg: fmt.Sprintf("%q is not an environment variable name", e)}
		}
	}
	return nil
}

// relPath cleans a root-relative path and checks that it stays inside the
// root, lexically and through any symbolic links that exist.
func relPath(root *rootChecker, p string, mustExist bool) (string, error) {
	if filepath.IsAbs(p) || strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("%q is absolute: paths are relative to the workspace root", p)
	}
	if strings.Contains(p, `\`) {
		return "", fmt.Errorf("%q: use forward slashes", p)
	}
	c := path.Clean(p)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("%q escapes the workspace root", p)
	}
	if c == "." {
		c = ""
	}
	if root != nil {
		if err := root.inside(c); err != nil {
			return "", fmt.Errorf("%q %w", p, err)
		}
	}
	return c, nil
}

// rootChecker answers whether root-relative paths stay inside the root
// through symbolic links, lstat-ing each directory once.
type rootChecker struct {
	root     string
	realRoot string
	rootErr  error
	seen     map[string]error // prefix -> nil when it is a plain dir or missing
	dirs     map[string]bool
}

func newRootChecker(root string) *rootChecker {
	rc := &rootChecker{root: root, seen: map[string]error{}, dirs: map[string]bool{}}
	rc.realRoot, rc.rootErr = filepath.EvalSymlinks(root)
	return rc
}

// inside checks every existing prefix of rel: a symbolic link among them
// must resolve inside the root.
func (rc *rootChecker) inside(rel string) error {
	if rc.rootErr != nil {
		return fmt.Errorf("cannot resolve the workspace root: %w", rc.rootErr)
	}
	if rel == "" {
		return nil
	}
	for i := 0; i <= len(rel); i++ {
		if i < len(rel) && rel[i] != '/' {
			continue
		}
		prefix := rel[:i]
		err, done := rc.seen[prefix]
		if !done {
			err = rc.check(prefix)
			rc.seen[prefix] = err
		}
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // nothing below a missing folder can be a link
			}
			return err
		}
	}
	return nil
}

func (rc *rootChecker) check(prefix string) error {
	abs := filepath.Join(rc.root, filepath.FromSlash(prefix))
	fi, err := os.Lstat(abs)
	if err != nil {
		return fs.ErrNotExist
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		rc.dirs[prefix] = fi.IsDir()
		return nil
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return fs.ErrNotExist // a dangling link resolves nowhere
	}
	r, err := filepath.Rel(rc.realRoot, real)
	if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return fmt.Errorf("resolves outside the workspace root through a symbolic link (to %s)", real)
	}
	if st, err := os.Stat(abs); err == nil {
		rc.dirs[prefix] = st.IsDir()
	}
	return nil
}

// isDir reports whether rel (already checked by inside) is a directory.
func (rc *rootChecker) isDir(rel string) bool {
	if rel == "" {
		return true
	}
	if d, ok := rc.dirs[rel]; ok {
		return d
	}
	fi, err := os.Stat(filepath.Join(rc.root, filepath.FromSlash(rel)))
	return err == nil && fi.IsDir()
}

func checkPattern(root *rootChecker, pat string) error {
	if pat == "" {
		return errors.New("empty pattern")
	}
	if !doublestar.ValidatePattern(pat) {
		return fmt.Errorf("%q is not a valid glob pattern", pat)
	}
	if strings.HasPrefix(pat, "!") {
		return fmt.Errorf("%q: negated patterns are not supported; exclude through output_dir or narrower patterns", pat)
	}
	base, _ := doublestar.SplitPattern(pat)
	for _, seg := range strings.Split(pat, "/") {
		if seg == ".." {
			return fmt.Errorf("%q escapes the workspace root", pat)
		}
	}
	if base == "." {
		base = ""
	}
	_, err := relPath(root, base, false)
	return err
}

// SaveWorkspace validates ws against root and writes it to
// <root>/.buildnet/config.json atomically (temporary file, fsync, rename):
// readers see the old file or the new one, never a mix.
func SaveWorkspace(root string, ws *Workspace) error {
	c := ws.clone()
	if err := c.Validate(root); err != nil {
		return err
	}
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("save configuration: %w", err)
	}
	file := filepath.Join(root, ConfigFile)
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return fmt.Errorf("save configuration: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".config-*.json")
	if err != nil {
		return fmt.Errorf("save configuration: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	if err != nil {
		return fmt.Errorf("save configuration: %w", err)
	}
	return nil
}
