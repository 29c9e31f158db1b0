package graph

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors, for use with [errors.Is]. The typed errors below match
// them through their Is methods.
var (
	// ErrCycle means the dependencies form a cycle; see [CycleError].
	ErrCycle = errors.New("graph: dependency cycle")
	// ErrUnknownDependency means a package depends on a package that is not
	// in the graph; see [UnknownDependencyError].
	ErrUnknownDependency = errors.New("graph: unknown dependency")
	// ErrDuplicate means two nodes have the same name; see [DuplicateError].
	ErrDuplicate = errors.New("graph: duplicate package name")
	// ErrUnknownPackage means a query named a package that is not in the
	// graph; see [UnknownPackageError].
	ErrUnknownPackage = errors.New("graph: unknown package")
	// ErrEmptyName means a node has an empty name.
	ErrEmptyName = errors.New("graph: empty package name")
)

// CycleError reports a dependency cycle. Path starts and ends with the same
// package, and each package in it depends on the next one: for a package
// that depends on itself Path is [a a].
type CycleError struct {
	Path []string
}

// Error returns "dependency cycle: a -> b -> c -> a".
func (e *CycleError) Error() string {
	return "dependency cycle: " + strings.Join(e.Path, " -> ")
}

// Is reports whether target is [ErrCycle].
func (e *CycleError) Is(target error) bool { return target == ErrCycle }

// UnknownDependencyError reports that Package depends on Dependency, which
// is not a package of the graph. Suggestions holds the known names closest
// to Dependency, best first; it may be empty.
type UnknownDependencyError struct {
	Package     string
	Dependency  string
	Suggestions []string
}

// Error returns a message such as
// `package "api" depends on unknown package "sharde" (did you mean "shared"?)`.
func (e *UnknownDependencyError) Error() string {
	return fmt.Sprintf("package %q depends on unknown package %q", e.Package, e.Dependency) +
		didYouMean(e.Suggestions)
}

// Is reports whether target is [ErrUnknownDependency].
func (e *UnknownDependencyError) Is(target error) bool { return target == ErrUnknownDependency }

// DuplicateError reports that two nodes are named Name.
type DuplicateError struct {
	Name string
}

// Error returns `duplicate package name "x"`.
func (e *DuplicateError) Error() string {
	return fmt.Sprintf("duplicate package name %q", e.Name)
}

// Is reports whether target is [ErrDuplicate].
func (e *DuplicateError) Is(target error) bool { return target == ErrDuplicate }

// UnknownPackageError reports that a query named Name, which is not a
// package of the graph. Suggestions holds the known names closest to Name,
// best first; it may be empty.
type UnknownPackageError struct {
	Name        string
	Suggestions []string
}

// Error returns a message such as `unknown package "x" (did you mean "y"?)`.
func (e *UnknownPackageError) Error() string {
	return fmt.Sprintf("unknown package %q", e.Name) + didYouMean(e.Suggestions)
}

// Is reports whether target is [ErrUnknownPackage].
func (e *UnknownPackageError) Is(target error) bool { return target == ErrUnknownPackage }

// didYouMean formats suggestions as ` (did you mean "a", "b" or "c"?)`, or
// returns "" when there are none.
func didYouMean(suggestions []string) string {
	if len(suggestions) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(" (did you mean ")
	for i, s := range suggestions {
		switch {
		case i == 0:
		case i == len(suggestions)-1:
			b.WriteString(" or ")
		default:
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", s)
	}
	b.WriteString("?)")
	return b.String()
}
