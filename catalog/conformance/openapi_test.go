package conformance

import (
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// catalogSpec loads the published spec, skipping when npm/node are missing.
func catalogSpec(t *testing.T) *openapi3.T {
	t.Helper()
	for _, tool := range []string{"npm", "node"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed: %v", tool, err)
		}
	}
	dir := os.Getenv("UNDERSTAGE_SPEC_CACHE")
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = t.TempDir()
		}
		dir = filepath.Join(base, "understage", "conformance")
	}
	spec, err := LoadCatalogSpec(t.Context(), dir)
	if err != nil {
		t.Fatalf("LoadCatalogSpec: %v", err)
	}
	return spec
}

func TestOracleResponsesMatchSpec(t *testing.T) {
	oracle := os.Getenv(EnvOracleURL)
	if oracle == "" {
		t.Skipf("set %s to validate the oracle's responses", EnvOracleURL)
	}
	spec := catalogSpec(t)
	ValidateServer(t, spec, oracle, ReadCases())
}

func TestUnderstageResponsesMatchSpec(t *testing.T) {
	understage := os.Getenv(EnvUnderstageURL)
	if understage == "" {
		t.Skipf("set %s to validate Understage's responses", EnvUnderstageURL)
	}
	spec := catalogSpec(t)
	ValidateServer(t, spec, understage, ReadCases())
}

// TestValidatorRejectsBadResponses proves the validator is not a no-op.
func TestValidatorRejectsBadResponses(t *testing.T) {
	if os.Getenv(EnvOracleURL) == "" && os.Getenv("UNDERSTAGE_SPEC_TEST") == "" {
		t.Skipf("set %s or UNDERSTAGE_SPEC_TEST=1 to fetch the published spec", EnvOracleURL)
	}
	spec := catalogSpec(t)
	json := http.Header{"Content-Type": []string{"application/json; charset=utf-8"}}
	tests := []struct {
		name, method, path string
		status             int
		body               string
		wantErr            bool
	}{
		{"valid by-query page", "GET", "/api/catalog/entities/by-query", 200, `{"items":[],"totalItems":0,"pageInfo":{}}`, false},
		{"items not an array", "GET", "/api/catalog/entities/by-query", 200, `{"items":"x","totalItems":0,"pageInfo":{}}`, true},
		{"missing totalItems", "GET", "/api/catalog/entities/by-query", 200, `{"items":[],"pageInfo":{}}`, true},
		{"facets with a bad count", "GET", "/api/catalog/entity-facets", 200, `{"facets":{"kind":[{"value":"API","count":"one"}]}}`, true},
		{"undeclared status", "GET", "/api/catalog/entities/by-uid/x", 418, `{}`, true},
		{"valid not-found error", "GET", "/api/catalog/entities/by-uid/x", 404, `{"error":{"name":"NotFoundError","message":"No entity with uid x"},"request":{"method":"GET","url":"/entities/by-uid/x"},"response":{"statusCode":404}}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckResponse(t.Context(), spec, tt.method, tt.path, url.Values{}, tt.status, json, []byte(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("CheckResponse error = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
}

func TestDowngradeNullable(t *testing.T) {
	in := map[string]any{"properties": map[string]any{
		"a": map[string]any{"type": []any{"string", "null"}},
		"b": map[string]any{"type": []any{"string", "number"}},
		"c": map[string]any{"items": []any{map[string]any{"type": []any{"null", "object"}}}},
	}}
	want := map[string]any{"properties": map[string]any{
		"a": map[string]any{"type": "string", "nullable": true},
		"b": map[string]any{"type": []any{"string", "number"}},
		"c": map[string]any{"items": []any{map[string]any{"type": "object", "nullable": true}}},
	}}
	if got := downgradeNullable(in); !reflect.DeepEqual(got, want) {
		t.Fatalf("downgradeNullable = %#v, want %#v", got, want)
	}
}

func TestFindRoute(t *testing.T) {
	spec := &openapi3.T{Paths: openapi3.NewPaths(
		openapi3.WithPath("/entities/by-name/{kind}/{namespace}/{name}", &openapi3.PathItem{Get: &openapi3.Operation{OperationID: "byName"}}),
		openapi3.WithPath("/entities/by-name/{kind}/{namespace}/{name}/ancestry", &openapi3.PathItem{Get: &openapi3.Operation{OperationID: "ancestry"}}),
		openapi3.WithPath("/entities/by-uid/{uid}", &openapi3.PathItem{Get: &openapi3.Operation{OperationID: "byUid"}}),
		openapi3.WithPath("/entities/by-query", &openapi3.PathItem{Get: &openapi3.Operation{OperationID: "byQueryGet"}}),
		openapi3.WithPath("/entities/{x}", &openapi3.PathItem{Get: &openapi3.Operation{OperationID: "param"}}),
	)}
	tests := []struct {
		method, path, wantOp string
		wantParams           map[string]string
	}{
		{"GET", "/api/catalog/entities/by-name/component/default/a%20b", "byName", map[string]string{"kind": "component", "namespace": "default", "name": "a b"}},
		{"GET", "/entities/by-name/a/b/c/ancestry", "ancestry", map[string]string{"kind": "a", "namespace": "b", "name": "c"}},
		{"GET", "/api/catalog/entities/by-query", "byQueryGet", map[string]string{}},
		{"POST", "/api/catalog/entities/by-query", "", nil},
	}
	for _, tt := range tests {
		route, params, err := FindRoute(spec, tt.method, tt.path)
		if tt.wantOp == "" {
			if err == nil {
				t.Errorf("%s %s: want no route, got %s", tt.method, tt.path, route.Operation.OperationID)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %s: %v", tt.method, tt.path, err)
			continue
		}
		if route.Operation.OperationID != tt.wantOp || !reflect.DeepEqual(params, tt.wantParams) {
			t.Errorf("%s %s = %s %v, want %s %v", tt.method, tt.path, route.Operation.OperationID, params, tt.wantOp, tt.wantParams)
		}
	}
}
