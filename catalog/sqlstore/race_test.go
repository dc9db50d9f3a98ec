package sqlstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/sqlstore"
	"github.com/understage/understage/catalog/storetest"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/database"
	"github.com/understage/understage/plugins/backend/database/databasetest"
	"github.com/understage/understage/plugins/backend/ojson"
)

// TestCreateLocationRace registers one location from many goroutines at
// once, through two stores on one database as two replicas would: exactly
// one registration wins, every other is a conflict, never an internal
// error from the unique index.
func TestCreateLocationRace(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		stores func(t *testing.T) []*sqlstore.Store
	}{
		{"sqlite", func(t *testing.T) []*sqlstore.Store { return []*sqlstore.Store{sqliteStore(t)} }},
		{"pg", func(t *testing.T) []*sqlstore.Store {
			o := databasetest.PG(t)
			return []*sqlstore.Store{openStore(t, o), openStore(t, o)}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stores := tc.stores(t)
			for round := range 5 {
				target := fmt.Sprintf("https://example.com/race-%d.yaml", round)
				const n = 16
				errs := make([]error, n)
				var wg sync.WaitGroup
				for i := range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						l := catalog.Location{ID: fmt.Sprintf("00000000-0000-0000-0000-%06d%06d", round, i), Type: "url", Target: target}
						errs[i] = stores[i%len(stores)].CreateLocation(context.Background(), l)
					}()
				}
				wg.Wait()
				won := 0
				for _, err := range errs {
					switch {
					case err == nil:
						won++
					case !errors.Is(err, backend.ErrConflict):
						t.Errorf("round %d: %v, want nil or a conflict", round, err)
					}
				}
				if won != 1 {
					t.Errorf("round %d: %d registrations won, want 1", round, won)
				}
			}
		})
	}
}

// TestDeltaMutationsDoNotDeadlock has providers on two stores (two
// replicas) remove the same entity refs at once, each listing them in its
// own order, as replicas deleting locations whose entities share owners do:
// every mutation must succeed, none end in a deadlock.
func TestDeltaMutationsDoNotDeadlock(t *testing.T) {
	t.Parallel()
	o := databasetest.PG(t)
	stores := []*sqlstore.Store{openStore(t, o), openStore(t, o)}
	refs := make([]string, 300)
	for i := range refs {
		refs[i] = fmt.Sprintf("group:default/team-%03d", i)
	}
	const workers = 8
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for round := range 10 {
				mine := slices.Clone(refs)
				rng.Shuffle(len(mine), func(i, j int) { mine[i], mine[j] = mine[j], mine[i] })
				if err := stores[w%2].ApplyDeltaMutation(context.Background(), fmt.Sprintf("provider-%d", w), nil, mine); err != nil {
					errs[w] = fmt.Errorf("round %d: %w", round, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for w, err := range errs {
		if err != nil {
			t.Errorf("provider-%d: %v", w, err)
		}
	}
}

// TestStitchingBesideDeletions has one replica rewrite and stitch entities
// while another deletes them through the API and stitches the peers the
// deletions queue, as a busy catalog on two replicas does: no write fails,
// and when the provider has brought everything back, every search row
// belongs to a final entity and the facet counts equal the rows.
func TestStitchingBesideDeletions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	o := databasetest.PG(t)
	a, b := openStore(t, o), openStore(t, o)
	o.PluginID, o.Logger = "catalog", quietLogger()
	db, err := database.Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	const groups, components, rounds = 20, 300, 12
	entities := func(round int) []catalog.DeferredEntity {
		var ds []catalog.DeferredEntity
		add := func(e *ojson.Object) {
			ds = append(ds, catalog.DeferredEntity{Entity: e, LocationKey: "url:https://example.com/catalog.yaml"})
		}
		for g := range groups {
			add(storetest.Entity("Group", fmt.Sprintf("team-%02d", g), ojson.NewObject("type", "team"), "description", fmt.Sprintf("round %d", round)))
		}
		for c := range components {
			// Owners move every round, so both ends of relations restitch.
			owner := fmt.Sprintf("group:default/team-%02d", (c+round)%groups)
			add(storetest.Entity("Component", fmt.Sprintf("svc-%03d", c), ojson.NewObject("type", "service", "owner", owner), "tags", []any{fmt.Sprintf("t%d", (c+round)%5)}))
		}
		return ds
	}
	// process settles what is due on st; it returns the first error.
	process := func(st *sqlstore.Store) error {
		for range 50 {
			items, err := st.ClaimDue(ctx, 200, func() time.Time { return time.Now().Add(time.Hour) })
			if err != nil {
				return err
			}
			var results []catalog.ProcessingResult
			for _, it := range items {
				e, err := ojson.DecodeObject(it.Unprocessed)
				if err != nil {
					return err
				}
				r := catalog.ProcessingResult{EntityID: it.EntityID, EntityRef: it.EntityRef, Ok: true, Processed: e, Relations: storetest.OwnerRelations(e)}
				r.ResultHash = fmt.Sprint(time.Now().UnixNano(), it.EntityRef)
				results = append(results, r)
			}
			if err := st.CompleteProcessing(ctx, results); err != nil {
				return err
			}
			n, err := st.StitchPending(ctx, 100)
			if err != nil {
				return err
			}
			if len(items) == 0 && n == 0 {
				return nil
			}
		}
		return nil
	}
	if err := a.ApplyFullMutation(ctx, storetest.Provider, entities(0)); err != nil {
		t.Fatal(err)
	}
	if err := process(a); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	done := make(chan struct{})
	errs := make(chan error, 3)
	wg.Add(3)
	go func() { // replica a: the provider rewrites everything, a processes
		defer wg.Done()
		defer close(done)
		for round := 1; round <= rounds; round++ {
			if err := a.ApplyFullMutation(ctx, storetest.Provider, entities(round)); err != nil {
				errs <- fmt.Errorf("a, round %d: %w", round, err)
				return
			}
			if err := process(a); err != nil {
				errs <- fmt.Errorf("a, round %d: %w", round, err)
				return
			}
		}
	}()
	go func() { // replica b: deletes entities through the API
		defer wg.Done()
		rng := rand.New(rand.NewPCG(3, 4))
		for {
			select {
			case <-done:
				return
			default:
			}
			var refs []string
			for range 10 {
				if rng.IntN(3) == 0 {
					refs = append(refs, fmt.Sprintf("group:default/team-%02d", rng.IntN(groups)))
				} else {
					refs = append(refs, fmt.Sprintf("component:default/svc-%03d", rng.IntN(components)))
				}
			}
			raws, err := b.EntitiesByRefs(ctx, refs, nil)
			if err != nil {
				errs <- fmt.Errorf("b: %w", err)
				return
			}
			for _, raw := range raws {
				if raw == nil {
					continue
				}
				var v struct {
					Metadata struct{ UID string } `json:"metadata"`
				}
				if err := json.Unmarshal(raw, &v); err != nil {
					errs <- err
					return
				}
				if err := b.DeleteEntityByUID(ctx, v.Metadata.UID); err != nil {
					errs <- fmt.Errorf("b: %w", err)
					return
				}
			}
		}
	}()
	go func() { // replica b's stitcher: the peers its deletions queue
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := b.StitchPending(ctx, 50); err != nil {
				errs <- fmt.Errorf("b stitcher: %w", err)
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		return
	}
	// The provider brings back what was deleted.
	if err := a.ApplyFullMutation(ctx, storetest.Provider, entities(rounds+1)); err != nil {
		t.Fatal(err)
	}
	storetest.Process(t, a, storetest.OwnerRelations, nil)
	var stray int
	if err := db.Write.QueryRowContext(ctx, `SELECT count(*) FROM search s WHERE NOT EXISTS (SELECT 1 FROM final_entities fe WHERE fe.eid = s.eid)`).Scan(&stray); err != nil {
		t.Fatal(err)
	}
	if stray != 0 {
		t.Errorf("%d search rows belong to no final entity", stray)
	}
	// relations carry no foreign key (migration 0009): the locks alone
	// keep a deleted entity's rows from staying behind.
	if err := db.Write.QueryRowContext(ctx, `SELECT count(*) FROM relations r WHERE NOT EXISTS (SELECT 1 FROM refresh_state rs WHERE rs.eid = r.originating_eid)`).Scan(&stray); err != nil {
		t.Fatal(err)
	}
	if stray != 0 {
		t.Errorf("%d relations belong to no entity", stray)
	}
	var finals int
	if err := db.Write.QueryRowContext(ctx, `SELECT count(*) FROM final_entities`).Scan(&finals); err != nil {
		t.Fatal(err)
	}
	if finals != groups+components {
		t.Errorf("%d final entities, want %d", finals, groups+components)
	}
	compareFacets(t, a, rounds+1)
	compareTable(t, db, migrationCounts(t, "postgres"), rounds+1)
}
