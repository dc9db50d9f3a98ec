// Package opamodule is the permission plugin's OPA module: the policy is
// the Rego files of permission.opa.policies, reloaded when they change.
package opamodule

import (
	"context"
	"fmt"

	"github.com/understage/understage/plugins/backend/system"
	"github.com/understage/understage/plugins/opa"
	permissionplugin "github.com/understage/understage/plugins/permission/plugin"
)

// Module decides permissions with OPA when permission.opa.policies names
// files; without it the permission plugin allows everything.
var Module = system.Module{PluginID: "permission", ModuleID: "opa", Register: func(r *system.Registrar) {
	r.RegisterInit(system.Init{Func: func(ctx context.Context, env *system.Env) error {
		policies, _, err := env.Config.ReadStringList("permission.opa.policies")
		if err != nil || len(policies) == 0 {
			return err
		}
		poll, _, err := env.Config.Duration("permission.opa.pollInterval")
		if err != nil {
			return err
		}
		eng, err := opa.New(ctx, opa.Options{Policies: policies, PollInterval: poll, Logger: env.Logger})
		if err != nil {
			return fmt.Errorf("permission: %w", err)
		}
		ext, err := system.Extension(env, permissionplugin.PolicyExtension)
		if err != nil {
			return err
		}
		return ext.SetPolicy("opa", eng)
	}})
}}
