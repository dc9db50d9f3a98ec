package httpapi

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/understage/understage/plugins/backend/auditor"
)

// auditRoutes are the scaffolder's audit events, by route, as Backstage's
// scaffolder names them: reads are low severity, task creation,
// cancellation, retries and dry runs medium. Autocomplete and the
// templating extensions are not audited, as in Backstage.
var auditRoutes = []auditor.Route{
	{Method: http.MethodGet, Path: "/v2/templates/:namespace/:kind/:name/parameter-schema", ID: "template-parameter-schema"},
	{Method: http.MethodGet, Path: "/v2/actions", ID: "action-fetch"},
	{Method: http.MethodPost, Path: "/v2/tasks", ID: "task", Severity: auditor.Medium, Meta: action("create")},
	{Method: http.MethodGet, Path: "/v2/tasks", ID: "task", Meta: action("list")},
	{Method: http.MethodGet, Path: "/v2/tasks/:taskId", ID: "task", Meta: action("get")},
	{Method: http.MethodPost, Path: "/v2/tasks/:taskId/cancel", ID: "task", Severity: auditor.Medium, Meta: action("cancel")},
	{Method: http.MethodPost, Path: "/v2/tasks/:taskId/retry", ID: "task", Severity: auditor.Medium, Meta: action("retry")},
	{Method: http.MethodGet, Path: "/v2/tasks/:taskId/eventstream", ID: "task", Meta: action("stream")},
	{Method: http.MethodGet, Path: "/v2/tasks/:taskId/events", ID: "task", Meta: action("events")},
	{Method: http.MethodPost, Path: "/v2/dry-run", ID: "task", Severity: auditor.Medium, Meta: action("dry-run")},
}

func action(t string) map[string]any { return map[string]any{"actionType": t} }

// Audit is middleware for the scaffolder's router that records the audit
// event of each audited route (initiated, then succeeded or failed). It
// goes after the auth middleware. A nil Auditor records nothing.
func Audit(a *auditor.Auditor) echo.MiddlewareFunc { return a.Middleware(auditRoutes) }
