package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/musclemap/buildnet/buildnet"
	"github.com/musclemap/buildnet/internal/wsinit"
)

func cmdInit(_ context.Context, args []string, env Env) error {
	var (
		c     common
		force bool
	)
	fset := newFlags("init", &c, env)
	fset.BoolVar(&force, "force", false, "replace an existing configuration")
	if err := parse(fset, args); err != nil {
		return err
	}
	root := c.root
	if root == "" {
		d, err := env.dir()
		if err != nil {
			return err
		}
		root = d
	}
	root, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	file := filepath.Join(root, buildnet.ConfigFile)
	if _, err := os.Stat(file); err == nil && !force {
		return &Error{Code: "exists", Exit: 2, Message: fmt.Sprintf("%s already exists: pass --force to replace it", file)}
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	det, err := wsinit.Detect(root)
	if err != nil {
		return &Error{Code: "no_workspace", Exit: 2, Message: err.Error()}
	}
	ws, skipped := workspaceFrom(det)
	if len(ws.Packages) == 0 {
		return &Error{Code: "no_packages", Exit: 2, Message: fmt.Sprintf("no workspace member of %s has a build script", root)}
	}
	if err := ws.Validate(root); err != nil {
		return err
	}
	data, err := json.MarshalIndent(ws, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(file, append(data, '\n')); err != nil {
		return err
	}
	if c.json {
		writeJSON(env.Stdout, map[string]any{"config": file, "manager": det.Manager, "packages": ws.Packages, "without_build": skipped})
		return nil
	}
	fmt.Fprintf(env.Stdout, "wrote %s: %d packages from a %s workspace\n", file, len(ws.Packages), det.Manager)
	if len(skipped) > 0 {
		fmt.Fprintf(env.Stdout, "left out (no build script): %v\n", skipped)
	}
	fmt.Fprintln(env.Stdout, "next: buildnetd build")
	return nil
}

// workspaceFrom turns a detected workspace into a configuration. Members
// without a build script are left out, and so are edges to them.
func workspaceFrom(det *wsinit.Workspace) (*buildnet.Workspace, []string) {
	ws := &buildnet.Workspace{Version: 1, GlobalInputs: det.GlobalInputs}
	var skipped []string
	for _, p := range det.Packages {
		if p.NoBuild {
			skipped = append(skipped, p.Name)
		}
	}
	for _, p := range det.Packages {
		if p.NoBuild {
			continue
		}
		deps := slices.DeleteFunc(slices.Clone(p.Dependencies), func(d string) bool { return slices.Contains(skipped, d) })
		ws.Packages = append(ws.Packages, buildnet.Package{
			Name: p.Name, Path: p.Path, BuildCmd: p.BuildCmd, Dependencies: deps, OutputDir: p.OutputDir,
		})
	}
	return ws, skipped
}

func writeFileAtomic(name string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-config-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), name)
}
