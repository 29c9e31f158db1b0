package template

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Dir is where a workspace keeps its own templates, relative to the
// workspace root.
const Dir = ".buildnet/templates"

//go:embed bundled/*.yaml
var bundledFS embed.FS

// Bundled returns the templates built into BuildNet, sorted by name.
func Bundled() ([]*Template, error) {
	entries, err := fs.ReadDir(bundledFS, "bundled")
	if err != nil {
		return nil, fmt.Errorf("read bundled templates: %w", err)
	}
	var out []*Template
	for _, e := range entries {
		name := "bundled/" + e.Name()
		data, err := bundledFS.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read bundled template %s: %w", name, err)
		}
		t, err := Parse(data, name)
		if err != nil {
			return nil, err
		}
		t.Source = SourceBundled
		out = append(out, t)
	}
	sortByName(out)
	return out, nil
}

// Load returns the bundled templates and those in <root>/.buildnet/templates
// (files ending in .yaml or .yml), sorted by name. A workspace template
// replaces a bundled one of the same name; two workspace files with the
// same template name are an error, as is any file that does not parse
// (the error names the file). A missing templates folder is not an error.
func Load(ctx context.Context, root string) ([]*Template, error) {
	all, err := Bundled()
	if err != nil {
		return nil, err
	}
	byName := make(map[string]int, len(all))
	for i, t := range all {
		byName[t.Name] = i
	}
	dir := filepath.Join(root, filepath.FromSlash(Dir))
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("list templates in %s: %w", dir, err)
	}
	seen := map[string]string{} // template name -> file
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("load templates: %w", err)
		}
		ext := strings.ToLower(path.Ext(e.Name()))
		if (ext != ".yaml" && ext != ".yml") || e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		rel := Dir + "/" + e.Name()
		t, err := loadFile(filepath.Join(dir, e.Name()), rel)
		if err != nil {
			return nil, err
		}
		if other, dup := seen[t.Name]; dup {
			return nil, &ParseError{File: rel, Field: "name", Msg: fmt.Sprintf("template name %q is also used by %s: rename one of them", t.Name, other)}
		}
		seen[t.Name] = rel
		if i, ok := byName[t.Name]; ok {
			all[i] = t
			continue
		}
		byName[t.Name] = len(all)
		all = append(all, t)
	}
	sortByName(all)
	return all, nil
}

func loadFile(abs, rel string) (*Template, error) {
	f, err := os.Open(abs)
	if err != nil {
		return nil, fmt.Errorf("read template %s: %w", rel, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read template %s: %w", rel, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, &ParseError{File: rel, Msg: "not a regular file: remove it or give it another extension"}
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read template %s: %w", rel, err)
	}
	return Parse(data, rel)
}

func sortByName(ts []*Template) {
	sort.Slice(ts, func(i, j int) bool { return ts[i].Name < ts[j].Name })
}

// Find returns the template called name among ts, or an error matching
// [ErrNotFound] that lists the names available.
func Find(ts []*Template, name string) (*Template, error) {
	names := make([]string, 0, len(ts))
	for _, t := range ts {
		if t.Name == name {
			return t, nil
		}
		names = append(names, t.Name)
	}
	return nil, fmt.Errorf("%w: %q; available: %s (add your own in %s)", ErrNotFound, name, strings.Join(names, ", "), Dir)
}
