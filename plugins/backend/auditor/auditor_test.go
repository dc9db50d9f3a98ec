package auditor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/auditor"
	"github.com/understage/understage/plugins/backend/config"
)

// lines decodes the JSON log lines of buf.
func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		delete(m, "time")
		out = append(out, m)
	}
	return out
}

func newService(buf *bytes.Buffer, levels map[auditor.Severity]slog.Level) *auditor.Service {
	log := slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return auditor.New(auditor.Options{Logger: log, Levels: levels, Actor: func(context.Context) auditor.Actor {
		return auditor.Actor{ID: "user:default/tom", Type: "user"}
	}})
}

// TestMiddleware: each audited route gives an initiated and a final line
// with the actor, the request and the route's meta; the final status
// follows the handler's error or status; low events are off at info;
// other routes are not audited; meta added below the handler (Annotate)
// is on the final line only.
func TestMiddleware(t *testing.T) {
	var buf bytes.Buffer
	a := newService(&buf, nil).ForPlugin("catalog")
	e := echo.New()
	g := e.Group("/api/catalog", a.Middleware([]auditor.Route{
		{Method: "DELETE", Path: "/entities/by-uid/:uid", ID: "entity-mutate", Severity: auditor.Medium, Meta: map[string]any{"actionType": "delete"}},
		{Method: "POST", Path: "/refresh", ID: "entity-mutate", Severity: auditor.Medium, Meta: map[string]any{"actionType": "refresh"}},
		{Method: "POST", Path: "/locations", ID: "location-mutate", Severity: auditor.High},
		{Method: "GET", Path: "/entities", ID: "entity-fetch"},
	}))
	g.DELETE("/entities/by-uid/:uid", func(c echo.Context) error {
		auditor.EventFrom(c.Request().Context()).Annotate("permission", "catalog.entity.delete")
		return backend.NotAllowed("")
	})
	g.POST("/refresh", func(c echo.Context) error { return c.NoContent(http.StatusOK) })
	g.POST("/locations", func(c echo.Context) error { return c.String(http.StatusBadRequest, "no") })
	g.GET("/entities", func(c echo.Context) error { return c.NoContent(http.StatusOK) })
	g.GET("/other", func(c echo.Context) error { return c.NoContent(http.StatusOK) })
	for _, p := range []struct{ method, path string }{
		{"DELETE", "/api/catalog/entities/by-uid/u1?token=secret"}, {"POST", "/api/catalog/refresh"},
		{"POST", "/api/catalog/locations"}, {"GET", "/api/catalog/entities"}, {"GET", "/api/catalog/other"},
	} {
		r := httptest.NewRequest(p.method, p.path, nil)
		r.Header.Set("User-Agent", "tests")
		r.Header.Set("Authorization", "Bearer secret")
		e.ServeHTTP(httptest.NewRecorder(), r)
	}
	if strings.Contains(buf.String(), "secret") {
		t.Errorf("a query or header value reached the audit log:\n%s", buf.String())
	}
	actor := map[string]any{"actorId": "user:default/tom", "actorType": "user", "ip": "192.0.2.1", "hostname": "example.com", "userAgent": "tests"}
	line := func(level, msg, method, path string, meta map[string]any, status, err string) map[string]any {
		m := map[string]any{"level": level, "msg": msg, "isAuditEvent": true, "plugin": "catalog",
			"eventId": strings.TrimPrefix(msg, "catalog."), "actor": actor,
			"request": map[string]any{"url": path, "method": method}, "status": status}
		m["severityLevel"] = "medium"
		if msg == "catalog.location-mutate" {
			m["severityLevel"] = "high"
		}
		if meta != nil {
			m["meta"] = meta
		}
		if err != "" {
			m["error"] = err
		}
		return m
	}
	want := []map[string]any{
		line("INFO", "catalog.entity-mutate", "DELETE", "/api/catalog/entities/by-uid/u1", map[string]any{"actionType": "delete", "uid": "u1"}, "initiated", ""),
		line("INFO", "catalog.entity-mutate", "DELETE", "/api/catalog/entities/by-uid/u1",
			map[string]any{"actionType": "delete", "uid": "u1", "permission": "catalog.entity.delete"}, "failed", "NotAllowedError"),
		line("INFO", "catalog.entity-mutate", "POST", "/api/catalog/refresh", map[string]any{"actionType": "refresh"}, "initiated", ""),
		line("INFO", "catalog.entity-mutate", "POST", "/api/catalog/refresh", map[string]any{"actionType": "refresh"}, "succeeded", ""),
		line("INFO", "catalog.location-mutate", "POST", "/api/catalog/locations", nil, "initiated", ""),
		line("INFO", "catalog.location-mutate", "POST", "/api/catalog/locations", nil, "failed", "Error: status 400"),
	}
	got, _ := json.Marshal(lines(t, &buf))
	exp, _ := json.Marshal(want)
	if !bytes.Equal(got, exp) {
		t.Fatalf("audit lines\n%s\nwant\n%s", got, exp)
	}
}

// TestLevels: severities map to log levels by default (low at debug) and
// by backend.auditor.severityLogLevelMappings; a bad level is an error
// naming the key.
func TestLevels(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		want       map[auditor.Severity]slog.Level
		err        string
	}{
		{"default", "backend: {}\n", auditor.DefaultLevels(), ""},
		{"mapped", "backend:\n  auditor:\n    severityLogLevelMappings: {low: info, critical: error}\n",
			map[auditor.Severity]slog.Level{auditor.Low: slog.LevelInfo, auditor.Medium: slog.LevelInfo, auditor.High: slog.LevelInfo, auditor.Critical: slog.LevelError}, ""},
		{"bad", "backend:\n  auditor:\n    severityLogLevelMappings: {high: loud}\n", nil, "backend.auditor.severityLogLevelMappings.high"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.LoadBytes([]byte(tc.yaml), filepath.Join(t.TempDir(), "app-config.yaml"), nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := auditor.Levels(cfg)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one naming %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for sev, l := range tc.want {
				if got[sev] != l {
					t.Errorf("%s: %v, want %v", sev, got[sev], l)
				}
			}
		})
	}
}

// TestRecordAndLevels: Record logs one final line with the given actor; a
// low event shows once low is mapped to info; a nil Auditor does nothing.
func TestRecordAndLevels(t *testing.T) {
	var buf bytes.Buffer
	a := newService(&buf, map[auditor.Severity]slog.Level{auditor.Low: slog.LevelInfo}).ForPlugin("scaffolder")
	ctx := context.Background()
	a.Record(ctx, auditor.EventOptions{ID: "task", Severity: auditor.Medium, Actor: &auditor.Actor{ID: "user:default/ann", Type: "user"},
		Meta: map[string]any{"actionType": "execute-action"}}, errors.New("boom"))
	ev := a.Create(ctx, auditor.EventOptions{ID: "action-fetch"})
	ev.Success(ctx)
	ev.Fail(ctx, errors.New("ended twice"))
	var none *auditor.Auditor
	none.Create(ctx, auditor.EventOptions{ID: "x"}).Success(ctx)
	none.Record(ctx, auditor.EventOptions{ID: "x"}, nil)
	var got []string
	for _, m := range lines(t, &buf) {
		actor, _ := m["actor"].(map[string]any)
		got = append(got, m["msg"].(string)+" "+m["status"].(string)+" "+m["severityLevel"].(string)+" "+actor["actorId"].(string))
	}
	want := []string{
		"scaffolder.task failed medium user:default/ann",
		"scaffolder.action-fetch initiated low user:default/tom",
		"scaffolder.action-fetch succeeded low user:default/tom",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("lines\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:tok@example.com/a/b.yaml?token=x#f": "https://example.com/a/b.yaml",
		"/tmp/catalog-info.yaml":                          "/tmp/catalog-info.yaml",
		"https://github.com/o/r/blob/main/catalog.yaml":   "https://github.com/o/r/blob/main/catalog.yaml",
	} {
		if got := auditor.RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
