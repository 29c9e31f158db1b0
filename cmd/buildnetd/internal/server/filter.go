package server

import (
	"maps"
	"strings"

	"github.com/musclemap/buildnet/buildnet"
)

// filter selects the events a client receives. The zero filter passes
// everything. It is immutable once shared: changes make a new one.
type filter struct {
	off    bool                        // passes nothing (a WebSocket before subscribe)
	types  map[buildnet.EventType]bool // nil: every type
	xtypes map[buildnet.EventType]bool // types unsubscribed from "every type"
	pkgs   map[string]bool             // nil: every package
	xpkgs  map[string]bool
	build  string // "": every build; else only that build's events
}

// parseList splits comma-separated query values, dropping empty items.
func parseList(values []string) []string {
	var out []string
	for _, v := range values {
		for s := range strings.SplitSeq(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

func (f *filter) clone() *filter {
	return &filter{off: f.off, types: maps.Clone(f.types), xtypes: maps.Clone(f.xtypes),
		pkgs: maps.Clone(f.pkgs), xpkgs: maps.Clone(f.xpkgs), build: f.build}
}

// subscribe returns f widened to types and packages; empty lists mean
// every type or every package.
func (f *filter) subscribe(types, pkgs []string) *filter {
	n := f.clone()
	if n.off {
		n = &filter{types: map[buildnet.EventType]bool{}, pkgs: map[string]bool{}}
	}
	if len(types) == 0 {
		n.types, n.xtypes = nil, nil
	} else {
		for _, t := range types {
			if n.types != nil {
				n.types[buildnet.EventType(t)] = true
			}
			delete(n.xtypes, buildnet.EventType(t))
		}
	}
	if len(pkgs) == 0 {
		n.pkgs, n.xpkgs = nil, nil
	} else {
		for _, p := range pkgs {
			if n.pkgs != nil {
				n.pkgs[p] = true
			}
			delete(n.xpkgs, p)
		}
	}
	return n
}

// unsubscribe returns f narrowed by types and packages; with both empty
// it passes nothing.
func (f *filter) unsubscribe(types, pkgs []string) *filter {
	if len(types) == 0 && len(pkgs) == 0 {
		return &filter{off: true}
	}
	n := f.clone()
	for _, t := range types {
		if n.types != nil {
			delete(n.types, buildnet.EventType(t))
		} else {
			if n.xtypes == nil {
				n.xtypes = map[buildnet.EventType]bool{}
			}
			n.xtypes[buildnet.EventType(t)] = true
		}
	}
	for _, p := range pkgs {
		if n.pkgs != nil {
			delete(n.pkgs, p)
		} else {
			if n.xpkgs == nil {
				n.xpkgs = map[string]bool{}
			}
			n.xpkgs[p] = true
		}
	}
	return n
}

// match reports whether ev passes f. An event about one package passes
// when that package does; a build-level event passes when one of its
// packages does, or when it names none.
func (f *filter) match(ev *buildnet.Event) bool {
	if f.off {
		return false
	}
	if f.xtypes[ev.Type] || (f.types != nil && !f.types[ev.Type]) || (f.build != "" && ev.BuildID != f.build) {
		return false
	}
	if f.pkgs == nil && len(f.xpkgs) == 0 {
		return true
	}
	if ev.Package != "" {
		return f.pkgOK(ev.Package)
	}
	names := ev.Packages
	if len(names) == 0 && ev.Result != nil {
		for _, p := range ev.Result.Packages {
			if f.pkgOK(p.Name) {
				return true
			}
		}
		return len(ev.Result.Packages) == 0
	}
	if len(names) == 0 {
		return true
	}
	for _, p := range names {
		if f.pkgOK(p) {
			return true
		}
	}
	return false
}

func (f *filter) pkgOK(p string) bool {
	return !f.xpkgs[p] && (f.pkgs == nil || f.pkgs[p])
}
