package main

import (
	"context"
	"log/slog"

	"github.com/understage/understage/cmd/understage/wire"
	"github.com/understage/understage/plugins/backend/config"
)

// runner is what serve runs until its context ends.
type runner interface {
	Run(ctx context.Context) error
}

// wire assembles the backend (see package wire for the list of features).
func wireBackend(ctx context.Context, cfg *config.Config, log *slog.Logger) (runner, func(), error) {
	b, err := wire.New(ctx, cfg, log)
	if err != nil {
		return nil, nil, err
	}
	return b, b.Close, nil
}
