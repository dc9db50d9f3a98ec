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
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/understage/understage/cmd/understage/wire"
	"github.com/understage/understage/plugins/app"
	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/database"
	"github.com/understage/understage/plugins/backend/gitreader"
)

// The tests of config keys that the wiring reads (see plugins/backend/config/KEYS.md
// for the whole table): each builds the backend from a config and checks
// what a user would see.

// newBackend builds the backend from an app-config text (dir is its folder,
// for relative paths) and serves it; the catalog is processed once.
func newBackend(t *testing.T, dir, yaml string) (*wire.Backend, string) {
	t.Helper()
	cfg, err := config.LoadBytes([]byte(yaml), filepath.Join(dir, "app-config.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	b, err := wire.New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("wire.New: %v", err)
	}
	t.Cleanup(b.Close)
	if err := b.Engine.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	b.Server.SetReady()
	srv := httptest.NewServer(b.Server.Handler())
	t.Cleanup(srv.Close)
	return b, srv.URL
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

type answer struct {
	status int
	body   string
	header http.Header
}

func ask(t *testing.T, method, url, body string, header ...string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 4<<20))
	if err != nil {
		t.Fatal(err)
	}
	return answer{res.StatusCode, string(b), res.Header}
}

// entityNames lists the names of the catalog's entities of a kind.
func entityNames(t *testing.T, base, kind string) []string {
	t.Helper()
	r := ask(t, "GET", base+"/api/catalog/entities?filter=kind="+kind, "")
	if r.status != 200 {
		t.Fatalf("entities: %d %s", r.status, r.body)
	}
	var list []struct {
		Metadata struct {
			Name        string            `json:"name"`
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal([]byte(r.body), &list); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list {
		n := e.Metadata.Name
		if e.Metadata.Annotations["backstage.io/orphan"] == "true" {
			n += " (orphan)"
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

const componentsYAML = `apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: billing}
spec: {type: service, lifecycle: production, owner: team-a}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: docs-site}
spec: {type: website, lifecycle: production, owner: team-a}
---
apiVersion: backstage.io/v1alpha1
kind: API
metadata: {name: billing-api}
spec: {type: openapi, lifecycle: production, owner: team-a, definition: "openapi: 3.0.0"}
`

// TestCatalogRulesConfig: catalog.rules allow kinds, and kinds of a
// spec.type (objects), as Backstage's rules do. An entity a rule refuses
// fails its whole location (Backstage's NotAllowedError), so each entity
// has a file of its own here.
func TestCatalogRulesConfig(t *testing.T) {
	dir := t.TempDir()
	locations := ""
	for i, doc := range strings.Split(componentsYAML, "---\n") {
		f := filepath.Join(dir, fmt.Sprintf("entity%d.yaml", i))
		writeFile(t, f, doc)
		locations += "    - {type: file, target: " + f + "}\n"
	}
	tests := []struct {
		rules      string
		components []string
		apis       []string
	}{
		{"[{allow: [Component, API]}]", []string{"billing", "docs-site"}, []string{"billing-api"}},
		{"[{allow: [{kind: Component}]}]", []string{"billing", "docs-site"}, nil},
		{"[{allow: [{kind: Component, spec.type: service}]}]", []string{"billing"}, nil},
		{"[{allow: [{kind: component, spec.type: WEBSITE}, API]}]", []string{"docs-site"}, []string{"billing-api"}},
	}
	for _, tt := range tests {
		t.Run(tt.rules, func(t *testing.T) {
			_, base := newBackend(t, dir, "backend:\n  baseUrl: http://127.0.0.1:0\n  auth: {dangerouslyDisableDefaultAuthPolicy: true}\n"+
				"catalog:\n  rules: "+tt.rules+"\n  locations:\n"+locations)
			if got := entityNames(t, base, "component"); !slices.Equal(got, tt.components) {
				t.Errorf("components %v, want %v", got, tt.components)
			}
			if got := entityNames(t, base, "api"); !slices.Equal(got, tt.apis) {
				t.Errorf("apis %v, want %v", got, tt.apis)
			}
		})
	}
	cfg, err := config.LoadBytes([]byte("catalog:\n  rules:\n    - allow: [{spec.type: service}]\n"), filepath.Join(dir, "bad.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wire.New(t.Context(), cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "catalog.rules[0].allow[0].kind") {
		t.Errorf("an allow entry without kind: %v", err)
	}
}

// TestCatalogLocationsConfig: catalog.allowedLocationTypes decides which
// location types POST /locations takes (Backstage's default: url only).
func TestCatalogLocationsConfig(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "entities.yaml"), componentsYAML)
	body := `{"type":"file","target":"` + filepath.Join(dir, "entities.yaml") + `"}`
	for _, tt := range []struct {
		config string
		status int
	}{
		{"", 400},
		{"  allowedLocationTypes: [url, file]\n", 201},
	} {
		_, base := newBackend(t, dir, "backend:\n  auth: {dangerouslyDisableDefaultAuthPolicy: true}\ncatalog:\n"+tt.config)
		r := ask(t, "POST", base+"/api/catalog/locations", body)
		if r.status != tt.status {
			t.Errorf("%q: POST /locations %d %s, want %d", tt.config, r.status, r.body, tt.status)
		}
		if tt.status == 400 && !strings.Contains(r.body, `Registered locations must be of an allowed type [\"url\"]`) {
			t.Errorf("refusal %s", r.body)
		}
	}
}

// TestCatalogOrphanStrategy: an entity its location no longer lists is
// deleted (delete, the default) or kept and marked backstage.io/orphan
// (keep).
func TestCatalogOrphanStrategy(t *testing.T) {
	for _, tt := range []struct {
		strategy string
		want     []string
	}{
		{"", []string{"billing"}},
		{"delete", []string{"billing"}},
		{"keep", []string{"billing", "docs-site (orphan)"}},
	} {
		t.Run("strategy "+tt.strategy, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "entities.yaml")
			writeFile(t, file, componentsYAML)
			conf := "backend:\n  auth: {dangerouslyDisableDefaultAuthPolicy: true}\ncatalog:\n  rules: [{allow: [Component, API, Location]}]\n" +
				"  locations: [{type: file, target: " + file + "}]\n"
			if tt.strategy != "" {
				conf += "  orphanStrategy: " + tt.strategy + "\n"
			}
			b, base := newBackend(t, dir, conf)
			if got := entityNames(t, base, "component"); !slices.Equal(got, []string{"billing", "docs-site"}) {
				t.Fatalf("before: %v", got)
			}
			writeFile(t, file, strings.Split(componentsYAML, "---\n")[0])
			r := ask(t, "POST", base+"/api/catalog/refresh", `{"entityRef":"location:default/`+locationName(t, base)+`"}`)
			if r.status != 200 {
				t.Fatalf("refresh: %d %s", r.status, r.body)
			}
			if err := b.Engine.Drain(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got := entityNames(t, base, "component"); !slices.Equal(got, tt.want) {
				t.Errorf("after: %v, want %v", got, tt.want)
			}
		})
	}
}

// locationName is the name of the catalog's one file Location entity.
func locationName(t *testing.T, base string) string {
	t.Helper()
	r := ask(t, "GET", base+"/api/catalog/entities?filter=kind=location&fields=metadata.name,spec.target", "")
	var list []struct {
		Metadata struct{ Name string }   `json:"metadata"`
		Spec     struct{ Target string } `json:"spec"`
	}
	if err := json.Unmarshal([]byte(r.body), &list); err != nil {
		t.Fatal(err)
	}
	for _, l := range list {
		if strings.HasSuffix(l.Spec.Target, "entities.yaml") {
			return l.Metadata.Name
		}
	}
	t.Fatalf("no location in %s", r.body)
	return ""
}

// TestCatalogProcessingInterval: entities are due again after the
// interval (up to 1.5 times it, Backstage's spread).
func TestCatalogProcessingInterval(t *testing.T) {
	for _, tt := range []struct {
		config   string
		interval time.Duration
	}{
		{"", 100 * time.Second},
		{"  processingInterval: {hours: 2}\n", 2 * time.Hour},
		{"  processingInterval: PT45M\n", 45 * time.Minute},
	} {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "entities.yaml"), componentsYAML)
		db := filepath.Join(dir, "catalog.sqlite")
		before := time.Now()
		_, base := newBackend(t, dir, "backend:\n  database: {client: better-sqlite3, connection: "+db+"}\ncatalog:\n"+
			"  locations: [{type: file, target: "+filepath.Join(dir, "entities.yaml")+"}]\n"+tt.config)
		after := time.Now()
		_ = base
		h, err := database.Open(t.Context(), database.Options{Client: "sqlite3", Connection: db})
		if err != nil {
			t.Fatal(err)
		}
		rows, err := h.Read.QueryContext(t.Context(), "SELECT entity_ref, next_update_at FROM refresh_state")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			var ref string
			var next int64
			if err := rows.Scan(&ref, &next); err != nil {
				t.Fatal(err)
			}
			n++
			due := unixAny(next)
			if due.Before(before.Add(tt.interval)) || due.After(after.Add(tt.interval*3/2)) {
				t.Errorf("%q: %s is due at %v, want within [%v, %v]", tt.config, ref, due, before.Add(tt.interval), after.Add(tt.interval*3/2))
			}
		}
		rows.Close()
		h.Close()
		if n < 4 {
			t.Errorf("%q: %d entities processed", tt.config, n)
		}
	}
}

// unixAny reads a stored timestamp in seconds, milliseconds or nanoseconds.
func unixAny(v int64) time.Time {
	switch {
	case v > 1e17:
		return time.Unix(0, v)
	case v > 1e11:
		return time.UnixMilli(v)
	}
	return time.Unix(v, 0)
}

const envTemplate = `apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: env-check}
spec:
  type: demo
  owner: me
  steps:
    - id: params
      name: Parameters
      action: debug:log
      input: {message: 'region=${{ environment.parameters.region }} replicas=${{ environment.parameters.replicas }}'}
    - id: secret-set
      name: Secret set
      if: "${{ environment.secrets.deployToken == 's3cret-token' }}"
      action: debug:log
      input: {message: the deploy token is configured}
    - id: secret-len
      name: Secret length
      action: debug:log
      input: {message: 'length ${{ environment.secrets.deployToken | length }}'}
`

// envOracleMessages are the log messages of a task of envTemplate on the
// Backstage 1.55 oracle with the scaffolder.defaultEnvironment of
// TestScaffolderConfig (recorded with curl: POST /v2/tasks, then GET
// /v2/tasks/:id/events).
var envOracleMessages = []string{
	"Starting up task with 3 steps",
	"Beginning step Parameters",
	"\x1b[32minfo\x1b[39m: {\n  \"message\": \"region=eu-west-1 replicas=3\"\n}",
	"\x1b[32minfo\x1b[39m: region=eu-west-1 replicas=3",
	"Finished step Parameters",
	"Beginning step Secret set",
	"Skipping step secret-set because its if condition was false",
	"Beginning step Secret length",
	"\x1b[32minfo\x1b[39m: {\n  \"message\": \"***\"\n}",
	"\x1b[32minfo\x1b[39m: ***",
	"Finished step Secret length",
	"Run completed with status: completed",
}

// TestScaffolderConfig: scaffolder.defaultEnvironment reaches templates as
// Backstage's does (log messages as the oracle's), its parameters must be
// strings as in Backstage, and concurrentTasksLimit: 0 runs no task.
func TestScaffolderConfig(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "template.yaml"), envTemplate)
	conf := func(limit string, extra ...string) string {
		return `backend:
  auth: {dangerouslyDisableDefaultAuthPolicy: true}
  workingDirectory: ` + filepath.Join(dir, "work") + `
catalog:
  rules: [{allow: [Template]}]
  locations: [{type: file, target: ` + filepath.Join(dir, "template.yaml") + `}]
scaffolder:
  concurrentTasksLimit: ` + limit + `
  defaultEnvironment:
    parameters: {region: eu-west-1, replicas: "3"}
    secrets: {deployToken: s3cret-token}
` + strings.Join(extra, "")
	}
	t.Run("defaultEnvironment", func(t *testing.T) {
		b, base := newBackend(t, dir, conf("2"))
		b.RunScaffolderWorker(t.Context())
		id := createTask(t, base)
		events := waitTask(t, base, id, "completed")
		var msgs []string
		for _, e := range events {
			if m, ok := e.Body["message"].(string); ok {
				msgs = append(msgs, m)
			}
		}
		if !slices.Equal(msgs, envOracleMessages) {
			t.Errorf("messages\n%q\nwant (oracle)\n%q", msgs, envOracleMessages)
		}
	})
	t.Run("concurrentTasksLimit 0", func(t *testing.T) {
		b, base := newBackend(t, dir, conf("0"))
		b.RunScaffolderWorker(t.Context())
		id := createTask(t, base)
		r := ask(t, "GET", base+"/api/scaffolder/v2/tasks/"+id, "")
		if !strings.Contains(r.body, `"status":"open"`) {
			t.Errorf("task %s", r.body)
		}
	})
	t.Run("taskLogMaxEvents", func(t *testing.T) {
		b, base := newBackend(t, dir, conf("2", "  taskLogMaxEvents: 2\n"))
		b.RunScaffolderWorker(t.Context())
		id := createTask(t, base)
		var truncated bool
		for _, e := range waitTask(t, base, id, "completed") {
			if m, _ := e.Body["message"].(string); strings.Contains(m, "the log reached its limit of 2 lines") {
				truncated = true
			}
		}
		if !truncated {
			t.Error("no truncation line with scaffolder.taskLogMaxEvents: 2")
		}
	})
	t.Run("taskLogMaxBytes", func(t *testing.T) {
		b, base := newBackend(t, dir, conf("2", "  taskLogMaxBytes: 300\n"))
		b.RunScaffolderWorker(t.Context())
		id := createTask(t, base)
		var truncated bool
		for _, e := range waitTask(t, base, id, "completed") {
			if m, _ := e.Body["message"].(string); strings.Contains(m, "or 300 bytes") {
				truncated = true
			}
		}
		if !truncated {
			t.Error("no truncation line with scaffolder.taskLogMaxBytes: 300")
		}
	})
	t.Run("parameters are strings", func(t *testing.T) {
		cfg, err := config.LoadBytes([]byte("scaffolder:\n  defaultEnvironment:\n    parameters: {replicas: 3}\n"), filepath.Join(dir, "x.yaml"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := wire.New(t.Context(), cfg, slog.New(slog.DiscardHandler)); err == nil ||
			!strings.Contains(err.Error(), "scaffolder.defaultEnvironment.parameters.replicas") {
			t.Errorf("a number parameter: %v", err)
		}
	})
}

func createTask(t *testing.T, base string) string {
	t.Helper()
	r := ask(t, "POST", base+"/api/scaffolder/v2/tasks", `{"templateRef":"template:default/env-check","values":{}}`)
	var v struct{ ID string }
	if r.status != 201 || json.Unmarshal([]byte(r.body), &v) != nil || v.ID == "" {
		t.Fatalf("create task: %d %s", r.status, r.body)
	}
	return v.ID
}

type taskEvent struct {
	Type string         `json:"type"`
	Body map[string]any `json:"body"`
}

// waitTask polls the task until it has the status, then returns its events.
func waitTask(t *testing.T, base, id, status string) []taskEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for ctx.Err() == nil {
		r := ask(t, "GET", base+"/api/scaffolder/v2/tasks/"+id, "")
		if strings.Contains(r.body, `"status":"`+status+`"`) {
			e := ask(t, "GET", base+"/api/scaffolder/v2/tasks/"+id+"/events", "")
			var events []taskEvent
			if err := json.Unmarshal([]byte(e.body), &events); err != nil {
				t.Fatal(err)
			}
			return events
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("task %s never reached %s", id, status)
	return nil
}

// TestServerConfig: CORS preflight options and the shutdown delay.
func TestServerConfig(t *testing.T) {
	dir := t.TempDir()
	t.Run("cors preflight", func(t *testing.T) {
		for _, tt := range []struct {
			config string
			status int
		}{
			{"", 204},
			{"    optionsSuccessStatus: 200\n", 200},
			// preflightContinue: the route answers the OPTIONS itself (a
			// plugin route without OPTIONS: Backstage's 404).
			{"    preflightContinue: true\n", 404},
		} {
			_, base := newBackend(t, dir, "backend:\n  auth: {dangerouslyDisableDefaultAuthPolicy: true}\n  cors:\n    origin: http://app.example.com\n"+tt.config)
			r := ask(t, "OPTIONS", base+"/api/catalog/entities", "", "Origin", "http://app.example.com", "Access-Control-Request-Method", "GET")
			if r.status != tt.status || r.header.Get("Access-Control-Allow-Origin") != "http://app.example.com" {
				t.Errorf("%q: %d %v, want %d", tt.config, r.status, r.header, tt.status)
			}
		}
	})
	t.Run("serverShutdownDelay", func(t *testing.T) {
		cfg, err := config.LoadBytes([]byte("backend:\n  lifecycle:\n    serverShutdownDelay: {seconds: 2}\n"), filepath.Join(dir, "app-config.yaml"), nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		b, err := wire.New(ctx, cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		b.Server.SetReady()
		srv := httptest.NewUnstartedServer(nil)
		ln := srv.Listener
		base := "http://" + ln.Addr().String()
		done := make(chan error, 1)
		go func() { done <- b.Server.Serve(ctx, ln) }()
		if r := ask(t, "GET", base+"/.backstage/health/v1/readiness", ""); r.status != 200 {
			t.Fatalf("readiness %d", r.status)
		}
		cancel()
		// During the delay the server still answers, and says it is not
		// ready so that load balancers stop sending.
		deadline := time.Now().Add(10 * time.Second)
		for {
			r := ask(t, "GET", base+"/.backstage/health/v1/readiness", "")
			if r.status == 503 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("readiness still %d", r.status)
			}
		}
		if r := ask(t, "GET", base+"/.backstage/health/v1/liveness", ""); r.status != 200 {
			t.Errorf("liveness during the delay: %d", r.status)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// TestFrontendConfigKeys: the keys the served app reads from understage's
// config.
func TestFrontendConfigKeys(t *testing.T) {
	cfg, err := config.LoadBytes([]byte(`app:
  title: Fernwood Portal
  baseUrl: https://portal.example.com
organization: {name: Fernwood}
catalog:
  import: {entityFilename: component-info.yaml, pullRequestBranchName: add-to-portal}
techdocs: {builder: external, generator: {runIn: local}}
`), "app-config.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(app.FrontendConfig(cfg, "http://127.0.0.1:7007"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"title":"Fernwood Portal"`, `"baseUrl":"https://portal.example.com"`, `"organization":{"name":"Fernwood"}`,
		`"import":{"entityFilename":"component-info.yaml","pullRequestBranchName":"add-to-portal"}`, `"techdocs":{"builder":"external"}`} {
		if !strings.Contains(string(got), want) {
			t.Errorf("frontend config %s lacks %s", got, want)
		}
	}
}

// TestProxyConfig: a proxy endpoint's allowedHeaders reach the target, and
// credentials: dangerously-allow-unauthenticated opens it to anonymous
// callers while others need a token.
func TestProxyConfig(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"x-team":"`+r.Header.Get("X-Team")+`","x-other":"`+r.Header.Get("X-Other")+`"}`)
	}))
	defer target.Close()
	_, base := newBackend(t, t.TempDir(), `proxy:
  endpoints:
    /open:
      target: `+target.URL+`
      allowedHeaders: [X-Team]
      credentials: dangerously-allow-unauthenticated
    /closed:
      target: `+target.URL+`
`)
	r := ask(t, "GET", base+"/api/proxy/open/x", "", "X-Team", "a", "X-Other", "b")
	if r.status != 200 || r.body != `{"x-team":"a","x-other":""}` {
		t.Errorf("open: %d %s", r.status, r.body)
	}
	if r := ask(t, "GET", base+"/api/proxy/closed/x", ""); r.status != 401 {
		t.Errorf("closed without a token: %d %s", r.status, r.body)
	}
}

// TestIntegrationsGitConfig: integrations.git remotes with credentials.
func TestIntegrationsGitConfig(t *testing.T) {
	cfg, err := config.LoadBytes([]byte(`integrations:
  git:
    - {host: git.example.com, username: bot, password: pw}
    - {host: plain.example.com, token: tk, insecure: true}
`), "app-config.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := gitreader.ReadConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := []gitreader.Remote{{Host: "git.example.com", Username: "bot", Password: "pw"}, {Host: "plain.example.com", Password: "tk", Insecure: true}}
	if !slices.Equal(got.Remotes, want) {
		t.Errorf("remotes %+v, want %+v", got.Remotes, want)
	}
}
