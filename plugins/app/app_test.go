package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/understage/understage/plugins/app"
	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/httpserver"
)

// buildIndex is shaped like backstage-cli's output: the build-time config
// in a script tag in the head, the bundle under static/.
const buildIndex = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>Built</title>` +
	`<script type="backstage.io/config">[{"context":"app-config.yaml","data":{"app":{"baseUrl":"http://127.0.0.1:3000","title":"Built"},"backend":{"baseUrl":"http://127.0.0.1:7007"},"permission":{"enabled":true}}}]</script>` +
	`<script defer src="/static/main.0123abcd.js"></script></head><body><div id="root"></div></body></html>`

func writeDist(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"index.html":              buildIndex,
		"static/main.0123abcd.js": "console.log('app')",
		"favicon.ico":             "icon",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// serve builds a root server with the app mounted and one plugin route, as
// the binary's wiring does.
func serve(t *testing.T, cfg map[string]any) string {
	t.Helper()
	c := config.FromValue(cfg, "test.yaml")
	srv := httpserver.New(httpserver.Options{Config: c})
	if err := srv.Err(); err != nil {
		t.Fatal(err)
	}
	srv.Plugin("catalog").GET("/entities", func(c echo.Context) error { return c.JSON(200, []any{}) })
	if err := app.Mount(context.Background(), srv, c, app.MountOptions{}); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts.URL
}

type response struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, method, url string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{res.StatusCode, res.Header, string(b)}
}

var configTag = regexp.MustCompile(`<script type="backstage.io/config">(.*?)</script>`)

// injected returns the data of every config script, in document order.
func injected(t *testing.T, html string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, m := range configTag.FindAllStringSubmatch(html, -1) {
		var layers []struct {
			Context string         `json:"context"`
			Data    map[string]any `json:"data"`
		}
		if err := json.Unmarshal([]byte(m[1]), &layers); err != nil {
			t.Fatalf("config script is not JSON: %v: %s", err, m[1])
		}
		for _, l := range layers {
			out = append(out, l.Data)
		}
	}
	return out
}

func TestServing(t *testing.T) {
	dist := writeDist(t)
	url := serve(t, map[string]any{
		"app":     map[string]any{"distDir": dist, "title": "Portal </script><b>"},
		"backend": map[string]any{"baseUrl": "http://portal.example:7007", "database": map[string]any{"connection": "secret"}},
	})
	tests := []struct {
		name, method, path string
		status             int
		cache              string
		bodyHas            string
	}{
		{"root is the app", "GET", "/", 200, "no-store, max-age=0", `<div id="root">`},
		{"client route falls back to index", "GET", "/catalog/default/component/x", 200, "no-store, max-age=0", `<div id="root">`},
		{"index.html itself", "GET", "/index.html", 200, "no-store, max-age=0", `<div id="root">`},
		{"hashed asset is immutable", "GET", "/static/main.0123abcd.js", 200, "public, max-age=31536000, immutable", "console.log"},
		{"HEAD of an asset", "HEAD", "/static/main.0123abcd.js", 200, "public, max-age=31536000, immutable", ""},
		{"other public file", "GET", "/favicon.ico", 200, "", "icon"},
		{"missing hashed asset is a 404", "GET", "/static/main.gone.js", 404, "", ""},
		{"plugin route keeps precedence", "GET", "/api/catalog/entities", 200, "", "[]"},
		{"unknown plugin is a clean 404", "GET", "/api/notifications/status", 404, "", ""},
		{"signals websocket path is a clean 404", "GET", "/api/signals", 404, "", ""},
		{"techdocs is a clean 404", "GET", "/api/techdocs/static/docs/default/component/x/index.html", 404, "", ""},
		{"proxy without endpoints is a clean 404", "GET", "/api/proxy/test", 404, "", ""},
		{"unknown route of a mounted plugin", "GET", "/api/catalog/nope", 404, "", ""},
		{"POST outside the API", "POST", "/catalog", 404, "", ""},
		{"path traversal stays inside dist", "GET", "/static/../../etc/passwd", 200, "no-store, max-age=0", `<div id="root">`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, tc.method, url+tc.path)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d (body %q)", r.status, tc.status, r.body)
			}
			if got := r.header.Get("Cache-Control"); got != tc.cache {
				t.Errorf("Cache-Control %q, want %q", got, tc.cache)
			}
			if !strings.Contains(r.body, tc.bodyHas) {
				t.Errorf("body %q lacks %q", r.body, tc.bodyHas)
			}
			if tc.status == 404 && r.body != "" {
				t.Errorf("404 body %q, want empty", r.body)
			}
		})
	}

	t.Run("config is injected after the build's", func(t *testing.T) {
		r := do(t, "GET", url+"/catalog")
		layers := injected(t, r.body)
		if len(layers) != 2 {
			t.Fatalf("%d config scripts, want the build's and ours", len(layers))
		}
		got := layers[1]
		want := map[string]any{
			"app":        map[string]any{"title": "Portal </script><b>", "baseUrl": "http://portal.example:7007"},
			"backend":    map[string]any{"baseUrl": "http://portal.example:7007"},
			"permission": map[string]any{"enabled": false},
		}
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(want)
		if string(gj) != string(wj) {
			t.Errorf("injected %s\nwant     %s", gj, wj)
		}
		if strings.Contains(r.body, "secret") {
			t.Error("server-only config leaked into index.html")
		}
		if !strings.Contains(r.body, "<title>Portal &lt;/script&gt;&lt;b&gt;</title>") {
			t.Error("title not replaced with app.title")
		}
		if strings.Count(r.body, "</script>") != 3 {
			t.Error("a config value closed the script tag early")
		}
	})
}

func TestDisabledAndMissing(t *testing.T) {
	dist := writeDist(t)
	tests := []struct {
		name    string
		cfg     map[string]any
		wantErr bool
	}{
		{"app.disabled", map[string]any{"app": map[string]any{"distDir": dist, "disabled": true}}, false},
		{"no build at the default places", map[string]any{}, false},
		{"configured dir without a build", map[string]any{"app": map[string]any{"distDir": t.TempDir()}}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The default places are relative to the working directory.
			t.Chdir(t.TempDir())
			c := config.FromValue(tc.cfg, "test.yaml")
			srv := httpserver.New(httpserver.Options{Config: c})
			err := app.Mount(context.Background(), srv, c, app.MountOptions{})
			if tc.wantErr {
				if err == nil {
					t.Fatal("want an error for a distDir without index.html")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ts := httptest.NewServer(srv.Handler())
			defer ts.Close()
			if r := do(t, "GET", ts.URL+"/"); r.status != 404 {
				t.Errorf("GET / = %d, want 404 with serving off", r.status)
			}
		})
	}
}

func TestFrontendConfigKeepsSecretsOut(t *testing.T) {
	c := config.FromValue(map[string]any{
		"organization": map[string]any{"name": "Fernwood"},
		"integrations": map[string]any{"github": []any{map[string]any{"host": "github.com", "token": "ghp_secret"}}},
		"auth":         map[string]any{"environment": "development", "providers": map[string]any{"github": map[string]any{"development": map[string]any{"clientSecret": "s3"}}}},
		"permission":   map[string]any{"enabled": true},
		"catalog":      map[string]any{"import": map[string]any{"entityFilename": "catalog-info.yaml"}, "locations": []any{}},
	}, "test.yaml")
	got, err := json.Marshal(app.FrontendConfig(c, "http://localhost:7007"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"app":{"baseUrl":"http://localhost:7007"},"auth":{"environment":"development"},"backend":{"baseUrl":"http://localhost:7007"},` +
		`"catalog":{"import":{"entityFilename":"catalog-info.yaml"}},"integrations":{"github":[{"host":"github.com"}]},` +
		`"organization":{"name":"Fernwood"},"permission":{"enabled":true}}`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
