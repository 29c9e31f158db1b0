// Command floor measures the lstat floor of a no-op build: the least work
// any tool must do to prove that nothing changed in a workspace, which is to
// list every package directory and lstat every file in it.
//
//	go run ./bench/floor -root DIR [-workers 2]
//
// The packages are read from DIR/.buildnet/config.json (the whole of DIR
// is walked when there is none). Each package directory is walked, skipping
// its output directory (dist by default), node_modules and dot-directories,
// by a pool of goroutines that lstat every file. The global inputs are
// lstat'ed too. The file count is printed. The wall time of the whole
// process, from exec to exit, is the floor a BuildNet no-op is compared to.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "floor:", err)
		}
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("floor", flag.ContinueOnError)
	fl.SetOutput(stderr)
	root := fl.String("root", ".", "workspace root (the folder holding .buildnet/)")
	workers := fl.Int("workers", 2, "goroutines walking packages")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *workers < 1 {
		return errors.New("-workers must be at least 1")
	}
	n, err := count(*root, *workers)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d files\n", n)
	return nil
}

// target is one directory to walk, with the output directory to skip.
type target struct {
	dir, skip string
}

// targets returns the package directories to walk and the global input
// files, from the config when there is one.
func targets(root string) ([]target, []string, error) {
	data, err := os.ReadFile(filepath.Join(root, ".buildnet", "config.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return []target{{dir: root}}, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var cfg struct {
		GlobalInputs []string `json:"global_inputs"`
		Packages     []struct {
			Path      string `json:"path"`
			OutputDir string `json:"output_dir"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, nil, fmt.Errorf("read config: %w", err)
	}
	ts := make([]target, len(cfg.Packages))
	for i, p := range cfg.Packages {
		out := p.OutputDir
		if out == "" {
			out = p.Path + "/dist"
		}
		ts[i] = target{dir: filepath.Join(root, filepath.FromSlash(p.Path)), skip: filepath.Join(root, filepath.FromSlash(out))}
	}
	globals := make([]string, len(cfg.GlobalInputs))
	for i, g := range cfg.GlobalInputs {
		globals[i] = filepath.Join(root, filepath.FromSlash(g))
	}
	return ts, globals, nil
}

// count walks the targets with the given number of goroutines and returns
// how many files it lstat'ed.
func count(root string, workers int) (int64, error) {
	ts, globals, err := targets(root)
	if err != nil {
		return 0, err
	}
	var files atomic.Int64
	for _, g := range globals {
		if _, err := os.Lstat(g); err == nil {
			files.Add(1)
		}
	}

	work := make(chan target)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for t := range work {
				n, err := walk(t.dir, t.skip)
				files.Add(n)
				if err != nil && errs[w] == nil {
					errs[w] = err
				}
			}
		})
	}
	for _, t := range ts {
		work <- t
	}
	close(work)
	wg.Wait()
	return files.Load(), errors.Join(errs...)
}

// walk lstats every file under dir, except under skip, node_modules and
// dot-directories, and returns how many it found.
func walk(dir, skip string) (int64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, e := range entries {
		name := e.Name()
		p := filepath.Join(dir, name)
		if e.IsDir() {
			if name == "node_modules" || strings.HasPrefix(name, ".") || p == skip {
				continue
			}
			m, err := walk(p, skip)
			n += m
			if err != nil {
				return n, err
			}
			continue
		}
		if _, err := os.Lstat(p); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
