package state

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
)

// Error messages recorded on builds marked interrupted.
const (
	msgOwnerGone   = "interrupted: the process running the build exited before it finished"
	msgOwnerClosed = "interrupted: the state database was closed before the build finished"
)

// interruptSQL marks unfinished builds interrupted; the caller appends the
// condition selecting which. Arguments: finished_at, finished_at, message.
const interruptSQL = `UPDATE builds SET
	status = 'interrupted',
	finished_at = ?,
	duration_ms = MAX(0, (? - CASE WHEN started_at > 0 THEN started_at ELSE created_at END) / 1000000),
	error = CASE WHEN error = '' THEN ? ELSE error END
WHERE status IN ('queued', 'running') AND `

// recover forgets the instances whose process is gone and marks their
// unfinished builds interrupted. A database without unfinished builds
// needs no write at all, which keeps opening it cheap.
func (db *DB) recover(ctx context.Context) error {
	var unfinished int
	if err := db.readers.QueryRowContext(ctx,
		`SELECT COUNT(*) FROM builds WHERE status IN ('queued', 'running')`).Scan(&unfinished); err != nil {
		return fmt.Errorf("look for unfinished builds: %w", err)
	}
	if unfinished == 0 {
		return nil
	}
	now := nanos(db.now())
	var interrupted int64
	err := db.update(ctx, func(tx *sql.Tx) error {
		dead, err := deadInstances(ctx, tx)
		if err != nil {
			return err
		}
		for _, id := range dead {
			if _, err := tx.ExecContext(ctx, `DELETE FROM instances WHERE id = ?`, id); err != nil {
				return fmt.Errorf("remove dead instance: %w", err)
			}
		}
		res, err := tx.ExecContext(ctx,
			interruptSQL+`owner_instance NOT IN (SELECT id FROM instances)`,
			now, now, msgOwnerGone)
		if err != nil {
			return fmt.Errorf("interrupt orphaned builds: %w", err)
		}
		interrupted, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return err
	}
	if interrupted > 0 {
		db.logger.LogAttrs(ctx, slog.LevelInfo, "marked orphaned builds interrupted", slog.Int64(logKeyCount, interrupted))
	}
	return nil
}

// deadInstances returns the ids of the registered instances whose process no
// longer runs.
func deadInstances(ctx context.Context, tx *sql.Tx) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, pid, pid_start FROM instances`)
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	defer rows.Close()
	var dead []string
	for rows.Next() {
		var (
			id            string
			pid, pidStart int64
		)
		if err := rows.Scan(&id, &pid, &pidStart); err != nil {
			return nil, fmt.Errorf("list instances: %w", err)
		}
		if !processAlive(int(pid), pidStart) {
			dead = append(dead, id)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	return dead, nil
}

// unregister marks the builds this handle left unfinished interrupted and
// removes its instance row. It runs in the transaction of [DB.Close].
func (db *DB) unregister(ctx context.Context, tx *sql.Tx) error {
	now := nanos(db.now())
	res, err := tx.ExecContext(ctx, interruptSQL+`owner_instance = ?`, now, now, msgOwnerClosed, db.instance)
	if err != nil {
		return fmt.Errorf("interrupt unfinished builds: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM instances WHERE id = ?`, db.instance); err != nil {
		return fmt.Errorf("unregister instance: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n > 0 {
		db.logger.LogAttrs(ctx, slog.LevelInfo, "marked unfinished builds interrupted on close", slog.Int64(logKeyCount, n))
	}
	return nil
}

// register records this handle as a live instance, once, in the
// transaction that creates its first build: a handle that never creates
// a build never writes its row (nor removes it on Close).
func (db *DB) register(ctx context.Context, tx *sql.Tx) error {
	if db.registered.Load() {
		return nil
	}
	now := nanos(db.now())
	if _, err := tx.ExecContext(ctx,
		`INSERT OR IGNORE INTO instances (id, pid, pid_start, started_at, heartbeat) VALUES (?, ?, ?, ?, ?)`,
		db.instance, db.pid, processStart(db.pid), now, now); err != nil {
		return fmt.Errorf("register instance: %w", err)
	}
	db.pendingRegister.Store(true)
	return nil
}

// touch records that this instance is active, for diagnostics.
func (db *DB) touch(ctx context.Context, tx *sql.Tx, now int64) error {
	if _, err := tx.ExecContext(ctx, `UPDATE instances SET heartbeat = ? WHERE id = ?`, now, db.instance); err != nil {
		return fmt.Errorf("update heartbeat: %w", err)
	}
	return nil
}
