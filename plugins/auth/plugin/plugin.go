// Package authplugin is the auth plugin: guest sign-in, user and service
// tokens, and the HTTP auth service every other plugin's routes sit behind
// (services.Auth).
package authplugin

import (
	"context"
	"errors"
	"fmt"

	"github.com/understage/understage/plugins/auth"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/services"
	"github.com/understage/understage/plugins/backend/system"
)

// Plugin is the auth plugin.
var Plugin = system.Plugin{ID: "auth", Register: func(r *system.Registrar) {
	r.RegisterInit(system.Init{
		Provides: []string{services.Auth.ID},
		Func:     initAuth,
	})
}}

func initAuth(ctx context.Context, env *system.Env) error {
	db, err := env.Database(ctx)
	if err != nil {
		return err
	}
	svc, err := auth.New(ctx, auth.Options{
		Config:  env.Config,
		DB:      db,
		Catalog: catalogUsers{system.Later(env, services.Catalog)},
		BaseURL: env.RootServer().BaseURL(),
		Logger:  env.Logger,
	})
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	svc.Register(env.Router())
	system.ProvideFrom[services.HTTPAuth](env, services.Auth, svc)
	return nil
}

// catalogUsers lets sign-in find a user's entity (and so its groups) in
// the catalog, once the catalog plugin has started (sign-in is a request,
// so always after).
type catalogUsers struct {
	catalog func() (services.CatalogClient, bool)
}

func (u catalogUsers) UserEntity(ctx context.Context, ref string) ([]byte, []string, bool, error) {
	c, ok := u.catalog()
	if !ok {
		return nil, nil, false, nil
	}
	raw, err := c.EntityByRef(ctx, ref, nil)
	if errors.Is(err, backend.ErrNotFound) {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, err
	}
	return raw, nil, true, nil
}
