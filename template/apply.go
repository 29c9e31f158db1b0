package template

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/musclemap/buildnet/buildnet"
)

// fieldError is a problem in a template field, before it gets a file
// position.
type fieldError struct{ field, msg string }

// compiled is a checked template: its parameters (with an undeclared
// {name} added) and their patterns.
type compiled struct {
	params   []Param
	patterns map[string]*regexp.Regexp
}

// field is one placeholder-bearing string of a package.
type field struct {
	name  string // e.g. packages[0].sources[1]
	kind  fieldKind
	value string
}

// fields lists the strings of p that may hold placeholders.
func fields(i int, p *buildnet.Package) []field {
	pre := fmt.Sprintf("packages[%d].", i)
	fs := []field{
		{pre + "name", kindName, p.Name},
		{pre + "path", kindPath, p.Path},
		{pre + "build_cmd", kindShell, p.BuildCmd},
	}
	for j, d := range p.Dependencies {
		fs = append(fs, field{fmt.Sprintf("%sdependencies[%d]", pre, j), kindName, d})
	}
	for j, s := range p.Sources {
		fs = append(fs, field{fmt.Sprintf("%ssources[%d]", pre, j), kindPath, s})
	}
	fs = append(fs, field{pre + "output_dir", kindPath, p.OutputDir})
	for j, e := range p.Env {
		fs = append(fs, field{fmt.Sprintf("%senv[%d]", pre, j), kindNone, e})
	}
	return append(fs,
		field{pre + "hooks.pre_build", kindShell, p.Hooks.PreBuild},
		field{pre + "hooks.post_build", kindShell, p.Hooks.PostBuild},
		field{pre + "runner", kindNone, p.Runner},
	)
}

// compile checks everything about t that does not depend on values.
func (t *Template) compile() (*compiled, *fieldError) {
	if !templateNameRE().MatchString(t.Name) {
		return nil, &fieldError{"name", fmt.Sprintf("template name %q: use letters, digits, '.', '_' and '-', starting with a letter or digit", t.Name)}
	}
	if len(t.Packages) == 0 {
		return nil, &fieldError{"packages", "no packages: list at least one package with name, path and build_cmd"}
	}
	c := &compiled{patterns: map[string]*regexp.Regexp{}}
	declared := map[string]int{}
	for i, p := range t.Params {
		f := fmt.Sprintf("params[%d]", i)
		switch {
		case !paramNameRE().MatchString(p.Name):
			return nil, &fieldError{f + ".name", fmt.Sprintf("parameter name %q: use letters, digits and '_', starting with a letter or '_'", p.Name)}
		case declared[p.Name] > 0:
			return nil, &fieldError{f + ".name", fmt.Sprintf("parameter %s is declared twice (also params[%d]): keep one", p.Name, declared[p.Name]-1)}
		}
		declared[p.Name] = i + 1
		if p.Pattern != "" {
			re, err := regexp.Compile(`^(?:` + p.Pattern + `)$`)
			if err != nil {
				return nil, &fieldError{f + ".pattern", fmt.Sprintf("pattern of %s is not a valid regular expression: %v", p.Name, err)}
			}
			c.patterns[p.Name] = re
			if !p.Required && p.Default != "" && !re.MatchString(p.Default) {
				return nil, &fieldError{f + ".default", fmt.Sprintf("default %q of %s does not match its own pattern %s", p.Default, p.Name, p.Pattern)}
			}
		}
	}
	used := map[string]bool{}
	for i := range t.Packages {
		p := &t.Packages[i]
		pre := fmt.Sprintf("packages[%d]", i)
		switch {
		case strings.TrimSpace(p.Name) == "":
			return nil, &fieldError{pre, pre + ": missing name: write name: \"{name}\" to take it from the name parameter"}
		case p.Path == "":
			return nil, &fieldError{pre, pre + ": missing path: the package directory relative to the workspace root, e.g. packages/{name}"}
		case strings.TrimSpace(p.BuildCmd) == "":
			return nil, &fieldError{pre, pre + ": missing build_cmd: the shell command that builds the package"}
		}
		for _, f := range fields(i, p) {
			var unsafe map[int]string
			if f.kind == kindShell {
				unsafe = shellUnsafe(f.value)
			}
			for _, s := range splitPlaceholders(f.value) {
				if s.param == "" {
					continue
				}
				ph := "{" + s.param + "}"
				if declared[s.param] == 0 && s.param != WellKnownName {
					return nil, &fieldError{f.name, fmt.Sprintf("placeholder %s in %s is not declared in params: declare it (params: [{name: %s, description: ...}]) or write {{%s} for a literal %s", ph, f.name, s.param, s.param, ph)}
				}
				if f.kind == kindNone {
					return nil, &fieldError{f.name, fmt.Sprintf("placeholder %s in %s: this field takes no placeholders; write its value out", ph, f.name)}
				}
				if f.kind == kindShell && p.Runner != "" && p.Runner != buildnet.DefaultRunner {
					return nil, &fieldError{f.name, fmt.Sprintf("placeholder %s in %s: with runner %q the command may not go through sh, so the value cannot be quoted safely; use the default runner or write the value out", ph, f.name, p.Runner)}
				}
				if r, bad := unsafe[s.off]; bad {
					return nil, &fieldError{f.name, fmt.Sprintf("placeholder %s in %s is %s: write it as a bare word (echo %s, not echo \"%s\"); its value is substituted already single-quoted, as one argument", ph, f.name, r, ph, ph)}
				}
				used[s.param] = true
			}
		}
	}
	for i, p := range t.Params {
		if !used[p.Name] {
			return nil, &fieldError{fmt.Sprintf("params[%d].name", i), fmt.Sprintf("parameter %s is declared but no field uses {%s}: remove it or use it", p.Name, p.Name)}
		}
	}
	c.params = slices.Clone(t.Params)
	if used[WellKnownName] && declared[WellKnownName] == 0 {
		c.params = append([]Param{{Name: WellKnownName, Description: "name of the new package", Required: true}}, c.params...)
	}
	// A default must fit every field it goes into.
	for i, p := range t.Params {
		if p.Required || p.Default == "" {
			continue
		}
		for j := range t.Packages {
			for _, f := range fields(j, &t.Packages[j]) {
				for _, s := range splitPlaceholders(f.value) {
					if s.param != p.Name {
						continue
					}
					if r := checkValue(f.kind, p.Default); r != "" {
						return nil, &fieldError{fmt.Sprintf("params[%d].default", i), fmt.Sprintf("default %q of %s cannot go into %s: %s", p.Default, p.Name, f.name, r)}
					}
				}
			}
		}
	}
	return c, nil
}

// Apply fills the placeholders of the template's packages with values
// (parameter name to value) and returns the packages. A parameter without
// a value takes its default; a required one without a value, a value for
// no parameter, a value that does not match its parameter's pattern or
// that cannot go into a field (see the package documentation) is an
// error ([*ValueError]). Items of dependencies and sources that are empty
// after substitution are dropped, so an optional parameter with an empty
// default can stand for "none". Apply does not look at the file system
// or at other packages: [ApplyToWorkspace] does.
func (t *Template) Apply(values map[string]string) ([]buildnet.Package, error) {
	c, fe := t.compile()
	if fe != nil {
		return nil, &ParseError{File: t.Source, Field: fe.field, Msg: fe.msg}
	}
	known := make([]string, len(c.params))
	for i, p := range c.params {
		known[i] = p.Name
	}
	var unknown []string
	for k := range values {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, &ValueError{Template: t.Name, Params: unknown, Msg: fmt.Sprintf("unknown parameter %s: this template takes %s", strings.Join(unknown, ", "), strings.Join(known, ", "))}
	}
	final := make(map[string]string, len(c.params))
	var missing []string
	for _, p := range c.params {
		v, ok := values[p.Name]
		switch {
		case ok && v != "":
			final[p.Name] = v
		case p.Required:
			missing = append(missing, p.Name)
		case ok:
			final[p.Name] = ""
		default:
			final[p.Name] = p.Default
		}
	}
	if len(missing) > 0 {
		return nil, missingError(t.Name, c.params, missing)
	}
	for _, p := range c.params {
		v := final[p.Name]
		if strings.IndexByte(v, 0) >= 0 {
			return nil, &ValueError{Template: t.Name, Params: []string{p.Name}, Msg: fmt.Sprintf("value for %s contains a NUL byte", p.Name)}
		}
		if re := c.patterns[p.Name]; re != nil && v != "" && !re.MatchString(v) {
			msg := fmt.Sprintf("value %q for %s does not match its pattern %s", v, p.Name, p.Pattern)
			if p.Description != "" {
				msg += " (" + p.Description + ")"
			}
			return nil, &ValueError{Template: t.Name, Params: []string{p.Name}, Msg: msg}
		}
	}
	out := make([]buildnet.Package, 0, len(t.Packages))
	for i := range t.Packages {
		p, err := t.fill(i, final)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func missingError(tmpl string, params []Param, missing []string) *ValueError {
	var b strings.Builder
	if len(missing) == 1 {
		fmt.Fprintf(&b, "missing value for %s", missing[0])
	} else {
		fmt.Fprintf(&b, "missing values for %s", strings.Join(missing, ", "))
	}
	b.WriteString(": give")
	for _, m := range missing {
		fmt.Fprintf(&b, " %s=VALUE", m)
		for _, p := range params {
			if p.Name == m && p.Description != "" {
				fmt.Fprintf(&b, " (%s)", p.Description)
			}
		}
	}
	return &ValueError{Template: tmpl, Params: missing, Msg: b.String()}
}

// fill substitutes final values into package i.
func (t *Template) fill(i int, final map[string]string) (buildnet.Package, error) {
	src := &t.Packages[i]
	pre := fmt.Sprintf("packages[%d].", i)
	var firstErr error
	one := func(name string, kind fieldKind, s string) string {
		v, _, err := t.substitute(pre+name, kind, s, final, false)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return v
	}
	list := func(name string, kind fieldKind, in []string) []string {
		var out []string
		for j, s := range in {
			v, drop, err := t.substitute(fmt.Sprintf("%s%s[%d]", pre, name, j), kind, s, final, true)
			if err != nil && firstErr == nil {
				firstErr = err
			}
			if !drop {
				out = append(out, v)
			}
		}
		return out
	}
	// Start from a copy so that fields without placeholders (env, runner)
	// carry over as they are.
	p := *src
	p.Name = one("name", kindName, src.Name)
	p.Path = one("path", kindPath, src.Path)
	p.BuildCmd = one("build_cmd", kindShell, src.BuildCmd)
	p.Dependencies = list("dependencies", kindName, src.Dependencies)
	p.Sources = list("sources", kindPath, src.Sources)
	p.OutputDir = one("output_dir", kindPath, src.OutputDir)
	p.Env = slices.Clone(src.Env)
	p.Hooks.PreBuild = one("hooks.pre_build", kindShell, src.Hooks.PreBuild)
	p.Hooks.PostBuild = one("hooks.post_build", kindShell, src.Hooks.PostBuild)
	return p, firstErr
}

// substitute fills the placeholders of one field. For a list item that
// held placeholders and came out empty, drop is true.
func (t *Template) substitute(name string, kind fieldKind, s string, final map[string]string, item bool) (out string, drop bool, err error) {
	var b strings.Builder
	var params []string
	for _, seg := range splitPlaceholders(s) {
		if seg.param == "" {
			b.WriteString(seg.lit)
			continue
		}
		v := final[seg.param]
		if r := checkValue(kind, v); r != "" {
			return "", false, &ValueError{Template: t.Name, Params: []string{seg.param}, Msg: fmt.Sprintf("value %q for %s cannot go into %s: %s", v, seg.param, name, r)}
		}
		if !slices.Contains(params, seg.param) {
			params = append(params, seg.param)
		}
		if kind == kindShell {
			b.WriteString(shellQuote(v))
		} else {
			b.WriteString(v)
		}
	}
	out = b.String()
	if item && len(params) > 0 && out == "" {
		return "", true, nil
	}
	if kind == kindName || (kind == kindPath && out != "") {
		if r := checkResult(kind, out); r != "" {
			return "", false, &ValueError{Template: t.Name, Params: params, Msg: fmt.Sprintf("%s: %s", name, r)}
		}
	}
	return out, false, nil
}

// ApplyToWorkspace applies t with values and returns a new workspace: a
// copy of ws with the template's packages appended, validated against
// root like a loaded configuration (root "" skips the checks that need
// the file system). ws itself is never modified. A package name already
// in ws is an error matching [ErrClash]; a package directory that does
// not exist under root is an error (templates add configuration, not
// files: create the directory first); any other configuration problem is
// the [*buildnet.ConfigError] from validation.
func ApplyToWorkspace(ws *buildnet.Workspace, root string, t *Template, values map[string]string) (*buildnet.Workspace, error) {
	if ws == nil || t == nil {
		return nil, fmt.Errorf("apply template: nil workspace or template")
	}
	pkgs, err := t.Apply(values)
	if err != nil {
		return nil, err
	}
	where := make(map[string]string, len(ws.Packages)+len(pkgs))
	for _, p := range ws.Packages {
		where[p.Name] = p.Path
	}
	for _, p := range pkgs {
		if at, ok := where[p.Name]; ok {
			return nil, fmt.Errorf("apply template %s: %w: %q is already the package at %s; choose another name", t.Name, ErrClash, p.Name, at)
		}
		where[p.Name] = p.Path
	}
	if root != "" {
		for _, p := range pkgs {
			rel := path.Clean(p.Path)
			fi, err := os.Stat(filepath.Join(root, filepath.FromSlash(rel)))
			if err != nil || !fi.IsDir() {
				return nil, &buildnet.ConfigError{Msg: fmt.Sprintf(
					"apply template %s: package %s: directory %s does not exist under the workspace root; create it first (mkdir -p %s)", t.Name, p.Name, rel, shellQuote(rel))}
			}
		}
	}
	out := cloneWorkspace(ws)
	out.Packages = append(out.Packages, pkgs...)
	if err := out.Validate(root); err != nil {
		return nil, fmt.Errorf("apply template %s: %w", t.Name, err)
	}
	return out, nil
}

func cloneWorkspace(ws *buildnet.Workspace) *buildnet.Workspace {
	c := *ws
	c.GlobalInputs = slices.Clone(ws.GlobalInputs)
	c.Env = slices.Clone(ws.Env)
	c.Packages = make([]buildnet.Package, len(ws.Packages))
	for i, p := range ws.Packages {
		p.Dependencies = slices.Clone(p.Dependencies)
		p.Sources = slices.Clone(p.Sources)
		p.Env = slices.Clone(p.Env)
		c.Packages[i] = p
	}
	return &c
}
