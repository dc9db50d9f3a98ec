package sqlstore_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/sqlstore"
	"github.com/understage/understage/catalog/storetest"
	"github.com/understage/understage/plugins/backend/database"
	"github.com/understage/understage/plugins/backend/database/databasetest"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openStore(t testing.TB, o database.Options) *sqlstore.Store {
	t.Helper()
	ctx := context.Background()
	o.PluginID = "catalog"
	o.Logger = quietLogger()
	db, err := database.Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	st, err := sqlstore.New(ctx, db, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func sqliteStore(t testing.TB) *sqlstore.Store {
	return openStore(t, database.Options{Client: "better-sqlite3", Connection: filepath.Join(t.TempDir(), "catalog.sqlite")})
}

func TestSQLite(t *testing.T) {
	t.Parallel()
	storetest.Exercise(t, func(t *testing.T) catalog.Store { return sqliteStore(t) })
}

// TestSQLiteMemory: Backstage's default database, one handle for reads and
// writes, whose cache generation the store counts itself.
func TestSQLiteMemory(t *testing.T) {
	t.Parallel()
	storetest.Exercise(t, func(t *testing.T) catalog.Store {
		return openStore(t, database.Options{Client: "better-sqlite3", Connection: ":memory:"})
	})
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	storetest.Exercise(t, func(t *testing.T) catalog.Store { return openStore(t, databasetest.PG(t)) })
}

func TestMigrationsAreIdempotent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts func(t *testing.T) database.Options
	}{
		{"sqlite", func(t *testing.T) database.Options {
			return database.Options{Client: "sqlite3", Connection: map[string]any{"directory": t.TempDir()}}
		}},
		{"pg", func(t *testing.T) database.Options { return databasetest.PG(t) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o := tc.opts(t)
			openStore(t, o)
			openStore(t, o) // second New on a migrated database must not fail
		})
	}
}
