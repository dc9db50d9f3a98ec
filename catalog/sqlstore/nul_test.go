package sqlstore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/storetest"
	"github.com/understage/understage/plugins/backend/database"
	"github.com/understage/understage/plugins/backend/database/databasetest"
	"github.com/understage/understage/plugins/backend/ojson"
)

// An entity whose file holds a NUL ("\0" in a YAML string) must not stop
// the entities written beside it. PostgreSQL cannot store the character:
// the entity fails with an error of its own; SQLite stores it, as
// Backstage's does.
func TestEntityWithNULDoesNotStopItsBatch(t *testing.T) {
	t.Parallel()
	stores := []struct {
		name    string
		opts    func(t *testing.T) database.Options
		refuses bool
	}{
		{"sqlite", func(t *testing.T) database.Options {
			return database.Options{Client: "better-sqlite3", Connection: ":memory:"}
		}, false},
		{"pg", func(t *testing.T) database.Options { return databasetest.PG(t) }, true},
	}
	for _, tc := range stores {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := openStore(t, tc.opts(t))
			ents := []*ojson.Object{
				storetest.Entity("Component", "good", ojson.NewObject("owner", "group:default/team")),
				storetest.Entity("Component", "bad-owner", ojson.NewObject("owner", "group:default/te\x00am")),
				storetest.Entity("Component", "bad-label", nil, "labels", ojson.NewObject("x", "a\x00b")),
				storetest.Entity("Component", "bad-key", nil, "annotations", ojson.NewObject("a\x00", "b")),
			}
			var ds []catalog.DeferredEntity
			for _, e := range ents {
				ds = append(ds, catalog.DeferredEntity{Entity: e, LocationKey: "url:https://example.com/catalog.yaml"})
			}
			if err := st.ApplyFullMutation(ctx, storetest.Provider, ds); err != nil {
				t.Fatal(err)
			}
			// Fails the test if a write or a stitch fails.
			storetest.Process(t, st, storetest.OwnerRelations, nil)
			if _, err := st.EntityByRef(ctx, "component:default/good", nil); err != nil {
				t.Fatalf("the entity beside them: %v", err)
			}
			failed, err := st.UnprocessedEntities(ctx, catalog.UnprocessedFailed)
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"bad-owner", "bad-label", "bad-key"} {
				ref := "component:default/" + name
				_, readErr := st.EntityByRef(ctx, ref, nil)
				var msgs []string
				for _, u := range failed {
					if u.EntityRef == ref {
						for _, e := range u.Errors {
							msgs = append(msgs, e.Name+": "+e.Message)
						}
					}
				}
				if !tc.refuses {
					if readErr != nil || len(msgs) > 0 {
						t.Errorf("%s: read %v, errors %q; want it stored", name, readErr, msgs)
					}
					continue
				}
				if readErr == nil {
					t.Errorf("%s: served, want it held back", name)
				}
				if len(msgs) != 1 || !strings.Contains(msgs[0], "InputError: The entity holds the character U+0000") {
					t.Errorf("%s: errors %q", name, msgs)
				}
			}
		})
	}
}
