// Package permissionplugin is the permission plugin: /api/permission and
// the permissions service (services.Permissions) other plugins ask. The
// policy is an extension point: a module (OPA's) sets it; without one
// every request is allowed.
package permissionplugin

import (
	"context"
	"fmt"
	"sync"

	"github.com/understage/understage/plugins/auth"
	"github.com/understage/understage/plugins/backend/services"
	"github.com/understage/understage/plugins/backend/system"
	"github.com/understage/understage/plugins/permission"
	permissionservice "github.com/understage/understage/plugins/permission/service"
)

// Policies is the permission plugin's policy extension point.
type Policies struct {
	mu     sync.Mutex
	policy permission.Policy
	by     string
}

// SetPolicy installs the policy; a second policy is an error.
func (p *Policies) SetPolicy(owner string, policy permission.Policy) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.policy != nil {
		return fmt.Errorf("a permission policy is already set by %s", p.by)
	}
	p.policy, p.by = policy, owner
	return nil
}

// PolicyExtension is where a module sets the policy.
var PolicyExtension = system.ExtensionPoint[*Policies]{ID: "permission.policy"}

// Plugin is the permission plugin. It reads permission.enabled (default
// false, as in Backstage).
var Plugin = system.Plugin{ID: "permission", Register: func(r *system.Registrar) {
	policies := &Policies{}
	system.RegisterExtensionPoint(r, PolicyExtension, policies)
	r.RegisterInit(system.Init{
		Deps:     []string{services.Auth.ID, services.Auditor.ID},
		Provides: []string{services.Permissions.ID},
		Func: func(ctx context.Context, env *system.Env) error {
			return initPermission(ctx, env, policies)
		},
	})
}}

func initPermission(_ context.Context, env *system.Env, policies *Policies) error {
	enabled, _, err := env.Config.ReadBool("permission.enabled")
	if err != nil {
		return err
	}
	authSvc, err := system.Get(env, services.Auth)
	if err != nil {
		return err
	}
	audit, err := system.Get(env, services.Auditor)
	if err != nil {
		return err
	}
	policy := policies.policy
	if policy == nil {
		policy = permission.AllowAll{}
	}
	if !enabled {
		env.Logger.Warn("Permission backend started with permissions disabled. Enable permissions by setting permission.enabled=true.")
	}
	svc := permissionservice.New(permissionservice.Options{
		Enabled: enabled,
		Policy:  policy,
		User: func(ctx context.Context, cred auth.Credentials) (*permission.User, error) {
			refs, err := authSvc.OwnershipRefs(ctx, cred)
			if err != nil {
				return nil, fmt.Errorf("ownership refs: %w", err)
			}
			return &permission.User{Ref: cred.Principal.UserEntityRef, OwnershipRefs: refs, Claims: cred.Claims}, nil
		},
		Auditor:                   audit.ForPlugin(env.PluginID),
		DisabledDefaultAuthPolicy: authSvc.DefaultPolicyDisabled(),
	})
	g := env.Router()
	g.Use(authSvc.Middleware(auth.MiddlewareOptions{PluginID: "permission", Unauthenticated: []string{"/health"}}))
	svc.Register(g)
	system.ProvideFrom[services.PermissionsService](env, services.Permissions, svc)
	return nil
}
