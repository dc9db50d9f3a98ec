package wire_test

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestSearchAndProxyPlugins: the search and proxy plugins mount their own
// routes behind the auth barrier; with no proxy endpoints /api/proxy is
// the plain 404 of a backend without the plugin.
func TestSearchAndProxyPlugins(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "catalog.yaml")
	writeFile(t, file, `apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: storefront, description: the shop}
spec: {type: website, lifecycle: production, owner: team-web}
`)
	_, base := newBackend(t, dir, `backend:
  baseUrl: http://127.0.0.1:0
  database: {client: better-sqlite3, connection: ':memory:'}
auth:
  environment: development
  providers:
    guest: {dangerouslyAllowOutsideDevelopment: true}
catalog:
  locations:
    - {type: file, target: `+file+`}
app:
  disabled: true
`)
	bearer := "Bearer " + guestToken(t, base)
	tests := []struct {
		name, path, auth string
		status           int
		body             string // a substring of the body
	}{
		{"search without a token", "/api/search/query?term=shop", "", 401, ""},
		{"search with a token", "/api/search/query?term=shop", bearer, 200, `"name":"storefront"`},
		{"proxy without endpoints", "/api/proxy/anything", bearer, 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var header []string
			if tc.auth != "" {
				header = []string{"Authorization", tc.auth}
			}
			r := ask(t, "GET", base+tc.path, "", header...)
			if r.status != tc.status || !strings.Contains(r.body, tc.body) {
				t.Errorf("%s: %d %s, want %d with %s", tc.path, r.status, r.body, tc.status, tc.body)
			}
		})
	}
}
