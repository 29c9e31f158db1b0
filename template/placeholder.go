package template

import (
	"fmt"
	"strings"
)

// fieldKind says how a field treats the values substituted into it.
type fieldKind uint8

const (
	kindNone  fieldKind = iota // no placeholders allowed (env)
	kindName                   // package names: name, dependencies
	kindPath                   // root-relative paths and patterns: path, output_dir, sources
	kindShell                  // sh -c commands: build_cmd, hooks
)

var (
	paramNameRE    = lazyRE(`^[A-Za-z_][A-Za-z0-9_]*$`)
	templateNameRE = lazyRE(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	nameCharsRE    = lazyRE(`^[A-Za-z0-9@._/-]*$`)
)

// segment is a piece of a field: literal text, or a placeholder (param
// set) found at byte offset off.
type segment struct {
	lit   string
	param string
	off   int
}

// splitPlaceholders cuts s into literal text and {param} placeholders.
// "{{" is a literal "{"; a "{" right after "$" is literal (shell ${var});
// a "{" not followed by an identifier and "}" is literal.
func splitPlaceholders(s string) []segment {
	var segs []segment
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			segs = append(segs, segment{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '{' {
			lit.WriteByte(c)
			continue
		}
		if i > 0 && s[i-1] == '$' {
			lit.WriteByte(c)
			continue
		}
		if i+1 < len(s) && s[i+1] == '{' {
			lit.WriteByte('{')
			i++
			continue
		}
		end := strings.IndexByte(s[i+1:], '}')
		if end < 0 || !paramNameRE().MatchString(s[i+1:i+1+end]) {
			lit.WriteByte(c)
			continue
		}
		flush()
		segs = append(segs, segment{param: s[i+1 : i+1+end], off: i})
		i += end + 1
	}
	flush()
	return segs
}

// shellQuote returns s as one POSIX shell word: single-quoted, with each
// single quote written as '\”.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// shell contexts tracked by shellUnsafe.
const (
	shTop     = iota // plain command text
	shCmd            // inside $( ... )
	shSingle         // inside '...'
	shDouble         // inside "..."
	shBack           // inside `...`
	shParam          // inside ${ ... }
	shArith          // inside $(( ... )) or (( ... ))
	shBracket        // inside $[ ... ]
	shANSI           // inside $'...' (bash), where \' does not end the quote
)

var shContextNames = [...]string{
	shTop:     "",
	shCmd:     "",
	shSingle:  "inside single quotes",
	shDouble:  "inside double quotes",
	shBack:    "inside backquotes",
	shParam:   "inside ${...}",
	shArith:   "inside an arithmetic expression",
	shBracket: "inside an arithmetic expression",
	shANSI:    "inside $'...' quotes",
}

type shFrame struct {
	ctx    int
	parens int
}

// shellUnsafe scans a shell command and returns, for each offset of a "{"
// where a single-quoted word would not stay one literal argument, why.
// It errs on the side of refusing: only plain command text, possibly
// inside $( ), is safe.
func shellUnsafe(s string) map[int]string {
	out := map[int]string{}
	stack := []shFrame{{ctx: shTop}}
	heredoc, comment := false, false
	wordStart := true
	reason := func() string {
		switch {
		case heredoc:
			return "after a here-document (<<), where quoting does not protect a value"
		case comment:
			return "inside a comment, where a newline in the value would end the comment"
		}
		for i := len(stack) - 1; i >= 0; i-- {
			if n := shContextNames[stack[i].ctx]; n != "" {
				return n
			}
		}
		return ""
	}
	push := func(ctx int) { stack = append(stack, shFrame{ctx: ctx}) }
	pop := func() {
		if len(stack) > 1 {
			stack = stack[:len(stack)-1]
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '{' {
			if r := reason(); r != "" {
				out[i] = r
			}
		}
		rest := s[i:]
		top := &stack[len(stack)-1]
		startOfWord := wordStart
		wordStart = strings.IndexByte(" \t\n;&|()", c) >= 0
		if comment {
			if c == '\n' {
				comment = false
				wordStart = true
			}
			continue
		}
		if c == '\\' && top.ctx != shSingle {
			if i+1 < len(s) {
				if s[i+1] == '{' {
					out[i+1] = "right after a backslash"
				}
				i++
			}
			wordStart = false
			continue
		}
		switch top.ctx {
		case shTop, shCmd:
			switch {
			case strings.HasPrefix(rest, "$'"):
				push(shANSI)
				i++
			case c == '\'':
				push(shSingle)
			case c == '"':
				push(shDouble)
			case c == '`':
				push(shBack)
			case c == '#' && startOfWord:
				comment = true
			case strings.HasPrefix(rest, "$(("):
				push(shArith)
				i += 2
			case strings.HasPrefix(rest, "$("):
				push(shCmd)
				i++
			case strings.HasPrefix(rest, "${"):
				push(shParam)
				i++
			case strings.HasPrefix(rest, "$["):
				push(shBracket)
				i++
			case strings.HasPrefix(rest, "((") && startOfWord:
				push(shArith)
				i++
			case strings.HasPrefix(rest, "<<"):
				heredoc = true
				i++
			case c == '(' && top.ctx == shCmd:
				top.parens++
			case c == ')' && top.ctx == shCmd:
				if top.parens == 0 {
					pop()
				} else {
					top.parens--
				}
			}
		case shSingle, shANSI:
			if c == '\'' {
				pop()
			}
		case shBack:
			if c == '`' {
				pop()
			}
		case shDouble, shParam, shArith, shBracket:
			switch {
			case c == '"' && top.ctx == shDouble:
				pop()
			case c == '}' && top.ctx == shParam:
				pop()
			case c == ']' && top.ctx == shBracket:
				pop()
			case c == '(' && top.ctx == shArith:
				top.parens++
			case c == ')' && top.ctx == shArith:
				if top.parens > 0 {
					top.parens--
				} else if i+1 < len(s) && s[i+1] == ')' {
					pop()
					i++
				}
			case c == '"':
				push(shDouble)
			case strings.HasPrefix(rest, "$'") && top.ctx == shParam:
				push(shANSI)
				i++
			case c == '\'' && top.ctx == shParam:
				push(shSingle)
			case c == '`':
				push(shBack)
			case strings.HasPrefix(rest, "$(("):
				push(shArith)
				i += 2
			case strings.HasPrefix(rest, "$("):
				push(shCmd)
				i++
			case strings.HasPrefix(rest, "${"):
				push(shParam)
				i++
			}
		}
	}
	return out
}

// checkValue reports why v cannot be substituted into a field of the
// given kind, or "" when it can.
func checkValue(kind fieldKind, v string) string {
	if strings.IndexByte(v, 0) >= 0 {
		return "it contains a NUL byte"
	}
	switch kind {
	case kindName:
		if !nameCharsRE().MatchString(v) {
			return "package names may contain only letters, digits and @ . _ / -"
		}
	case kindPath:
		for _, r := range v {
			if r < 0x20 || r == 0x7f {
				return "paths may not contain control characters"
			}
		}
		switch {
		case strings.Contains(v, `\`):
			return `paths use forward slashes; a backslash is not allowed`
		case strings.HasPrefix(v, "/"):
			return "it is absolute; paths are relative to the workspace root"
		case strings.ContainsAny(v, "*?[]{}"):
			return "paths may not contain the glob characters * ? [ ] { }"
		}
		for _, seg := range strings.Split(v, "/") {
			if seg == ".." {
				return `".." would lead out of the workspace root; use a path below the root`
			}
		}
	}
	return ""
}

// checkResult reports why a field's final value is not acceptable, or ""
// when it is. Only fields that held placeholders are checked here; the
// workspace validation checks the rest.
func checkResult(kind fieldKind, v string) string {
	switch kind {
	case kindName:
		switch {
		case v == "":
			return "the package name is empty"
		case !nameCharsRE().MatchString(v):
			return fmt.Sprintf("package name %q may contain only letters, digits and @ . _ / -", v)
		case strings.Contains(v, "/") && !strings.HasPrefix(v, "@"):
			return fmt.Sprintf("package name %q may contain a slash only as an npm scope (@scope/name)", v)
		case strings.HasPrefix(v, "-"):
			return fmt.Sprintf("package name %q may not start with '-' (it would read as a command-line flag)", v)
		}
	case kindPath:
		if strings.HasPrefix(v, "/") {
			return fmt.Sprintf("%q is absolute; paths are relative to the workspace root", v)
		}
		for _, seg := range strings.Split(v, "/") {
			if seg == ".." {
				return fmt.Sprintf("%q contains \"..\"; paths must stay below the workspace root", v)
			}
		}
	}
	return ""
}
