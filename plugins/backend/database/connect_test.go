package database_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/understage/understage/plugins/backend/database"
	"github.com/understage/understage/plugins/backend/database/databasetest"
)

// TestConnect: a connection of its own reaches the pool's database with
// the pool's settings (jit off); SQLite has none.
func TestConnect(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := database.Open(ctx, databasetest.PG(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := db.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var name, jit string
	if err := c.QueryRow(ctx, "SELECT current_database(), current_setting('jit')").Scan(&name, &jit); err != nil {
		t.Fatal(err)
	}
	var poolName string
	if err := db.Read.DB.QueryRowContext(ctx, "SELECT current_database()").Scan(&poolName); err != nil {
		t.Fatal(err)
	}
	if name != poolName || jit != "off" {
		t.Errorf("own connection to %q with jit %q, want %q and off", name, jit, poolName)
	}

	lite, err := database.Open(ctx, database.Options{Client: "better-sqlite3", Connection: filepath.Join(t.TempDir(), "x.sqlite")})
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	if _, err := lite.Connect(ctx); err == nil {
		t.Error("SQLite gave a connection of its own")
	}
}
