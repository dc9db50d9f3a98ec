package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/understage/understage/cmd/understage/wire"
	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/database/databasetest"
)

// catalogServer is the whole backend as the binary assembles it, over the
// conformance corpus, served by a real listener.
type catalogServer struct {
	url     string
	backend *wire.Backend
}

func startCatalog(t *testing.T, databaseYAML string) *catalogServer {
	t.Helper()
	corpus, err := filepath.Abs("../conformance/testdata/corpus/all.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf := fmt.Sprintf(`backend:
  baseUrl: http://127.0.0.1:0
  auth: {dangerouslyDisableDefaultAuthPolicy: true}
  database: %s
catalog:
  processingInterval: PT10M
  allowedLocationTypes: [url, file]
  rules:
    - allow: [Component, System, API, Resource, Location, Template, Group, User, Domain]
  locations:
    - {type: file, target: %q}
app: {disabled: true}
`, databaseYAML, corpus)
	cfg, err := config.LoadBytes([]byte(conf), filepath.Join(dir, "app-config.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	// Warnings and errors are shown only when the test fails.
	var logs bytes.Buffer
	var logMu sync.Mutex
	log := slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	t.Cleanup(func() {
		if t.Failed() {
			logMu.Lock()
			t.Logf("backend log:\n%s", logs.String())
			logMu.Unlock()
		}
	})
	b, err := wire.New(ctx, cfg, log)
	if err != nil {
		t.Fatalf("wire.New: %v", err)
	}
	t.Cleanup(b.Close)
	if err := b.Engine.Drain(ctx); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	b.Server.SetReady()
	srv := httptest.NewServer(b.Server.Handler())
	t.Cleanup(srv.Close)
	return &catalogServer{url: srv.URL + "/api/catalog", backend: b}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func sqliteYAML(t *testing.T) string {
	return fmt.Sprintf("{client: better-sqlite3, connection: %q}", filepath.Join(t.TempDir(), "catalog.sqlite"))
}

func postgresYAML(t *testing.T) string {
	o := databasetest.PG(t)
	c := o.Connection.(map[string]any)
	// As in Backstage, the base connection's database is not used: each
	// plugin gets <prefix><plugin>. Every plugin goes to the test's own
	// database instead, so concurrent tests do not share one.
	dsn := fmt.Sprintf("postgres://%v@%v:%v/%v?sslmode=disable", c["user"], c["host"], c["port"], c["database"])
	return fmt.Sprintf("{client: pg, connection: %[1]q, plugin: {catalog: {connection: %[1]q}, auth: {connection: %[1]q}, scaffolder: {connection: %[1]q}}}", dsn)
}

type answer struct {
	status int
	body   string
}

func (s *catalogServer) do(t *testing.T, method, path, body string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
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
	return answer{res.StatusCode, string(b)}
}

// internalLeaks are fragments of SQL, driver and runtime text that must
// never reach a client.
var internalLeaks = []string{"SELECT", "select ", "EXISTS", "SQL", "sqlite", "SQLITE", "SQLSTATE", "pgx", "pq:",
	"search_keys", "final_entities", "goroutine", ".go:", "panic", "database is closed", "Expression tree"}

func assertNoLeak(t *testing.T, a answer) {
	t.Helper()
	for _, l := range internalLeaks {
		if strings.Contains(a.body, l) {
			t.Errorf("answer %d leaks %q: %.300s", a.status, l, a.body)
		}
	}
}

// envelopeMessage is the error message of a Backstage error envelope.
func envelopeMessage(t *testing.T, a answer) (name, message string) {
	t.Helper()
	var env struct {
		Error struct{ Name, Message string }
	}
	if err := json.Unmarshal([]byte(a.body), &env); err != nil {
		t.Fatalf("not an error envelope (%v): %.300s", err, a.body)
	}
	return env.Error.Name, env.Error.Message
}

func totalItems(t *testing.T, a answer) int {
	t.Helper()
	var page struct {
		TotalItems *int `json:"totalItems"`
	}
	if err := json.Unmarshal([]byte(a.body), &page); err != nil || page.TotalItems == nil {
		t.Fatalf("not a by-query page (%v): %.300s", err, a.body)
	}
	return *page.TotalItems
}

func repeatJoin(n int, sep string, item func(i int) string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = item(i)
	}
	return strings.Join(parts, sep)
}

func nested(op string, n int, leaf string) string {
	return strings.Repeat(`{"`+op+`":`, n) + leaf + strings.Repeat("}", n)
}

// TestRequestLimits sends requests at and just over each limit through the
// real server on SQLite and PostgreSQL: at the limit the catalog answers
// as usual; over it, a 400 InputError names the limit before any SQL runs;
// and no answer ever carries SQL, driver or runtime text.
func TestRequestLimits(t *testing.T) {
	dbs := []struct {
		name string
		yaml func(*testing.T) string
	}{{"sqlite", sqliteYAML}, {"postgres", postgresYAML}}
	for _, db := range dbs {
		t.Run(db.name, func(t *testing.T) {
			s := startCatalog(t, db.yaml(t))
			components := totalItems(t, s.do(t, "GET", "/entities/by-query?limit=0&filter=kind=component", ""))
			if components == 0 {
				t.Fatalf("the corpus has no components; entities: %.2000s; failed: %.2000s",
					s.do(t, "GET", "/entities/by-query?limit=20", "").body, s.do(t, "GET", "/entities/unprocessed/failed", "").body)
			}
			// filters ORs n-1 filters that match nothing with kind=component.
			filters := func(n int, item func(i int) string) string {
				return "filter=kind=component&" + repeatJoin(n-1, "&", func(i int) string { return "filter=" + item(i) })
			}
			sameKey := func(i int) string { return fmt.Sprintf("kind=%d", i) }
			distinctKeys := func(i int) string { return fmt.Sprintf("k%d", i) }
			anyOf := func(n int) string {
				return `{"$any":[{"kind":"component"},` + repeatJoin(n-1, ",", func(i int) string { return fmt.Sprintf(`{"k%d":"v"}`, i) }) + `]}`
			}
			inValues := func(n int) string {
				return `{"kind":{"$in":["component",` + repeatJoin(n-1, ",", func(int) string { return "1" }) + `]}}`
			}
			fieldList := func(n int) string {
				return repeatJoin(n, ",", func(i int) string { return fmt.Sprintf(`"f%d"`, i) })
			}
			cursor := func(query string) string {
				return base64.StdEncoding.EncodeToString([]byte(`{"orderFields":[],"isPrevious":false,"query":` + query + `,"orderFieldValues":[]}`))
			}

			type limitCase struct {
				name, method, path, body string
				wantTotal                int    // for 200 by-query pages; -1: only 200
				wantError                string // the 400 InputError's message
			}
			cases := []limitCase{
				{name: "1000 filter params with one key", method: "GET", path: "/entities/by-query?limit=1&" + filters(1000, sameKey), wantTotal: components},
				{name: "1000 filter params with distinct keys", method: "GET", path: "/entities/by-query?limit=1&" + filters(1000, distinctKeys), wantTotal: components},
				// As Backstage's query parser (qs), the first 1,000 parameters
				// are read and the rest dropped.
				{name: "1001 filter params", method: "GET", path: "/entities/by-query?limit=1&" + filters(1000, distinctKeys) + "&filter=kind=api",
					wantTotal: components},
				{name: "1001 filter params on /entities", method: "GET", path: "/entities?" + filters(1001, distinctKeys), wantTotal: -1},
				{name: "1001 filter params on /entity-facets", method: "GET", path: "/entity-facets?facet=kind&" + filters(1000, distinctKeys), wantTotal: -1},
				{name: "1000 conditions in one filter", method: "GET", path: "/entities/by-query?limit=1&filter=kind=component," + repeatJoin(999, ",", func(i int) string { return fmt.Sprintf("!k%d", i) }), wantTotal: 0},
				{name: "1001 conditions in one filter", method: "GET", path: "/entities?filter=" + repeatJoin(1001, ",", distinctKeys),
					wantError: "Invalid filter, more than 1000 conditions in one filter parameter are not supported"},
				{name: "$any of 1000", method: "POST", path: "/entities/by-query", body: `{"limit":1,"query":` + anyOf(1000) + `}`, wantTotal: components},
				{name: "$any of 2000", method: "POST", path: "/entities/by-query", body: `{"limit":1,"query":` + anyOf(2000) + `}`,
					wantError: "Invalid query, predicates with more than 2000 conditions and operators are not supported"},
				{name: "$any of 2000 in a cursor", method: "POST", path: "/entities/by-query", body: `{"cursor":"` + cursor(anyOf(2000)) + `"}`,
					wantError: "Invalid query, predicates with more than 2000 conditions and operators are not supported"},
				{name: "$any of 2000 on /entity-facets", method: "POST", path: "/entity-facets", body: `{"facets":["kind"],"query":` + anyOf(2000) + `}`,
					wantError: "Invalid query, predicates with more than 2000 conditions and operators are not supported"},
				{name: "$any of 2000 on /entities/by-refs", method: "POST", path: "/entities/by-refs", body: `{"entityRefs":[],"query":` + anyOf(2000) + `}`,
					wantError: "Invalid query, predicates with more than 2000 conditions and operators are not supported"},
				{name: "predicate 64 levels deep", method: "POST", path: "/entities/by-query", body: `{"limit":1,"query":` + nested("$not", 62, `{"kind":{"$hasPrefix":"comp"}}`) + `}`, wantTotal: components},
				{name: "predicate 65 levels deep", method: "POST", path: "/entities/by-query", body: `{"limit":1,"query":` + nested("$not", 64, `{"kind":"component"}`) + `}`,
					wantError: "Invalid query, predicates nested deeper than 64 levels are not supported"},
				{name: "900 nested $not", method: "POST", path: "/entities/by-query", body: `{"query":` + nested("$not", 900, `{"kind":"x"}`) + `}`,
					wantError: "Invalid query, predicates nested deeper than 64 levels are not supported"},
				{name: "900 nested invalid $not (quadratic message)", method: "POST", path: "/entities/by-query", body: `{"query":` + nested("$not", 900, `{"kind":[]}`) + `}`,
					wantError: "Invalid query, predicates nested deeper than 64 levels are not supported"},
				{name: "2000 nested $not", method: "POST", path: "/entities/by-query", body: `{"query":` + nested("$not", 2000, `{"kind":"x"}`) + `}`,
					wantError: "Request body nested deeper than 1000 levels is not supported"},
				{name: "deep query in a locations query", method: "POST", path: "/locations/by-query", body: `{"query":` + nested("$not", 100, `{"type":"url"}`) + `}`,
					wantError: "Invalid query, predicates nested deeper than 64 levels are not supported"},
				{name: "25000 values", method: "POST", path: "/entities/by-query", body: `{"limit":1,"query":` + inValues(25000) + `}`, wantTotal: components},
				{name: "25001 values", method: "POST", path: "/entities/by-query", body: `{"limit":1,"query":` + inValues(25001) + `}`,
					wantError: "Invalid query, predicates with more than 25000 values are not supported"},
				{name: "full text term of 10000 characters", method: "POST", path: "/entities/by-query", body: `{"limit":1,"fullTextFilter":{"term":"` + strings.Repeat("%", 10000) + `"}}`, wantTotal: 0},
				{name: "full text term of 10001 characters", method: "POST", path: "/entities/by-query", body: `{"fullTextFilter":{"term":"` + strings.Repeat("a", 10001) + `"}}`,
					wantError: "Invalid full text filter term, terms longer than 10000 characters are not supported"},
				{name: "1000 full text fields", method: "POST", path: "/entities/by-query", body: `{"limit":1,"fullTextFilter":{"term":"x","fields":[` + fieldList(1000) + `]}}`, wantTotal: 0},
				{name: "1001 full text fields", method: "POST", path: "/entities/by-query", body: `{"fullTextFilter":{"term":"x","fields":[` + fieldList(1001) + `]}}`,
					wantError: "Invalid full text filter fields, more than 1000 fields are not supported"},
				{name: "1000 fields", method: "POST", path: "/entities/by-query", body: `{"limit":1,"fields":[` + fieldList(1000) + `]}`, wantTotal: -1},
				{name: "1001 fields", method: "GET", path: "/entities?fields=" + repeatJoin(1001, ",", distinctKeys),
					wantError: "Invalid fields, more than 1000 fields are not supported"},
				{name: "1001 fields on by-refs", method: "POST", path: "/entities/by-refs", body: `{"entityRefs":[],"fields":[` + fieldList(1001) + `]}`,
					wantError: "Invalid fields, more than 1000 fields are not supported"},
				{name: "100 order fields", method: "POST", path: "/entities/by-query", body: `{"limit":1,"orderBy":[` + repeatJoin(100, ",", func(i int) string { return fmt.Sprintf(`{"field":"f%d","order":"asc"}`, i) }) + `]}`, wantTotal: 0},
				{name: "101 order fields", method: "POST", path: "/entities/by-query", body: `{"orderBy":[` + repeatJoin(101, ",", func(i int) string { return fmt.Sprintf(`{"field":"f%d","order":"asc"}`, i) }) + `]}`,
					wantError: "Invalid order, more than 100 order fields are not supported"},
				{name: "101 order params", method: "GET", path: "/entities?" + repeatJoin(101, "&", func(i int) string { return fmt.Sprintf("order=asc:f%d", i) }),
					wantError: "Invalid order, more than 100 order fields are not supported"},
				{name: "101 orderField params", method: "GET", path: "/entities/by-query?" + repeatJoin(101, "&", func(i int) string { return fmt.Sprintf("orderField=f%d,asc", i) }),
					wantError: "Invalid order, more than 100 order fields are not supported"},
				{name: "100 facets", method: "POST", path: "/entity-facets", body: `{"facets":[` + fieldList(100) + `]}`, wantTotal: -1},
				{name: "101 facets", method: "POST", path: "/entity-facets", body: `{"facets":[` + fieldList(101) + `]}`,
					wantError: "Invalid facets, more than 100 facets are not supported"},
				{name: "101 facet params", method: "GET", path: "/entity-facets?" + repeatJoin(101, "&", func(i int) string { return fmt.Sprintf("facet=f%d", i) }),
					wantError: "Invalid facets, more than 100 facets are not supported"},
				{name: "body nested 1000 levels", method: "POST", path: "/entities/by-refs", body: `{"entityRefs":[],"x":` + strings.Repeat("[", 999) + strings.Repeat("]", 999) + `}`, wantTotal: -1},
				{name: "body nested 1001 levels", method: "POST", path: "/entities/by-refs", body: `{"entityRefs":[],"x":` + strings.Repeat("[", 1000) + strings.Repeat("]", 1000) + `}`,
					wantError: "Request body nested deeper than 1000 levels is not supported"},
				{name: "validate-entity nested 5000 levels", method: "POST", path: "/validate-entity", body: `{"location":"url:http://x","entity":{"x":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}}`,
					wantError: "Request body nested deeper than 1000 levels is not supported"},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					a := s.do(t, tc.method, tc.path, tc.body)
					assertNoLeak(t, a)
					if tc.wantError != "" {
						if a.status != http.StatusBadRequest {
							t.Fatalf("status %d, want 400: %.300s", a.status, a.body)
						}
						if name, msg := envelopeMessage(t, a); name != "InputError" || msg != tc.wantError {
							t.Errorf("got %s %q\nwant InputError %q", name, msg, tc.wantError)
						}
						return
					}
					if a.status != http.StatusOK {
						t.Fatalf("status %d, want 200: %.300s", a.status, a.body)
					}
					if tc.wantTotal >= 0 {
						if got := totalItems(t, a); got != tc.wantTotal {
							t.Errorf("totalItems %d, want %d", got, tc.wantTotal)
						}
					}
				})
			}

			// An error nothing classifies (here the database is gone) is a
			// generic 500: no driver text.
			t.Run("database failure", func(t *testing.T) {
				s.backend.Close()
				for _, p := range []string{"/entities", "/entities/by-query?filter=kind=component", "/entity-facets?facet=kind", "/locations"} {
					a := s.do(t, "GET", p, "")
					assertNoLeak(t, a)
					if a.status != http.StatusInternalServerError {
						t.Fatalf("%s: status %d: %.300s", p, a.status, a.body)
					}
					if name, msg := envelopeMessage(t, a); name != "Error" || !strings.HasPrefix(msg, "An internal error occurred logId=") {
						t.Errorf("%s: %s %q", p, name, msg)
					}
				}
			})
		})
	}
}
