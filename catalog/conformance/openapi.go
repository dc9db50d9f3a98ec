package conformance

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

// The catalog OpenAPI spec is taken from this published package at test time
// (it is Backstage's text; it must not be copied into the repository).
const (
	catalogBackendPackage = "@backstage/plugin-catalog-backend@4.0.0"
	catalogRouterFile     = "package/dist/schema/openapi/generated/router.cjs.js"
	specCacheFile         = "plugin-catalog-backend-4.0.0.openapi.json"
)

// nodeEvalSpec evaluates the generated router module with a stub require()
// (its only dependency, @backstage/backend-openapi-utils, is used lazily by
// createOpenApiRouter) and prints the exported spec object as JSON.
const nodeEvalSpec = `const fs = require("fs");
const src = fs.readFileSync(process.argv[1], "utf8");
const m = { exports: {} };
new Function("require", "module", "exports", src)(() => ({}), m, m.exports);
if (!m.exports.spec) { throw new Error("module does not export spec"); }
process.stdout.write(JSON.stringify(m.exports.spec));`

// LoadCatalogSpec returns Backstage's catalog OpenAPI document. It runs
// `npm pack` for the catalog backend package into cacheDir, extracts the
// generated router module, evaluates it with node to obtain the spec object
// (it is a JavaScript literal, not JSON) and caches the JSON in cacheDir.
//
// The spec is OpenAPI 3.1. kin-openapi (v0.153) loads 3.1 documents and
// validates their schemas with its JSON Schema 2020-12 validator, which
// openapi3filter enables by itself for 3.1 documents. Before loading,
// downgradeNullable still rewrites `type: [T, "null"]` into `type: T,
// nullable: true` so that the 3.0-style keyword checks kin-openapi performs in
// doc.Validate accept the schemas (the 4.0.0 spec has no such types today).
func LoadCatalogSpec(ctx context.Context, cacheDir string) (*openapi3.T, error) {
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("create spec cache dir: %w", err)
	}
	cached := filepath.Join(cacheDir, specCacheFile)
	data, err := os.ReadFile(cached)
	if errors.Is(err, os.ErrNotExist) {
		data, err = extractCatalogSpec(ctx, cacheDir)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(cached, data, 0o644); err != nil {
			return nil, fmt.Errorf("cache spec: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("read cached spec: %w", err)
	}
	return parseSpec(ctx, data)
}

func parseSpec(ctx context.Context, data []byte) (*openapi3.T, error) {
	var raw any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("decode spec JSON: %w", err)
	}
	data, err := json.Marshal(downgradeNullable(raw))
	if err != nil {
		return nil, fmt.Errorf("encode spec JSON: %w", err)
	}
	loader := openapi3.NewLoader()
	loader.Context = ctx
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("load catalog spec: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("catalog spec does not validate: %w", err)
	}
	return doc, nil
}

// downgradeNullable rewrites the OpenAPI 3.1 form `type: [T, "null"]` into the
// 3.0 form `type: T, nullable: true`, recursively.
func downgradeNullable(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, e := range t {
			t[k] = downgradeNullable(e)
		}
		if types, ok := t["type"].([]any); ok {
			var rest []any
			nullable := false
			for _, ty := range types {
				if ty == "null" {
					nullable = true
				} else {
					rest = append(rest, ty)
				}
			}
			if len(rest) == 1 {
				t["type"] = rest[0]
				if nullable {
					t["nullable"] = true
				}
			}
		}
		return t
	case []any:
		for i, e := range t {
			t[i] = downgradeNullable(e)
		}
		return t
	}
	return v
}

func extractCatalogSpec(ctx context.Context, cacheDir string) ([]byte, error) {
	pack := exec.CommandContext(ctx, "npm", "pack", catalogBackendPackage, "--pack-destination", cacheDir, "--silent")
	var stderr bytes.Buffer
	pack.Stderr = &stderr
	out, err := pack.Output()
	if err != nil {
		return nil, fmt.Errorf("npm pack %s: %w: %s", catalogBackendPackage, err, stderr.String())
	}
	lines := strings.Fields(strings.TrimSpace(string(out)))
	if len(lines) == 0 {
		return nil, fmt.Errorf("npm pack %s printed no file name", catalogBackendPackage)
	}
	tgz := filepath.Join(cacheDir, lines[len(lines)-1])
	js, err := readFromTarball(tgz, catalogRouterFile)
	if err != nil {
		return nil, err
	}
	jsPath := filepath.Join(cacheDir, "catalog-router.cjs.js")
	if err := os.WriteFile(jsPath, js, 0o644); err != nil {
		return nil, fmt.Errorf("write router module: %w", err)
	}
	node := exec.CommandContext(ctx, "node", "-e", nodeEvalSpec, jsPath)
	stderr.Reset()
	node.Stderr = &stderr
	spec, err := node.Output()
	if err != nil {
		return nil, fmt.Errorf("evaluate %s with node: %w: %s", catalogRouterFile, err, stderr.String())
	}
	return spec, nil
}

func readFromTarball(tgz, name string) ([]byte, error) {
	f, err := os.Open(tgz)
	if err != nil {
		return nil, fmt.Errorf("open package: %w", err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("gunzip %s: %w", tgz, err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("%s not found in %s", name, tgz)
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", tgz, err)
		}
		if h.Name == name {
			data, err := io.ReadAll(tr)
			if err != nil {
				return nil, fmt.Errorf("read %s from %s: %w", name, tgz, err)
			}
			return data, nil
		}
	}
}

// FindRoute matches a plugin-relative path ("/entities/by-name/a/b/c";
// a leading "/api/catalog" is removed) against the spec's path templates,
// preferring literal segments over parameters.
func FindRoute(spec *openapi3.T, method, path string) (*routers.Route, map[string]string, error) {
	path = strings.TrimPrefix(path, "/api/catalog")
	segs := strings.Split(strings.Trim(path, "/"), "/")
	var best *routers.Route
	var bestParams map[string]string
	bestLiterals := -1
	for tmpl, item := range spec.Paths.Map() {
		tsegs := strings.Split(strings.Trim(tmpl, "/"), "/")
		if len(tsegs) != len(segs) {
			continue
		}
		params := map[string]string{}
		literals := 0
		ok := true
		for i, ts := range tsegs {
			if strings.HasPrefix(ts, "{") && strings.HasSuffix(ts, "}") {
				v, err := url.PathUnescape(segs[i])
				if err != nil {
					ok = false
					break
				}
				params[ts[1:len(ts)-1]] = v
				continue
			}
			if ts != segs[i] {
				ok = false
				break
			}
			literals++
		}
		op := item.GetOperation(strings.ToUpper(method))
		if !ok || op == nil || literals <= bestLiterals {
			continue
		}
		best = &routers.Route{Spec: spec, Path: tmpl, PathItem: item, Method: strings.ToUpper(method), Operation: op}
		bestParams, bestLiterals = params, literals
	}
	if best == nil {
		return nil, nil, fmt.Errorf("no operation %s %s in the catalog spec", method, path)
	}
	return best, bestParams, nil
}

// ValidateResponse fails t when the response does not conform to the spec's
// operation for method+path: undeclared status codes, content types, and
// bodies that do not match the response schema.
func ValidateResponse(t testing.TB, spec *openapi3.T, method, path string, query url.Values, status int, header http.Header, body []byte) {
	t.Helper()
	if err := CheckResponse(t.Context(), spec, method, path, query, status, header, body); err != nil {
		t.Errorf("%s %s → %d: %v", method, path, status, err)
	}
}

// CheckResponse is ValidateResponse returning the problem instead of failing a test.
func CheckResponse(ctx context.Context, spec *openapi3.T, method, path string, query url.Values, status int, header http.Header, body []byte) error {
	route, params, err := FindRoute(spec, method, path)
	if err != nil {
		return err
	}
	u := &url.URL{Path: path, RawQuery: query.Encode()}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request:     req,
			PathParams:  params,
			QueryParams: query,
			Route:       route,
		},
		Status: status,
		Header: header,
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			MultiError:            true,
		},
	}
	input.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(ctx, input); err != nil {
		return fmt.Errorf("response does not match the catalog spec: %w", err)
	}
	return nil
}

// ProjectionSpec returns a copy of spec for responses shaped by a `fields`
// projection: the spec declares entities with required apiVersion, kind and
// metadata(.name), but a projection legitimately drops them, so those
// requirements are removed. Everything else stays as strict as in spec.
func ProjectionSpec(ctx context.Context, spec *openapi3.T) (*openapi3.T, error) {
	data, err := json.Marshal(spec)
	if err != nil {
		return nil, fmt.Errorf("encode spec: %w", err)
	}
	var raw any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("decode spec: %w", err)
	}
	dropEntityRequired(raw)
	data, err = json.Marshal(raw)
	if err != nil {
		return nil, fmt.Errorf("encode relaxed spec: %w", err)
	}
	return parseSpec(ctx, data)
}

// dropEntityRequired removes the `required` lists that name entity envelope fields.
func dropEntityRequired(v any) {
	switch t := v.(type) {
	case map[string]any:
		if req, ok := t["required"].([]any); ok {
			for _, r := range req {
				if r == "apiVersion" || r == "kind" || r == "metadata" || r == "name" {
					delete(t, "required")
					break
				}
			}
		}
		for _, e := range t {
			dropEntityRequired(e)
		}
	case []any:
		for _, e := range t {
			dropEntityRequired(e)
		}
	}
}

// usesProjection tells whether a case asks for a `fields` projection.
func usesProjection(c Case, query url.Values) bool {
	if query.Has("fields") {
		return true
	}
	b, ok := c.Body.(map[string]any)
	if !ok {
		return false
	}
	_, ok = b["fields"]
	return ok
}

// ValidateServer sends every case to the server at baseURL (first page only)
// and checks each response against the spec, one subtest per case. Cases with
// a `fields` projection are checked against ProjectionSpec.
func ValidateServer(t *testing.T, spec *openapi3.T, baseURL string, cases []Case) {
	t.Helper()
	ctx := t.Context()
	projected, err := ProjectionSpec(ctx, spec)
	if err != nil {
		t.Fatalf("ProjectionSpec: %v", err)
	}
	s := &side{name: "server", base: strings.TrimRight(baseURL, "/"), client: &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, uids: map[string]string{}}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			path, err := s.resolve(ctx, c.Path)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := s.do(ctx, c.Method, path, c.Body, c.Headers)
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(path)
			if err != nil {
				t.Fatal(err)
			}
			use := spec
			if usesProjection(c, u.Query()) {
				use = projected
			}
			ValidateResponse(t, use, c.Method, u.Path, u.Query(), resp.status, resp.header, resp.body)
		})
	}
}
