package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/httpserver"
)

// DefaultDistDirs are where `make app` leaves the builds, newest line
// first; the first one holding an index.html is served when app.distDir is
// not configured. Relative to the working directory, like `make run`'s.
func DefaultDistDirs() []string {
	return []string{
		"plugins/app/web/latest/packages/app/dist",
		"plugins/app/web/1.45/packages/app/dist",
	}
}

// MountOptions are the parts of the backend the app uses.
type MountOptions struct {
	Logger *slog.Logger
}

// Mount serves the app at "/" unless app.disabled is true or no build is
// found. The frontend's other backends are plugins of their own (search,
// proxy); the routes of plugins understage lacks (notifications, signals,
// techdocs) are left to the server's plain 404, which is what a Backstage
// backend without those plugins answers and what the app copes with.
func Mount(ctx context.Context, srv *httpserver.Server, cfg *config.Config, o MountOptions) error {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if disabled, _, err := cfg.ReadBool("app.disabled"); err != nil {
		return err
	} else if disabled {
		log.Info("app serving disabled by app.disabled")
		return nil
	}
	dir, configured := cfg.String("app.distDir")
	if !configured {
		for _, d := range DefaultDistDirs() {
			if _, err := os.Stat(filepath.Join(d, "index.html")); err == nil {
				dir = d
				break
			}
		}
		if dir == "" {
			log.Info("no app build found; serving the API only (run `make app` to build the frontend)")
			return nil
		}
	}
	h, err := New(Options{Dir: dir, FrontendConfig: FrontendConfig(cfg, srv.BaseURL()), Logger: log})
	if err != nil {
		if !configured {
			return nil
		}
		return fmt.Errorf("app.distDir: %w", err)
	}
	h.Register(srv.Echo())
	log.Info("serving the app", "dir", dir, "url", srv.BaseURL())
	return nil
}
