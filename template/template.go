package template

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/musclemap/buildnet/buildnet"
)

// MaxFileSize bounds a template file; larger files are refused.
const MaxFileSize = 1 << 20

// SourceBundled is the [Template.Source] of the templates built into
// BuildNet.
const SourceBundled = "bundled"

// WellKnownName is the placeholder a template may use without declaring
// it: the name of the new package.
const WellKnownName = "name"

// Param documents one placeholder of a template.
type Param struct {
	// Name is the placeholder's name: {Name} in the template's fields.
	Name string `json:"name"`
	// Description tells the user what to give.
	Description string `json:"description,omitempty"`
	// Default is used when Apply gets no value and Required is false.
	Default string `json:"default,omitempty"`
	// Pattern, when set, is a regular expression (RE2 syntax) that every
	// non-empty value must match as a whole.
	Pattern string `json:"pattern,omitempty"`
	// Required reports that Apply needs a non-empty value: the template
	// file gives no default.
	Required bool `json:"required"`
}

// Template is a parsed package template.
type Template struct {
	// Name identifies the template (letters, digits, . _ -).
	Name string `json:"name"`
	// Description says what the template creates.
	Description string `json:"description,omitempty"`
	// Params documents the placeholders, in file order; an undeclared
	// {name} is listed first as a required parameter.
	Params []Param `json:"params"`
	// Packages are the packages the template creates, with their
	// placeholders unfilled.
	Packages []buildnet.Package `json:"packages"`
	// Source is the file the template came from (relative to the
	// workspace root when loaded by [Load]), or [SourceBundled].
	Source string `json:"source"`
}

// Parse decodes and checks a template. file names the template in error
// messages and becomes its Source. A template whose name is missing takes
// the file's base name without its extension.
func Parse(data []byte, file string) (*Template, error) {
	p := &parser{file: file, pos: map[string]position{}}
	t, err := p.parse(data)
	if err != nil {
		return nil, err
	}
	return t, nil
}

type position struct{ line, col int }

type parser struct {
	file string
	// pos maps a field path (packages[0].path) to its value's position.
	pos map[string]position
}

func (p *parser) errAt(n *yaml.Node, field, format string, args ...any) *ParseError {
	e := &ParseError{File: p.file, Field: field, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	return e
}

var yamlLineRE = lazyRE(`^yaml: line (\d+): (.*)$`)

// lazyRE returns a function compiling expr when first called: a command
// that never reads a template does not pay for the expressions at start.
func lazyRE(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

func (p *parser) syntaxError(err error) *ParseError {
	e := &ParseError{File: p.file, Err: err, Msg: "malformed YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	if m := yamlLineRE().FindStringSubmatch(err.Error()); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = "malformed YAML: " + m[2]
	}
	return e
}

func (p *parser) parse(data []byte) (*Template, error) {
	if len(data) > MaxFileSize {
		return nil, &ParseError{File: p.file, Msg: fmt.Sprintf("file is %d bytes; templates are limited to %d", len(data), MaxFileSize)}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &ParseError{File: p.file, Msg: "empty template: write at least name and packages (see docs/templates.md)"}
		}
		return nil, p.syntaxError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, p.syntaxError(err)
		}
		return nil, p.errAt(&extra, "", "a second YAML document: put one template per file")
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, &ParseError{File: p.file, Msg: "empty template: write at least name and packages (see docs/templates.md)"}
	}
	t := &Template{Source: p.file}
	root := resolve(doc.Content[0])
	hasName := false
	err := p.mapping(root, "", "a template is a mapping with name, description, params and packages",
		[]string{"name", "description", "params", "packages"}, func(key string, v *yaml.Node) error {
			var err error
			switch key {
			case "name":
				hasName = true
				t.Name, err = p.str(v, "name")
				if err == nil && !templateNameRE().MatchString(t.Name) {
					err = p.errAt(v, "name", "template name %q: use letters, digits, '.', '_' and '-', starting with a letter or digit", t.Name)
				}
			case "description":
				t.Description, err = p.str(v, "description")
			case "params":
				t.Params, err = p.params(v)
			case "packages":
				t.Packages, err = p.packages(v)
			}
			return err
		})
	if err != nil {
		return nil, err
	}
	if !hasName {
		t.Name = baseName(p.file)
		if !templateNameRE().MatchString(t.Name) {
			return nil, p.errAt(root, "name", "missing name, and the file name %q is not a usable template name: add name: my-template", t.Name)
		}
	}
	if len(t.Packages) == 0 {
		return nil, p.errAt(root, "packages", "no packages: list at least one package with name, path and build_cmd")
	}
	c, cerr := t.compile()
	if cerr != nil {
		return nil, p.fieldError(cerr)
	}
	t.Params = c.params
	return t, nil
}

// fieldError turns a compile error into a ParseError at the field's
// position.
func (p *parser) fieldError(fe *fieldError) *ParseError {
	e := &ParseError{File: p.file, Field: fe.field, Msg: fe.msg}
	if pos, ok := p.pos[fe.field]; ok {
		e.Line, e.Col = pos.line, pos.col
	}
	return e
}

func baseName(file string) string {
	if i := strings.LastIndexAny(file, `/\`); i >= 0 {
		file = file[i+1:]
	}
	if i := strings.LastIndexByte(file, '.'); i > 0 {
		file = file[:i]
	}
	return file
}

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a scalar"
	}
	return "nothing"
}

// mapping walks a mapping node, refusing unknown and repeated keys.
func (p *parser) mapping(n *yaml.Node, field, what string, known []string, fn func(key string, v *yaml.Node) error) error {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		if n != nil && n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return nil
		}
		got := "nothing"
		if n != nil {
			got = nodeKind(n)
		}
		return p.errAt(n, field, "%s: got %s", what, got)
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k == nil || k.Kind != yaml.ScalarNode {
			return p.errAt(n.Content[i], field, "%s: keys must be plain words", what)
		}
		sub := k.Value
		if field != "" {
			sub = field + "." + k.Value
		}
		if k.Tag == "!!merge" {
			return p.errAt(k, field, "merge keys (<<) are not supported in templates: write the fields out")
		}
		if line, dup := seen[k.Value]; dup {
			return p.errAt(k, sub, "%s is given twice (first at line %d): keep one", sub, line)
		}
		seen[k.Value] = k.Line
		if !contains(known, k.Value) {
			where := "a template"
			if field != "" {
				where = field
			}
			return p.errAt(k, sub, "unknown field %q in %s: known fields are %s (check the spelling; see docs/templates.md)", k.Value, where, strings.Join(known, ", "))
		}
		if err := fn(k.Value, v); err != nil {
			return err
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// str reads a scalar as a string; null is "".
func (p *parser) str(n *yaml.Node, field string) (string, error) {
	n = resolve(n)
	if n == nil {
		return "", p.errAt(n, field, "%s: want a string", field)
	}
	p.pos[field] = position{n.Line, n.Column}
	if n.Kind != yaml.ScalarNode {
		msg := fmt.Sprintf("%s: want a string, got %s", field, nodeKind(n))
		if n.Kind == yaml.MappingNode && n.Style&yaml.FlowStyle != 0 {
			msg += `; quote a value that starts with "{", e.g. "{name}"`
		}
		return "", p.errAt(n, field, "%s", msg)
	}
	if n.Tag == "!!null" {
		return "", nil
	}
	return n.Value, nil
}

// strs reads a list of scalars; null is an empty list.
func (p *parser) strs(n *yaml.Node, field string) ([]string, error) {
	n = resolve(n)
	if n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, p.errAt(n, field, "%s: want a list of strings, got %s; write e.g. [\"src/**\"] or one \"- item\" per line", field, nodeKind(n))
	}
	out := make([]string, 0, len(n.Content))
	for i, item := range n.Content {
		s, err := p.str(item, fmt.Sprintf("%s[%d]", field, i))
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (p *parser) params(n *yaml.Node) ([]Param, error) {
	n = resolve(n)
	if n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, p.errAt(n, "params", "params: want a list of parameters (- name: ..., description: ..., default: ..., pattern: ...), got %s", nodeKind(n))
	}
	out := make([]Param, 0, len(n.Content))
	for i, item := range n.Content {
		field := fmt.Sprintf("params[%d]", i)
		pr := Param{Required: true}
		err := p.mapping(item, field, field+" is a mapping with name, description, default and pattern",
			[]string{"name", "description", "default", "pattern"}, func(key string, v *yaml.Node) error {
				var err error
				switch key {
				case "name":
					pr.Name, err = p.str(v, field+".name")
				case "description":
					pr.Description, err = p.str(v, field+".description")
				case "default":
					pr.Default, err = p.str(v, field+".default")
					pr.Required = false
				case "pattern":
					pr.Pattern, err = p.str(v, field+".pattern")
				}
				return err
			})
		if err != nil {
			return nil, err
		}
		if _, ok := p.pos[field+".name"]; !ok {
			it := resolve(item)
			p.pos[field+".name"] = position{it.Line, it.Column}
		}
		out = append(out, pr)
	}
	return out, nil
}

var packageFields = []string{"name", "path", "build_cmd", "dependencies", "sources", "output_dir", "env", "hooks", "runner"}

func (p *parser) packages(n *yaml.Node) ([]buildnet.Package, error) {
	n = resolve(n)
	if n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, p.errAt(n, "packages", "packages: want a list of packages (- name: ..., path: ..., build_cmd: ...), got %s", nodeKind(n))
	}
	out := make([]buildnet.Package, 0, len(n.Content))
	for i, item := range n.Content {
		field := fmt.Sprintf("packages[%d]", i)
		var pkg buildnet.Package
		err := p.mapping(item, field, field+" is a mapping with "+strings.Join(packageFields, ", "),
			packageFields, func(key string, v *yaml.Node) error {
				var err error
				f := field + "." + key
				switch key {
				case "name":
					pkg.Name, err = p.str(v, f)
				case "path":
					pkg.Path, err = p.str(v, f)
				case "build_cmd":
					pkg.BuildCmd, err = p.str(v, f)
				case "dependencies":
					pkg.Dependencies, err = p.strs(v, f)
				case "sources":
					pkg.Sources, err = p.strs(v, f)
				case "output_dir":
					pkg.OutputDir, err = p.str(v, f)
				case "env":
					pkg.Env, err = p.strs(v, f)
				case "runner":
					pkg.Runner, err = p.str(v, f)
				case "hooks":
					err = p.mapping(v, f, f+" is a mapping with pre_build and post_build",
						[]string{"pre_build", "post_build"}, func(key string, v *yaml.Node) error {
							var err error
							switch key {
							case "pre_build":
								pkg.Hooks.PreBuild, err = p.str(v, f+".pre_build")
							case "post_build":
								pkg.Hooks.PostBuild, err = p.str(v, f+".post_build")
							}
							return err
						})
				}
				return err
			})
		if err != nil {
			return nil, err
		}
		it := resolve(item)
		p.pos[field] = position{it.Line, it.Column}
		out = append(out, pkg)
	}
	return out, nil
}
