package database

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Connect opens a PostgreSQL connection of its own to the plugin's
// database, with the pool's settings but outside it, for a session that
// holds its connection for long (LISTEN): taken from the pool, it would
// leave one connection fewer to every query. The caller closes it.
func (d *DB) Connect(ctx context.Context) (*pgx.Conn, error) {
	if d.pgConfig == nil {
		return nil, fmt.Errorf("database: a connection of its own needs PostgreSQL, not %s", d.dialect)
	}
	c, err := pgx.ConnectConfig(ctx, d.pgConfig.Copy())
	if err != nil {
		return nil, fmt.Errorf("database: connect: %w", err)
	}
	return c, nil
}
