// Package template turns package templates into BuildNet packages.
//
// A template is a YAML file in <root>/.buildnet/templates/ (or one of the
// templates bundled with BuildNet) describing one or more packages whose
// fields may contain {param} placeholders:
//
//	name: ts-library
//	description: TypeScript library compiled with tsc
//	params:
//	  - name: dir
//	    description: parent folder of the package
//	    default: packages
//	packages:
//	  - name: "{name}"
//	    path: "{dir}/{name}"
//	    build_cmd: npx tsc -p tsconfig.json
//
// [Parse] reads one file, [Load] lists the bundled templates and the
// workspace's own (a workspace template replaces a bundled one of the same
// name), [Template.Apply] fills the placeholders and [ApplyToWorkspace]
// adds the result to a copy of a [buildnet.Workspace] and validates it.
//
// # Values are data
//
// A value replaces its placeholder verbatim in the fields that name things
// (name, dependencies) and in the fields that are paths (path, output_dir,
// sources), after checks: names use only letters, digits and @ . _ / -,
// paths stay relative and below the root. In shell fields (build_cmd,
// hooks.pre_build, hooks.post_build) the value is substituted as one
// POSIX-shell single-quoted word, so `x; rm -rf /` reaches the command as
// that literal argument. For this to hold, a placeholder in a shell field
// must be a bare word (not inside quotes, backquotes, ${...}, arithmetic,
// comments or here-documents); Parse refuses a template that breaks this.
//
// # Errors
//
// Problems in a template file are [*ParseError] values carrying the file,
// line and column (matched by [ErrInvalid]); bad values given to Apply are
// [*ValueError] values (matched by [ErrValue]); a package name already in
// the workspace is reported with [ErrClash].
package template
