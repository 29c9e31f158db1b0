package buildnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/musclemap/buildnet/hash"
	"github.com/musclemap/buildnet/state"
)

// InputManifest lists everything that went into a package's input digest.
// Environment values appear only as keyed hashes: the manifest never holds
// a value, and the hash cannot be reversed without the workspace's key.
type InputManifest struct {
	Version   int         `json:"version"`
	Package   string      `json:"package"`
	Digest    string      `json:"digest"`
	Command   string      `json:"command"`
	Hooks     Hooks       `json:"hooks,omitzero"`
	OutputDir string      `json:"output_dir"`
	Files     []InputFile `json:"files"`
	Env       []InputEnv  `json:"env"`
	Globals   []InputFile `json:"global_inputs"`
	Deps      []InputDep  `json:"dependencies"`
}

// InputFile is one source or global input: its path (relative to the
// package, or to the root with a leading slash), content hash and kind.
type InputFile struct {
	Path string `json:"path"`
	Hash string `json:"hash"`
	Exec bool   `json:"exec,omitempty"`
	Link bool   `json:"link,omitempty"`
}

// InputEnv is one hashed environment variable.
type InputEnv struct {
	Name string `json:"name"`
	Set  bool   `json:"set"`
	Hash string `json:"hash,omitempty"` // keyed hash of the value
}

// InputDep is one direct dependency and its input digest.
type InputDep struct {
	Name   string `json:"name"`
	Digest string `json:"digest"`
}

const manifestVersion = 1

// manifest builds the input manifest of p for this run.
func (r *run) manifest(p *Package, digest hash.Digest, sources []hash.File, deps []depDigest) *InputManifest {
	m := &InputManifest{
		Version: manifestVersion, Package: p.Name, Digest: digest.String(),
		Command: p.BuildCmd, Hooks: p.Hooks, OutputDir: p.relToPackage(p.OutputDir),
		Files: make([]InputFile, 0, len(sources)), Env: []InputEnv{}, Globals: []InputFile{}, Deps: []InputDep{},
	}
	for _, f := range sources {
		m.Files = append(m.Files, InputFile{Path: p.relToPackage(f.Path), Hash: f.Sum.String(), Exec: f.Stat.Executable() && !f.Stat.IsLink(), Link: f.Stat.IsLink()})
	}
	slices.SortFunc(m.Files, func(a, b InputFile) int { return strings.Compare(a.Path, b.Path) })
	for _, n := range r.envNames(p) {
		v, ok := r.e.envMap[n]
		ie := InputEnv{Name: n, Set: ok}
		if ok {
			ie.Hash = hash.Keyed(r.secret, []byte(v)).Short()
		}
		m.Env = append(m.Env, ie)
	}
	for _, f := range r.globalFiles {
		m.Globals = append(m.Globals, InputFile{Path: f.Path, Hash: f.Sum.String()})
	}
	for _, d := range deps {
		m.Deps = append(m.Deps, InputDep{Name: d.name, Digest: d.digest.String()})
	}
	return m
}

// manifestFor returns the manifest behind digest: from this run when it
// computed it, else from the store.
func (r *run) manifestFor(ctx context.Context, digest string) (*InputManifest, error) {
	r.mu.Lock()
	m, ok := r.manifests[digest]
	r.mu.Unlock()
	if ok {
		return m, nil
	}
	return r.e.loadManifest(ctx, digest)
}

func (e *Engine) loadManifest(ctx context.Context, digest string) (*InputManifest, error) {
	d, err := hash.ParseDigest(digest)
	if err != nil {
		return nil, err
	}
	_, data, err := e.Store().Manifest(ctx, d)
	if err != nil {
		return nil, err
	}
	m := new(InputManifest)
	if err := json.Unmarshal(data, m); err != nil {
		return nil, fmt.Errorf("decode manifest %s: %w", d.Short(), err)
	}
	return m, nil
}

// maxDiffDepth bounds how far dependency_changed reasons recurse.
const maxDiffDepth = 16

// diffManifests names every difference between an old and a new manifest.
// load finds the manifests of dependencies, to explain their changes too.
func diffManifests(ctx context.Context, old, cur *InputManifest, load func(context.Context, string) (*InputManifest, error), depth int) []Reason {
	var rs []Reason
	if old.Command != cur.Command {
		rs = append(rs, Reason{Kind: ReasonCommandChanged, Name: "build_cmd"})
	}
	if old.Hooks.PreBuild != cur.Hooks.PreBuild {
		rs = append(rs, Reason{Kind: ReasonCommandChanged, Name: "pre_build"})
	}
	if old.Hooks.PostBuild != cur.Hooks.PostBuild {
		rs = append(rs, Reason{Kind: ReasonCommandChanged, Name: "post_build"})
	}
	if old.OutputDir != cur.OutputDir {
		rs = append(rs, Reason{Kind: ReasonCommandChanged, Name: "output_dir"})
	}
	rs = append(rs, diffFiles(old.Files, cur.Files, false)...)
	oldEnv := map[string]InputEnv{}
	for _, e := range old.Env {
		oldEnv[e.Name] = e
	}
	seen := map[string]bool{}
	for _, e := range cur.Env {
		seen[e.Name] = true
		if o, ok := oldEnv[e.Name]; !ok || o != e {
			rs = append(rs, Reason{Kind: ReasonEnvChanged, Name: e.Name})
		}
	}
	for _, e := range old.Env {
		if !seen[e.Name] {
			rs = append(rs, Reason{Kind: ReasonEnvChanged, Name: e.Name})
		}
	}
	rs = append(rs, diffFiles(old.Globals, cur.Globals, true)...)
	oldDeps := map[string]string{}
	for _, d := range old.Deps {
		oldDeps[d.Name] = d.Digest
	}
	for _, d := range cur.Deps {
		od, ok := oldDeps[d.Name]
		delete(oldDeps, d.Name)
		switch {
		case !ok:
			rs = append(rs, Reason{Kind: ReasonDependencyChanged, Dependency: d.Name, Message: "new dependency"})
		case od != d.Digest:
			r := Reason{Kind: ReasonDependencyChanged, Dependency: d.Name}
			if depth < maxDiffDepth {
				om, err1 := load(ctx, od)
				nm, err2 := load(ctx, d.Digest)
				if err1 == nil && err2 == nil {
					r.Reasons = diffManifests(ctx, om, nm, load, depth+1)
				} else {
					r.Message = "the earlier manifest is no longer kept"
				}
			}
			rs = append(rs, r)
		}
	}
	for _, name := range sortedKeys(oldDeps) {
		rs = append(rs, Reason{Kind: ReasonDependencyChanged, Dependency: name, Message: "dependency removed"})
	}
	if len(rs) == 0 && old.Digest != cur.Digest {
		rs = append(rs, Reason{Kind: ReasonInputsChanged, Message: "the digest recipe changed (new BuildNet version)"})
	}
	return rs
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func diffFiles(old, cur []InputFile, global bool) []Reason {
	om := make(map[string]InputFile, len(old))
	for _, f := range old {
		om[f.Path] = f
	}
	var rs []Reason
	add := func(kind ReasonKind, path string) {
		if global {
			kind = ReasonGlobalInputChanged
		}
		rs = append(rs, Reason{Kind: kind, Path: path})
	}
	for _, f := range cur {
		o, ok := om[f.Path]
		delete(om, f.Path)
		switch {
		case !ok:
			add(ReasonFileAdded, f.Path)
		case o.Hash != f.Hash || o.Link != f.Link:
			add(ReasonFileChanged, f.Path)
		case o.Exec != f.Exec:
			add(ReasonModeChanged, f.Path)
		}
	}
	removed := make([]string, 0, len(om))
	for p := range om {
		removed = append(removed, p)
	}
	slices.Sort(removed)
	for _, p := range removed {
		add(ReasonFileRemoved, p)
	}
	return rs
}

// Explanation answers "why did this package get this tier?".
type Explanation struct {
	Package string   `json:"package"`
	BuildID string   `json:"build_id"`
	Tier    Tier     `json:"tier,omitempty"`
	Status  Status   `json:"status"`
	Digest  string   `json:"digest,omitempty"`
	Since   string   `json:"since,omitempty"` // the build compared with, when asked
	Reasons []Reason `json:"reasons"`
}

// ErrNeverBuilt is returned by [Engine.Why] for a package with no recorded
// build.
var ErrNeverBuilt = errors.New("buildnet: package has not been built yet")

// Why explains the tier pkg got in its last build. With since (a build id),
// it instead lists every difference between the package's inputs in that
// build and in its last one.
func (e *Engine) Why(ctx context.Context, pkg, since string) (*Explanation, error) {
	if !e.Graph().Has(pkg) {
		return nil, e.unknown(pkg)
	}
	builds, _, err := e.Store().Builds(ctx, state.Query{Package: pkg, Limit: 1})
	if err != nil {
		return nil, fmt.Errorf("why %s: %w", pkg, err)
	}
	if len(builds) == 0 {
		return nil, fmt.Errorf("why %s: %w", pkg, ErrNeverBuilt)
	}
	b := builds[0]
	res, _ := findResult(b, pkg)
	ex := &Explanation{Package: pkg, BuildID: b.ID, Tier: Tier(res.Tier), Status: Status(res.Status), Reasons: decodeReasons(res.Reason)}
	if !res.Digest.IsZero() {
		ex.Digest = res.Digest.String()
	}
	if since == "" {
		return ex, nil
	}
	old, err := e.Store().Build(ctx, since)
	if err != nil {
		return nil, fmt.Errorf("why %s --since %s: %w", pkg, since, ErrBuildNotFound)
	}
	oldRes, ok := findResult(old, pkg)
	if !ok || oldRes.Digest.IsZero() {
		return nil, fmt.Errorf("why %s --since %s: %w: the package has no digest in that build", pkg, since, ErrBuildNotFound)
	}
	ex.Since = since
	ex.Reasons, err = e.Diff(ctx, oldRes.Digest.String(), ex.Digest)
	if err != nil {
		return nil, err
	}
	return ex, nil
}

// Diff lists every difference between the inputs behind two digests of
// the same package (or of two packages).
func (e *Engine) Diff(ctx context.Context, a, b string) ([]Reason, error) {
	am, err := e.loadManifest(ctx, a)
	if err != nil {
		return nil, fmt.Errorf("diff: manifest %s: %w", a, err)
	}
	bm, err := e.loadManifest(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("diff: manifest %s: %w", b, err)
	}
	rs := diffManifests(ctx, am, bm, e.loadManifest, 0)
	if rs == nil {
		rs = []Reason{}
	}
	return rs, nil
}

// Manifest returns the input manifest stored behind a digest.
func (e *Engine) Manifest(ctx context.Context, digest string) (*InputManifest, error) {
	return e.loadManifest(ctx, digest)
}

func findResult(b state.Build, pkg string) (state.PackageResult, bool) {
	for _, r := range b.Packages {
		if r.Package == pkg {
			return r, true
		}
	}
	return state.PackageResult{}, false
}

// encodeReasons is the stored form of a result's reasons.
func encodeReasons(rs []Reason) string {
	if len(rs) == 0 {
		return ""
	}
	b, err := json.Marshal(rs)
	if err != nil {
		return ""
	}
	return string(b)
}

func decodeReasons(s string) []Reason {
	rs := []Reason{}
	if s == "" {
		return rs
	}
	if err := json.Unmarshal([]byte(s), &rs); err != nil {
		return []Reason{{Kind: ReasonKind(s)}}
	}
	return rs
}

func (e *Engine) unknown(pkg string) error {
	g := e.Graph()
	msg := fmt.Sprintf("%q", pkg)
	if s := g.Similar(pkg, 3); len(s) > 0 {
		msg += " (did you mean " + strings.Join(s, ", ") + "?)"
	}
	return fmt.Errorf("%w %s", ErrUnknownPackage, msg)
}
