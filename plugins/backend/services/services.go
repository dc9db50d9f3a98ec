// Package services names the services plugins share, in one place, as
// Backstage's coreServices does. The core services every plugin gets
// (config, logger, lifecycle, its database, its HTTP router, its
// scheduler, the URL reader) are fields and methods of system.Env; the ones
// below are provided by a plugin and depended on by others (Init.Deps).
package services

import (
	"context"

	"github.com/labstack/echo/v4"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/auth"
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
	// Permissions is provided by the permission plugin: decisions,
	// auditing, and the permission integration routes of other plugins.
	Permissions = system.ServiceRef[*permission.Service]{ID: "core.permissions"}
	// Catalog is provided by the catalog plugin.
	Catalog = system.ServiceRef[CatalogClient]{ID: "catalog.client"}
)

// PermissionIntegrationPath is where permission.RegisterIntegration mounts
// a plugin's permission metadata and apply-conditions routes; the auth
// middleware does not audit it.
const PermissionIntegrationPath = "/.well-known/backstage/permissions"
