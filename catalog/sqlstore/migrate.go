package sqlstore

import (
	"context"
	"embed"
	"io/fs"

	"github.com/understage/understage/plugins/backend/database"
)

// migrationFS holds the schema: migrations/<sqlite|postgres>/NNNN_*.sql.
//
//go:embed migrations
var migrationFS embed.FS

// migrate applies the dialect's pending migrations, recording them in
// catalog_migrations.
func migrate(ctx context.Context, db *database.DB) error { return Migrate(ctx, db) }

// Migrate applies the plugin's pending schema migrations (`understage
// migrate`); opening the store does the same.
func Migrate(ctx context.Context, db *database.DB) error {
	dirs, err := fs.Sub(migrationFS, "migrations")
	if err != nil {
		return err
	}
	return database.Migrate(ctx, db, "catalog_migrations", dirs)
}
