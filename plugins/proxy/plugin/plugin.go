// Package proxyplugin is the proxy plugin: /api/proxy, forwarding the
// configured endpoints (package proxy).
package proxyplugin

import (
	"context"

	"github.com/understage/understage/plugins/auth"
	"github.com/understage/understage/plugins/backend/services"
	"github.com/understage/understage/plugins/backend/system"
	"github.com/understage/understage/plugins/proxy"
)

// Plugin is the proxy plugin. It reads proxy.endpoints (and the older
// top-level form); a malformed endpoint fails the backend's start.
var Plugin = system.Plugin{ID: "proxy", Register: func(r *system.Registrar) {
	r.RegisterInit(system.Init{
		Deps: []string{services.Auth.ID},
		Func: func(_ context.Context, env *system.Env) error {
			endpoints, err := proxy.ReadConfig(env.Config)
			if err != nil {
				return err
			}
			// Without endpoints nothing is mounted, so /api/proxy stays the
			// plain 404 of a backend without the plugin.
			if len(endpoints) == 0 {
				return nil
			}
			authSvc, err := system.Get(env, services.Auth)
			if err != nil {
				return err
			}
			var open []string
			for _, ep := range endpoints {
				if ep.Unauthenticated {
					open = append(open, ep.Path)
				}
			}
			g := env.Router()
			g.Use(authSvc.Middleware(auth.MiddlewareOptions{PluginID: env.PluginID, Unauthenticated: open}))
			proxy.Register(g, endpoints, env.Logger)
			return nil
		},
	})
}}
