package wire_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/understage/understage/cmd/understage/wire"
	"github.com/understage/understage/plugins/backend/config"
)

// TestAuditEvents: through the whole backend, a location registered and an
// entity delete the policy denies are one audit event each (an initiated
// and a final line, no other audit line), with the caller as actor, the
// plugin and the outcome; the caller's token appears nowhere in the log.
func TestAuditEvents(t *testing.T) {
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.rego")
	rego := "package understage.authz\n\ndecision := {\"result\": \"DENY\"} if input.permission.name == \"catalog.entity.delete\" else := {\"result\": \"ALLOW\"}\n"
	if err := os.WriteFile(policy, []byte(rego), 0o600); err != nil {
		t.Fatal(err)
	}
	entity := filepath.Join(dir, "catalog-info.yaml")
	if err := os.WriteFile(entity, []byte("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: shop}\nspec: {type: service, lifecycle: production, owner: team-a}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`backend:
  baseUrl: http://127.0.0.1:0
  database: {client: better-sqlite3, connection: ':memory:'}
  workingDirectory: %q
auth:
  environment: development
  providers:
    guest: {dangerouslyAllowOutsideDevelopment: true}
permission:
  enabled: true
  opa:
    policies: [%q]
catalog:
  allowedLocationTypes: [file]
  rules: [{allow: [Component, Location]}]
app:
  disabled: true
`, filepath.Join(dir, "work"), policy)
	cfg, err := config.LoadBytes([]byte(conf), filepath.Join(dir, "app-config.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var logs auditLog
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	b, err := wire.New(ctx, cfg, log)
	if err != nil {
		t.Fatalf("wire.New: %v", err)
	}
	t.Cleanup(b.Close)
	b.Server.SetReady()
	srv := httptest.NewServer(b.Server.Handler())
	t.Cleanup(srv.Close)

	do := func(method, path, token, body string) int {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		_, _ = io.Copy(io.Discard, res.Body)
		return res.StatusCode
	}
	token := guestSignIn(t, srv.URL)
	loc, _ := json.Marshal(map[string]string{"type": "file", "target": entity})
	if s := do("POST", "/api/catalog/locations", token, string(loc)); s != http.StatusCreated {
		t.Fatalf("register location: %d", s)
	}
	if s := do("DELETE", "/api/catalog/entities/by-uid/some-uid", token, ""); s != http.StatusForbidden {
		t.Fatalf("denied delete: %d", s)
	}

	out := logs.String()
	if strings.Contains(out, token) {
		t.Errorf("the caller's token is in the log")
	}
	type line struct {
		Msg, Plugin, EventID, SeverityLevel, Status, Error string
		Actor                                              map[string]string
		Request                                            map[string]string
		Meta                                               map[string]any
	}
	var audit []line
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var marker struct{ IsAuditEvent bool }
		if err := json.Unmarshal([]byte(l), &marker); err != nil {
			t.Fatalf("log line %s: %v", l, err)
		}
		if !marker.IsAuditEvent {
			continue
		}
		var v line
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("audit line %s: %v", l, err)
		}
		audit = append(audit, v)
	}
	var got []string
	for _, v := range audit {
		got = append(got, strings.Join([]string{v.Msg, v.Plugin, v.EventID, v.SeverityLevel, v.Status, v.Error,
			v.Actor["actorId"], v.Request["method"], v.Request["url"], fmt.Sprint(v.Meta["actionType"]), fmt.Sprint(v.Meta["permission"])}, "|"))
	}
	const guest = "user:development/guest"
	want := []string{
		"catalog.location-mutate|catalog|location-mutate|medium|initiated||" + guest + "|POST|/api/catalog/locations|create|<nil>",
		"catalog.location-mutate|catalog|location-mutate|medium|succeeded||" + guest + "|POST|/api/catalog/locations|create|<nil>",
		"catalog.entity-mutate|catalog|entity-mutate|medium|initiated||" + guest + "|DELETE|/api/catalog/entities/by-uid/some-uid|delete|<nil>",
		"catalog.entity-mutate|catalog|entity-mutate|medium|failed|NotAllowedError|" + guest + "|DELETE|/api/catalog/entities/by-uid/some-uid|delete|catalog.entity.delete",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("audit lines\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if l := audit[1].Meta["location"]; l == nil {
		t.Errorf("location create's final line has no location: %v", audit[1].Meta)
	}
}

// guestSignIn is a guest user's token from the backend at base.
func guestSignIn(t *testing.T, base string) string {
	t.Helper()
	res, err := http.Post(base+"/api/auth/guest/refresh", "application/json", nil)
	if err != nil {
		t.Fatalf("guest sign-in: %v", err)
	}
	defer res.Body.Close()
	var v struct {
		BackstageIdentity struct{ Token string } `json:"backstageIdentity"`
	}
	if err := json.NewDecoder(res.Body).Decode(&v); err != nil || v.BackstageIdentity.Token == "" {
		t.Fatalf("guest sign-in: %d %v", res.StatusCode, err)
	}
	return v.BackstageIdentity.Token
}

// auditLog is a log sink safe for the backend's goroutines.
type auditLog struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *auditLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *auditLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
