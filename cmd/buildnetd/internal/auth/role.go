package auth

import (
	"errors"
	"fmt"
)

// Role is what a principal may do. Each role allows everything the roles
// below it do.
type Role int

// Roles, weakest first. The zero Role allows nothing.
const (
	RoleNone Role = iota
	// RoleRead sees status, history, logs, the graph, events and files.
	RoleRead
	// RoleBuild may also trigger builds and cancel its own.
	RoleBuild
	// RoleAdmin may also clear the cache, change the configuration and
	// files, manage keys, users and sessions, and cancel any build.
	RoleAdmin
)

// ErrInvalidRole is returned by [ParseRole] for an unknown name.
var ErrInvalidRole = errors.New("auth: invalid role: want read, build or admin")

// ParseRole reads "read", "build" or "admin".
func ParseRole(s string) (Role, error) {
	switch s {
	case "read":
		return RoleRead, nil
	case "build":
		return RoleBuild, nil
	case "admin":
		return RoleAdmin, nil
	}
	return RoleNone, fmt.Errorf("role %q: %w", s, ErrInvalidRole)
}

// String returns the role's name: read, build, admin, or "" for none.
func (r Role) String() string {
	switch r {
	case RoleRead:
		return "read"
	case RoleBuild:
		return "build"
	case RoleAdmin:
		return "admin"
	}
	return ""
}

// MarshalText encodes the role as its name.
func (r Role) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText decodes a role name.
func (r *Role) UnmarshalText(b []byte) error {
	v, err := ParseRole(string(b))
	if err != nil {
		return err
	}
	*r = v
	return nil
}

// Allows reports whether r may do what need requires.
func (r Role) Allows(need Role) bool { return r >= need && r != RoleNone }

// Perm names something a request may want to do. [Perm.Role] maps it to
// the role it needs: that table is the only place roles are decided.
type Perm string

// Permissions.
const (
	// PermPublic needs no credentials (GET /health, the panel's files).
	PermPublic Perm = "public"
	// PermRead: status, history, logs, graph, events, config, files, own
	// audit entries and sessions.
	PermRead Perm = "read"
	// PermBuild: trigger builds, cancel one's own, hand off one's session.
	PermBuild Perm = "build"
	// PermCancelAny: cancel a build someone else asked for.
	PermCancelAny Perm = "cancel_any"
	// PermCacheClear: clear the cache.
	PermCacheClear Perm = "cache_clear"
	// PermConfig: read and change the daemon's security settings.
	PermConfig Perm = "config"
	// PermKeys: create, list and revoke API keys.
	PermKeys Perm = "keys"
	// PermUsers: add, list, change and remove users.
	PermUsers Perm = "users"
	// PermFilesWrite: edit and move workspace files.
	PermFilesWrite Perm = "files_write"
	// PermAuditAll: read everyone's audit entries, not only one's own.
	PermAuditAll Perm = "audit_all"
	// PermSessionsAll: see and close anyone's sessions.
	PermSessionsAll Perm = "sessions_all"
)

// Role returns the role p needs; RoleNone for PermPublic. An unknown
// permission needs admin.
func (p Perm) Role() Role {
	switch p {
	case PermPublic:
		return RoleNone
	case PermRead:
		return RoleRead
	case PermBuild:
		return RoleBuild
	}
	return RoleAdmin
}
