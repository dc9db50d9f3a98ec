package wire_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/understage/understage/cmd/understage/wire"
	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/metrics/metricstest"
)

// freePort finds a port to listen on: Backend.Run listens on the
// configured address itself.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// gate is a catalog file server whose first answer waits until released,
// so the first load is provably in progress while the test looks.
type gate struct {
	once     sync.Once
	asked    chan struct{}
	released chan struct{}
	files    map[string]string
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/slow.yaml" {
		g.once.Do(func() { close(g.asked) })
		<-g.released
	}
	body, ok := g.files[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	_, _ = w.Write([]byte(body))
}

const metricsTemplate = `apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: say-hello}
spec:
  owner: team-a
  type: service
  steps:
    - id: hello
      name: Hello
      action: debug:log
      input: {message: hello}
`

// TestMetricsAfterIngestAndTask runs the backend as serve does (Run, its
// own listener) and checks what an operator would: readiness stays 503
// until the configured locations are loaded, then /metrics shows the
// catalog's entities by kind, locations, relations, processing and
// stitching, the task and step that ran, and request latency by route.
func TestMetricsAfterIngestAndTask(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"all.yaml": component("c1") + component("c2") + component("c3") +
			"---\napiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: team-a}\nspec: {type: team, children: []}\n" +
			"---\napiVersion: backstage.io/v1alpha1\nkind: API\nmetadata: {name: a1}\nspec: {type: openapi, lifecycle: production, owner: team-a, definition: x}\n",
		"template.yaml": metricsTemplate,
	})
	g := &gate{asked: make(chan struct{}), released: make(chan struct{}), files: map[string]string{
		"/slow.yaml":       component("slow"),
		"/registered.yaml": component("registered"),
	}}
	files := httptest.NewServer(g)
	defer files.Close()
	defer func() {
		select {
		case <-g.released:
		default:
			close(g.released)
		}
	}()
	host := strings.TrimPrefix(files.URL, "http://")
	port := freePort(t)
	logs := &lockedBuffer{}
	cfg, err := config.LoadBytes(fmt.Appendf(nil, `backend:
  listen: {host: 127.0.0.1, port: %d}
  auth: {dangerouslyDisableDefaultAuthPolicy: true}
  database: {client: better-sqlite3, connection: %q}
  reading:
    allow: [{host: %q}]
catalog:
  processingProgressInterval: PT0S
  rules: [{allow: [Component, API, Group, Location, Template]}]
  locations:
    - {type: file, target: %q}
    - {type: file, target: %q}
    - {type: url, target: %q}
`, port, filepath.Join(dir, "catalog.sqlite"), host, filepath.Join(dir, "all.yaml"), filepath.Join(dir, "template.yaml"), files.URL+"/slow.yaml"),
		filepath.Join(dir, "app-config.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b, err := wire.New(ctx, cfg, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	wait := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("gave up waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	get := func(path string) (int, string) {
		res, err := http.Get(base + path)
		if err != nil {
			return 0, err.Error()
		}
		defer res.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(res.Body)
		return res.StatusCode, buf.String()
	}

	<-g.asked // the first load is reading slow.yaml and cannot finish
	wait("the server", func() bool { s, _ := get("/.backstage/health/v1/liveness"); return s == 200 })
	if s, body := get("/.backstage/health/v1/readiness"); s != 503 {
		t.Fatalf("readiness during the first load: %d %s, want 503", s, body)
	}
	close(g.released)
	wait("readiness", func() bool { s, _ := get("/.backstage/health/v1/readiness"); return s == 200 })
	if s, body := get("/api/catalog/entities/by-name/component/default/slow"); s != 200 {
		t.Fatalf("ready before the first load was stitched: %d %s", s, body)
	}

	post := func(path, body string, out any) int {
		t.Helper()
		res, err := http.Post(base+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if out != nil {
			_ = json.NewDecoder(res.Body).Decode(out)
		}
		return res.StatusCode
	}
	if s := post("/api/catalog/locations", fmt.Sprintf(`{"type":"url","target":%q}`, files.URL+"/registered.yaml"), nil); s != 201 {
		t.Fatalf("register location: %d", s)
	}
	var task struct{ ID string }
	if s := post("/api/scaffolder/v2/tasks", `{"templateRef":"template:default/say-hello","values":{}}`, &task); s != 201 {
		t.Fatalf("create task: %d", s)
	}
	wait("the task", func() bool {
		_, body := get("/api/scaffolder/v2/tasks/" + task.ID)
		return strings.Contains(body, `"status":"completed"`) || strings.Contains(body, `"status":"failed"`)
	})
	wait("the registered entity", func() bool {
		s, _ := get("/api/catalog/entities/by-name/component/default/registered")
		return s == 200
	})

	var f metricstest.Families
	check := func() error {
		f = metricstest.Scrape(t, base+"/metrics", nil)
		for _, c := range []struct {
			name   string
			labels map[string]string
			want   float64
		}{
			{"catalog_entities_count", map[string]string{"kind": "component"}, 5},
			{"catalog_entities_count", map[string]string{"kind": "template"}, 1},
			{"catalog_entities_count", map[string]string{"kind": "api"}, 1},
			{"catalog_entities_count", map[string]string{"kind": "group"}, 1},
			{"catalog_registered_locations_count", nil, 1},
			{"catalog_processing_queue_length", nil, 0},
			{"catalog_stitching_queue_length", nil, 0},
			{"scaffolder_task_count_total", map[string]string{"template": "template:default/say-hello", "result": "ok"}, 1},
			{"scaffolder_task_duration_seconds", map[string]string{"template": "template:default/say-hello", "result": "ok"}, 1},
			{"scaffolder_step_count_total", map[string]string{"template": "template:default/say-hello", "step": "hello", "result": "ok"}, 1},
			{"scaffolder_step_duration_seconds", map[string]string{"step": "hello", "result": "ok"}, 1},
			{"http_server_request_duration_seconds", map[string]string{"http_route": "/api/scaffolder/v2/tasks", "http_request_method": "POST", "http_response_status_code": "201"}, 1},
			{"http_server_request_duration_seconds", map[string]string{"http_route": "/api/catalog/locations", "http_request_method": "POST", "http_response_status_code": "201"}, 1},
		} {
			if got, ok := f.Value(c.name, c.labels); !ok || got != c.want {
				return fmt.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
			}
		}
		return nil
	}
	var last error
	wait("the metrics", func() bool { last = check(); return last == nil || errors.Is(last, context.Canceled) })
	// Counts that grow with processing: at least one per entity.
	for _, c := range []struct {
		name   string
		labels map[string]string
		least  float64
	}{
		{"catalog_relations_count", nil, 8}, // ownedBy/ownerOf of 4 components and an API
		{"catalog_processed_entities_count_total", map[string]string{"result": "changed"}, 12},
		{"catalog_processing_duration_seconds", nil, 12},
		{"catalog_processors_duration_seconds", map[string]string{"result": "ok"}, 12},
		{"catalog_processing_queue_delay_seconds", nil, 12}, // every processed entity was claimed once at least
		{"catalog_stitched_entities_count_total", nil, 1},   // those stitched from the queue
		{"catalog_stitching_duration_seconds", nil, 1},
		{"process_resident_memory_bytes", nil, 1},
	} {
		if got, _ := f.Value(c.name, c.labels); got < c.least {
			t.Errorf("%s%v = %v, want at least %v", c.name, c.labels, got, c.least)
		}
	}
	if got, ok := f.Value("catalog_processing_queue_lag_seconds", nil); !ok || got != 0 {
		t.Errorf("catalog_processing_queue_lag_seconds = %v (present %v), want 0 with nothing due", got, ok)
	}
	if !strings.Contains(logs.String(), "initial catalog load done") {
		t.Errorf("no readiness line in the log")
	}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestMetricsConfig: backend.metrics.enabled, .token and .listen.
func TestMetricsConfig(t *testing.T) {
	dir := t.TempDir()
	status := func(url string, header ...string) int {
		t.Helper()
		return ask(t, "GET", url, "", header...).status
	}
	t.Run("disabled", func(t *testing.T) {
		_, base := newBackend(t, dir, "backend:\n  metrics: {enabled: false}\n")
		if s := status(base + "/metrics"); s != 404 {
			t.Errorf("/metrics with metrics disabled: %d, want 404", s)
		}
	})
	t.Run("token", func(t *testing.T) {
		_, base := newBackend(t, dir, "backend:\n  metrics: {token: s3cret}\n")
		for _, h := range [][]string{nil, {"Authorization", "Bearer wrong"}, {"Authorization", "s3cret"}} {
			if s := status(base+"/metrics", h...); s != 401 {
				t.Errorf("/metrics with %v: %d, want 401", h, s)
			}
		}
		f := metricstest.Scrape(t, base+"/metrics", http.Header{"Authorization": {"Bearer s3cret"}})
		if _, ok := f["go_goroutines"]; !ok {
			t.Errorf("authorised scrape has no go_goroutines")
		}
	})
	t.Run("own listener", func(t *testing.T) {
		port, mport := freePort(t), freePort(t)
		cfg, err := config.LoadBytes(fmt.Appendf(nil, "backend:\n  listen: {host: 127.0.0.1, port: %d}\n  metrics: {listen: '127.0.0.1:%d'}\n", port, mport),
			filepath.Join(dir, "app-config.yaml"), nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		b, err := wire.New(ctx, cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		done := make(chan error, 1)
		go func() { done <- b.Run(ctx) }()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}()
		base, mbase := fmt.Sprintf("http://127.0.0.1:%d", port), fmt.Sprintf("http://127.0.0.1:%d", mport)
		deadline := time.Now().Add(30 * time.Second)
		for {
			res, err := http.Get(base + "/.backstage/health/v1/readiness")
			if err == nil {
				res.Body.Close()
				if res.StatusCode == 200 {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatal("backend never ready")
			}
			time.Sleep(20 * time.Millisecond)
		}
		if s := status(base + "/metrics"); s != 404 {
			t.Errorf("/metrics on the backend's listener: %d, want 404", s)
		}
		status(base + "/api/catalog/entities")
		var f metricstest.Families
		for range 100 { // the metrics listener may open just after the backend's
			res, err := http.Get(mbase + "/metrics")
			if err == nil {
				res.Body.Close()
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		f = metricstest.Scrape(t, mbase+"/metrics", nil)
		if got, _ := f.Value("http_server_request_duration_seconds", map[string]string{"http_route": "/api/catalog/entities"}); got != 1 {
			t.Errorf("GET /api/catalog/entities recorded %v times, want 1", got)
		}
	})
}
