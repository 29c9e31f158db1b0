// Package wsinit detects an npm, Yarn or pnpm workspace so that
// `buildnetd init` can write a first .buildnet/config.json for it.
//
// [Detect] reads the workspace declaration (the "workspaces" field of the
// root package.json, in its array or {"packages": [...]} form, or the
// "packages" list of pnpm-workspace.yaml), expands its globs with doublestar
// semantics, and reads every member's package.json to find its name, its
// build script, the workspace members it depends on and where its build
// output probably goes.
//
// # Safety
//
// Every file is read through an [os.Root] opened on the workspace root, and
// the directory walk never descends into symbolic links, so nothing outside
// the root is ever read. A directory whose package.json is a symbolic link is
// not a member. node_modules and dot-directories are never searched for
// members.
package wsinit
