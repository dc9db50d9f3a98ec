// Package services names the services plugins share, in one place, as
// Backstage's coreServices does. The core services every plugin gets
// (config, logger, lifecycle, its database, its HTTP router, its
// scheduler, the URL reader) are fields and methods of system.Env; the ones
// below are provided by a plugin (the auditor: by the binary, as a root
// service) and depended on by others (Init.Deps).
package services

import (
	"context"

	"github.com/labstack/echo/v4"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/auth"
	"github.com/understage/understage/plugins/backend/auditor"
	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/plugins/backend/system"
	"github.com/understage/understage/plugins/permission"
)

// HTTPAuth authenticates requests and tokens (Backstage's httpAuth and
// auth services); the auth plugin provides it.
type HTTPAuth interface {
	// Middleware authenticates a plugin's requests and enforces the default
	// auth policy.
	Middleware(o auth.MiddlewareOptions) echo.MiddlewareFunc
	// Authenticate verifies a token for a plugin.
	Authenticate(ctx context.Context, token, pluginID string, allowLimited bool) (auth.Credentials, error)
	// OwnershipRefs are the user's and their groups' refs.
	OwnershipRefs(ctx context.Context, c auth.Credentials) ([]string, error)
	// DefaultPolicyDisabled is backend.auth.dangerouslyDisableDefaultAuthPolicy.
	DefaultPolicyDisabled() bool
}

// PermissionsService is the permissions service (Backstage's permissions
// and permissionsRegistry services); the permission plugin provides it.
type PermissionsService interface {
	// Authorizer decides for the caller of a request's context; request
	// handlers (catalog/httpapi, scaffolder/httpapi) need only this.
	permission.Authorizer
	// DecideFor decides for user (nil: anonymous) rather than a request's
	// caller: the scaffolder's task steps run outside the request.
	DecideFor(ctx context.Context, user *permission.User, perm permission.Permission, res any) (permission.Decision, error)
	// RegisterIntegration registers a plugin's permissions, resource types
	// and rules, and mounts its integration routes on g (the plugin's
	// router) at PermissionIntegrationPath.
	RegisterIntegration(g *echo.Group, in *permission.Integration)
}

// CatalogClient is the catalog as other plugins use it in-process (Backstage's
// catalog service): entity reads, and registering locations.
type CatalogClient interface {
	catalog.Reader
	// AddLocation registers a location (or checks it, dryRun) and returns
	// the entities it yields.
	AddLocation(ctx context.Context, typ, target string, dryRun bool) ([]*ojson.Object, error)
}

// Refs of the shared services.
var (
	// Auth is provided by the auth plugin.
	Auth = system.ServiceRef[HTTPAuth]{ID: "core.httpAuth"}
	// Permissions is provided by the permission plugin: decisions, and
	// the permission integration routes of other plugins.
	Permissions = system.ServiceRef[PermissionsService]{ID: "core.permissions"}
	// Auditor is the root audit log (Backstage's coreServices.auditor), a
	// root service the binary provides (cmd/understage/wire): a plugin
	// records through Auditor.ForPlugin(its id).
	Auditor = system.ServiceRef[*auditor.Service]{ID: "core.auditor"}
	// Catalog is provided by the catalog plugin.
	Catalog = system.ServiceRef[CatalogClient]{ID: "catalog.client"}
)

// PermissionIntegrationPath is where PermissionsService.RegisterIntegration mounts
// a plugin's permission metadata and apply-conditions routes; the auth
// middleware does not audit it.
const PermissionIntegrationPath = "/.well-known/backstage/permissions"

// AuditActor is the auditor's actor for ctx's request: the principal of
// the credentials the auth middleware resolved (a user's entity ref, a
// service's subject), or type "none". A token that fails to verify is an
// anonymous actor here; the request itself fails in the auth middleware.
func AuditActor(ctx context.Context) auditor.Actor {
	cred, err := auth.FromContext(ctx)
	if err != nil {
		return auditor.Actor{Type: auth.PrincipalNone}
	}
	switch {
	case cred.IsUser():
		return auditor.Actor{ID: cred.Principal.UserEntityRef, Type: auth.PrincipalUser}
	case cred.IsService():
		return auditor.Actor{ID: cred.Principal.Subject, Type: auth.PrincipalService}
	}
	return auditor.Actor{Type: auth.PrincipalNone}
}
