// Package appplugin is the app plugin: the Backstage frontend at "/", and
// the search and proxy routes the frontend calls (app.Mount).
package appplugin

import (
	"context"

	"github.com/labstack/echo/v4"

	"github.com/understage/understage/plugins/app"
	"github.com/understage/understage/plugins/auth"
	"github.com/understage/understage/plugins/backend/services"
	"github.com/understage/understage/plugins/backend/system"
)

// Plugin is the app plugin.
var Plugin = system.Plugin{ID: "app", Register: func(r *system.Registrar) {
	r.RegisterInit(system.Init{
		Deps: []string{services.Auth.ID, services.Catalog.ID},
		Func: func(ctx context.Context, env *system.Env) error {
			authSvc, err := system.Get(env, services.Auth)
			if err != nil {
				return err
			}
			cat, err := system.Get(env, services.Catalog)
			if err != nil {
				return err
			}
			return app.Mount(ctx, env.RootServer(), env.Config, app.MountOptions{
				Catalog: cat,
				Auth: func(id string, open ...string) echo.MiddlewareFunc {
					return authSvc.Middleware(auth.MiddlewareOptions{PluginID: id, Unauthenticated: open})
				},
				Logger: env.Logger,
			})
		},
	})
}}
