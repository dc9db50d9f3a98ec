package wire_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/understage/understage/cmd/understage/wire"
	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/database/databasetest"
)

// TestMigratePG: on PostgreSQL, Migrate prepares every schema a replica
// started with skipMigrations checks, the catalog scheduler's lease table
// included, and a second Migrate finds nothing to do.
func TestMigratePG(t *testing.T) {
	ctx := context.Background()
	c := databasetest.PG(t).Connection.(map[string]any)
	dsn := fmt.Sprintf("postgres://postgres@127.0.0.1:5432/%s?sslmode=disable", c["database"])
	load := func(skip bool) *config.Config {
		t.Helper()
		yaml := fmt.Sprintf("backend:\n  baseUrl: http://127.0.0.1:0\n  database: {client: pg, skipMigrations: %v, connection: %[2]q, "+
			"plugin: {catalog: {connection: %[2]q}, auth: {connection: %[2]q}, scaffolder: {connection: %[2]q}}}\napp:\n  disabled: true\n", skip, dsn)
		cfg, err := config.LoadBytes([]byte(yaml), filepath.Join(t.TempDir(), "app-config.yaml"), nil)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	log := slog.New(slog.DiscardHandler)
	if b, err := wire.New(ctx, load(true), log); err == nil {
		b.Close()
		t.Fatal("a replica with skipMigrations started on an unmigrated database")
	}
	for i := range 2 {
		if err := wire.Migrate(ctx, load(false), log); err != nil {
			t.Fatalf("migrate #%d: %v", i+1, err)
		}
	}
	b, err := wire.New(ctx, load(true), log)
	if err != nil {
		t.Fatalf("replica with skipMigrations after migrate: %v", err)
	}
	b.Close()
}
