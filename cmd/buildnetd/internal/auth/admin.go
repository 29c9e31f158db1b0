package auth

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/musclemap/buildnet/state"
)

// AdminKeyFile is the name, in the state directory, of the file holding
// the local admin key (mode 0600), which the CLI reads.
const AdminKeyFile = "admin.key"

// adminKeyName names the key EnsureAdminKey creates.
const adminKeyName = "local-admin"

// CreatedKey is a key just created: the only time the key is shown.
type CreatedKey struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role string `json:"role"`
	Key  string `json:"key"`
}

// CreateKey creates an API key named name with role, recorded as created
// by createdBy, and returns it with the key itself.
func CreateKey(ctx context.Context, store state.AuthStore, name string, role Role, createdBy string) (CreatedKey, error) {
	if !ValidName(name) {
		return CreatedKey{}, fmt.Errorf("create key %q: %w", name, ErrInvalidName)
	}
	if role == RoleNone {
		return CreatedKey{}, fmt.Errorf("create key %q: %w", name, ErrInvalidRole)
	}
	key, err := NewKey()
	if err != nil {
		return CreatedKey{}, err
	}
	id, err := newID("k_", 6)
	if err != nil {
		return CreatedKey{}, err
	}
	err = store.CreateKey(ctx, state.APIKey{ID: id, Name: name, Role: role.String(), Hash: HashKey(key),
		Prefix: key[:keyShown], CreatedBy: createdBy})
	if err != nil {
		return CreatedKey{}, err
	}
	return CreatedKey{ID: id, Name: name, Role: role.String(), Key: key}, nil
}

// AddUser creates a user with a bcrypt hash of password (cost 0 means
// the default).
func AddUser(ctx context.Context, store state.AuthStore, name string, role Role, password string, cost int) error {
	if !ValidName(name) {
		return fmt.Errorf("add user %q: %w", name, ErrInvalidName)
	}
	if role == RoleNone {
		return fmt.Errorf("add user %q: %w", name, ErrInvalidRole)
	}
	h, err := HashPassword(password, cost)
	if err != nil {
		return fmt.Errorf("add user %q: %w", name, err)
	}
	return store.CreateUser(ctx, state.User{Name: name, Role: role.String(), PasswordHash: h})
}

// UpdateUser changes a user's role (unless RoleNone) and password (unless
// ""). Either ends the user's tokens.
func UpdateUser(ctx context.Context, store state.AuthStore, name string, role Role, password string, cost int) error {
	var h string
	if password != "" {
		var err error
		if h, err = HashPassword(password, cost); err != nil {
			return fmt.Errorf("update user %q: %w", name, err)
		}
	}
	if h == "" && role == RoleNone {
		return fmt.Errorf("update user %q: nothing to change: %w", name, state.ErrInvalid)
	}
	return store.UpdateUser(ctx, name, role.String(), h)
}

// ReadAdminKey returns the key in stateDir's admin key file.
func ReadAdminKey(stateDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(stateDir, AdminKeyFile))
	if err != nil {
		return "", fmt.Errorf("read admin key: %w", err)
	}
	key := strings.TrimSpace(string(b))
	if !IsKey(key) {
		return "", fmt.Errorf("read admin key %s: not a buildnet key", filepath.Join(stateDir, AdminKeyFile))
	}
	return key, nil
}

// EnsureAdminKey makes sure stateDir's admin key file holds a valid admin
// key: when the file is missing, or its key is unknown, revoked or not
// admin, it creates a new admin key and writes it (mode 0600). It returns
// the file's path and whether it created a key.
func EnsureAdminKey(ctx context.Context, store state.AuthStore, stateDir string) (string, bool, error) {
	path := filepath.Join(stateDir, AdminKeyFile)
	key, err := ReadAdminKey(stateDir)
	switch {
	case err == nil:
		k, err := store.KeyByHash(ctx, HashKey(key))
		if err == nil && !k.Revoked() && k.Role == RoleAdmin.String() {
			if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
				if err := os.Chmod(path, 0o600); err != nil {
					return path, false, fmt.Errorf("secure admin key %s: %w", path, err)
				}
			}
			return path, false, nil
		}
		if err != nil && !errors.Is(err, state.ErrNotFound) {
			return path, false, err
		}
	case !errors.Is(err, fs.ErrNotExist) && !strings.Contains(err.Error(), "not a buildnet key"):
		return path, false, err
	}
	ck, err := CreateKey(ctx, store, adminKeyName, RoleAdmin, "buildnetd")
	if err != nil {
		return path, false, fmt.Errorf("create admin key: %w", err)
	}
	if err := writeFileAtomic(path, []byte(ck.Key+"\n"), 0o600); err != nil {
		return path, false, fmt.Errorf("write admin key: %w", err)
	}
	return path, true, nil
}
