package sqlstore_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/storetest"
	"github.com/understage/understage/plugins/backend/database"
	"github.com/understage/understage/plugins/backend/database/databasetest"
)

// claim is one claim of an entity: returned at after, leased until lease.
type claim struct{ after, lease time.Time }

// TestConcurrentClaimsHonourLeases: two stores over one database (two
// replicas) claim the same refresh queue concurrently, over and over, with
// leases short enough that every entity is claimed many times. No entity
// is claimed while an earlier claim's lease is live.
//
// A claim's statement runs at some instant within [its call, after], and
// a correct claim of an entity starts no earlier than the previous lease's
// end (due means next_update_at <= now in whole milliseconds). So for each
// entity the intervals [after, lease truncated to the millisecond) of its
// claims must not overlap; an overlap proves a claim during a live lease.
func TestConcurrentClaimsHonourLeases(t *testing.T) {
	t.Parallel()
	for name, open := range map[string]func(t *testing.T) database.Options{
		"sqlite": func(t *testing.T) database.Options {
			return database.Options{Client: "better-sqlite3", Connection: t.TempDir() + "/catalog.sqlite"}
		},
		"pg": func(t *testing.T) database.Options { return databasetest.PG(t) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			o := open(t)
			stores := []catalog.Store{openStore(t, o), openStore(t, o)}
			ctx := context.Background()
			const entities = 40
			var ds []catalog.DeferredEntity
			for i := range entities {
				ds = append(ds, catalog.DeferredEntity{Entity: storetest.Entity("Component", fmt.Sprintf("c%02d", i), nil)})
			}
			if err := stores[0].ApplyFullMutation(ctx, storetest.Provider, ds); err != nil {
				t.Fatal(err)
			}
			const lease = 30 * time.Millisecond
			const rounds = 150
			var mu sync.Mutex
			claims := map[string][]claim{}
			var wg sync.WaitGroup
			for w := range 4 { // two claimers on each store
				st := stores[w%2]
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range rounds {
						var until time.Time
						items, err := st.ClaimDue(ctx, 7, func() time.Time { until = time.Now().Round(0).Add(lease); return until })
						after := time.Now().Round(0) // wall clock, as the leases (see the scaffolder's test)
						if err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						for _, it := range items {
							claims[it.EntityID] = append(claims[it.EntityID], claim{after, until})
						}
						mu.Unlock()
						if len(items) == 0 {
							time.Sleep(time.Millisecond)
						}
					}
				}()
			}
			wg.Wait()
			total := 0
			for id, cs := range claims {
				total += len(cs)
				sort.Slice(cs, func(i, j int) bool { return cs[i].after.Before(cs[j].after) })
				var end time.Time // the latest lease end seen so far
				for _, c := range cs {
					if c.after.Before(end) {
						t.Fatalf("entity %s claimed at or before %s while leased until %s", id, c.after.Format(time.StampMicro), end.Format(time.StampMicro))
					}
					if l := time.UnixMilli(c.lease.UnixMilli()); l.After(end) {
						end = l
					}
				}
			}
			// The test means something only if leases expired and entities
			// were claimed again, by both stores' claimers in turn.
			if len(claims) != entities || total < 2*entities {
				t.Fatalf("%d claims of %d entities; want every entity claimed more than once", total, len(claims))
			}
			t.Logf("%d claims of %d entities", total, len(claims))
		})
	}
}
