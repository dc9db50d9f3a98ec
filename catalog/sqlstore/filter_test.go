package sqlstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/storetest"
	"github.com/understage/understage/plugins/backend/database/databasetest"
	"github.com/understage/understage/plugins/backend/ojson"
)

// TestWideFilters runs filters as wide and as deep as the HTTP API lets
// through (1000 conditions in one $any or $all, 64 levels of $not) on both
// databases: SQLite refuses expressions more than 1000 levels deep, so
// long AND/OR lists must not nest one level per item.
func TestWideFilters(t *testing.T) {
	t.Parallel()
	stores := []struct {
		name string
		open func(t *testing.T) catalog.Store
	}{
		{"sqlite", func(t *testing.T) catalog.Store { return sqliteStore(t) }},
		{"pg", func(t *testing.T) catalog.Store { return openStore(t, databasetest.PG(t)) }},
	}
	conditions := func(n int, first catalog.Filter) []catalog.Filter {
		fs := []catalog.Filter{first}
		for i := 1; i < n; i++ {
			fs = append(fs, catalog.Field{Key: fmt.Sprintf("k%d", i), Op: catalog.OpExists})
		}
		return fs
	}
	isA := catalog.Field{Key: "metadata.name", Op: catalog.OpIn, Values: []string{"a"}}
	var deep catalog.Filter = isA
	for range 64 {
		deep = catalog.Not{Filter: deep}
	}
	tests := []struct {
		name   string
		filter catalog.Filter
		want   int
	}{
		{"1000 OR'ed conditions", catalog.AnyOf{Filters: conditions(1000, isA)}, 1},
		{"1000 AND'ed conditions", catalog.AllOf{Filters: conditions(1000, isA)}, 0},
		{"1000 AND'ed negations", catalog.AllOf{Filters: func() []catalog.Filter {
			fs := conditions(1000, isA)
			for i := 1; i < len(fs); i++ {
				fs[i] = catalog.Not{Filter: fs[i]}
			}
			return fs
		}()}, 1},
		{"64 nested negations", deep, 1},
		{"nested wide lists", catalog.AllOf{Filters: []catalog.Filter{
			catalog.AnyOf{Filters: conditions(500, isA)},
			catalog.Not{Filter: catalog.AnyOf{Filters: conditions(500, catalog.Field{Key: "metadata.name", Op: catalog.OpIn, Values: []string{"b"}})}},
		}}, 1},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s := st.open(t)
			storetest.Seed(t, s,
				storetest.Entity("Component", "a", ojson.NewObject("type", "service")),
				storetest.Entity("Component", "b", ojson.NewObject("type", "service")))
			for _, tc := range tests {
				list, err := s.ListEntities(ctx, catalog.EntitiesRequest{Filter: tc.filter})
				if err != nil {
					t.Fatalf("%s: ListEntities: %v", tc.name, err)
				}
				page, err := s.QueryEntities(ctx, catalog.QueryRequest{Filter: tc.filter, Limit: 10, CountTotal: true})
				if err != nil {
					t.Fatalf("%s: QueryEntities: %v", tc.name, err)
				}
				facets, err := s.Facets(ctx, []string{"kind"}, tc.filter)
				if err != nil {
					t.Fatalf("%s: Facets: %v", tc.name, err)
				}
				refs, err := s.EntitiesByRefs(ctx, []string{"component:default/a", "component:default/b"}, tc.filter)
				if err != nil {
					t.Fatalf("%s: EntitiesByRefs: %v", tc.name, err)
				}
				found := 0
				for _, r := range refs {
					if r != nil {
						found++
					}
				}
				faceted := 0
				for _, fc := range facets["kind"] {
					faceted += fc.Count
				}
				if len(list.Entities) != tc.want || page.TotalItems != tc.want || faceted != tc.want || found != tc.want {
					t.Errorf("%s: list %d, query total %d, facet count %d, by refs %d; want %d each",
						tc.name, len(list.Entities), page.TotalItems, faceted, found, tc.want)
				}
			}
		})
	}
}
