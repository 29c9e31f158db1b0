package buildnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

// ErrGit is matched by errors from the git queries behind affected
// selection.
var ErrGit = errors.New("buildnet: git")

// changedFiles lists the files (root-relative) that differ between
// base and head, or between base and the working tree when head is "",
// untracked files included. shallow reports a repository whose history
// cannot answer.
func changedFiles(ctx context.Context, root string, rng GitRange) (files []string, shallow bool, err error) {
	git := func(args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, "git", append([]string{"-C", root}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			msg := strings.TrimSpace(stderr.String())
			if msg == "" {
				msg = err.Error()
			}
			return nil, fmt.Errorf("%w %s: %s", ErrGit, strings.Join(args, " "), msg)
		}
		return out, nil
	}
	base := rng.Base
	if base == "" {
		base = "main"
	}
	if _, err := git("rev-parse", "--verify", "--quiet", base+"^{commit}"); err != nil {
		if isShallow(git) {
			return nil, true, nil
		}
		return nil, false, fmt.Errorf("%w: unknown revision %q: pass --base with a branch, tag or commit", ErrGit, base)
	}
	// One repo-wide query. --relative keeps paths relative to the
	// workspace root (and drops changes outside it); --merge-base
	// compares with the fork point, as a pull request would.
	args := []string{"diff", "--name-only", "--no-renames", "--relative", "-z"}
	if rng.Head == "" {
		args = append(args, "--merge-base", base)
	} else {
		args = append(args, base+"..."+rng.Head)
	}
	out, err := git(args...)
	if err != nil {
		if isShallow(git) {
			return nil, true, nil // no merge base in the fetched history
		}
		return nil, false, err
	}
	files = splitZ(out)
	if rng.Head == "" {
		out, err := git("ls-files", "--others", "--exclude-standard", "-z")
		if err != nil {
			return nil, false, err
		}
		files = append(files, splitZ(out)...)
	}
	slices.Sort(files)
	return slices.Compact(files), false, nil
}

func isShallow(git func(...string) ([]byte, error)) bool {
	out, err := git("rev-parse", "--is-shallow-repository")
	return err == nil && strings.TrimSpace(string(out)) == "true"
}

func splitZ(b []byte) []string {
	var out []string
	for _, s := range strings.Split(string(b), "\x00") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// owners returns the packages whose inputs include any of files; all is
// true when a change touches every package (a global input or the
// configuration itself).
func owners(ws *Workspace, files []string) (names []string, all bool) {
	set := map[string]bool{}
	for _, f := range files {
		if f == ConfigFile {
			return nil, true
		}
		for _, g := range ws.GlobalInputs {
			if ok, _ := doublestar.Match(g, f); ok || g == f {
				return nil, true
			}
		}
		for _, p := range ws.Packages {
			if !set[p.Name] && p.owns(f) {
				set[p.Name] = true
			}
		}
	}
	for n := range set {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, false
}

// owns reports whether f (root-relative) is one of p's sources.
func (p *Package) owns(f string) bool {
	if within(f, p.OutputDir) {
		return false
	}
	if len(p.Sources) == 0 {
		if !within(f, p.Path) {
			return false
		}
		rest := strings.TrimPrefix(strings.TrimPrefix(f, p.Path), "/")
		for _, seg := range strings.Split(rest, "/")[:max(0, strings.Count(rest, "/"))] {
			if strings.HasPrefix(seg, ".") || seg == "node_modules" {
				return false
			}
		}
		return true
	}
	for _, s := range p.Sources {
		if ok, _ := doublestar.Match(s, f); ok || s == f || within(f, s) {
			return true
		}
	}
	return false
}

func within(p, dir string) bool {
	return dir == "" || p == dir || strings.HasPrefix(p, dir+"/")
}
