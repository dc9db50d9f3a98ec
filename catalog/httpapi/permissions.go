package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/model"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/auditor"
	"github.com/understage/understage/plugins/permission"
)

// readFilter is the caller's catalog.entity.read decision as a store
// filter: nil for ALLOW, the compiled conditions for CONDITIONAL, and
// deny=true for DENY.
func (a *api) readFilter(ctx context.Context) (f catalog.Filter, deny bool, err error) {
	if !a.Permissions.Enabled() {
		return nil, false, nil
	}
	d, err := a.Permissions.Decide(ctx, permission.CatalogEntityRead, nil)
	if err != nil {
		return nil, false, err
	}
	switch d.Result {
	case permission.Deny:
		return nil, true, nil
	case permission.Conditional:
		f, err := a.conditionsFilter(d.Conditions)
		if err != nil {
			return nil, false, fmt.Errorf("catalog.entity.read conditions: %w", err)
		}
		return f, false, nil
	}
	return nil, false, nil
}

// conditionsFilter compiles catalog.entity.* conditions with the rules of
// the registered catalog integration (so rules modules added apply), or
// Backstage's catalog rules when none is registered.
func (a *api) conditionsFilter(c *permission.Criteria) (catalog.Filter, error) {
	if rt := a.Permissions.Rules(permission.CatalogEntity); rt != nil {
		return rt.Filter(c)
	}
	return permission.CatalogFilter(c)
}

// and narrows a request's filter by a permission filter.
func and(f, perm catalog.Filter) catalog.Filter {
	switch {
	case perm == nil:
		return f
	case f == nil:
		return perm
	}
	return catalog.AllOf{Filters: []catalog.Filter{f, perm}}
}

// authorizeEntity enforces a resource permission on one stored entity (by
// ref or uid): DENY, or conditions the entity does not meet (or no entity
// at all under conditions), is Backstage's empty NotAllowedError. The
// entity, when found, is the policy's resource.
func (a *api) authorizeEntity(ctx context.Context, perm permission.Permission, ref, uid string) error {
	if !a.Permissions.Enabled() {
		return nil
	}
	load := func(f catalog.Filter) (catalog.RawEntity, error) {
		if uid != "" {
			return a.Reader.EntityByUID(ctx, uid, f)
		}
		return a.Reader.EntityByRef(ctx, ref, f)
	}
	var res any
	if raw, err := load(nil); err == nil && raw != nil {
		var m map[string]any
		if json.Unmarshal(raw, &m) == nil {
			res = m
		}
	} else if err != nil && backend.KindOf(err) != backend.ErrNotFound {
		return err
	}
	d, err := a.Permissions.Decide(ctx, perm, res)
	if err != nil {
		return err
	}
	switch d.Result {
	case permission.Allow:
		return nil
	case permission.Deny:
		return backend.NotAllowed("")
	}
	f, err := a.conditionsFilter(d.Conditions)
	if err != nil {
		return err
	}
	raw, err := load(f)
	if backend.KindOf(err) == backend.ErrNotFound || (err == nil && raw == nil) {
		// A conditional denial is not the permissions service's DENY, so
		// the request's audit event is told here.
		ev := auditor.EventFrom(ctx)
		ev.Annotate("permission", perm.Name)
		ev.Annotate("result", string(permission.Deny))
		return backend.NotAllowed("")
	}
	return err
}

// authorizeBasic enforces a basic catalog permission (catalog.location.*,
// catalog.entity.validate, ...): anything but ALLOW is a 403. Location
// routes call it first thing.
func (a *api) authorizeBasic(c echo.Context, perm permission.Permission) error {
	return a.Permissions.Basic(c.Request().Context(), perm)
}

// deniedQueryPage is by-query's answer when reading is denied.
const deniedQueryPage = `{"items":[],"totalItems":0,"pageInfo":{}}`

// allowedAncestry keeps the ancestry items the caller may read; the root
// entity (ref) itself must be readable, else 403 as in Backstage.
func (a *api) allowedAncestry(ctx context.Context, ref string, items []catalog.AncestryItem, perm catalog.Filter) ([]catalog.AncestryItem, error) {
	if e, err := a.Reader.EntityByRef(ctx, ref, perm); backend.KindOf(err) == backend.ErrNotFound || (err == nil && e == nil) {
		return nil, backend.NotAllowed("")
	} else if err != nil {
		return nil, err
	}
	refs := make([]string, len(items))
	for i, it := range items {
		var head struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name, Namespace string
			} `json:"metadata"`
		}
		if err := json.Unmarshal(it.Entity, &head); err != nil {
			return nil, fmt.Errorf("decode ancestry entity: %w", err)
		}
		refs[i] = model.NewRef(head.Kind, head.Metadata.Namespace, head.Metadata.Name).String()
	}
	ok, err := a.Reader.EntitiesByRefs(ctx, refs, perm)
	if err != nil {
		return nil, err
	}
	var out []catalog.AncestryItem
	for i, it := range items {
		if ok[i] != nil {
			out = append(out, it)
		}
	}
	return out, nil
}

// LocationPermissions is middleware for the catalog group that enforces
// the basic location permissions by route: reads (GET /locations...,
// POST /locations/by-query) catalog.location.read, POST /locations and
// PUT /locations/:id catalog.location.create, DELETE /locations/:id
// catalog.location.delete, POST /analyze-location catalog.location.analyze.
// Other routes pass through. A nil Authorizer allows everything.
func LocationPermissions(perms permission.Authorizer) echo.MiddlewareFunc {
	if perms == nil {
		perms = permission.Disabled{}
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if !perms.Enabled() {
				return next(c)
			}
			route, method := c.Path(), c.Request().Method
			var perm *permission.Permission
			switch {
			case strings.HasSuffix(route, "/analyze-location") && method == http.MethodPost:
				perm = &permission.CatalogLocationAnalyze
			case !strings.Contains(route, "/locations"):
			case method == http.MethodGet, strings.HasSuffix(route, "/locations/by-query"):
				perm = &permission.CatalogLocationRead
			case method == http.MethodPost, method == http.MethodPut:
				perm = &permission.CatalogLocationCreate
			case method == http.MethodDelete:
				perm = &permission.CatalogLocationDelete
			}
			if perm != nil {
				if err := perms.Basic(c.Request().Context(), *perm); err != nil {
					return err
				}
			}
			return next(c)
		}
	}
}
