package state

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// APIKey is an API key as the store keeps it: never the key itself, only
// its SHA-256.
type APIKey struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Role is read, build or admin.
	Role string `json:"role"`
	// Hash is the SHA-256 of the key. It never leaves the daemon.
	Hash []byte `json:"-"`
	// Prefix is the first characters of the key, shown so that a user can
	// tell their keys apart.
	Prefix     string    `json:"prefix"`
	CreatedAt  time.Time `json:"created_at"`
	CreatedBy  string    `json:"created_by,omitempty"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
	// RevokedAt is zero while the key is valid.
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// Revoked reports whether the key has been revoked.
func (k APIKey) Revoked() bool { return !k.RevokedAt.IsZero() }

// User is an account that logs in with a password.
type User struct {
	Name string `json:"name"`
	// Role is read, build or admin.
	Role string `json:"role"`
	// PasswordHash is the encoded password hash (bcrypt). It never leaves
	// the daemon.
	PasswordHash string    `json:"-"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
	// TokenVersion is bumped by every password or role change: tokens
	// issued for an older version are refused.
	TokenVersion int64 `json:"-"`
}

// Session is a client session of the daemon.
type Session struct {
	ID    string `json:"id"`
	Actor string `json:"actor"`
	Role  string `json:"role"`
	// Kind says what opened it: http, ws, panel or cli.
	Kind      string    `json:"kind,omitempty"`
	Remote    string    `json:"remote,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	LastSeen  time.Time `json:"last_seen"`
	// ClosedAt is zero while the session is open.
	ClosedAt time.Time `json:"closed_at,omitzero"`
}

// AuthStore is the persistence of keys, users and sessions. [DB]
// implements it.
type AuthStore interface {
	// CreateKey records a new key; [ErrExists] if its id or hash is taken.
	CreateKey(ctx context.Context, k APIKey) error
	// KeyByHash returns the key with that SHA-256, revoked or not, or
	// [ErrNotFound].
	KeyByHash(ctx context.Context, hash []byte) (APIKey, error)
	// Key returns one key by id, or [ErrNotFound].
	Key(ctx context.Context, id string) (APIKey, error)
	// Keys lists every key, oldest first.
	Keys(ctx context.Context) ([]APIKey, error)
	// RevokeKey revokes a key; revoking a revoked key is a no-op.
	RevokeKey(ctx context.Context, id string, at time.Time) error
	// TouchKey records that a key was used at at.
	TouchKey(ctx context.Context, id string, at time.Time) error
	// CreateUser records a new user; [ErrExists] if the name is taken.
	CreateUser(ctx context.Context, u User) error
	// User returns one user, or [ErrNotFound].
	User(ctx context.Context, name string) (User, error)
	// Users lists every user by name.
	Users(ctx context.Context) ([]User, error)
	// UpdateUser changes a user's role and, when passwordHash is not
	// empty, password; either bumps the token version.
	UpdateUser(ctx context.Context, name, role, passwordHash string) error
	// DeleteUser removes a user, or returns [ErrNotFound].
	DeleteUser(ctx context.Context, name string) error
	// AuthSecret returns the random key that signs login tokens, created
	// once per database.
	AuthSecret(ctx context.Context) ([]byte, error)
	// PutSession inserts or replaces a session.
	PutSession(ctx context.Context, s Session) error
	// Sessions lists the open sessions.
	Sessions(ctx context.Context) ([]Session, error)
	// CloseSession marks a session closed at at.
	CloseSession(ctx context.Context, id string, at time.Time) error
	// PruneSessions deletes the sessions closed, or last seen, before
	// before.
	PruneSessions(ctx context.Context, before time.Time) (int, error)
}

var _ AuthStore = (*DB)(nil)

const keyColumns = `id, name, role, hash, prefix, created_at, created_by, last_used_at, revoked_at`

func scanKey(row rowScanner) (APIKey, error) {
	var (
		k                      APIKey
		created, used, revoked int64
	)
	if err := row.Scan(&k.ID, &k.Name, &k.Role, &k.Hash, &k.Prefix, &created, &k.CreatedBy, &used, &revoked); err != nil {
		return APIKey{}, err
	}
	k.CreatedAt, k.LastUsedAt, k.RevokedAt = fromNanos(created), fromNanos(used), fromNanos(revoked)
	return k, nil
}

// CreateKey records a new API key. Its id, name, role and hash are
// required; a zero CreatedAt is set to the current time.
func (db *DB) CreateKey(ctx context.Context, k APIKey) error {
	if k.ID == "" || k.Name == "" || k.Role == "" || len(k.Hash) == 0 {
		return fmt.Errorf("create key: id, name, role and hash are required: %w", ErrInvalid)
	}
	created := nanos(k.CreatedAt)
	if created == 0 {
		created = nanos(db.now())
	}
	err := db.update(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO api_keys (`+keyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			k.ID, k.Name, k.Role, k.Hash, k.Prefix, created, k.CreatedBy, nanos(k.LastUsedAt), nanos(k.RevokedAt))
		if isConstraint(err) {
			return ErrExists
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create key %s: %w", k.ID, err)
	}
	return nil
}

// KeyByHash returns the key whose SHA-256 is hash, revoked or not.
func (db *DB) KeyByHash(ctx context.Context, hash []byte) (APIKey, error) {
	k, err := db.oneKey(ctx, `hash = ?`, hash)
	if err != nil {
		return APIKey{}, fmt.Errorf("find key by hash: %w", err)
	}
	return k, nil
}

// Key returns the key with the given id.
func (db *DB) Key(ctx context.Context, id string) (APIKey, error) {
	k, err := db.oneKey(ctx, `id = ?`, id)
	if err != nil {
		return APIKey{}, fmt.Errorf("get key %s: %w", id, err)
	}
	return k, nil
}

func (db *DB) oneKey(ctx context.Context, where string, arg any) (APIKey, error) {
	if db.closed.Load() {
		return APIKey{}, ErrClosed
	}
	k, err := scanKey(db.readers.QueryRowContext(ctx, `SELECT `+keyColumns+` FROM api_keys WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return APIKey{}, ErrNotFound
	}
	return k, err
}

// Keys lists every key, revoked ones included, oldest first.
func (db *DB) Keys(ctx context.Context) ([]APIKey, error) {
	keys := []APIKey{}
	err := db.view(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+keyColumns+` FROM api_keys ORDER BY created_at, id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			k, err := scanKey(rows)
			if err != nil {
				return err
			}
			keys = append(keys, k)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return keys, nil
}

// RevokeKey revokes key id at at (the current time when zero). A revoked
// key stays listed; revoking it again keeps the first time.
func (db *DB) RevokeKey(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		at = db.now()
	}
	err := db.update(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = CASE WHEN revoked_at = 0 THEN ? ELSE revoked_at END
			WHERE id = ?`, nanos(at), id)
		if err != nil {
			return err
		}
		return requireRow(res)
	})
	if err != nil {
		return fmt.Errorf("revoke key %s: %w", id, err)
	}
	return nil
}

// TouchKey records that key id was used at at.
func (db *DB) TouchKey(ctx context.Context, id string, at time.Time) error {
	err := db.update(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_keys SET last_used_at = MAX(last_used_at, ?) WHERE id = ?`, nanos(at), id)
		if err != nil {
			return err
		}
		return requireRow(res)
	})
	if err != nil {
		return fmt.Errorf("touch key %s: %w", id, err)
	}
	return nil
}

const userColumns = `name, role, password_hash, created_at, updated_at, token_version`

func scanUser(row rowScanner) (User, error) {
	var (
		u                User
		created, updated int64
	)
	if err := row.Scan(&u.Name, &u.Role, &u.PasswordHash, &created, &updated, &u.TokenVersion); err != nil {
		return User{}, err
	}
	u.CreatedAt, u.UpdatedAt = fromNanos(created), fromNanos(updated)
	return u, nil
}

// CreateUser records a new user. Name, role and password hash are
// required.
func (db *DB) CreateUser(ctx context.Context, u User) error {
	if u.Name == "" || u.Role == "" || u.PasswordHash == "" {
		return fmt.Errorf("create user: name, role and password hash are required: %w", ErrInvalid)
	}
	now := nanos(db.now())
	err := db.update(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, 1)`,
			u.Name, u.Role, u.PasswordHash, now, now)
		if isConstraint(err) {
			return ErrExists
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create user %s: %w", u.Name, err)
	}
	return nil
}

// User returns the user with the given name.
func (db *DB) User(ctx context.Context, name string) (User, error) {
	if db.closed.Load() {
		return User{}, ErrClosed
	}
	u, err := scanUser(db.readers.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("get user %s: %w", name, err)
	}
	return u, nil
}

// Users lists every user by name.
func (db *DB) Users(ctx context.Context) ([]User, error) {
	users := []User{}
	err := db.view(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY name`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			u, err := scanUser(rows)
			if err != nil {
				return err
			}
			users = append(users, u)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return users, nil
}

// UpdateUser sets the role of user name (unchanged when role is empty)
// and, when passwordHash is not empty, its password. Either bumps the
// user's token version, so that tokens issued before stop working.
func (db *DB) UpdateUser(ctx context.Context, name, role, passwordHash string) error {
	err := db.update(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET
			role = CASE WHEN ? = '' THEN role ELSE ? END,
			password_hash = CASE WHEN ? = '' THEN password_hash ELSE ? END,
			updated_at = ?, token_version = token_version + 1
			WHERE name = ?`, role, role, passwordHash, passwordHash, nanos(db.now()), name)
		if err != nil {
			return err
		}
		return requireRow(res)
	})
	if err != nil {
		return fmt.Errorf("update user %s: %w", name, err)
	}
	return nil
}

// DeleteUser removes user name.
func (db *DB) DeleteUser(ctx context.Context, name string) error {
	err := db.update(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM users WHERE name = ?`, name)
		if err != nil {
			return err
		}
		return requireRow(res)
	})
	if err != nil {
		return fmt.Errorf("delete user %s: %w", name, err)
	}
	return nil
}

const authSecretKey = "auth_secret"

// AuthSecret returns the database's token-signing key (32 random bytes),
// creating it on first use. It is distinct from [DB.Secret].
func (db *DB) AuthSecret(ctx context.Context) ([]byte, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	var v []byte
	err := db.readers.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, authSecretKey).Scan(&v)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("read auth secret: %w", err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("create auth secret: %w", err)
	}
	err = db.update(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`,
			authSecretKey, key); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, authSecretKey).Scan(&v)
	})
	if err != nil {
		return nil, fmt.Errorf("create auth secret: %w", err)
	}
	return v, nil
}

const sessionColumns = `id, actor, role, kind, remote, created_at, last_seen, closed_at`

// PutSession inserts session s or replaces the one with its id.
func (db *DB) PutSession(ctx context.Context, s Session) error {
	if s.ID == "" || s.Actor == "" {
		return fmt.Errorf("put session: id and actor are required: %w", ErrInvalid)
	}
	err := db.update(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions (`+sessionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET actor = excluded.actor, role = excluded.role, kind = excluded.kind,
				remote = excluded.remote, last_seen = excluded.last_seen, closed_at = excluded.closed_at`,
			s.ID, s.Actor, s.Role, s.Kind, s.Remote, nanos(s.CreatedAt), nanos(s.LastSeen), nanos(s.ClosedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("put session %s: %w", s.ID, err)
	}
	return nil
}

// Sessions lists the sessions not closed, oldest first.
func (db *DB) Sessions(ctx context.Context) ([]Session, error) {
	out := []Session{}
	err := db.view(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE closed_at = 0 ORDER BY created_at, id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				s                      Session
				created, seen, closedA int64
			)
			if err := rows.Scan(&s.ID, &s.Actor, &s.Role, &s.Kind, &s.Remote, &created, &seen, &closedA); err != nil {
				return err
			}
			s.CreatedAt, s.LastSeen, s.ClosedAt = fromNanos(created), fromNanos(seen), fromNanos(closedA)
			out = append(out, s)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	return out, nil
}

// CloseSession marks session id closed at at; an unknown id is
// [ErrNotFound].
func (db *DB) CloseSession(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		at = db.now()
	}
	err := db.update(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE sessions SET closed_at = ? WHERE id = ? AND closed_at = 0`, nanos(at), id)
		if err != nil {
			return err
		}
		return requireRow(res)
	})
	if err != nil {
		return fmt.Errorf("close session %s: %w", id, err)
	}
	return nil
}

// PruneSessions deletes the sessions closed before before, and the open
// ones last seen before it, returning how many it deleted.
func (db *DB) PruneSessions(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := db.update(ctx, func(tx *sql.Tx) error {
		b := nanos(before)
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE (closed_at > 0 AND closed_at < ?) OR last_seen < ?`, b, b)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune sessions: %w", err)
	}
	return int(n), nil
}

// requireRow turns an update that matched no row into ErrNotFound.
func requireRow(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// isConstraint reports whether err is a uniqueness or key violation.
func isConstraint(err error) bool {
	return err != nil && strings.Contains(err.Error(), "constraint failed")
}
