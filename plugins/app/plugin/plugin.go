// Package appplugin is the app plugin: the Backstage frontend at "/"
// (app.Mount).
package appplugin

import (
	"context"

	"github.com/understage/understage/plugins/app"
	"github.com/understage/understage/plugins/backend/system"
)

// Plugin is the app plugin.
var Plugin = system.Plugin{ID: "app", Register: func(r *system.Registrar) {
	r.RegisterInit(system.Init{
		Func: func(ctx context.Context, env *system.Env) error {
			return app.Mount(ctx, env.RootServer(), env.Config, app.MountOptions{Logger: env.Logger})
		},
	})
}}
