package proxy_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/httpserver"
	"github.com/understage/understage/plugins/proxy"
)

// seen is what the proxy target received.
type seen struct {
	Path, Query, Host, APIKey, Authorization, Cookie, Accept string
}

func TestProxy(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Set-Cookie", "session=1")
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(seen{
			r.URL.Path, r.URL.RawQuery, r.Host, r.Header.Get("X-Api-Key"),
			r.Header.Get("Authorization"), r.Header.Get("Cookie"), r.Header.Get("Accept"),
		})
	}))
	defer target.Close()

	cfg := config.FromValue(map[string]any{
		"proxy": map[string]any{
			"endpoints": map[string]any{
				"/test": map[string]any{
					"target":         target.URL + "/base",
					"changeOrigin":   true,
					"headers":        map[string]any{"X-Api-Key": "k1"},
					"allowedMethods": []any{"GET"},
				},
			},
			"/legacy": target.URL,
		},
	}, "test.yaml")
	endpoints, err := proxy.ReadConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httpserver.New(httpserver.Options{Config: cfg})
	proxy.Register(srv.Plugin("proxy"), endpoints, slog.New(slog.DiscardHandler))
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	tests := []struct {
		name, method, path string
		status             int
		want               seen
	}{
		{"path, query and configured header", "GET", "/api/proxy/test/a/b?x=1", 200,
			seen{Path: "/base/a/b", Query: "x=1", APIKey: "k1", Accept: "application/json"}},
		{"endpoint root", "GET", "/api/proxy/test", 200, seen{Path: "/base", APIKey: "k1", Accept: "application/json"}},
		{"method not allowed", "POST", "/api/proxy/test/a", 405, seen{}},
		{"older top-level form", "GET", "/api/proxy/legacy/x", 200, seen{Path: "/x", Accept: "application/json"}},
		{"unknown endpoint", "GET", "/api/proxy/other", 404, seen{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, ts.URL+tc.path, nil)
			req.Header.Set("Authorization", "Bearer secret")
			req.Header.Set("Cookie", "a=b")
			req.Header.Set("Accept", "application/json")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tc.status)
			}
			if tc.status != 200 {
				return
			}
			if c := res.Header.Get("Set-Cookie"); c != "" {
				t.Errorf("Set-Cookie %q reached the browser", c)
			}
			b, _ := io.ReadAll(res.Body)
			var got seen
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			got.Host = ""
			if got != tc.want {
				t.Errorf("target saw %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestReadConfigErrors(t *testing.T) {
	for name, v := range map[string]any{
		"no target":  map[string]any{"endpoints": map[string]any{"/x": map[string]any{"changeOrigin": true}}},
		"bad target": map[string]any{"endpoints": map[string]any{"/x": "not a url"}},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := config.FromValue(map[string]any{"proxy": v}, "test.yaml")
			if _, err := proxy.ReadConfig(cfg); err == nil {
				t.Fatal("want a config error")
			}
		})
	}
}
