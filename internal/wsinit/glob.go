package wsinit

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

// patternSet holds workspace globs split into includes and excludes (the
// patterns written with a leading "!").
type patternSet struct {
	include, exclude []string
}

// compilePatterns normalises workspace globs ("./packages/*/" becomes
// "packages/*") and validates them.
func compilePatterns(patterns []string) (patternSet, error) {
	var set patternSet
	for _, raw := range patterns {
		p := strings.TrimSpace(raw)
		negate := false
		for strings.HasPrefix(p, "!") {
			negate = !negate
			p = p[1:]
		}
		p = cleanPattern(p)
		if p == "" {
			continue
		}
		if !doublestar.ValidatePattern(p) {
			return patternSet{}, fmt.Errorf("workspace pattern %q: %w", raw, doublestar.ErrBadPattern)
		}
		if negate {
			set.exclude = append(set.exclude, p)
		} else {
			set.include = append(set.include, p)
		}
	}
	return set, nil
}

// cleanPattern strips what the package managers ignore in a pattern: a
// leading "./" or "/", a trailing "/" and a trailing "/package.json".
func cleanPattern(p string) string {
	for strings.HasPrefix(p, "./") || strings.HasPrefix(p, "/") {
		p = strings.TrimPrefix(strings.TrimPrefix(p, "."), "/")
	}
	p = strings.TrimSuffix(p, "/package.json")
	p = strings.TrimRight(p, "/")
	if p == "." {
		return ""
	}
	return p
}

// matches reports whether the directory dir (slash path relative to the
// root) is a workspace member by the patterns.
func (s patternSet) matches(dir string) bool {
	in := slices.ContainsFunc(s.include, func(p string) bool { return doublestar.MatchUnvalidated(p, dir) })
	if !in {
		return false
	}
	return !slices.ContainsFunc(s.exclude, func(p string) bool { return doublestar.MatchUnvalidated(p, dir) })
}

// mayContain reports whether some include pattern could match dir or a
// directory below it, so the walk can prune the rest of the tree.
func (s patternSet) mayContain(dir string) bool {
	segs := strings.Split(dir, "/")
	return slices.ContainsFunc(s.include, func(p string) bool { return prefixMayMatch(strings.Split(p, "/"), segs) })
}

// prefixMayMatch reports whether the pattern segments pat could match a path
// that starts with the segments dir.
func prefixMayMatch(pat, dir []string) bool {
	for i, seg := range dir {
		if i >= len(pat) {
			return false
		}
		if pat[i] == "**" {
			return true
		}
		if strings.ContainsAny(pat[i], "{}") {
			// An alternation may hide a "/" or a "**"; let the final
			// match decide.
			return true
		}
		if !doublestar.MatchUnvalidated(pat[i], seg) {
			return false
		}
	}
	return true
}

// memberDirs walks the tree under r and returns, sorted, the directories
// matched by set that hold a package.json. It never enters node_modules,
// dot-directories or symbolic links.
func memberDirs(r *os.Root, set patternSet) ([]string, error) {
	var dirs []string
	err := fs.WalkDir(r.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("search workspace members: %w", err)
		}
		if !d.IsDir() {
			return nil
		}
		if p == "." {
			return nil
		}
		name := d.Name()
		if name == "node_modules" || strings.HasPrefix(name, ".") {
			return fs.SkipDir
		}
		if !set.mayContain(p) {
			return fs.SkipDir
		}
		if set.matches(p) && isFile(r, path.Join(p, packageJSON)) {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(dirs)
	return dirs, nil
}
