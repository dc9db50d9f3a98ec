package permission

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/understage/understage/plugins/auth"
	"github.com/understage/understage/plugins/backend"
)

// AuditRecord is one audit log entry: who did (or tried) what, to which
// resource, and what was decided.
type AuditRecord struct {
	Actor    string // user entity ref, "service:<subject>" or "anonymous"
	Action   string // permission name, or "<METHOD> <route>" for a write
	Decision Result // ALLOW or DENY; empty for a write that ran
	Resource string // entity ref, task id, action id... when known
	Plugin   string
	Status   int // HTTP status of a write
}

// Audit writes r to the audit logger (logger=audit) at Info level; the
// record's time is the slog record's.
func (s *Service) Audit(ctx context.Context, r AuditRecord) {
	if s == nil {
		return
	}
	if r.Actor == "" {
		if cred, err := auth.FromContext(ctx); err == nil {
			r.Actor = actorOf(cred)
		}
	}
	attrs := []slog.Attr{slog.String("actor", r.Actor), slog.String("action", r.Action), slog.Time("when", time.Now().UTC())}
	if r.Decision != "" {
		attrs = append(attrs, slog.String("decision", string(r.Decision)))
	}
	if r.Resource != "" {
		attrs = append(attrs, slog.String("resource", r.Resource))
	}
	if r.Plugin != "" {
		attrs = append(attrs, slog.String("plugin", r.Plugin))
	}
	if r.Status != 0 {
		attrs = append(attrs, slog.Int("status", r.Status))
	}
	msg := "audit"
	if r.Decision == Deny {
		msg = "permission denied"
	}
	s.audit.LogAttrs(context.WithoutCancel(ctx), slog.LevelInfo, msg, attrs...)
}

func actorOf(c auth.Credentials) string {
	switch {
	case c.IsUser():
		return c.Principal.UserEntityRef
	case c.IsService():
		return "service:" + c.Principal.Subject
	}
	return "anonymous"
}

// readOnlyPOST are POST routes that only read (queries with bodies).
var readOnlyPOST = []string{"/entities/by-query", "/entities/by-refs", "/entity-facets",
	"/validate-entity", "/analyze-location", "/v2/dry-run", "/v2/autocomplete/", "/authorize",
	"/.well-known/backstage/permissions/apply-conditions"}

// AuditWrites is middleware that records every write request of a plugin
// (every method but GET/HEAD/OPTIONS, less the read-only POST routes) after
// it ran, with the caller, route, path and status. It is safe on a nil
// Service (it then does nothing).
func (s *Service) AuditWrites(pluginID string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			if s == nil || r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions || isReadOnly(r.URL.Path) {
				return next(c)
			}
			err := next(c)
			status := c.Response().Status
			if err != nil {
				status = http.StatusInternalServerError
				if he, ok := err.(*echo.HTTPError); ok {
					status = he.Code
				} else if k := backend.KindOf(err); k != nil {
					status = k.Status
				}
			}
			rec := AuditRecord{Action: r.Method + " " + r.URL.Path, Plugin: pluginID, Status: status}
			s.Audit(r.Context(), rec)
			return err
		}
	}
}

func isReadOnly(path string) bool {
	for _, p := range readOnlyPOST {
		if strings.HasSuffix(path, p) || (strings.HasSuffix(p, "/") && strings.Contains(path, p)) {
			return true
		}
	}
	return false
}
