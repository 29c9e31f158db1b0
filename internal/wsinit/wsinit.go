package wsinit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Package managers reported in [Workspace.Manager].
const (
	ManagerNPM  = "npm"
	ManagerYarn = "yarn"
	ManagerPNPM = "pnpm"
)

// Files Detect looks at in the workspace root.
const (
	packageJSON       = "package.json"
	pnpmWorkspaceYAML = "pnpm-workspace.yaml"
	pnpmLock          = "pnpm-lock.yaml"
	yarnLock          = "yarn.lock"
	npmLock           = "package-lock.json"
	npmShrinkwrap     = "npm-shrinkwrap.json"
)

// lockfile is a lockfile name and the package manager that writes it.
type lockfile struct{ file, manager string }

// lockfiles returns the lockfiles reported as global inputs, in the order of
// precedence used to pick the package manager.
func lockfiles() []lockfile {
	return []lockfile{
		{pnpmLock, ManagerPNPM},
		{yarnLock, ManagerYarn},
		{npmLock, ManagerNPM},
		{npmShrinkwrap, ManagerNPM},
	}
}

// Sentinel errors returned (wrapped) by [Detect]; test with errors.Is.
var (
	// ErrNoWorkspace means the root declares no workspace: there is no
	// pnpm-workspace.yaml and package.json has no "workspaces" field.
	ErrNoWorkspace = errors.New("wsinit: no workspace found")
	// ErrNoPackages means the workspace patterns matched no directory
	// holding a package.json.
	ErrNoPackages = errors.New("wsinit: workspace has no packages")
	// ErrMissingName means a workspace member's package.json has no "name".
	ErrMissingName = errors.New("wsinit: workspace member has no name")
	// ErrDuplicateName means two workspace members share a name.
	ErrDuplicateName = errors.New("wsinit: duplicate package name")
)

// Package is one workspace member, described with the fields of a package
// entry in .buildnet/config.json.
type Package struct {
	// Name is the "name" field of the member's package.json.
	Name string `json:"name"`
	// Path is the member's directory, slash-separated and relative to the
	// workspace root.
	Path string `json:"path"`
	// BuildCmd runs the member's "build" script with the workspace's
	// package manager ("npm run build", "yarn build" or "pnpm build"). It is
	// empty, and NoBuild is true, when the member has no build script.
	BuildCmd string `json:"build_cmd"`
	// NoBuild reports that the member has no "build" script.
	NoBuild bool `json:"-"`
	// Dependencies are the names of the workspace members listed in any of
	// the member's dependency fields (dependencies, devDependencies,
	// peerDependencies, optionalDependencies), whatever the version spec,
	// sorted and without duplicates.
	Dependencies []string `json:"dependencies"`
	// OutputDir is where the build probably writes, relative to the
	// workspace root: the outDir of tsconfig.json when the build script runs
	// tsc, else the top directory of "main" when it is a usual output
	// directory (build/, lib/, out/…), else <Path>/dist.
	OutputDir string `json:"output_dir"`
}

// Workspace is what [Detect] found.
type Workspace struct {
	// Manager is the package manager: "npm", "yarn" or "pnpm".
	Manager string `json:"manager"`
	// Packages are the workspace members sorted by Path.
	Packages []Package `json:"packages"`
	// GlobalInputs are the lockfiles present in the root, sorted.
	GlobalInputs []string `json:"global_inputs"`
}

// ManifestError reports a package.json (or other JSON file) that cannot be
// decoded, with the position of the problem.
type ManifestError struct {
	// Path is the file, slash-separated and relative to the workspace root.
	Path string
	// Line and Column locate the error (1-based); zero when unknown.
	Line, Column int
	// Err is the underlying decoding error.
	Err error
}

// Error returns "path:line:column: message".
func (e *ManifestError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %v", e.Path, e.Err)
	}
	return fmt.Sprintf("%s:%d:%d: %v", e.Path, e.Line, e.Column, e.Err)
}

// Unwrap returns the underlying decoding error.
func (e *ManifestError) Unwrap() error { return e.Err }

// Detect finds the workspace rooted at root and describes its members.
//
// The workspace is declared by pnpm-workspace.yaml when present, otherwise
// by the "workspaces" field of root/package.json. The package manager is
// chosen by lockfile (pnpm-lock.yaml, then yarn.lock), then by the
// "packageManager" field, then pnpm when pnpm-workspace.yaml exists, else
// npm. Patterns starting with "!" exclude directories.
//
// Errors wrap [ErrNoWorkspace], [ErrNoPackages], [ErrMissingName],
// [ErrDuplicateName], or are a [*ManifestError] for a malformed file.
func Detect(root string) (*Workspace, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("resolve workspace root %s: %w", root, err)
	}
	r, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("open workspace root: %w", err)
	}
	defer r.Close()

	rootManifest, hasRootManifest, err := readManifest(r, packageJSON)
	if err != nil {
		return nil, err
	}
	patterns, fromPNPM, err := workspacePatterns(r, rootManifest, hasRootManifest)
	if err != nil {
		return nil, err
	}
	if patterns == nil {
		what := "package.json has no \"workspaces\" field"
		if !hasRootManifest {
			what = "there is no package.json"
		}
		return nil, fmt.Errorf("%w in %s: looked for %s and for a \"workspaces\" field in %s, but %s",
			ErrNoWorkspace, abs, pnpmWorkspaceYAML, packageJSON, what)
	}

	ws := &Workspace{GlobalInputs: []string{}}
	for _, lf := range lockfiles() {
		if isFile(r, lf.file) {
			ws.GlobalInputs = append(ws.GlobalInputs, lf.file)
			if ws.Manager == "" {
				ws.Manager = lf.manager
			}
		}
	}
	if ws.Manager == "" && hasRootManifest {
		ws.Manager = managerFromField(rootManifest.PackageManager)
	}
	if ws.Manager == "" && fromPNPM {
		ws.Manager = ManagerPNPM
	}
	if ws.Manager == "" {
		ws.Manager = ManagerNPM
	}
	slices.Sort(ws.GlobalInputs)

	set, err := compilePatterns(patterns)
	if err != nil {
		return nil, err
	}
	dirs, err := memberDirs(r, set)
	if err != nil {
		return nil, err
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("%w: patterns %q matched no directory with a package.json", ErrNoPackages, patterns)
	}

	manifests := make([]*manifest, len(dirs))
	byName := make(map[string]string, len(dirs)) // name -> path
	for i, dir := range dirs {
		file := path.Join(dir, packageJSON)
		m, _, err := readManifest(r, file)
		if err != nil {
			return nil, err
		}
		if strings.TrimSpace(m.Name) == "" {
			return nil, fmt.Errorf("%w: %s", ErrMissingName, file)
		}
		if other, ok := byName[m.Name]; ok {
			return nil, fmt.Errorf("%w %q: %s and %s", ErrDuplicateName, m.Name, other, dir)
		}
		byName[m.Name] = dir
		manifests[i] = m
	}

	for i, dir := range dirs {
		m := manifests[i]
		p := Package{Name: m.Name, Path: dir, Dependencies: []string{}}
		build := m.Scripts["build"]
		if strings.TrimSpace(build) == "" {
			p.NoBuild = true
		} else {
			p.BuildCmd = buildCommand(ws.Manager)
		}
		for _, deps := range []map[string]string{m.Dependencies, m.DevDependencies, m.PeerDependencies, m.OptionalDependencies} {
			for name := range deps {
				if _, ok := byName[name]; ok && name != m.Name {
					p.Dependencies = append(p.Dependencies, name)
				}
			}
		}
		slices.Sort(p.Dependencies)
		p.Dependencies = slices.Compact(p.Dependencies)
		p.OutputDir = outputDir(r, dir, build, m.Main)
		ws.Packages = append(ws.Packages, p)
	}
	return ws, nil
}

// buildCommand returns the command running the "build" script.
func buildCommand(manager string) string {
	switch manager {
	case ManagerYarn:
		return "yarn build"
	case ManagerPNPM:
		return "pnpm build"
	default:
		return "npm run build"
	}
}

// managerFromField maps a "packageManager" field such as "pnpm@9.1.0" to a
// manager name, or "" when it names none we know.
func managerFromField(field string) string {
	name, _, _ := strings.Cut(strings.TrimSpace(field), "@")
	switch name {
	case ManagerNPM, ManagerYarn, ManagerPNPM:
		return name
	}
	return ""
}

// workspacePatterns returns the member patterns, and whether they came from
// pnpm-workspace.yaml. It returns nil patterns when no workspace is declared.
func workspacePatterns(r *os.Root, root *manifest, hasRoot bool) ([]string, bool, error) {
	data, err := r.ReadFile(pnpmWorkspaceYAML)
	switch {
	case err == nil:
		var doc struct {
			Packages []string `yaml:"packages"`
		}
		if err := yaml.Unmarshal(data, &doc); err != nil {
			return nil, false, &ManifestError{Path: pnpmWorkspaceYAML, Err: err}
		}
		if doc.Packages == nil {
			// pnpm treats a workspace file without "packages" as declaring
			// every package in the tree.
			doc.Packages = []string{"**"}
		}
		return doc.Packages, true, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, false, fmt.Errorf("read %s: %w", pnpmWorkspaceYAML, err)
	}
	if !hasRoot || len(root.Workspaces) == 0 || bytes.Equal(root.Workspaces, []byte("null")) {
		return nil, false, nil
	}
	var list []string
	if err := json.Unmarshal(root.Workspaces, &list); err == nil {
		return nonNil(list), false, nil
	}
	var obj struct {
		Packages []string `json:"packages"`
	}
	if err := json.Unmarshal(root.Workspaces, &obj); err != nil {
		return nil, false, &ManifestError{Path: packageJSON,
			Err: fmt.Errorf(`"workspaces" must be an array of globs or {"packages": [...]}, not %s`, jsonKind(root.Workspaces))}
	}
	return nonNil(obj.Packages), false, nil
}

// jsonKind names the kind of a JSON value for an error message.
func jsonKind(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object of another shape"
	case '[':
		return "an array of non-strings"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	default:
		return "a number"
	}
}

// nonNil returns s, or an empty slice when s is nil.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// isFile reports whether name is a regular file inside r.
func isFile(r *os.Root, name string) bool {
	fi, err := r.Lstat(name)
	return err == nil && fi.Mode().IsRegular()
}
