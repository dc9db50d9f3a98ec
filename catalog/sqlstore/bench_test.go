package sqlstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/sqlstore"
	"github.com/understage/understage/catalog/storetest"
	"github.com/understage/understage/plugins/backend/ojson"
)

var benchTypes = []string{"service", "website", "library", "documentation", "tool"}

func genEntities(n int) []catalog.DeferredEntity {
	out := make([]catalog.DeferredEntity, n)
	for i := range n {
		e := storetest.Entity("Component", fmt.Sprintf("component-%05d", i),
			ojson.NewObject("type", benchTypes[i%len(benchTypes)], "lifecycle", "production", "owner", fmt.Sprintf("group:default/team-%d", i%20)),
			"description", fmt.Sprintf("Generated component number %d", i),
			"tags", []any{"gen", fmt.Sprintf("t%d", i%7)},
			"annotations", ojson.NewObject("backstage.io/managed-by-location", "url:https://example.com/gen.yaml"))
		out[i] = catalog.DeferredEntity{Entity: e, LocationKey: "url:https://example.com/gen.yaml"}
	}
	return out
}

// ingest writes n entities end to end: provider mutation, claim, processing
// results with owner relations, and stitching.
func ingest(b *testing.B, st *sqlstore.Store, n int) {
	b.Helper()
	if err := st.ApplyFullMutation(context.Background(), "bench", genEntities(n)); err != nil {
		b.Fatal(err)
	}
	storetest.Process(b, st, storetest.OwnerRelations, nil)
}

func BenchmarkIngest10k(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		st := sqliteStore(b)
		b.StartTimer()
		ingest(b, st, 10000)
	}
}

func seeded10k(b *testing.B) *sqlstore.Store {
	b.Helper()
	st := sqliteStore(b)
	ingest(b, st, 10000)
	return st
}

func BenchmarkQueryByQuery10k(b *testing.B) {
	st := seeded10k(b)
	ctx := context.Background()
	req := catalog.QueryRequest{
		Filter:     catalog.Field{Key: "kind", Op: catalog.OpIn, Values: []string{"component"}},
		OrderField: &catalog.Order{Field: "metadata.name"},
		Limit:      20,
		CountTotal: true,
	}
	res, err := st.QueryEntities(ctx, req)
	if err != nil || len(res.Entities) != 20 || res.TotalItems != 10000 {
		b.Fatalf("query: %d rows, total %d, %v", len(res.Entities), res.TotalItems, err)
	}
	for b.Loop() {
		if _, err := st.QueryEntities(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkQueryByQueryNextPage10k(b *testing.B) {
	st := seeded10k(b)
	ctx := context.Background()
	req := catalog.QueryRequest{
		Filter:     catalog.Field{Key: "kind", Op: catalog.OpIn, Values: []string{"component"}},
		OrderField: &catalog.Order{Field: "spec.type"},
		Limit:      20,
	}
	res, err := st.QueryEntities(ctx, req)
	if err != nil {
		b.Fatal(err)
	}
	req.After = res.Last
	for b.Loop() {
		if _, err := st.QueryEntities(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFacets10k(b *testing.B) {
	st := seeded10k(b)
	ctx := context.Background()
	// The first call after a write misses the result cache: that is the
	// figure a user sees right after an ingest.
	start := time.Now()
	if _, err := st.Facets(ctx, []string{"spec.type"}, catalog.Field{Key: "kind", Op: catalog.OpIn, Values: []string{"component"}}); err != nil {
		b.Fatal(err)
	}
	b.Logf("first (uncached) facet query: %v", time.Since(start))
	for b.Loop() {
		if _, err := st.Facets(ctx, []string{"spec.type"}, catalog.AllOf{}); err != nil {
			b.Fatal(err)
		}
	}
}
