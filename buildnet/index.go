package buildnet

import (
	"sync"

	"github.com/musclemap/buildnet/hash"
)

// pkgIndex finds a configuration's packages by name and remembers their
// configuration keys. The engine makes one for each configuration it
// loads, so nothing in it outlives the configuration it describes.
type pkgIndex struct {
	byName map[string]*Package

	mu   sync.Mutex
	keys map[string]configKeyMemo
}

// configKeyMemo is a package's configuration key for one digest of the
// global inputs, the only input of the key that is not configuration.
type configKeyMemo struct {
	globals hash.Digest
	key     hash.Digest
}

func newPkgIndex(ws *Workspace) *pkgIndex {
	ix := &pkgIndex{byName: make(map[string]*Package, len(ws.Packages)), keys: make(map[string]configKeyMemo, len(ws.Packages))}
	for i := range ws.Packages {
		ix.byName[ws.Packages[i].Name] = &ws.Packages[i]
	}
	return ix
}

// pkg returns the package called name, or nil.
func (ix *pkgIndex) pkg(name string) *Package { return ix.byName[name] }

// configKey returns the remembered configuration key of the package name
// for the global inputs' digest globals, or computes and remembers it.
func (ix *pkgIndex) configKey(name string, globals hash.Digest, compute func() hash.Digest) hash.Digest {
	ix.mu.Lock()
	m, ok := ix.keys[name]
	ix.mu.Unlock()
	if ok && m.globals == globals {
		return m.key
	}
	k := compute()
	ix.mu.Lock()
	ix.keys[name] = configKeyMemo{globals: globals, key: k}
	ix.mu.Unlock()
	return k
}
