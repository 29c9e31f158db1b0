package buildnet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/musclemap/buildnet/cache"
	"github.com/musclemap/buildnet/hash"
	"github.com/musclemap/buildnet/internal/proc"
)

// ErrUnknownPlugin is matched when a configuration names a component no
// registry holds.
var ErrUnknownPlugin = errors.New("buildnet: unknown plugin")

// Runner runs one command of a package build: its build_cmd or a hook.
// The default runner, "sh", runs the command with sh -c in its own process
// group. A Runner must stop the command when ctx ends, and report each
// output line through job.Output.
type Runner interface {
	Run(ctx context.Context, job RunJob) error
}

// RunnerFunc adapts a function to [Runner].
type RunnerFunc func(ctx context.Context, job RunJob) error

// Run calls f.
func (f RunnerFunc) Run(ctx context.Context, job RunJob) error { return f(ctx, job) }

// RunJob is one command to run.
type RunJob struct {
	Package string
	Step    string   // build_cmd, pre_build or post_build
	Command string   // the configured text
	Dir     string   // the package directory
	Env     []string // the environment, BUILDNET_PACKAGE and BUILDNET_DIGEST included
	// Output receives each output line; stream is "stdout" or "stderr".
	Output func(stream, line string)
}

// BackendFactory makes a cache backend from its configuration (the raw
// JSON under cache.remote) and the engine's environment lookup.
type BackendFactory func(config json.RawMessage, getenv func(string) string) (cache.Backend, error)

// Notification is what a notification channel delivers.
type Notification struct {
	Kind    string            `json:"kind"` // e.g. build_failed
	Title   string            `json:"title"`
	Text    string            `json:"text"`
	BuildID string            `json:"build_id,omitempty"`
	Package string            `json:"package,omitempty"`
	Fields  map[string]string `json:"fields,omitempty"`
}

// Notifier delivers notifications to one channel (a webhook, a chat, a
// mailbox).
type Notifier interface {
	Notify(ctx context.Context, n Notification) error
}

// NotifierFactory makes a notifier from its configuration.
type NotifierFactory func(config json.RawMessage, getenv func(string) string) (Notifier, error)

// Registry holds named, pluggable components: build runners, content
// hash algorithms, cache backends and notification channels. The
// configuration selects them by name. A Registry is a value an embedder
// builds and passes in [Config.Registry]; nothing is registered globally.
// It is safe for concurrent use.
type Registry struct {
	// mu guards the maps.
	mu        sync.RWMutex
	runners   map[string]Runner
	hashes    map[string]*hash.Algorithm
	backends  map[string]BackendFactory
	notifiers map[string]NotifierFactory
}

// DefaultRunner and DefaultHash name the built-in components.
const (
	DefaultRunner = "sh"
	DefaultHash   = "xxh3"
)

// NewRegistry returns a registry holding the built-in components: the
// "sh" runner and the "xxh3" content hash.
func NewRegistry() *Registry {
	r := &Registry{
		runners:   map[string]Runner{DefaultRunner: RunnerFunc(shRunner)},
		hashes:    map[string]*hash.Algorithm{DefaultHash: nil},
		backends:  map[string]BackendFactory{},
		notifiers: map[string]NotifierFactory{},
	}
	return r
}

func shRunner(ctx context.Context, job RunJob) error {
	return proc.Run(ctx, proc.Spec{Command: job.Command, Dir: job.Dir, Env: job.Env, OnLine: func(s proc.Stream, line string) {
		job.Output(string(s), line)
	}})
}

func register[T any](r *Registry, m map[string]T, kind, name string, v T) error {
	if name == "" {
		return fmt.Errorf("register %s: empty name", kind)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := m[name]; dup {
		return fmt.Errorf("register %s %q: already registered", kind, name)
	}
	m[name] = v
	return nil
}

// RegisterRunner adds a runner, selected per package with "runner".
func (r *Registry) RegisterRunner(name string, rn Runner) error {
	return register(r, r.runners, "runner", name, rn)
}

// RegisterHash adds a content hash algorithm, selected for the workspace
// with "hash".
func (r *Registry) RegisterHash(alg hash.Algorithm) error {
	if alg.New == nil {
		return fmt.Errorf("register hash %q: New is nil", alg.Name)
	}
	return register(r, r.hashes, "hash", alg.Name, &alg)
}

// RegisterBackend adds a cache backend type, selected with
// cache.remote.type.
func (r *Registry) RegisterBackend(name string, f BackendFactory) error {
	return register(r, r.backends, "cache backend", name, f)
}

// RegisterNotifier adds a notification channel type.
func (r *Registry) RegisterNotifier(name string, f NotifierFactory) error {
	return register(r, r.notifiers, "notifier", name, f)
}

func lookup[T any](r *Registry, m map[string]T, kind, name string) (T, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	v, ok := m[name]
	if !ok {
		var zero T
		names := make([]string, 0, len(m))
		for k := range m {
			names = append(names, k)
		}
		slices.Sort(names)
		return zero, fmt.Errorf("%w: no %s named %q (registered: %v)", ErrUnknownPlugin, kind, name, names)
	}
	return v, nil
}

// Runner returns the runner registered under name.
func (r *Registry) Runner(name string) (Runner, error) { return lookup(r, r.runners, "runner", name) }

// Hash returns the algorithm registered under name; nil means the
// built-in xxh3.
func (r *Registry) Hash(name string) (*hash.Algorithm, error) {
	return lookup(r, r.hashes, "hash", name)
}

// Backend returns the cache backend factory registered under name.
func (r *Registry) Backend(name string) (BackendFactory, error) {
	return lookup(r, r.backends, "cache backend", name)
}

// Notifier returns the notifier factory registered under name.
func (r *Registry) Notifier(name string) (NotifierFactory, error) {
	return lookup(r, r.notifiers, "notifier", name)
}

// Names lists what is registered, by kind.
func (r *Registry) Names() map[string][]string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	keys := func(n int, each func(func(string))) []string {
		out := make([]string, 0, n)
		each(func(k string) { out = append(out, k) })
		slices.Sort(out)
		return out
	}
	return map[string][]string{
		"runners": keys(len(r.runners), func(f func(string)) {
			for k := range r.runners {
				f(k)
			}
		}),
		"hashes": keys(len(r.hashes), func(f func(string)) {
			for k := range r.hashes {
				f(k)
			}
		}),
		"backends": keys(len(r.backends), func(f func(string)) {
			for k := range r.backends {
				f(k)
			}
		}),
		"notifiers": keys(len(r.notifiers), func(f func(string)) {
			for k := range r.notifiers {
				f(k)
			}
		}),
	}
}
