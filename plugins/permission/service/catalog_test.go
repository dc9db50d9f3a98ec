package permissionservice_test

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
	"testing"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/httpapi"
	"github.com/understage/understage/catalog/sqlstore"
	"github.com/understage/understage/catalog/storetest"
	"github.com/understage/understage/plugins/auth"
	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/database"
	"github.com/understage/understage/plugins/backend/database/databasetest"
	"github.com/understage/understage/plugins/backend/httpserver"
	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/plugins/opa"
	"github.com/understage/understage/plugins/permission"
	permissionservice "github.com/understage/understage/plugins/permission/service"
)

var genTypes = []string{"service", "website", "library", "documentation", "tool"}

// genEntity is component i of the generated catalog: owner team-(i%20),
// type genTypes[i%5], annotation example.com/tier=tier-(i%3) on even i,
// label env=prod when i%4 == 0.
func genEntity(i int) *ojson.Object {
	ann := ojson.NewObject("backstage.io/managed-by-location", "url:https://example.com/gen.yaml")
	if i%2 == 0 {
		ann.Set("example.com/tier", fmt.Sprintf("tier-%d", i%3))
	}
	labels := ojson.NewObject()
	if i%4 == 0 {
		labels.Set("env", "prod")
	}
	return storetest.Entity("Component", fmt.Sprintf("component-%05d", i),
		ojson.NewObject("type", genTypes[i%5], "lifecycle", "production", "owner", fmt.Sprintf("group:default/team-%d", i%20)),
		"annotations", ann, "labels", labels)
}

func seedStore(t testing.TB, o database.Options, n int) *sqlstore.Store {
	t.Helper()
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	o.PluginID, o.Logger = "catalog", quiet
	db, err := database.Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	st, err := sqlstore.New(ctx, db, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ents := make([]catalog.DeferredEntity, n)
	for i := range n {
		ents[i] = catalog.DeferredEntity{Entity: genEntity(i), LocationKey: "url:https://example.com/gen.yaml"}
	}
	if err := st.ApplyFullMutation(ctx, "gen", ents); err != nil {
		t.Fatal(err)
	}
	storetest.Process(t, st, storetest.OwnerRelations, nil)
	return st
}

type catalogServer struct {
	url, token, policy string
}

// readPolicy is a Rego policy whose catalog.entity.read decision is
// decision (Rego object text); everything else is allowed.
func readPolicy(decision string) string {
	return "package understage.authz\n\ndecision := " + decision +
		" if input.permission.name == \"catalog.entity.read\" else := {\"result\": \"ALLOW\"}\n"
}

// serveCatalog serves the catalog read API over st with permissions
// decided by a Rego policy file (rewritten by setPolicy); rules are added
// to the catalog's integration, as a module would.
func serveCatalog(t testing.TB, st *sqlstore.Store, policy string, rules ...permission.Rule) *catalogServer {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	cs := &catalogServer{policy: filepath.Join(dir, "policy.rego")}
	if err := os.WriteFile(cs.policy, []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadBytes([]byte("backend: {baseUrl: http://127.0.0.1}\n"), filepath.Join(dir, "app-config.yaml"), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	authSvc, err := auth.New(ctx, auth.Options{Config: cfg, BaseURL: "http://127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := authSvc.IssueToken(ctx, "user:default/tom", []string{"user:default/tom", "group:default/team-3"})
	if err != nil {
		t.Fatal(err)
	}
	cs.token = tok.Token
	eng, err := opa.New(ctx, opa.Options{Policies: []string{cs.policy}, PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	perms := permissionservice.New(permissionservice.Options{Enabled: true, Policy: eng,
		User: func(ctx context.Context, cred auth.Credentials) (*permission.User, error) {
			refs, err := authSvc.OwnershipRefs(ctx, cred)
			return &permission.User{Ref: cred.Principal.UserEntityRef, OwnershipRefs: refs}, err
		}})
	srv := httpserver.New(httpserver.Options{Config: cfg})
	g := srv.Plugin("catalog")
	g.Use(authSvc.Middleware(auth.MiddlewareOptions{PluginID: "catalog"}))
	in := permission.CatalogIntegration(st)
	if err := in.AddPermissionRules(rules...); err != nil {
		t.Fatal(err)
	}
	perms.RegisterIntegration(g, in)
	httpapi.Register(g, httpapi.Options{Reader: st, Writer: st, Logger: slog.New(slog.DiscardHandler), Permissions: perms})
	srv.SetReady()
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	cs.url = ts.URL + "/api/catalog"
	return cs
}

func (cs *catalogServer) get(t testing.TB, path string, v any) int {
	t.Helper()
	req, _ := http.NewRequest("GET", cs.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+cs.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if v != nil && resp.StatusCode == 200 {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
	}
	return resp.StatusCode
}

type queryPage struct {
	Items []struct {
		Metadata struct{ Name string }
	}
	TotalItems int
	PageInfo   struct{ NextCursor string }
}

func testConditionalReads(t *testing.T, o database.Options) {
	const n = 200
	st := seedStore(t, o, n)
	owner := func(team int) string {
		return fmt.Sprintf(`{"rule": "IS_ENTITY_OWNER", "resourceType": "catalog-entity", "params": {"claims": ["group:default/team-%d"]}}`, team)
	}
	label := `{"rule": "HAS_LABEL", "resourceType": "catalog-entity", "params": {"label": "env", "value": "PROD"}}`
	cases := []struct {
		name, cond string
		want       func(i int) bool
	}{
		{"owner", owner(3), func(i int) bool { return i%20 == 3 }},
		{"user's own groups", `{"rule": "IS_ENTITY_OWNER", "resourceType": "catalog-entity", "params": {"claims": input.user.ownershipRefs}}`, func(i int) bool { return i%20 == 3 }},
		{"kind", `{"rule": "IS_ENTITY_KIND", "resourceType": "catalog-entity", "params": {"kinds": ["Component"]}}`, func(int) bool { return true }},
		{"other kind", `{"rule": "IS_ENTITY_KIND", "resourceType": "catalog-entity", "params": {"kinds": ["API"]}}`, func(int) bool { return false }},
		{"annotation present", `{"rule": "HAS_ANNOTATION", "resourceType": "catalog-entity", "params": {"annotation": "example.com/tier"}}`, func(i int) bool { return i%2 == 0 }},
		{"annotation value", `{"rule": "HAS_ANNOTATION", "resourceType": "catalog-entity", "params": {"annotation": "example.com/tier", "value": "tier-1"}}`, func(i int) bool { return i%2 == 0 && i%3 == 1 }},
		{"label value, case folded", label, func(i int) bool { return i%4 == 0 }},
		{"spec", `{"rule": "HAS_SPEC", "resourceType": "catalog-entity", "params": {"key": "type", "value": "library"}}`, func(i int) bool { return i%5 == 2 }},
		{"metadata", `{"rule": "HAS_METADATA", "resourceType": "catalog-entity", "params": {"key": "name", "value": "component-00007"}}`, func(i int) bool { return i == 7 }},
		{"not", `{"not": ` + owner(3) + `}`, func(i int) bool { return i%20 != 3 }},
		{"anyOf", `{"anyOf": [` + owner(3) + `, ` + label + `]}`, func(i int) bool { return i%20 == 3 || i%4 == 0 }},
		{"allOf", `{"allOf": [` + owner(4) + `, ` + label + `]}`, func(i int) bool { return i%20 == 4 && i%4 == 0 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cs := serveCatalog(t, st, readPolicy(`{"result": "CONDITIONAL", "conditions": `+tc.cond+`}`))
			want := map[string]bool{}
			types := map[string]int{}
			for i := range n {
				if tc.want(i) {
					want[fmt.Sprintf("component-%05d", i)] = true
					types[genTypes[i%5]]++
				}
			}
			// Listing, paging and totals.
			var list []struct{ Metadata struct{ Name string } }
			if s := cs.get(t, "/entities", &list); s != 200 || len(list) != len(want) {
				t.Fatalf("/entities: %d, %d entities, want %d", s, len(list), len(want))
			}
			seen := 0
			path := "/entities/by-query?limit=7&orderField=metadata.name,desc"
			for {
				var p queryPage
				if s := cs.get(t, path, &p); s != 200 {
					t.Fatalf("by-query: %d", s)
				}
				if p.TotalItems != len(want) {
					t.Fatalf("total %d, want %d", p.TotalItems, len(want))
				}
				for _, it := range p.Items {
					if !want[it.Metadata.Name] {
						t.Fatalf("sees %s", it.Metadata.Name)
					}
					seen++
				}
				if p.PageInfo.NextCursor == "" {
					break
				}
				path = "/entities/by-query?cursor=" + p.PageInfo.NextCursor
			}
			if seen != len(want) {
				t.Fatalf("pages held %d, want %d", seen, len(want))
			}
			// Facets.
			var f struct {
				Facets map[string][]struct {
					Value string
					Count int
				}
			}
			cs.get(t, "/entity-facets?facet=spec.type", &f)
			got := map[string]int{}
			for _, fc := range f.Facets["spec.type"] {
				got[fc.Value] = fc.Count
			}
			if fmt.Sprint(got) != fmt.Sprint(types) {
				t.Fatalf("facets %v, want %v", got, types)
			}
			// Single entities: hidden ones are not found.
			for _, i := range []int{3, 7, 8} {
				name := fmt.Sprintf("component-%05d", i)
				status := cs.get(t, "/entities/by-name/component/default/"+name, nil)
				if (status == 200) != want[name] || (status != 200 && status != 404) {
					t.Fatalf("by-name %s: %d (visible: %v)", name, status, want[name])
				}
			}
		})
	}
	t.Run("deny", func(t *testing.T) {
		cs := serveCatalog(t, st, readPolicy(`{"result": "DENY"}`))
		var p queryPage
		if s := cs.get(t, "/entities/by-query", &p); s != 200 || p.TotalItems != 0 || len(p.Items) != 0 {
			t.Fatalf("by-query: %d %+v", s, p)
		}
		var f map[string]map[string][]any
		if cs.get(t, "/entity-facets?facet=kind", &f); len(f["facets"]["kind"]) != 0 {
			t.Fatalf("facets %v", f)
		}
		if s := cs.get(t, "/entities/by-name/component/default/component-00003", nil); s != 404 {
			t.Fatalf("by-name: %d", s)
		}
	})
}

func TestConditionalReadsSQLite(t *testing.T) {
	testConditionalReads(t, database.Options{Client: "better-sqlite3", Connection: filepath.Join(t.TempDir(), "catalog.sqlite")})
}

func TestConditionalReadsPostgres(t *testing.T) {
	testConditionalReads(t, databasetest.PG(t))
}

// benchByQuery pages the first 20 of 10k entities by name, with the
// caller's read decided by policy.
func benchByQuery(b *testing.B, policy string, wantTotal int) {
	st := seedStore(b, database.Options{Client: "better-sqlite3", Connection: filepath.Join(b.TempDir(), "catalog.sqlite")}, 10000)
	cs := serveCatalog(b, st, policy)
	var p queryPage
	if s := cs.get(b, "/entities/by-query?limit=20&orderField=metadata.name,asc", &p); s != 200 || p.TotalItems != wantTotal {
		b.Fatalf("%d total %d, want %d", s, p.TotalItems, wantTotal)
	}
	b.ResetTimer()
	for b.Loop() {
		cs.get(b, "/entities/by-query?limit=20&orderField=metadata.name,asc", nil)
	}
}

func BenchmarkByQuery10kAllowAll(b *testing.B) {
	benchByQuery(b, readPolicy(`{"result": "ALLOW"}`), 10000)
}

func BenchmarkByQuery10kConditionalOwner(b *testing.B) {
	benchByQuery(b, readPolicy(`{"result": "CONDITIONAL", "conditions": {"rule": "IS_ENTITY_OWNER", "resourceType": "catalog-entity", "params": {"claims": input.user.ownershipRefs}}}`), 500)
}
