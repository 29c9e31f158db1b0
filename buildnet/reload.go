package buildnet

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
)

// EventConfigRejected reports a configuration change that failed
// validation; the previous configuration stays in force.
const EventConfigRejected EventType = "config:rejected"

// ConfigChange says what a new configuration changed.
type ConfigChange struct {
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
	Changed []string `json:"changed"` // packages whose settings differ
	Global  bool     `json:"global"`  // workspace-wide settings differ
}

// Empty reports whether nothing changed.
func (c ConfigChange) Empty() bool {
	return len(c.Added) == 0 && len(c.Removed) == 0 && len(c.Changed) == 0 && !c.Global
}

// SetWorkspace validates ws and, if it is valid, makes it the engine's
// configuration. Builds already running finish with the configuration
// they started with; builds started afterwards use the new one. An
// invalid ws changes nothing and is reported as config:rejected.
func (e *Engine) SetWorkspace(ws *Workspace) (ConfigChange, error) {
	c := ws.clone()
	if err := c.Validate(e.root); err != nil {
		e.bus.publish(Event{Type: EventConfigRejected, Error: err.Error()})
		return ConfigChange{}, err
	}
	g, err := c.graph()
	if err == nil {
		_, err = e.newHasher(c)
	}
	if err != nil {
		e.bus.publish(Event{Type: EventConfigRejected, Error: err.Error()})
		return ConfigChange{}, err
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return ConfigChange{}, ErrClosed
	}
	change := diffWorkspaces(e.ws, c)
	if c.Hash != e.ws.Hash {
		e.hasher, _ = e.newHasher(c) // checked above
	}
	e.ws, e.graph, e.index = c, g, newPkgIndex(c)
	if conc := c.Concurrency; conc > 0 && conc != e.concurrency && !e.fixedConcurrency {
		e.concurrency = conc
		e.slots.Resize(conc)
	}
	w := e.watch
	e.mu.Unlock()
	if w != nil {
		if change.Global {
			w.dirtyAll()
		} else {
			for _, n := range slices.Concat(change.Added, change.Changed) {
				w.dirty(n)
			}
		}
		w.reconfigure()
	}
	if !change.Empty() {
		e.bus.publish(Event{Type: EventConfigReloaded, Change: &change})
	}
	return change, nil
}

// Reload reads the configuration file again and applies it with
// [Engine.SetWorkspace].
func (e *Engine) Reload(ctx context.Context) (ConfigChange, error) {
	if err := ctx.Err(); err != nil {
		return ConfigChange{}, err
	}
	ws, err := LoadWorkspace(e.root)
	if err != nil {
		e.bus.publish(Event{Type: EventConfigRejected, Error: err.Error()})
		return ConfigChange{}, fmt.Errorf("reload: %w", err)
	}
	return e.SetWorkspace(ws)
}

func diffWorkspaces(old, cur *Workspace) ConfigChange {
	c := ConfigChange{Added: []string{}, Removed: []string{}, Changed: []string{}}
	oldPkgs := map[string]Package{}
	for _, p := range old.Packages {
		oldPkgs[p.Name] = p
	}
	for _, p := range cur.Packages {
		o, ok := oldPkgs[p.Name]
		delete(oldPkgs, p.Name)
		switch {
		case !ok:
			c.Added = append(c.Added, p.Name)
		case !samePackage(o, p):
			c.Changed = append(c.Changed, p.Name)
		}
	}
	for name := range oldPkgs {
		c.Removed = append(c.Removed, name)
	}
	slices.Sort(c.Added)
	slices.Sort(c.Removed)
	slices.Sort(c.Changed)
	og, cg := *old, *cur
	og.Packages, cg.Packages = nil, nil
	c.Global = !sameJSON(og, cg)
	return c
}

func samePackage(a, b Package) bool { return sameJSON(a, b) }

func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && string(x) == string(y)
}
