package sqlstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/sqlstore"
	"github.com/understage/understage/catalog/storetest"
	"github.com/understage/understage/plugins/backend/database"
	"github.com/understage/understage/plugins/backend/database/databasetest"
	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/schemas"
)

// TestFacetCountsFollowWrites: the facets read from the maintained counts
// (keys the frontend asks for, unfiltered or filtered by kind) equal the
// facets counted from the search rows, after every round of random
// changes: tags (in two cases), types, lifecycles, owners and namespaces
// rewritten, entities deleted one by one and dropped by their provider,
// new ones added. The counts table also equals what migration 0008 builds
// from the search rows of an existing catalog.
func TestFacetCountsFollowWrites(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		dialect string
		opts    func(t *testing.T) database.Options
	}{
		{"sqlite", "sqlite", func(t *testing.T) database.Options {
			return database.Options{Client: "better-sqlite3", Connection: filepath.Join(t.TempDir(), "catalog.sqlite")}
		}},
		// One connection serves reads and writes: nothing in a write may
		// read through the read pool.
		{"memory", "sqlite", func(t *testing.T) database.Options {
			return database.Options{Client: "better-sqlite3", Connection: ":memory:"}
		}},
		{"pg", "postgres", func(t *testing.T) database.Options { return databasetest.PG(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			o := tc.opts(t)
			o.PluginID, o.Logger = "catalog", quietLogger()
			db, err := database.Open(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			st, err := sqlstore.New(ctx, db, quietLogger())
			if err != nil {
				t.Fatal(err)
			}
			rebuild := migrationCounts(t, tc.dialect)
			countedListing := false
			sqlstore.SetReadHook(st, func(q string, _ []any) {
				if strings.Contains(q, "count(DISTINCT") || strings.HasPrefix(q, "SELECT count(*) FROM final_entities") {
					countedListing = true
				}
			})

			rng := rand.New(rand.NewPCG(7, 12))
			kinds := []string{"Component", "API", "Resource", "System"}
			tags := []string{"java", "Java", "go", "GO", "billing", "tier-1"}
			types := []string{"service", "Service", "website", "library", "openapi"}
			lifecycles := []string{"production", "experimental", "Deprecated"}
			owners := []string{"group:default/team-a", "group:default/team-b", "group:Default/Team-C"}
			namespaces := []string{"default", "default", "ops"}
			live := map[string]*ojson.Object{} // by ref
			next := 0
			newEntity := func() *ojson.Object {
				next++
				kind := kinds[rng.IntN(len(kinds))]
				spec := ojson.NewObject("type", types[rng.IntN(len(types))], "owner", owners[rng.IntN(len(owners))])
				if rng.IntN(3) > 0 {
					spec.Set("lifecycle", lifecycles[rng.IntN(len(lifecycles))])
				}
				var ts []any
				for _, tg := range tags {
					if rng.IntN(3) == 0 {
						ts = append(ts, tg)
					}
				}
				e := storetest.Entity(kind, fmt.Sprintf("e-%03d", next), spec, "tags", ts)
				e.Object("metadata").Set("namespace", namespaces[rng.IntN(len(namespaces))])
				return e
			}
			for range 60 {
				e := newEntity()
				live[storetest.Ref(e)] = e
			}
			apply := func() {
				var ds []catalog.DeferredEntity
				for _, ref := range slices.Sorted(maps.Keys(live)) {
					ds = append(ds, catalog.DeferredEntity{Entity: live[ref], LocationKey: "url:https://example.com/catalog.yaml"})
				}
				if err := st.ApplyFullMutation(ctx, storetest.Provider, ds); err != nil {
					t.Fatal(err)
				}
				storetest.Process(t, st, storetest.OwnerRelations, nil)
			}
			apply()
			for round := range 8 {
				refs := slices.Sorted(maps.Keys(live))
				// One deleted through the API; its provider brings it back
				// at the next full mutation.
				if raws, err := st.EntitiesByRefs(ctx, refs[:1], nil); err == nil && raws[0] != nil {
					var v struct {
						Metadata struct{ UID string } `json:"metadata"`
					}
					if err := json.Unmarshal(raws[0], &v); err != nil {
						t.Fatal(err)
					}
					if err := st.DeleteEntityByUID(ctx, v.Metadata.UID); err != nil {
						t.Fatal(err)
					}
				}
				compareFacets(t, st, round)
				compareTotals(t, st, round, &countedListing)
				compareTable(t, db, rebuild, round)
				for _, ref := range refs {
					switch rng.IntN(10) {
					case 0, 1: // rewritten
						e := newEntity()
						old := live[ref]
						e.Set("kind", old.String("kind"))
						e.Object("metadata").Set("name", old.Object("metadata").String("name"))
						e.Object("metadata").Set("namespace", old.Object("metadata").String("namespace"))
						live[ref] = e
					case 2: // dropped by the provider
						delete(live, ref)
					}
				}
				for range 5 {
					e := newEntity()
					live[storetest.Ref(e)] = e
				}
				apply()
			}
			compareFacets(t, st, 8)
			compareTotals(t, st, 8, &countedListing)
			compareTable(t, db, rebuild, 8)
		})
	}
}

// compareFacets checks every counted facet under the kind filters the
// counts answer against the same facet counted from search rows (a filter
// every entity matches, which the counts do not answer).
func compareFacets(t *testing.T, st *sqlstore.Store, round int) {
	t.Helper()
	ctx := context.Background()
	every := catalog.Field{Key: "metadata.name", Op: catalog.OpExists}
	component := catalog.Field{Key: "kind", Op: catalog.OpIn, Values: []string{"component"}}
	apiOrSystem := catalog.AnyOf{Filters: []catalog.Filter{
		catalog.AllOf{Filters: []catalog.Filter{catalog.Field{Key: "kind", Op: catalog.OpIn, Values: []string{"api"}}}},
		catalog.Field{Key: "kind", Op: catalog.OpIn, Values: []string{"system", "nope"}},
	}}
	facets := []string{"kind", "spec.type", "spec.lifecycle", "metadata.tags", "metadata.namespace", "relations.ownedBy"}
	for _, f := range []struct {
		name          string
		counted, rows catalog.Filter
	}{
		{"unfiltered", nil, every},
		{"kind=component", component, catalog.AllOf{Filters: []catalog.Filter{component, every}}},
		{"kind=api or system", apiOrSystem, catalog.AllOf{Filters: []catalog.Filter{apiOrSystem, every}}},
	} {
		got, err := st.Facets(ctx, facets, f.counted)
		if err != nil {
			t.Fatal(err)
		}
		want, err := st.Facets(ctx, facets, f.rows)
		if err != nil {
			t.Fatal(err)
		}
		for _, facet := range facets {
			if !slices.Equal(got[facet], want[facet]) {
				t.Errorf("round %d, %s, facet %s: counted %v, search rows say %v", round, f.name, facet, got[facet], want[facet])
			}
			if f.name == "unfiltered" && facet == "kind" && len(want[facet]) == 0 {
				t.Errorf("round %d: no kinds at all", round)
			}
		}
	}
}

// TestSingleValuedKeysFollowSchemas: the kinds under which the store
// takes spec.type and spec.lifecycle to hold one value are exactly those
// whose schema makes them a string.
func TestSingleValuedKeysFollowSchemas(t *testing.T) {
	t.Parallel()
	files, err := fs.Glob(schemas.FS, "kinds/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("kind schemas: %v %v", files, err)
	}
	want := map[string][]string{}
	for _, f := range files {
		b, err := fs.ReadFile(schemas.FS, f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			AllOf []struct {
				Properties struct {
					Kind struct{ Enum []string }
					Spec struct {
						Properties map[string]struct{ Type any }
					}
				}
			}
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var kinds []string
		fields := map[string]bool{}
		for _, part := range doc.AllOf {
			for _, k := range part.Properties.Kind.Enum {
				kinds = append(kinds, strings.ToLower(k))
			}
			for name, p := range part.Properties.Spec.Properties {
				if p.Type == "string" {
					fields["spec."+name] = true
				}
			}
		}
		if len(kinds) == 0 {
			t.Fatalf("%s names no kind", f)
		}
		for _, key := range []string{"spec.type", "spec.lifecycle"} {
			if fields[key] {
				want[key] = append(want[key], kinds...)
			}
		}
	}
	got := sqlstore.SingleValued()
	for _, key := range []string{"spec.type", "spec.lifecycle"} {
		slices.Sort(want[key])
		if !slices.Equal(got[key], want[key]) {
			t.Errorf("%s single-valued under %v, the schemas make it a string under %v", key, got[key], want[key])
		}
	}
	for _, key := range []string{"kind", "metadata.namespace"} {
		if v, ok := got[key]; !ok || v != nil {
			t.Errorf("%s: %v, %v; want single-valued in every kind", key, v, ok)
		}
	}
}

// compareTotals checks the totals of by-query listings read from the
// counts against the same listings counted from the search rows (with a
// condition every entity meets, which the counts do not answer), and that
// the listings were counted exactly where the counts cannot answer
// (countedListing is set by any counting query).
func compareTotals(t *testing.T, st *sqlstore.Store, round int, countedListing *bool) {
	t.Helper()
	ctx := context.Background()
	every := catalog.Field{Key: "metadata.name", Op: catalog.OpExists}
	field := func(key string, vs ...string) catalog.Filter {
		return catalog.Field{Key: key, Op: catalog.OpIn, Values: vs}
	}
	all := func(fs ...catalog.Filter) catalog.Filter { return catalog.AllOf{Filters: fs} }
	byName := &catalog.Order{Field: "metadata.name"}
	for _, tc := range []struct {
		name       string
		filter     catalog.Filter
		order      *catalog.Order
		fromCounts bool
	}{
		{"everything", nil, nil, true},
		{"components by name", field("kind", "Component"), byName, true},
		{"apis or systems", catalog.AnyOf{Filters: []catalog.Filter{field("kind", "api"), field("kind", "system", "nope")}}, nil, true},
		{"component services by name", all(field("kind", "component"), field("spec.type", "SERVICE")), byName, true},
		{"api and component lifecycles", all(field("kind", "api", "component"), field("spec.lifecycle", "production", "deprecated")), nil, true},
		{"namespace", all(field("metadata.namespace", "ops")), byName, true},
		{"components of a namespace", all(field("metadata.Namespace", "OPS"), field("kind", "component")), &catalog.Order{Field: "metadata.uid", Desc: true}, true},
		{"no value", all(field("kind", "component"), field("spec.type")), nil, true},
		{"no kind", all(field("kind", "component"), field("kind", "api"), field("spec.type", "service")), nil, true},
		// spec.type is not single-valued in every kind (User has none in
		// its schema), nor spec.lifecycle in Resource.
		{"types of every kind", all(field("spec.type", "service")), nil, false},
		{"resource lifecycles", all(field("kind", "resource"), field("spec.lifecycle", "production")), nil, false},
		{"sorted by type", field("kind", "component"), &catalog.Order{Field: "spec.type"}, false},
		{"two keys", all(field("kind", "component"), field("spec.type", "service"), field("spec.lifecycle", "production")), nil, false},
		{"full text", field("kind", "component"), nil, false},
	} {
		req := catalog.QueryRequest{Filter: tc.filter, OrderField: tc.order, Limit: 1, CountTotal: true}
		if tc.name == "full text" {
			req.FullText = catalog.FullTextFilter{Term: "e-0"}
		}
		*countedListing = false
		got, err := st.QueryEntities(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if *countedListing == tc.fromCounts {
			t.Errorf("round %d, %s: listing counted: %v, want %v", round, tc.name, *countedListing, !tc.fromCounts)
		}
		req.Filter = every
		if tc.filter != nil {
			req.Filter = all(tc.filter, every)
		}
		want, err := st.QueryEntities(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if got.TotalItems != want.TotalItems {
			t.Errorf("round %d, %s: total %d, counting the listing says %d", round, tc.name, got.TotalItems, want.TotalItems)
		}
		if tc.name == "component services by name" && want.TotalItems == 0 {
			t.Errorf("round %d: no component services at all", round)
		}
	}
}

// migrationCounts is the query with which migration 0008 counts an
// existing catalog; its key list must be the store's.
func migrationCounts(t *testing.T, dialect string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("migrations", dialect, "0008_facet_counts.sql"))
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	i := strings.Index(src, "SELECT s.key_id")
	if i < 0 {
		t.Fatal("migration 0008 has no counting query")
	}
	q := strings.TrimSuffix(strings.TrimSpace(src[i:]), ";")
	lists := 0
	for _, line := range strings.Split(src, "\n") {
		if !strings.Contains(line, "('kind'") {
			continue
		}
		lists++
		var keys []string
		for _, m := range regexp.MustCompile(`'([a-z.]+)'`).FindAllStringSubmatch(line, -1) {
			keys = append(keys, m[1])
		}
		if want := sqlstore.FacetKeys(); !slices.Equal(keys, want) {
			t.Fatalf("migration 0008 counts keys %v, the store %v", keys, want)
		}
	}
	if lists != 2 {
		t.Fatalf("migration 0008 has %d key lists, want 2 (interned, counted)", lists)
	}
	return q
}

// compareTable checks that facet_counts holds what migration 0008 would
// build from the search rows now (rows at zero aside).
func compareTable(t *testing.T, db *database.DB, rebuild string, round int) {
	t.Helper()
	ctx := context.Background()
	read := func(q string) []string {
		rows, err := db.Write.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var keyID, n int64
			var kind, value string
			if err := rows.Scan(&keyID, &kind, &value, &n); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%d/%s/%s=%d", keyID, kind, value, n))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		slices.Sort(out)
		return out
	}
	got := read(`SELECT key_id, kind, value, n FROM facet_counts WHERE n <> 0`)
	want := read(rebuild)
	if !slices.Equal(got, want) {
		t.Errorf("round %d: facet_counts\n%v\nmigration 0008 would count\n%v", round, got, want)
	}
}
