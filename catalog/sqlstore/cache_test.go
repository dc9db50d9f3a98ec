package sqlstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/storetest"
	"github.com/understage/understage/plugins/backend/database"
	"github.com/understage/understage/plugins/backend/database/databasetest"
	"github.com/understage/understage/plugins/backend/ojson"
)

// TestCachedPages reads the same by-query pages before and after writes:
// a cached page is never served once the catalog changed. (The entities
// it returns are the cache's own bytes, read-only: see catalog.RawEntity.)
func TestCachedPages(t *testing.T) {
	t.Parallel()
	stores := []struct {
		name string
		open func(t *testing.T) catalog.Store
	}{
		{"sqlite", func(t *testing.T) catalog.Store { return sqliteStore(t) }},
		{"sqlite memory", func(t *testing.T) catalog.Store {
			return openStore(t, database.Options{Client: "better-sqlite3", Connection: ":memory:"})
		}},
		{"pg", func(t *testing.T) catalog.Store { return openStore(t, databasetest.PG(t)) }},
	}
	for _, tc := range stores {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := tc.open(t)
			var es []*ojson.Object
			for i := range 5 {
				es = append(es, storetest.Entity("Component", fmt.Sprintf("c%d", i), ojson.NewObject("type", "service")))
			}
			storetest.Seed(t, st, es...)
			req := catalog.QueryRequest{
				Filter:     catalog.Field{Key: "spec.type", Op: catalog.OpIn, Values: []string{"service"}},
				OrderField: &catalog.Order{Field: "metadata.name"},
				Limit:      2,
				CountTotal: true,
			}
			names := func(res catalog.QueryResult) []string {
				return entityNames(t, res.Entities)
			}
			list := catalog.EntitiesRequest{Filter: req.Filter, Order: []catalog.Order{{Field: "metadata.name"}}, Limit: 2}
			listed := func() string {
				t.Helper()
				res, err := st.ListEntities(ctx, list)
				if err != nil {
					t.Fatal(err)
				}
				return fmt.Sprint(entityNames(t, res.Entities))
			}
			if got := listed(); got != "[c0 c1]" {
				t.Fatalf("GET /entities page = %s", got)
			}
			refs := []string{"component:default/c4", "component:default/nope", "Component:default/c0", "component:default/c4"}
			byRefs := func() string {
				t.Helper()
				raws, err := st.EntitiesByRefs(ctx, refs, req.Filter)
				if err != nil {
					t.Fatal(err)
				}
				var names []string
				for _, r := range raws {
					if r == nil {
						names = append(names, "-")
						continue
					}
					names = append(names, entityNames(t, []catalog.RawEntity{r})...)
				}
				return fmt.Sprint(names)
			}
			if got := byRefs(); got != "[c4 - c0 c4]" {
				t.Fatalf("by refs = %s", got)
			}
			if got := byRefs(); got != "[c4 - c0 c4]" {
				t.Fatalf("by refs again = %s", got)
			}

			query := func(req catalog.QueryRequest) catalog.QueryResult {
				t.Helper()
				res, err := st.QueryEntities(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			first := query(req)
			if got := fmt.Sprint(names(first), first.TotalItems); got != "[c0 c1] 5" {
				t.Fatalf("first page = %s", got)
			}
			if got := fmt.Sprint(names(query(req))); got != "[c0 c1]" {
				t.Fatalf("first page again = %s", got)
			}
			next := req
			next.After, next.CountTotal = first.Last, false
			if res := query(next); fmt.Sprint(names(res), res.IsFirstOfAll) != "[c2 c3] false" {
				t.Fatalf("second page = %v %v", names(res), res.IsFirstOfAll)
			}

			// An entity that sorts first, and one that leaves the listing.
			es[4] = storetest.Entity("Component", "c4", ojson.NewObject("type", "website"))
			storetest.Seed(t, st, append(es, storetest.Entity("Component", "a0", ojson.NewObject("type", "service")))...)
			if res := query(req); fmt.Sprint(names(res), res.TotalItems) != "[a0 c0] 5" {
				t.Errorf("first page after writes = %v %d, want [a0 c0] 5", names(res), res.TotalItems)
			}
			if got := listed(); got != "[a0 c0]" {
				t.Errorf("GET /entities page after writes = %s, want [a0 c0]", got)
			}
			if got := byRefs(); got != "[- - c0 -]" { // c4 is no longer a service
				t.Errorf("by refs after writes = %s, want [- - c0 -]", got)
			}
			if res := query(next); fmt.Sprint(names(res), res.IsFirstOfAll) != "[c2 c3] false" {
				t.Errorf("second page after writes = %v %v", names(res), res.IsFirstOfAll)
			}
			prev := req
			prev.After, prev.Backward, prev.CountTotal = &catalog.CursorPosition{Value: first.First.Value, UID: first.First.UID}, true, false
			if res := query(prev); fmt.Sprint(names(res), res.IsFirstOfAll) != "[a0] true" {
				t.Errorf("page before c0 after writes = %v %v, want [a0] true", names(res), res.IsFirstOfAll)
			}
		})
	}
}

func entityNames(t *testing.T, raws []catalog.RawEntity) []string {
	t.Helper()
	var out []string
	for _, r := range raws {
		var v struct {
			Metadata struct{ Name string } `json:"metadata"`
		}
		if err := json.Unmarshal(r, &v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v.Metadata.Name)
	}
	return out
}
