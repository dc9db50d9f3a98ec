package permission_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/understage/understage/plugins/permission"
)

// TestAuditRecordsWritesAndDenials: a denial is recorded at the decision;
// writes are recorded with their status; reads (GET, and read-only POSTs
// such as validate-entity) are not.
func TestAuditRecordsWritesAndDenials(t *testing.T) {
	var buf bytes.Buffer
	deny := policyFunc(func(in permission.Input) permission.Decision {
		if in.Permission.Name == "catalog.entity.validate" {
			return permission.Decision{Result: permission.Deny}
		}
		return permission.Decision{Result: permission.Allow}
	})
	perms := permission.New(permission.Options{Enabled: true, Policy: deny, Audit: slog.New(slog.NewJSONHandler(&buf, nil))})
	e := echo.New()
	g := e.Group("/api/catalog", perms.AuditWrites("catalog"))
	g.POST("/validate-entity", func(c echo.Context) error {
		if err := perms.Basic(c.Request().Context(), permission.CatalogEntityValidate); err != nil {
			return echo.NewHTTPError(http.StatusForbidden)
		}
		return c.NoContent(200)
	})
	g.POST("/refresh", func(c echo.Context) error { return c.NoContent(200) })
	g.GET("/entities", func(c echo.Context) error { return c.NoContent(200) })
	for _, p := range []struct{ method, path string }{{"POST", "/api/catalog/validate-entity"}, {"POST", "/api/catalog/refresh"}, {"GET", "/api/catalog/entities"}} {
		e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(p.method, p.path, nil))
	}
	var got []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		delete(m, "time")
		delete(m, "when")
		got = append(got, m)
	}
	want := []map[string]any{
		{"level": "INFO", "msg": "permission denied", "actor": "anonymous", "action": "catalog.entity.validate", "decision": "DENY"},
		{"level": "INFO", "msg": "audit", "actor": "anonymous", "action": "POST /api/catalog/refresh", "plugin": "catalog", "status": float64(200)},
	}
	a, _ := json.Marshal(got)
	b, _ := json.Marshal(want)
	if !bytes.Equal(a, b) {
		t.Fatalf("audit records\n%s\nwant\n%s", a, b)
	}
}
