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

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/cmd/understage/wire"
	"github.com/understage/understage/plugins/backend/config"
)

// catalogBackend is the whole backend over a folder of catalog files and
// a SQLite file, started as `understage serve` starts it.
type catalogBackend struct {
	dir string
	srv *httptest.Server
	b   *wire.Backend
}

const catalogConf = `backend:
  baseUrl: http://127.0.0.1:0
  auth: {dangerouslyDisableDefaultAuthPolicy: true}
  database: {client: better-sqlite3, connection: %q}
catalog:
  processingInterval: PT10M
  limits:
    maxEntitiesPerFile: 2
    maxFileSize: 2048
    maxPlaceholderSize: 16
  locations:
    - type: file
      target: ./templates/all.yaml
      rules:
        - allow: [Template]
    - {type: file, target: ./good.yaml}
    - {type: file, target: ./three.yaml}
    - {type: file, target: ./big.yaml}
    - {type: file, target: ./placeholder.yaml}
`

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func component(name string) string {
	return "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: " + name +
		"\nspec: {type: service, lifecycle: production, owner: team-a}\n"
}

// start builds and starts the backend in dir (relative targets resolve
// against the working directory, as with `understage serve`).
func start(t *testing.T, dir string) *catalogBackend {
	t.Helper()
	t.Chdir(dir)
	cfg, err := config.LoadBytes([]byte(fmt.Sprintf(catalogConf, filepath.Join(dir, "catalog.sqlite"))), filepath.Join(dir, "app-config.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := wire.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if err := b.Engine.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	b.Server.SetReady()
	c := &catalogBackend{dir: dir, srv: httptest.NewServer(b.Server.Handler()), b: b}
	t.Cleanup(c.stop)
	return c
}

func (c *catalogBackend) stop() {
	if c.srv != nil {
		c.srv.Close()
		c.b.Close()
		c.srv = nil
	}
}

func (c *catalogBackend) get(t *testing.T, path string, v any) int {
	t.Helper()
	resp, err := http.Get(c.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == 200 && v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("%s: %v: %s", path, err, body)
		}
	}
	return resp.StatusCode
}

// TestCatalogConfig: catalog.locations[].rules, catalog.limits and the
// unprocessed-entities routes as configured through app-config, across a
// restart on the same database with every bad input still stored.
func TestCatalogConfig(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"templates/all.yaml": "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: templates\nspec:\n  targets: [./t1.yaml]\n",
		"templates/t1.yaml": "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata:\n  name: t1\nspec:\n  type: service\n  steps: []\n" +
			component("from-templates"),
		"good.yaml":        component("good"),
		"three.yaml":       component("a") + component("b") + component("c"),
		"big.yaml":         component("big") + "# " + strings.Repeat("x", 2048) + "\n",
		"placeholder.yaml": "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: ph\nspec:\n  type: service\n  lifecycle: production\n  owner: team-a\n  data: {$text: ./data.txt}\n",
		"data.txt":         strings.Repeat("d", 17),
	})
	gen := func(name string) string {
		return "location:default/" + catalog.GeneratedLocationName("file", filepath.Join(dir, name))
	}
	failures := map[string]string{
		gen("three.yaml"):      "InputError: file:" + filepath.Join(dir, "three.yaml") + " holds more than 2 entities, the limit set by catalog.limits.maxEntitiesPerFile",
		gen("big.yaml"):        "InputError: file:" + filepath.Join(dir, "big.yaml") + " is larger than 2048 bytes, the limit set by catalog.limits.maxFileSize",
		"component:default/ph": "InputError: Processor PlaceholderProcessor threw an error while preprocessing; caused by Error: Placeholder $text could not read location ./data.txt, InputError: the file is larger than 16 bytes, the limit set by catalog.limits.maxPlaceholderSize",
	}
	check := func(t *testing.T, c *catalogBackend) {
		t.Helper()
		for _, ref := range []string{"template:default/t1", "component:default/from-templates", "location:default/templates", "component:default/good"} {
			kind, rest, _ := strings.Cut(ref, ":")
			if status := c.get(t, "/api/catalog/entities/by-name/"+kind+"/"+rest, nil); status != 200 {
				t.Errorf("%s: %d", ref, status)
			}
		}
		var failed struct {
			Type     string
			Entities []struct {
				EntityRef string `json:"entity_ref"`
				Errors    []struct{ Name, Message string }
			}
		}
		if status := c.get(t, "/api/catalog/entities/unprocessed/failed", &failed); status != 200 {
			t.Fatalf("failed: %d", status)
		}
		for ref, want := range failures {
			if !slices.ContainsFunc(failed.Entities, func(e struct {
				EntityRef string `json:"entity_ref"`
				Errors    []struct{ Name, Message string }
			}) bool {
				return e.EntityRef == ref && len(e.Errors) == 1 && e.Errors[0].Name+": "+e.Errors[0].Message == want
			}) {
				t.Errorf("%s not failed with %q: %+v", ref, want, failed.Entities)
			}
		}
	}

	first := start(t, dir)
	check(t, first)
	var meta struct{ Permissions []struct{ Name string } }
	if status := first.get(t, "/api/catalog/.well-known/backstage/permissions/metadata", &meta); status != 200 || len(meta.Permissions) < 2 ||
		meta.Permissions[0].Name != "catalog.entities.unprocessed.read" || meta.Permissions[1].Name != "catalog.entities.unprocessed.delete" {
		t.Errorf("permission metadata %d: %+v, want the unprocessed module's first", status, meta.Permissions)
	}
	first.stop()

	second := start(t, dir)
	check(t, second)
}

func TestCatalogLimitsMustBePositive(t *testing.T) {
	for _, key := range []string{"maxFileSize", "maxPlaceholderSize", "maxEntitiesPerFile"} {
		t.Run(key, func(t *testing.T) {
			conf := "backend:\n  baseUrl: http://127.0.0.1:0\ncatalog:\n  limits:\n    " + key + ": 0\n"
			cfg, err := config.LoadBytes([]byte(conf), filepath.Join(t.TempDir(), "app-config.yaml"), nil)
			if err != nil {
				t.Fatal(err)
			}
			b, err := wire.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err == nil {
				b.Close()
			}
			if want := "catalog.limits." + key + " must be a positive number, got 0"; err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v, want %q", err, want)
			}
		})
	}
}
