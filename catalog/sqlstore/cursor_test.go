package sqlstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/storetest"
	"github.com/understage/understage/plugins/backend/database/databasetest"
	"github.com/understage/understage/plugins/backend/ojson"
)

// TestCursorOfDeletedEntity pages through entities that tie on the sort
// value while the entity a cursor points at is deleted: the next page must
// go on right after it, in uid order, in both directions.
func TestCursorOfDeletedEntity(t *testing.T) {
	t.Parallel()
	stores := []struct {
		name string
		open func(t *testing.T) catalog.Store
	}{
		{"sqlite", func(t *testing.T) catalog.Store { return sqliteStore(t) }},
		{"pg", func(t *testing.T) catalog.Store { return openStore(t, databasetest.PG(t)) }},
	}
	for _, tc := range stores {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := tc.open(t)
			var es []*ojson.Object
			for i := range 6 {
				es = append(es, storetest.Entity("Component", fmt.Sprintf("c%d", i), ojson.NewObject("type", "same")))
			}
			storetest.Seed(t, st, es...)
			uids := func(raws []catalog.RawEntity) []string {
				var out []string
				for _, r := range raws {
					var v struct {
						Metadata struct{ UID string } `json:"metadata"`
					}
					if err := json.Unmarshal(r, &v); err != nil {
						t.Fatal(err)
					}
					out = append(out, v.Metadata.UID)
				}
				return out
			}
			for _, desc := range []bool{false, true} {
				order := &catalog.Order{Field: "spec.type", Desc: desc}
				all, err := st.QueryEntities(ctx, catalog.QueryRequest{OrderField: order, Limit: 100})
				if err != nil {
					t.Fatal(err)
				}
				full := uids(all.Entities)
				if len(full) < 4 {
					t.Fatalf("desc=%v: %d entities", desc, len(full))
				}
				for i := 1; i < len(full); i++ {
					if (full[i-1] < full[i]) == desc {
						t.Fatalf("desc=%v: ties not in uid order: %q", desc, full)
					}
				}
				page, err := st.QueryEntities(ctx, catalog.QueryRequest{OrderField: order, Limit: 2})
				if err != nil {
					t.Fatal(err)
				}
				if err := st.DeleteEntityByUID(ctx, page.Last.UID); err != nil {
					t.Fatal(err)
				}
				next, err := st.QueryEntities(ctx, catalog.QueryRequest{OrderField: order, Limit: 2, After: page.Last})
				if err != nil {
					t.Fatal(err)
				}
				if got, want := uids(next.Entities), full[2:4]; fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("desc=%v: page after a deleted cursor entity = %q, want %q", desc, got, want)
				}
			}
		})
	}
}
