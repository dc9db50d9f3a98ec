package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/understage/understage/plugins/backend/auditor"
)

// auditRoutes are the catalog's audit events, by route, as Backstage's
// catalog names them: reads are low severity (logged at debug unless
// backend.auditor.severityLogLevelMappings says otherwise), mutations
// medium.
var auditRoutes = []auditor.Route{
	{Method: http.MethodGet, Path: "/entities", ID: "entity-fetch", Meta: query("all")},
	{Method: http.MethodGet, Path: "/entities/by-query", ID: "entity-fetch", Meta: query("by-query")},
	{Method: http.MethodPost, Path: "/entities/by-query", ID: "entity-fetch", Meta: query("by-query")},
	{Method: http.MethodGet, Path: "/entities/by-uid/:uid", ID: "entity-fetch", Meta: query("by-id")},
	{Method: http.MethodGet, Path: "/entities/by-name/:kind/:namespace/:name", ID: "entity-fetch", Meta: query("by-name")},
	{Method: http.MethodGet, Path: "/entities/by-name/:kind/:namespace/:name/ancestry", ID: "entity-fetch", Meta: query("ancestry")},
	{Method: http.MethodPost, Path: "/entities/by-refs", ID: "entity-fetch", Meta: query("by-refs")},
	{Method: http.MethodDelete, Path: "/entities/by-uid/:uid", ID: "entity-mutate", Severity: auditor.Medium, Meta: action("delete")},
	{Method: http.MethodPost, Path: "/refresh", ID: "entity-mutate", Severity: auditor.Medium, Meta: action("refresh")},
	{Method: http.MethodPost, Path: "/validate-entity", ID: "entity-validate"},
	{Method: http.MethodGet, Path: "/entity-facets", ID: "entity-facets"},
	{Method: http.MethodPost, Path: "/entity-facets", ID: "entity-facets"},
	{Method: http.MethodGet, Path: "/locations", ID: "location-fetch", Meta: action("all")},
	{Method: http.MethodPost, Path: "/locations/by-query", ID: "location-fetch", Meta: action("by-query")},
	{Method: http.MethodGet, Path: "/locations/:id", ID: "location-fetch", Meta: action("by-id")},
	{Method: http.MethodGet, Path: "/locations/by-entity/:kind/:namespace/:name", ID: "location-fetch", Meta: action("by-entity")},
	{Method: http.MethodPost, Path: "/locations", ID: "location-mutate", Severity: auditor.Medium, Meta: action("create")},
	{Method: http.MethodPut, Path: "/locations/:id", ID: "location-mutate", Severity: auditor.Medium, Meta: action("update")},
	{Method: http.MethodDelete, Path: "/locations/:id", ID: "location-mutate", Severity: auditor.Medium, Meta: action("delete")},
	{Method: http.MethodPost, Path: "/analyze-location", ID: "location-analyze"},
	{Method: http.MethodGet, Path: "/entities/unprocessed/failed", ID: "unprocessed-entities", Meta: query("failed")},
	{Method: http.MethodGet, Path: "/entities/unprocessed/pending", ID: "unprocessed-entities", Meta: query("pending")},
	{Method: http.MethodDelete, Path: "/entities/unprocessed/delete/:entity_id", ID: "unprocessed-entities", Severity: auditor.Medium, Meta: action("delete")},
}

func query(t string) map[string]any  { return map[string]any{"queryType": t} }
func action(t string) map[string]any { return map[string]any{"actionType": t} }

// Audit is middleware for the catalog's router that records the audit
// event of each catalog route (initiated, then succeeded or failed). It
// goes after the auth middleware and before the permission checks. A nil
// Auditor records nothing.
func Audit(a *auditor.Auditor) echo.MiddlewareFunc { return a.Middleware(auditRoutes) }
