package buildnet

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/musclemap/buildnet/graph"
)

// ErrBadFilter is matched by filter syntax errors.
var ErrBadFilter = errors.New("buildnet: bad filter")

// Filter is one parsed package filter, in Turborepo's syntax:
//
//	api            the package api (a glob such as "@acme/*" matches names)
//	api...         api and everything it depends on
//	api^...        only what api depends on
//	...shared      shared and everything that depends on it
//	...^shared     only what depends on shared
//	...shared...   both directions
//	./apps/*       packages whose directory matches (also {./apps/*})
//	!docs          exclude what the rest of the filter names
type Filter struct {
	Exclude      bool   `json:"exclude,omitempty"`
	Name         string `json:"name,omitempty"` // a name or a glob over names
	Dir          string `json:"dir,omitempty"`  // a glob over package paths
	Dependencies bool   `json:"dependencies,omitempty"`
	Dependents   bool   `json:"dependents,omitempty"`
	// ExcludeSelf drops the matched packages themselves (the ^ forms).
	ExcludeSelf bool `json:"exclude_self,omitempty"`
}

// ParseFilter parses one filter expression.
func ParseFilter(s string) (Filter, error) {
	orig := s
	bad := func(msg string) (Filter, error) {
		return Filter{}, fmt.Errorf("%w %q: %s", ErrBadFilter, orig, msg)
	}
	var f Filter
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "!") {
		f.Exclude = true
		s = s[1:]
	}
	if strings.HasPrefix(s, "...") {
		f.Dependents = true
		s = s[3:]
		if strings.HasPrefix(s, "^") {
			f.ExcludeSelf = true
			s = s[1:]
		}
	}
	if strings.HasSuffix(s, "...") {
		f.Dependencies = true
		s = s[:len(s)-3]
		if strings.HasSuffix(s, "^") {
			if f.ExcludeSelf && f.Dependents {
				return bad("^ may appear on one side only")
			}
			f.ExcludeSelf = true
			s = s[:len(s)-1]
		}
	}
	switch {
	case s == "":
		return bad("names no package")
	case strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]"):
		return bad("git ranges are not filters here: use --affected --base REF --head REF")
	case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}"):
		s = s[1 : len(s)-1]
		if s == "" {
			return bad("empty directory")
		}
		f.Dir = s
	case strings.HasPrefix(s, "./") || s == "." || strings.HasPrefix(s, "../"):
		f.Dir = s
	default:
		if strings.ContainsAny(s, "{}^!") || strings.Contains(s, "...") {
			return bad("unexpected character; see docs/cli.md for the syntax")
		}
		f.Name = s
	}
	if f.Dir != "" {
		d := path.Clean(strings.TrimPrefix(f.Dir, "./"))
		if d == ".." || strings.HasPrefix(d, "../") || path.IsAbs(d) {
			return bad("directory outside the workspace")
		}
		if !doublestar.ValidatePattern(d) {
			return bad("invalid directory pattern")
		}
		f.Dir = d
	} else if !doublestar.ValidatePattern(f.Name) {
		return bad("invalid name pattern")
	}
	return f, nil
}

// String renders f in the syntax ParseFilter reads.
func (f Filter) String() string {
	var b strings.Builder
	if f.Exclude {
		b.WriteString("!")
	}
	if f.Dependents {
		b.WriteString("...")
		if f.ExcludeSelf {
			b.WriteString("^")
		}
	}
	if f.Dir != "" {
		b.WriteString("{./" + f.Dir + "}")
	} else {
		b.WriteString(f.Name)
	}
	if f.Dependencies {
		if f.ExcludeSelf && !f.Dependents {
			b.WriteString("^")
		}
		b.WriteString("...")
	}
	return b.String()
}

// matches returns the packages f names before its ... expansions.
func (f Filter) matches(ws *Workspace) []string {
	var out []string
	for _, p := range ws.Packages {
		var ok bool
		if f.Dir != "" {
			ok, _ = doublestar.Match(f.Dir, p.Path)
			if !ok {
				ok = p.Path == f.Dir || strings.HasPrefix(p.Path, f.Dir+"/")
			}
		} else {
			ok = p.Name == f.Name
			if !ok {
				ok, _ = doublestar.Match(f.Name, p.Name)
			}
		}
		if ok {
			out = append(out, p.Name)
		}
	}
	return out
}

// SelectFilters returns the packages the filters select, sorted: the union
// of the including filters (all packages when there are none) less the
// union of the excluding ones. A filter that matches nothing is an error,
// so a typo does not silently build nothing.
func SelectFilters(ws *Workspace, g *graph.Graph, filters []string) ([]string, error) {
	include, exclude := map[string]bool{}, map[string]bool{}
	anyInclude := false
	for _, s := range filters {
		f, err := ParseFilter(s)
		if err != nil {
			return nil, err
		}
		base := f.matches(ws)
		if len(base) == 0 {
			hint := ""
			if f.Name != "" {
				if sim := g.Similar(f.Name, 3); len(sim) > 0 {
					hint = " (did you mean " + strings.Join(sim, ", ") + "?)"
				}
			}
			return nil, fmt.Errorf("%w: filter %q matches no package%s", ErrUnknownPackage, s, hint)
		}
		set := map[string]bool{}
		if !f.ExcludeSelf {
			for _, n := range base {
				set[n] = true
			}
		}
		if f.Dependencies {
			for _, n := range base {
				deps, _ := g.Closure(n)
				for _, d := range deps {
					if d != n || !f.ExcludeSelf {
						set[d] = true
					}
				}
			}
		}
		if f.Dependents {
			for _, n := range base {
				deps, _ := g.Affected(n)
				for _, d := range deps {
					if d != n || !f.ExcludeSelf {
						set[d] = true
					}
				}
			}
		}
		target := include
		if f.Exclude {
			target = exclude
		} else {
			anyInclude = true
		}
		for n := range set {
			target[n] = true
		}
	}
	var out []string
	for _, n := range g.Names() {
		if (anyInclude && !include[n]) || exclude[n] {
			continue
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}
