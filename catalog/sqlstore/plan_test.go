package sqlstore_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/sqlstore"
	"github.com/understage/understage/catalog/storetest"
	"github.com/understage/understage/plugins/backend/database"
	"github.com/understage/understage/plugins/backend/database/databasetest"
	"github.com/understage/understage/plugins/backend/ojson"
)

// planWords start the seeded names, so that kinds interleave in name order
// as in real catalogs.
var planWords = []string{"payments", "orders", "billing", "search", "identity", "catalog", "checkout", "inventory", "shipping", "pricing"}

// planCatalog is a small organisation: groups, users, components of three
// types, APIs and resources, each owned by a group and tagged.
func planCatalog(n int) []*ojson.Object {
	var out []*ojson.Object
	groups := max(2, n/40)
	for i := range n {
		w := planWords[i%len(planWords)]
		owner := fmt.Sprintf("group:default/%s-team-%03d", planWords[i%groups%len(planWords)], i%groups)
		tags := []any{"gen", fmt.Sprintf("t%d", i%7)}
		switch {
		case i < groups:
			out = append(out, storetest.Entity("Group", fmt.Sprintf("%s-team-%03d", w, i), ojson.NewObject("type", "team", "children", []any{}), "tags", tags))
		case i%10 == 0:
			out = append(out, storetest.Entity("User", fmt.Sprintf("%s-user-%05d", w, i), ojson.NewObject("memberOf", []any{owner}), "tags", tags))
		case i%10 < 3:
			out = append(out, storetest.Entity("API", fmt.Sprintf("%s-api-%05d", w, i), ojson.NewObject("type", "openapi", "lifecycle", "production", "owner", owner, "definition", "{}"), "tags", tags))
		case i%10 == 3:
			out = append(out, storetest.Entity("Resource", fmt.Sprintf("%s-db-%05d", w, i), ojson.NewObject("type", "database", "owner", owner), "tags", tags))
		default:
			types := []string{"service", "website", "library"}
			out = append(out, storetest.Entity("Component", fmt.Sprintf("%s-core-%05d", w, i), ojson.NewObject("type", types[i%3], "lifecycle", "production", "owner", owner), "tags", tags))
		}
	}
	return out
}

// planNode is the part of PostgreSQL's EXPLAIN (FORMAT JSON) the checks read.
type planNode struct {
	NodeType string     `json:"Node Type"`
	Relation string     `json:"Relation Name"`
	Index    string     `json:"Index Name"`
	Rows     float64    `json:"Actual Rows"`  // with ANALYZE: per loop
	Loops    float64    `json:"Actual Loops"` // with ANALYZE
	Parent   string     `json:"Parent Relationship"`
	Plans    []planNode `json:"Plans"`
}

func (p planNode) walk(f func(planNode)) {
	f(p)
	for _, c := range p.Plans {
		c.walk(f)
	}
}

func (p planNode) String() string {
	var b strings.Builder
	var rec func(n planNode, depth int)
	rec = func(n planNode, depth int) {
		fmt.Fprintf(&b, "%s%s %s %s\n", strings.Repeat("  ", depth), n.NodeType, n.Relation, n.Index)
		for _, c := range n.Plans {
			rec(c, depth+1)
		}
	}
	rec(p, 0)
	return b.String()
}

func explain(t *testing.T, db *sql.DB, query string, args []any) planNode {
	t.Helper()
	return explainWith(t, db, "FORMAT JSON", query, args)
}

// explainWith explains query with the given EXPLAIN options (FORMAT JSON
// among them).
func explainWith(t *testing.T, db *sql.DB, opts, query string, args []any) planNode {
	t.Helper()
	var out []byte
	if err := db.QueryRow("EXPLAIN ("+opts+") "+query, args...).Scan(&out); err != nil {
		t.Fatalf("explain %s: %v", query, err)
	}
	var plans []struct {
		Plan planNode `json:"Plan"`
	}
	if err := json.Unmarshal(out, &plans); err != nil || len(plans) != 1 {
		t.Fatalf("explain output %s: %v", out, err)
	}
	return plans[0].Plan
}

// TestPostgresPlans checks the shape of the plans PostgreSQL picks for the
// catalog's main reads on an analysed catalog: no sequential scan of the
// search index or the entities for any of them, and the first and a later
// page of a filtered, ordered listing walk the search index in order
// instead of collecting and sorting every match. These shapes are what keep
// those reads flat as the catalog grows; the catalog is small so that the
// test is quick, and analysed so that the planner sees what it would see at
// any size.
func TestPostgresPlans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	o := databasetest.PG(t)
	o.PluginID = "catalog"
	o.Logger = quietLogger()
	db, err := database.Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	st, err := sqlstore.New(ctx, db, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	entities := planCatalog(4000)
	storetest.Seed(t, st, entities...)
	if err := st.Analyze(ctx); err != nil {
		t.Fatal(err)
	}

	type read struct {
		query string
		args  []any
	}
	var reads []read
	sqlstore.SetReadHook(st, func(q string, args []any) { reads = append(reads, read{q, args}) })

	filter := catalog.AllOf{Filters: []catalog.Filter{
		catalog.Field{Key: "kind", Op: catalog.OpIn, Values: []string{"component"}},
		catalog.Field{Key: "spec.type", Op: catalog.OpIn, Values: []string{"service"}},
	}}
	order := &catalog.Order{Field: "metadata.name"}
	// 25 refs: in a catalog this small, a hundred are a fortieth of it,
	// which a scan of the table rightly answers faster than 100 lookups.
	var refs []string
	for i := 0; i < len(entities); i += 160 {
		refs = append(refs, storetest.Ref(entities[i]))
	}
	var cursor *catalog.CursorPosition
	cases := []struct {
		name    string
		run     func() error
		ordered bool // the listing query must walk the index in order (no Sort)
	}{
		{"by-query first page", func() error {
			res, err := st.QueryEntities(ctx, catalog.QueryRequest{Filter: filter, OrderField: order, Limit: 20, CountTotal: true})
			if err == nil && res.Last == nil {
				err = fmt.Errorf("empty first page")
			}
			if err == nil {
				cursor = res.Last
			}
			return err
		}, true},
		// A filter the facet counts do not total: the listing is counted
		// (its count's plan is checked here).
		{"by-query first page, counted", func() error {
			tagged := catalog.AllOf{Filters: append(slices.Clone(filter.Filters), catalog.Field{Key: "metadata.tags", Op: catalog.OpIn, Values: []string{"t3"}})}
			res, err := st.QueryEntities(ctx, catalog.QueryRequest{Filter: tagged, OrderField: order, Limit: 20, CountTotal: true})
			if err == nil && res.TotalItems == 0 {
				err = fmt.Errorf("no entity counted")
			}
			return err
		}, false}, // selective enough that sorting its matches is the better plan
		// Unsorted, the count reads the search rows of one of the filter's
		// fields, not every entity (it is checked below that it reads no
		// entity at all).
		{"by-query count, unsorted", func() error {
			tagged := catalog.AllOf{Filters: append(slices.Clone(filter.Filters), catalog.Field{Key: "metadata.tags", Op: catalog.OpIn, Values: []string{"t3"}})}
			res, err := st.QueryEntities(ctx, catalog.QueryRequest{Filter: tagged, CountTotal: true})
			if err == nil && res.TotalItems == 0 {
				err = fmt.Errorf("no entity counted")
			}
			return err
		}, false},
		{"by-query next page", func() error {
			_, err := st.QueryEntities(ctx, catalog.QueryRequest{Filter: filter, OrderField: order, Limit: 20, After: cursor})
			return err
		}, true},
		{"GET /entities with a filter", func() error {
			_, err := st.ListEntities(ctx, catalog.EntitiesRequest{Filter: filter, Limit: 20})
			return err
		}, false},
		{"by-refs", func() error {
			_, err := st.EntitiesByRefs(ctx, refs, nil)
			return err
		}, false},
		{"facets", func() error {
			_, err := st.Facets(ctx, []string{"kind", "spec.type", "metadata.tags", "relations.ownedBy"}, nil)
			return err
		}, false},
		{"filtered facets", func() error {
			_, err := st.Facets(ctx, []string{"spec.type"}, catalog.Field{Key: "kind", Op: catalog.OpIn, Values: []string{"component"}})
			return err
		}, false},
	}
	for _, tc := range cases {
		reads = nil
		if err := tc.run(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		listings := 0
		for _, r := range reads {
			if strings.Contains(r.query, "catalog_generation") || strings.Contains(r.query, "search_keys") {
				continue
			}
			plan := explain(t, db.Read.DB, r.query, r.args)
			plan.walk(func(n planNode) {
				if n.NodeType == "Seq Scan" && (n.Relation == "search" || n.Relation == "final_entities") {
					t.Errorf("%s: sequential scan of %s in\n%s\nfor %s", tc.name, n.Relation, plan, r.query)
				}
				if tc.name == "by-query count, unsorted" && n.Relation == "final_entities" {
					t.Errorf("%s: the count reads the entities in\n%s\nfor %s", tc.name, plan, r.query)
				}
			})
			if tc.ordered && strings.HasPrefix(r.query, "SELECT fe.final_entity, p.value") {
				listings++
				plan.walk(func(n planNode) {
					if n.NodeType == "Sort" || n.NodeType == "Incremental Sort" {
						t.Errorf("%s: the listing sorts its matches instead of walking the index in order:\n%s\nfor %s", tc.name, plan, r.query)
					}
				})
				// The entities are fetched for the page alone, not for
				// every row the walk passes before the filter rejects it.
				run := explainWith(t, db.Read.DB, "ANALYZE, FORMAT JSON", r.query, r.args)
				fetched := 0.0
				limited := false // under the Limit that cuts the page
				var count func(n planNode, underLimit bool)
				count = func(n planNode, underLimit bool) {
					if n.Parent == "InitPlan" {
						return // the cursor's uid looked up once
					}
					if n.Relation == "final_entities" {
						fetched += n.Rows * n.Loops
						limited = limited || underLimit
					}
					for _, c := range n.Plans {
						count(c, underLimit || n.NodeType == "Limit")
					}
				}
				count(run, false)
				if limited {
					t.Errorf("%s: the listing joins the entities before cutting the page:\n%s\nfor %s", tc.name, run, r.query)
				}
				if fetched > 21 {
					t.Errorf("%s: the listing fetches %v entities for a page of 20:\n%s\nfor %s", tc.name, fetched, run, r.query)
				}
			}
		}
		if tc.ordered && listings != 1 {
			t.Errorf("%s: %d listing queries seen, want 1", tc.name, listings)
		}
	}
	// Stitching reads the relations of the entities it stitches by source,
	// in order, from the index alone (migration 0006), and looks up each
	// entity's references for the orphan mark, as analysed by the store
	// itself: without statistics of relations the planner hashes the whole
	// table for every batch, and it prefers hashing every reference in the
	// catalog to looking up the batch's; both costs grow with the catalog.
	// The entities read here are changed and processed again, as a refresh
	// that finds them edited does.
	var stitchReads []read
	sqlstore.SetTxReadHook(st, func(q string, args []any) {
		if strings.Contains(q, "FROM relations WHERE source_entity_ref") || strings.Contains(q, "refresh_state_references r WHERE r.target_entity_ref = rs.entity_ref") {
			stitchReads = append(stitchReads, read{q, args})
		}
	})
	var edited []catalog.DeferredEntity
	for _, ref := range refs {
		for _, e := range entities {
			if storetest.Ref(e) == ref {
				e = e.Clone()
				meta, _ := e.Get("metadata")
				meta.(*ojson.Object).Set("description", "edited")
				edited = append(edited, catalog.DeferredEntity{Entity: e, LocationKey: "url:https://example.com/catalog.yaml"})
			}
		}
	}
	if err := st.ApplyDeltaMutation(ctx, storetest.Provider, edited, nil); err != nil {
		t.Fatal(err)
	}
	storetest.Process(t, st, storetest.OwnerRelations, nil)
	sqlstore.SetTxReadHook(st, nil)
	var relationsRead, sourcesRead bool
	for _, r := range stitchReads {
		plan := explain(t, db.Read.DB, r.query, r.args)
		plan.walk(func(n planNode) {
			switch n.Relation {
			case "relations":
				relationsRead = true
				if n.NodeType != "Index Only Scan" {
					t.Errorf("stitching's relation read: %s of relations, want an index-only scan:\n%s\nfor %s", n.NodeType, plan, r.query)
				}
			case "refresh_state_references":
				sourcesRead = true
				if n.NodeType == "Seq Scan" {
					t.Errorf("stitching's orphan check scans every reference:\n%s\nfor %s", plan, r.query)
				}
			}
		})
	}
	if !relationsRead || !sourcesRead {
		t.Errorf("stitching read relations: %v, references: %v; want both (reads seen: %d)", relationsRead, sourcesRead, len(stitchReads))
	}
}
