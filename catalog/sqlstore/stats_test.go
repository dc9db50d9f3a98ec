package sqlstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/sqlstore"
	"github.com/understage/understage/catalog/storetest"
	"github.com/understage/understage/plugins/backend/database/databasetest"
	"github.com/understage/understage/plugins/backend/ojson"
)

// TestStats: the counts /metrics and the progress lines show, before and
// after processing, on both databases.
func TestStats(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) *sqlstore.Store
	}{
		{"sqlite", func(t *testing.T) *sqlstore.Store { return sqliteStore(t) }},
		{"postgres", func(t *testing.T) *sqlstore.Store { return openStore(t, databasetest.PG(t)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st := tc.store(t)
			s, err := st.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if s.Entities != 0 || s.ProcessingDue != 0 || !s.OldestDue.IsZero() || len(s.EntitiesByKind) != 0 {
				t.Fatalf("empty catalog: %+v", s)
			}
			var ds []catalog.DeferredEntity
			for i := range 7 {
				ds = append(ds, catalog.DeferredEntity{Entity: storetest.Entity("Component", fmt.Sprintf("c%d", i),
					ojson.NewObject("owner", "group:default/team")), LocationKey: "url:https://example.com/a.yaml"})
			}
			ds = append(ds, catalog.DeferredEntity{Entity: storetest.Entity("Group", "team", nil), LocationKey: "url:https://example.com/a.yaml"})
			if err := st.ApplyFullMutation(ctx, storetest.Provider, ds); err != nil {
				t.Fatal(err)
			}
			if s, err = st.Stats(ctx); err != nil {
				t.Fatal(err)
			}
			if s.Entities != 8 || s.ProcessingDue != 8 || s.OldestDue.IsZero() || len(s.EntitiesByKind) != 0 {
				t.Fatalf("before processing: %+v, want 8 known and due, none stitched", s)
			}
			storetest.Process(t, st, storetest.OwnerRelations, nil)
			if s, err = st.Stats(ctx); err != nil {
				t.Fatal(err)
			}
			want := map[string]int64{"component": 7, "group": 1}
			if len(s.EntitiesByKind) != len(want) || s.EntitiesByKind["component"] != 7 || s.EntitiesByKind["group"] != 1 {
				t.Errorf("by kind %v, want %v", s.EntitiesByKind, want)
			}
			if s.Entities != 8 || s.ProcessingDue != 0 || !s.OldestDue.IsZero() || s.StitchQueue != 0 || s.Relations != 14 || s.Locations != 0 {
				t.Errorf("after processing: %+v, want 8 known, 14 relations, nothing due or queued", s)
			}
		})
	}
}

// BenchmarkStats is the cost of one /metrics read of the counts over 10,000
// processed entities.
func BenchmarkStats(b *testing.B) {
	for _, tc := range []struct {
		name  string
		store func(b *testing.B) *sqlstore.Store
	}{
		{"sqlite", func(b *testing.B) *sqlstore.Store { return sqliteStore(b) }},
		{"postgres", func(b *testing.B) *sqlstore.Store { return openStore(b, databasetest.PG(b)) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			st := tc.store(b)
			var ds []catalog.DeferredEntity
			for i := range 10000 {
				ds = append(ds, catalog.DeferredEntity{Entity: storetest.Entity([]string{"Component", "API", "System"}[i%3], fmt.Sprintf("e%d", i),
					ojson.NewObject("owner", "group:default/team")), LocationKey: "url:https://example.com/a.yaml"})
			}
			if err := st.ApplyFullMutation(context.Background(), storetest.Provider, ds); err != nil {
				b.Fatal(err)
			}
			storetest.Process(b, st, storetest.OwnerRelations, nil)
			b.ResetTimer()
			for b.Loop() {
				if _, err := st.Stats(context.Background()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
