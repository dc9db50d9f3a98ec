package main

import (
	"context"
	"log/slog"

	"github.com/understage/understage/plugins/config"
	"github.com/understage/understage/plugins/httpserver"
)

// wire assembles the backend. This placeholder mounts no plugin yet; the
// real list of features replaces it.
func wire(ctx context.Context, cfg *config.Config, log *slog.Logger) (*httpserver.Server, func(), error) {
	srv := httpserver.New(httpserver.Options{Config: cfg, Logger: log})
	if err := srv.Err(); err != nil {
		return nil, nil, err
	}
	return srv, func() {}, nil
}
