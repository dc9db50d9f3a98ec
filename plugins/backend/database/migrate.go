package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"time"
)

// Migrations: understage has one runner, Migrate below, and every store
// (catalog, scaffolder, auth, the scheduler's lease table) uses it; bun's
// migrate package is not used.
// Decided because this runner does what bun/migrate does not: a folder of
// SQL per dialect, a check-only mode for replicas opened with
// SkipMigrations (fail rather than run on an unknown schema), a
// transaction-scoped PostgreSQL advisory lock so replicas starting
// together never apply one migration twice, and a history table per plugin
// (catalog_migrations, ...) that existing databases already hold. Moving to
// bun/migrate would mean converting those histories for no gain.

// Migrate applies a plugin's pending schema migrations. migrations holds one
// folder per dialect, "sqlite" and "postgres", of NNNN_name.sql files applied
// in name order; each runs in its own transaction and is recorded (version =
// file name without .sql) in table, which is created when missing and names
// the plugin's own migration history. Already recorded versions are skipped,
// so running it again is a no-op. When the database was opened with
// SkipMigrations, nothing is applied: Migrate fails unless every migration
// is already recorded, so that a replica never runs on a schema it does
// not know. On PostgreSQL a transaction-scoped advisory
// lock keyed by table keeps replicas starting together from running the same
// migration twice; SQLite needs none, its write transactions are exclusive.
func Migrate(ctx context.Context, db *DB, table string, migrations fs.FS) error {
	if !plainIdent(table) {
		return fmt.Errorf("database: migrations table %q is not a plain identifier", table)
	}
	if !db.skipMigrations {
		if err := createMigrationsTable(ctx, db, table); err != nil {
			return fmt.Errorf("create %s: %w", table, err)
		}
	}
	dir := "sqlite"
	if db.Dialect() == DialectPostgres {
		dir = "postgres"
	}
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return fmt.Errorf("read migrations: %w", err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".sql") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if db.skipMigrations {
		return checkMigrated(ctx, db, table, names)
	}
	for _, name := range names {
		body, err := fs.ReadFile(migrations, dir+"/"+name)
		if err == nil {
			err = applyMigration(ctx, db, table, strings.TrimSuffix(name, ".sql"), string(body))
		}
		if err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	return nil
}

// createMigrationsTable creates table under the lock: on PostgreSQL,
// concurrent CREATE TABLE IF NOT EXISTS of one table can still collide.
func createMigrationsTable(ctx context.Context, db *DB, table string) error {
	tx, err := lockedTx(ctx, db, table)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+table+` (version TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return err
	}
	return tx.Commit()
}

// lockedTx begins a write transaction that, on PostgreSQL, holds the
// advisory lock of table's migrations until it ends.
func lockedTx(ctx context.Context, db *DB, table string) (*sql.Tx, error) {
	tx, err := db.Write.DB.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	if db.Dialect() == DialectPostgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, table); err != nil {
			_ = tx.Rollback()
			return nil, fmt.Errorf("lock migrations: %w", err)
		}
	}
	return tx, nil
}

// ErrNotMigrated is the error of a database opened with SkipMigrations
// whose schema lacks a migration.
var ErrNotMigrated = errors.New("database schema is not migrated")

// checkMigrated fails unless every migration in names is recorded in table.
func checkMigrated(ctx context.Context, db *DB, table string, names []string) error {
	applied := map[string]bool{}
	rows, err := db.Read.DB.QueryContext(ctx, `SELECT version FROM `+table)
	if err == nil {
		defer rows.Close()
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				return fmt.Errorf("read %s: %w", table, err)
			}
			applied[v] = true
		}
		err = rows.Err()
	}
	if err != nil && len(applied) == 0 {
		// Most likely no such table: nothing was ever migrated.
		return fmt.Errorf("%w: %s cannot be read (%v); skipMigrations is set, run `understage migrate` first", ErrNotMigrated, table, err)
	}
	for _, name := range names {
		if v := strings.TrimSuffix(name, ".sql"); !applied[v] {
			return fmt.Errorf("%w: migration %s is not applied (%s) and skipMigrations is set; run `understage migrate` first", ErrNotMigrated, v, table)
		}
	}
	return nil
}

func applyMigration(ctx context.Context, db *DB, table, version, body string) error {
	tx, err := lockedTx(ctx, db, table)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	var n int
	if err := tx.QueryRowContext(ctx, Rebind(db.Dialect(), `SELECT count(*) FROM `+table+` WHERE version = ?`), version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	for _, stmt := range splitSQL(body) {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%w\n%s", err, stmt)
		}
	}
	if _, err := tx.ExecContext(ctx, Rebind(db.Dialect(), `INSERT INTO `+table+` (version, applied_at) VALUES (?, ?)`), version, time.Now().UnixMilli()); err != nil {
		return err
	}
	return tx.Commit()
}

// splitSQL splits a migration into statements at semicolons that end a line;
// comment lines are dropped.
func splitSQL(body string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(body, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
		if strings.HasSuffix(t, ";") {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if strings.TrimSpace(cur.String()) != "" {
		out = append(out, cur.String())
	}
	return out
}

// plainIdent reports whether s can be spliced into SQL unquoted.
func plainIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if c != '_' && (c < 'a' || c > 'z') && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}
