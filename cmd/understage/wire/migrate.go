package wire

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/understage/understage/catalog/sqlstore"
	"github.com/understage/understage/plugins/auth"
	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/database"
	"github.com/understage/understage/plugins/backend/scheduler"
	"github.com/understage/understage/plugins/backend/system"
	scsql "github.com/understage/understage/scaffolder/sqlstore"
)

// pluginMigrations lists every plugin with a database and the migrations
// of its database: its own, and the scheduler's lease table when the
// plugin uses its scheduler (system.Env.Scheduler).
var pluginMigrations = []struct {
	id      string
	migrate []func(context.Context, *database.DB) error
}{
	{"catalog", []func(context.Context, *database.DB) error{sqlstore.Migrate, scheduler.Migrate}},
	{"auth", []func(context.Context, *database.DB) error{auth.Migrate}},
	{"scaffolder", []func(context.Context, *database.DB) error{scsql.Migrate}},
}

// Migrate applies every plugin's pending migrations to the databases cfg
// names and returns; backend.database.skipMigrations does not apply to it.
// Replicas started with skipMigrations then find their schemas ready.
func Migrate(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	if err := system.CheckConfig(cfg, log); err != nil {
		return err
	}
	for _, p := range pluginMigrations {
		o, err := system.DatabaseOptions(cfg, p.id, log)
		if err != nil {
			return err
		}
		o.SkipMigrations = false
		db, err := database.Open(ctx, o)
		if err != nil {
			return fmt.Errorf("open %s database: %w", p.id, err)
		}
		for _, m := range p.migrate {
			if err = m(ctx, db); err != nil {
				break
			}
		}
		_ = db.Close()
		if err != nil {
			return fmt.Errorf("migrate %s database: %w", p.id, err)
		}
		log.Info("database migrated", "plugin", p.id)
	}
	return nil
}
