package template

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrInvalid is matched by every [*ParseError]: the template itself is
	// wrong.
	ErrInvalid = errors.New("template: invalid template")
	// ErrValue is matched by every [*ValueError]: a value given to Apply
	// does not fit the template.
	ErrValue = errors.New("template: invalid value")
	// ErrClash reports a package name that the workspace already has.
	ErrClash = errors.New("template: package name already in use")
	// ErrNotFound reports a template name that no template has.
	ErrNotFound = errors.New("template: no such template")
)

// ParseError describes what is wrong with a template and where.
type ParseError struct {
	File  string // the template file, or "bundled/<name>.yaml"
	Line  int    // 1-based; 0 when not tied to a position
	Col   int    // 1-based; 0 when unknown
	Field string // e.g. packages[0].path; "" for the whole file
	Msg   string // what is wrong and how to fix it
	Err   error  // underlying cause, if any
}

func (e *ParseError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
			if e.Col > 0 {
				fmt.Fprintf(&b, ":%d", e.Col)
			}
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Is reports whether target is [ErrInvalid].
func (e *ParseError) Is(target error) bool { return target == ErrInvalid }

// Unwrap returns the underlying cause.
func (e *ParseError) Unwrap() error { return e.Err }

// ValueError describes values that do not fit a template's parameters.
type ValueError struct {
	Template string   // the template's name
	Params   []string // the parameters concerned
	Msg      string   // what is wrong and how to fix it
}

func (e *ValueError) Error() string {
	return "template " + e.Template + ": " + e.Msg
}

// Is reports whether target is [ErrValue].
func (e *ValueError) Is(target error) bool { return target == ErrValue }
