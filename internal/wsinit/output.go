package wsinit

import (
	"os"
	"path"
	"strings"
)

// isOutputDirName reports whether a top directory of "main" is taken to be
// build output; "main" pointing anywhere else (src/, the package root)
// says nothing about the output.
func isOutputDirName(name string) bool {
	switch name {
	case "dist", "build", "lib", "out", "output", "es", "esm", "cjs", "umd":
		return true
	}
	return strings.HasPrefix(name, "dist-") || strings.HasPrefix(name, "dist_")
}

// outputDir guesses where the build of the member at dir writes, as a slash
// path relative to the root.
func outputDir(r *os.Root, dir, build, main string) string {
	if args, ok := tscArgs(build); ok {
		if out := tscOutDir(r, dir, args); out != "" {
			return out
		}
	}
	if main != "" {
		m := path.Clean(strings.TrimPrefix(main, "./"))
		if first, rest, ok := strings.Cut(m, "/"); ok && rest != "" && isOutputDirName(first) {
			return path.Join(dir, first)
		}
	}
	return path.Join(dir, "dist")
}

// tscArgs finds a tsc invocation in a build script and returns the
// arguments that follow it, up to the end of that command.
func tscArgs(script string) ([]string, bool) {
	fields := strings.Fields(script)
	for i, f := range fields {
		if f != "tsc" && !strings.HasSuffix(f, "/tsc") {
			continue
		}
		var args []string
		for _, a := range fields[i+1:] {
			if a == "&&" || a == "||" || a == ";" || a == "|" || a == "&" {
				break
			}
			trimmed := strings.TrimRight(a, ";")
			args = append(args, trimmed)
			if trimmed != a {
				break
			}
		}
		return args, true
	}
	return nil, false
}

// tscOutDir returns the output directory of `tsc args` run in dir: the
// --outDir flag, else compilerOptions.outDir of the project file (following
// relative "extends"). It returns "" when none is set or when it would
// leave the root.
func tscOutDir(r *os.Root, dir string, args []string) string {
	project := path.Join(dir, "tsconfig.json")
	for i := 0; i < len(args); i++ {
		flag, value, hasValue := strings.Cut(args[i], "=")
		if !hasValue && i+1 < len(args) {
			value = args[i+1]
		}
		switch flag {
		case "--outDir", "--outdir":
			return underRoot(path.Join(dir, value))
		case "-p", "--project":
			p := path.Join(dir, value)
			if fi, err := r.Stat(p); err == nil && fi.IsDir() {
				p = path.Join(p, "tsconfig.json")
			}
			project = p
		}
	}
	const maxExtends = 8
	for range maxExtends {
		cfg, ok := readTSConfig(r, project)
		if !ok {
			return ""
		}
		if cfg.CompilerOptions.OutDir != "" {
			return underRoot(path.Join(path.Dir(project), cfg.CompilerOptions.OutDir))
		}
		ext := cfg.Extends
		if !strings.HasPrefix(ext, "./") && !strings.HasPrefix(ext, "../") {
			return "" // no parent, or a package from node_modules
		}
		project = path.Join(path.Dir(project), ext)
		if !strings.HasSuffix(project, ".json") {
			project += ".json"
		}
	}
	return ""
}

// underRoot returns p (already cleaned by path.Join) unless it leaves the
// root or is the root itself.
func underRoot(p string) string {
	if p == "." || p == ".." || strings.HasPrefix(p, "../") || path.IsAbs(p) {
		return ""
	}
	return p
}

// tsconfig is the part of a tsconfig.json that outputDir reads.
type tsconfig struct {
	Extends         string `json:"extends"`
	CompilerOptions struct {
		OutDir string `json:"outDir"`
	} `json:"compilerOptions"`
}

// readTSConfig reads a tsconfig file, which may hold comments and trailing
// commas. Any problem yields ok == false: the guess then falls back.
func readTSConfig(r *os.Root, name string) (tsconfig, bool) {
	var cfg tsconfig
	if underRoot(name) == "" {
		return cfg, false
	}
	data, err := r.ReadFile(name)
	if err != nil {
		return cfg, false
	}
	if decodeJSON(name, stripJSONC(data), &cfg) != nil {
		return cfg, false
	}
	return cfg, true
}

// stripJSONC turns JSON with comments and trailing commas (as accepted by
// tsc) into plain JSON. Comments become spaces so offsets stay put.
func stripJSONC(data []byte) []byte {
	out := make([]byte, len(data))
	copy(out, data)
	inString := false
	lastComma := -1 // index of a comma that may turn out to be trailing
	for i := 0; i < len(out); i++ {
		c := out[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch {
		case c == '"':
			inString = true
			lastComma = -1
		case c == '/' && i+1 < len(out) && out[i+1] == '/':
			for ; i < len(out) && out[i] != '\n'; i++ {
				out[i] = ' '
			}
		case c == '/' && i+1 < len(out) && out[i+1] == '*':
			out[i], out[i+1] = ' ', ' '
			for i += 2; i < len(out) && (out[i] != '*' || i+1 >= len(out) || out[i+1] != '/'); i++ {
				if out[i] != '\n' {
					out[i] = ' '
				}
			}
			if i+1 < len(out) {
				out[i], out[i+1] = ' ', ' '
				i++
			}
		case c == ',':
			lastComma = i
		case c == '}' || c == ']':
			if lastComma >= 0 {
				out[lastComma] = ' '
			}
			lastComma = -1
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		default:
			lastComma = -1
		}
	}
	return out
}
