package database_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/database"
)

// TestSkipMigrations: with skipMigrations a database is checked, never
// changed: a schema missing a migration fails naming it, a migrated one
// opens; the plugin's setting wins over the base one.
func TestSkipMigrations(t *testing.T) {
	ctx := context.Background()
	v1 := migrationFS(map[string]string{"0001_a.sql": "CREATE TABLE a (x INTEGER);"})
	v2 := migrationFS(map[string]string{"0001_a.sql": "CREATE TABLE a (x INTEGER);", "0002_b.sql": "CREATE TABLE b (y INTEGER);"})
	for _, tg := range migrateTargets() {
		t.Run(tg.name, func(t *testing.T) {
			opts := tg.opts(t)
			open := func(skip bool) *database.DB {
				t.Helper()
				o := opts
				o.SkipMigrations = skip
				db, err := database.Open(ctx, o)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = db.Close() })
				return db
			}
			skipping := open(true)
			if err := database.Migrate(ctx, skipping, "skip_migrations", v1); !errors.Is(err, database.ErrNotMigrated) {
				t.Fatalf("fresh database with skip: %v, want ErrNotMigrated", err)
			}
			var n int
			if err := skipping.Read.DB.QueryRowContext(ctx, `SELECT count(*) FROM skip_migrations`).Scan(&n); err == nil {
				t.Fatalf("skip created the migrations table")
			}
			if err := database.Migrate(ctx, open(false), "skip_migrations", v1); err != nil {
				t.Fatal(err)
			}
			if err := database.Migrate(ctx, skipping, "skip_migrations", v1); err != nil {
				t.Fatalf("migrated database with skip: %v", err)
			}
			err := database.Migrate(ctx, skipping, "skip_migrations", v2)
			if !errors.Is(err, database.ErrNotMigrated) || !strings.Contains(err.Error(), "0002_b") {
				t.Fatalf("newer release with skip: %v, want ErrNotMigrated naming 0002_b", err)
			}
			if err := skipping.Read.DB.QueryRowContext(ctx, `SELECT count(*) FROM b`).Scan(&n); err == nil {
				t.Fatalf("skip applied 0002_b")
			}
		})
	}
	t.Run("config", func(t *testing.T) {
		for _, tc := range []struct {
			yaml string
			want map[string]bool
		}{
			{"backend:\n  database: {client: better-sqlite3, connection: ':memory:'}\n", map[string]bool{"catalog": false, "auth": false}},
			{"backend:\n  database: {client: better-sqlite3, connection: ':memory:', skipMigrations: true}\n", map[string]bool{"catalog": true, "auth": true}},
			{"backend:\n  database:\n    client: better-sqlite3\n    connection: ':memory:'\n    skipMigrations: true\n    plugin: {auth: {skipMigrations: false}}\n", map[string]bool{"catalog": true, "auth": false}},
		} {
			cfg, err := config.LoadBytes([]byte(tc.yaml), "app-config.yaml", nil)
			if err != nil {
				t.Fatal(err)
			}
			for id, want := range tc.want {
				o, err := database.ConfigOptions(cfg, id, nil)
				if err != nil {
					t.Fatal(err)
				}
				if o.SkipMigrations != want {
					t.Errorf("%q: %s SkipMigrations %v, want %v", tc.yaml, id, o.SkipMigrations, want)
				}
			}
		}
	})
}
