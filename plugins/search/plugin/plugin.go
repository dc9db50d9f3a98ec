// Package searchplugin is the search plugin: /api/search, answered over
// the catalog (package search).
package searchplugin

import (
	"context"

	"github.com/understage/understage/plugins/auth"
	"github.com/understage/understage/plugins/backend/services"
	"github.com/understage/understage/plugins/backend/system"
	"github.com/understage/understage/plugins/search"
)

// Plugin is the search plugin.
var Plugin = system.Plugin{ID: "search", Register: func(r *system.Registrar) {
	r.RegisterInit(system.Init{
		Deps: []string{services.Auth.ID, services.Catalog.ID},
		Func: func(_ context.Context, env *system.Env) error {
			authSvc, err := system.Get(env, services.Auth)
			if err != nil {
				return err
			}
			cat, err := system.Get(env, services.Catalog)
			if err != nil {
				return err
			}
			g := env.Router()
			g.Use(authSvc.Middleware(auth.MiddlewareOptions{PluginID: env.PluginID}))
			search.Register(g, search.Options{Catalog: cat})
			return nil
		},
	})
}}
