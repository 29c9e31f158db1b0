package wsinit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// manifest is the part of a package.json that Detect reads.
type manifest struct {
	Name                 string            `json:"name"`
	Main                 string            `json:"main"`
	PackageManager       string            `json:"packageManager"`
	Scripts              map[string]string `json:"scripts"`
	Dependencies         map[string]string `json:"dependencies"`
	DevDependencies      map[string]string `json:"devDependencies"`
	PeerDependencies     map[string]string `json:"peerDependencies"`
	OptionalDependencies map[string]string `json:"optionalDependencies"`
	Workspaces           json.RawMessage   `json:"workspaces"`
}

// readManifest reads and decodes the package.json at name (slash path
// relative to r). A missing file is reported as ok == false, not an error.
func readManifest(r *os.Root, name string) (m *manifest, ok bool, err error) {
	data, err := r.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", name, err)
	}
	m = new(manifest)
	if err := decodeJSON(name, data, m); err != nil {
		return nil, false, err
	}
	return m, true, nil
}

// decodeJSON decodes data into v, turning a syntax or type error into a
// [*ManifestError] that carries the line and column of the problem.
func decodeJSON(name string, data []byte, v any) error {
	data = bytes.TrimPrefix(data, []byte("\uFEFF")) // editors on Windows add a BOM
	err := json.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	me := &ManifestError{Path: name, Err: err}
	var offset int64 = -1
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		// Offset counts the bytes read before the error, so the offending
		// byte is the last of them.
		offset = se.Offset - 1
	} else if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		offset = te.Offset - 1
	}
	if offset >= 0 {
		me.Line, me.Column = position(data, int(offset))
	}
	return me
}

// position returns the 1-based line and column (in bytes) of data[offset].
func position(data []byte, offset int) (line, col int) {
	offset = min(offset, len(data))
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = offset - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, col
}
