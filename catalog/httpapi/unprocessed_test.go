package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/model"
	"github.com/understage/understage/catalog/processing"
	"github.com/understage/understage/catalog/sqlstore"
	"github.com/understage/understage/plugins/auth"
	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/database"
	"github.com/understage/understage/plugins/backend/database/databasetest"
	"github.com/understage/understage/plugins/backend/httpserver"
	"github.com/understage/understage/plugins/permission"
	permissionservice "github.com/understage/understage/plugins/permission/service"
)

// denyPolicy denies the permissions it names and allows the rest.
type denyPolicy []string

func (d denyPolicy) Decide(_ context.Context, in permission.Input) (permission.Decision, error) {
	if slices.Contains(d, in.Permission.Name) {
		return permission.Decision{Result: permission.Deny}, nil
	}
	return permission.Decision{Result: permission.Allow}, nil
}

// unprocessedFixture is a catalog with one failure of each kind, served
// behind the auth middleware and the permission framework.
type unprocessedFixture struct {
	url, token, dir string
	store           *sqlstore.Store
}

func unprocessedComponent(name, owner string) string {
	return "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: " + name +
		"\nspec:\n  type: service\n  lifecycle: production\n  owner: " + owner + "\n"
}

func newUnprocessedFixture(t *testing.T, dbo database.Options, deny ...string) *unprocessedFixture {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"good.yaml":    unprocessedComponent("good", "team-a"),
		"broken.yaml":  "apiVersion: [unclosed\n",
		"refused.yaml": "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata:\n  name: refused\nspec:\n  type: service\n  steps: []\n",
		"escape.yaml":  unprocessedComponent("escape", "team-b") + "  data:\n    $text: ../../../../../../etc/hostname\n",
		"first.yaml":   unprocessedComponent("contested", "team-a"),
		"second.yaml":  unprocessedComponent("contested", "team-b"),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	dbo.PluginID = "catalog"
	dbo.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := database.Open(ctx, dbo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := sqlstore.New(ctx, db, dbo.Logger)
	if err != nil {
		t.Fatal(err)
	}
	rules, err := model.NewRules([]model.Rule{{Allow: []model.RuleKind{{Kind: "Component"}, {Kind: "Location"}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	engine := processing.New(processing.Options{Store: store, Rules: rules, Logger: dbo.Logger,
		Readers: map[string]processing.LocationReader{"file": processing.FileReader{}}})
	apply := func(names ...string) {
		p := &processing.ConfigLocationsProvider{}
		for _, n := range names {
			p.Locations = append(p.Locations, processing.LocationSpec{Type: "file", Target: filepath.Join(dir, n)})
		}
		if err := p.Connect(ctx, store); err != nil {
			t.Fatal(err)
		}
		dctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := engine.Drain(dctx); err != nil {
			t.Fatal(err)
		}
	}
	apply("good.yaml", "broken.yaml", "refused.yaml", "escape.yaml", "first.yaml")
	apply("good.yaml", "broken.yaml", "refused.yaml", "escape.yaml", "first.yaml", "second.yaml")

	cfg, err := config.LoadBytes([]byte("backend:\n  baseUrl: http://127.0.0.1\n"), filepath.Join(t.TempDir(), "app-config.yaml"),
		func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	authSvc, err := auth.New(ctx, auth.Options{Config: cfg, BaseURL: "http://127.0.0.1", Logger: dbo.Logger})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := authSvc.IssueToken(ctx, "user:default/tom", []string{"user:default/tom"})
	if err != nil {
		t.Fatal(err)
	}
	perms := permissionservice.New(permissionservice.Options{Enabled: true, Policy: denyPolicy(deny)})
	srv := httpserver.New(httpserver.Options{Config: cfg})
	g := srv.Plugin("catalog")
	g.Use(authSvc.Middleware(auth.MiddlewareOptions{PluginID: "catalog"}))
	RegisterUnprocessed(g, store, perms)
	srv.SetReady()
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &unprocessedFixture{url: ts.URL + "/api/catalog", token: tok.Token, dir: dir, store: store}
}

func (f *unprocessedFixture) call(t *testing.T, method, path, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// list answers a list route, its rows by ref (of the unprocessed entity)
// and each row's keys in order.
func (f *unprocessedFixture) list(t *testing.T, path string) (map[string]map[string]any, map[string][]string) {
	t.Helper()
	status, body := f.call(t, "GET", path, f.token)
	if status != 200 {
		t.Fatalf("GET %s: %d %s", path, status, body)
	}
	var resp struct {
		Type     string            `json:"type"`
		Entities []json.RawMessage `json:"entities"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if want := strings.TrimPrefix(strings.Split(path, "?")[0], "/entities/unprocessed/"); resp.Type != want {
		t.Errorf("GET %s: type %q, want %q", path, resp.Type, want)
	}
	rows, keys := map[string]map[string]any{}, map[string][]string{}
	for _, raw := range resp.Entities {
		var row map[string]any
		if err := json.Unmarshal(raw, &row); err != nil {
			t.Fatal(err)
		}
		ref, _ := row["entity_ref"].(string)
		rows[ref] = row
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.Token()
		for dec.More() {
			k, _ := dec.Token()
			keys[ref] = append(keys[ref], k.(string))
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				t.Fatal(err)
			}
		}
	}
	return rows, keys
}

// oracleGolden is what Backstage's unprocessed module answered (recorded
// by catalog/processing's TestRecordOracle).
type oracleGolden struct {
	Pending map[string]struct {
		Types map[string]string `json:"types"`
	} `json:"pending"`
	PendingKeys  []string `json:"pendingKeys"`
	DeleteStatus int      `json:"deleteStatus"`
}

func loadOracleGolden(t *testing.T) oracleGolden {
	t.Helper()
	data, err := os.ReadFile("../processing/testdata/oracle/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var g oracleGolden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "other"
}

func firstError(row map[string]any) string {
	errs, _ := row["errors"].([]any)
	var msgs []string
	for _, e := range errs {
		m, _ := e.(map[string]any)
		msgs = append(msgs, m["name"].(string)+": "+m["message"].(string))
	}
	return strings.Join(msgs, "\n")
}

func TestUnprocessedEntities(t *testing.T) {
	g := loadOracleGolden(t)
	kinds := []struct {
		name      string
		opts      func(t *testing.T) database.Options
		timestamp *regexp.Regexp
	}{
		{"sqlite", func(t *testing.T) database.Options {
			return database.Options{Client: "better-sqlite3", Connection: filepath.Join(t.TempDir(), "c.sqlite")}
		}, regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$`)},
		{"postgres", func(t *testing.T) database.Options { return databasetest.PG(t) },
			regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)},
	}
	for _, kind := range kinds {
		t.Run(kind.name, func(t *testing.T) {
			f := newUnprocessedFixture(t, kind.opts(t))
			gen := func(name string) string {
				return "location:default/" + catalog.GeneratedLocationName("file", filepath.Join(f.dir, name))
			}

			t.Run("pending lists what is not in the catalog, as Backstage's rows", func(t *testing.T) {
				rows, keys := f.list(t, "/entities/unprocessed/pending")
				refused := gen("refused.yaml")
				want := map[string]string{
					gen("broken.yaml"):         "Error: YAML error at file:" + filepath.Join(f.dir, "broken.yaml"),
					refused:                    "NotAllowedError: Entity template:default/refused at file:" + filepath.Join(f.dir, "refused.yaml"),
					"component:default/escape": "InputError: Processor PlaceholderProcessor threw an error while preprocessing; caused by Error: Placeholder $text could not read location ../../../../../../etc/hostname, NotAllowedError",
				}
				if len(rows) != len(want) {
					t.Errorf("pending rows: %v, want %d", slices.Sorted(maps.Keys(rows)), len(want))
				}
				for ref, prefix := range want {
					if !strings.HasPrefix(firstError(rows[ref]), prefix) {
						t.Errorf("pending %s errors %q, want %q...", ref, firstError(rows[ref]), prefix)
					}
				}
				// Backstage's row for a location whose first processing failed.
				oracle := g.Pending["location:default/norules-templates"].Types
				if !slices.Equal(keys[refused], g.PendingKeys) {
					t.Errorf("row keys %v, want Backstage's %v", keys[refused], g.PendingKeys)
				}
				for key, typ := range oracle {
					if key == "entity_id" || key == "entity_ref" {
						typ = "string" // Backstage's join nulls them; Understage gives the real ones
					}
					if got := jsonKind(rows[refused][key]); got != typ {
						t.Errorf("%s is %s, want %s", key, got, typ)
					}
				}
				for _, key := range []string{"next_update_at", "last_discovery_at"} {
					if s, _ := rows[refused][key].(string); !kind.timestamp.MatchString(s) {
						t.Errorf("%s = %q, not in the database driver's form", key, s)
					}
				}
			})

			t.Run("failed lists every failure with its reason, conflicts included", func(t *testing.T) {
				rows, _ := f.list(t, "/entities/unprocessed/failed")
				want := map[string]string{
					gen("broken.yaml"):         "Error: YAML error at file:",
					gen("refused.yaml"):        "NotAllowedError: Entity template:default/refused",
					"component:default/escape": "InputError: Processor PlaceholderProcessor",
					gen("second.yaml"): "ConflictError: Detected conflicting entityRef component:default/contested already referenced by file:" +
						filepath.Join(f.dir, "first.yaml") + " and now also file:" + filepath.Join(f.dir, "second.yaml"),
				}
				if len(rows) != len(want) {
					t.Errorf("failed rows: %v, want %d", slices.Sorted(maps.Keys(rows)), len(want))
				}
				for ref, prefix := range want {
					if !strings.HasPrefix(firstError(rows[ref]), prefix) {
						t.Errorf("failed %s errors %q, want %q...", ref, firstError(rows[ref]), prefix)
					}
				}
				// The losing location is in the catalog: its row carries its
				// stitched form, whose status does not show the conflict.
				loser := rows[gen("second.yaml")]
				final, _ := loser["final_entity"].(string)
				if jsonKind(loser["processed_entity"]) != "object" || jsonKind(loser["hash"]) != "string" ||
					!kind.timestamp.MatchString(loser["last_updated_at"].(string)) || final == "" || strings.Contains(final, "ConflictError") {
					t.Errorf("losing location row = %v", loser)
				}
			})

			t.Run("owner filters on spec.owner", func(t *testing.T) {
				rows, _ := f.list(t, "/entities/unprocessed/failed?owner=team-b")
				if got := slices.Sorted(maps.Keys(rows)); !slices.Equal(got, []string{"component:default/escape"}) {
					t.Errorf("owner=team-b: %v", got)
				}
				rows, _ = f.list(t, "/entities/unprocessed/failed?owner=team-b&owner=team-a")
				if len(rows) != 4 {
					t.Errorf("two owners (an array, ignored): %d rows, want all 4", len(rows))
				}
			})

			t.Run("delete removes the entity's state", func(t *testing.T) {
				rows, _ := f.list(t, "/entities/unprocessed/pending")
				id, _ := rows["component:default/escape"]["entity_id"].(string)
				if status, body := f.call(t, "DELETE", "/entities/unprocessed/delete/"+id, f.token); status != g.DeleteStatus || len(body) != 0 {
					t.Errorf("DELETE: %d %q, want %d and no body", status, body, g.DeleteStatus)
				}
				for _, list := range []string{"pending", "failed"} {
					if rows, _ := f.list(t, "/entities/unprocessed/"+list); rows["component:default/escape"] != nil {
						t.Errorf("deleted entity still %s", list)
					}
				}
				if status, _ := f.call(t, "DELETE", "/entities/unprocessed/delete/00000000-0000-0000-0000-000000000000", f.token); status != g.DeleteStatus {
					t.Errorf("DELETE of an unknown id: %d, want %d", status, g.DeleteStatus)
				}
			})

			t.Run("unauthenticated callers are refused", func(t *testing.T) {
				for _, r := range [][2]string{{"GET", "/entities/unprocessed/failed"}, {"GET", "/entities/unprocessed/pending"}, {"DELETE", "/entities/unprocessed/delete/x"}} {
					if status, _ := f.call(t, r[0], r[1], ""); status != 401 {
						t.Errorf("%s %s without a token: %d, want 401", r[0], r[1], status)
					}
				}
			})
		})
	}
}

func TestUnprocessedEntitiesPermissions(t *testing.T) {
	dbo := func(t *testing.T) database.Options {
		return database.Options{Client: "better-sqlite3", Connection: filepath.Join(t.TempDir(), "c.sqlite")}
	}
	denied := func(method, url string) string {
		return `{"error":{"name":"NotAllowedError","message":"Unauthorized"},"request":{"method":"` + method + `","url":"` + url + `"},"response":{"statusCode":403}}`
	}
	t.Run("read denied", func(t *testing.T) {
		f := newUnprocessedFixture(t, dbo(t), "catalog.entities.unprocessed.read")
		for _, list := range []string{"failed", "pending"} {
			path := "/entities/unprocessed/" + list
			if status, body := f.call(t, "GET", path, f.token); status != 403 || string(body) != denied("GET", path) {
				t.Errorf("GET %s: %d %s", path, status, body)
			}
		}
	})
	t.Run("delete denied", func(t *testing.T) {
		f := newUnprocessedFixture(t, dbo(t), "catalog.entities.unprocessed.delete")
		rows, _ := f.list(t, "/entities/unprocessed/pending")
		id, _ := rows["component:default/escape"]["entity_id"].(string)
		path := "/entities/unprocessed/delete/" + id
		if status, body := f.call(t, "DELETE", path, f.token); status != 403 || string(body) != denied("DELETE", path) {
			t.Errorf("DELETE: %d %s", status, body)
		}
		if rows, _ := f.list(t, "/entities/unprocessed/pending"); rows["component:default/escape"] == nil {
			t.Error("a refused DELETE removed the entity")
		}
	})
}
