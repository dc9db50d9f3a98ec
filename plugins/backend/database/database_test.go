package database_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/understage/understage/plugins/backend/database"
	"github.com/understage/understage/plugins/backend/database/databasetest"
)

func TestOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name    string
		opts    func(t *testing.T) database.Options
		dialect string
		file    string // expected database file, if any
	}{
		{"sqlite memory", func(*testing.T) database.Options {
			return database.Options{Client: "better-sqlite3", Connection: ":memory:"}
		}, "sqlite", ""},
		{"sqlite file", func(*testing.T) database.Options {
			return database.Options{Client: "sqlite3", Connection: filepath.Join(dir, "x.sqlite")}
		}, "sqlite", filepath.Join(dir, "x.sqlite")},
		{"sqlite directory", func(*testing.T) database.Options {
			return database.Options{Client: "better-sqlite3", Connection: map[string]any{"directory": dir}, PluginID: "catalog"}
		}, "sqlite", filepath.Join(dir, "catalog.sqlite")},
		{"pg", func(t *testing.T) database.Options { return databasetest.PG(t) }, "pg", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db, err := database.Open(ctx, tc.opts(t))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if db.Dialect() != tc.dialect {
				t.Errorf("Dialect() = %q, want %q", db.Dialect(), tc.dialect)
			}
			if _, err := db.Write.ExecContext(ctx, "CREATE TABLE t (v INTEGER)"); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Write.ExecContext(ctx, "INSERT INTO t (v) VALUES (42)"); err != nil {
				t.Fatal(err)
			}
			// Reads see committed writes (in-memory SQLite shares one connection).
			var v int
			if err := db.Read.QueryRowContext(ctx, "SELECT v FROM t").Scan(&v); err != nil || v != 42 {
				t.Fatalf("read back %d, %v", v, err)
			}
			if tc.file != "" {
				if _, err := os.Stat(tc.file); err != nil {
					t.Errorf("database file: %v", err)
				}
				if _, err := db.Read.ExecContext(ctx, "INSERT INTO t (v) VALUES (1)"); err == nil {
					t.Error("read pool accepted a write")
				}
				var mode string
				if err := db.Write.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
					t.Errorf("journal_mode = %q, %v", mode, err)
				}
				var fk int
				if err := db.Read.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
					t.Errorf("foreign_keys = %d, %v", fk, err)
				}
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts database.Options
	}{
		{"unknown client", database.Options{Client: "mysql"}},
		{"directory without plugin", database.Options{Client: "sqlite3", Connection: map[string]any{"directory": "/tmp"}}},
		{"bad connection type", database.Options{Client: "pg", Connection: 42}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if db, err := database.Open(context.Background(), tc.opts); err == nil {
				db.Close()
				t.Fatal("Open succeeded")
			}
		})
	}
}

func TestMemoryDatabasesAreSeparate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, err := database.Open(ctx, database.Options{Client: "sqlite3", Connection: ":memory:"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := database.Open(ctx, database.Options{Client: "sqlite3", Connection: ":memory:"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := a.Write.ExecContext(ctx, "CREATE TABLE only_in_a (v INTEGER)"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Read.ExecContext(ctx, "SELECT * FROM only_in_a"); err == nil {
		t.Error("second in-memory database sees the first one's table")
	}
}

// TestPostgresJITOff: PostgreSQL's JIT compiles every sub-plan of a query
// whose estimated cost passes jit_above_cost, which a fresh database's
// estimates always do: a catalog filter with 100 conditions then spends 16 s
// compiling. Connections therefore run with jit=off unless the connection
// string sets it.
func TestPostgresJITOff(t *testing.T) {
	t.Parallel()
	o := databasetest.PG(t)
	c := o.Connection.(map[string]any)
	tests := []struct {
		name string
		conn any
		want string
	}{
		{"connection map", c, "off"},
		{"connection string", fmt.Sprintf("postgres://%v@%v:%v/%v?sslmode=disable", c["user"], c["host"], c["port"], c["database"]), "off"},
		{"connection string that asks for jit", fmt.Sprintf("postgres://%v@%v:%v/%v?sslmode=disable&jit=on", c["user"], c["host"], c["port"], c["database"]), "on"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db, err := database.Open(context.Background(), database.Options{Client: "pg", Connection: tc.conn})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var jit string
			if err := db.Read.QueryRowContext(context.Background(), "SHOW jit").Scan(&jit); err != nil || jit != tc.want {
				t.Errorf("jit = %q (%v), want %q", jit, err, tc.want)
			}
		})
	}
}
