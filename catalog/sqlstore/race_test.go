package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/sqlstore"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/database/databasetest"
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
