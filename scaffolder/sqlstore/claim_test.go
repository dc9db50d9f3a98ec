package sqlstore_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/understage/understage/scaffolder/sqlstore"
)

// claim is one claim of a task: the call began at before and returned at
// after.
type claim struct{ before, after time.Time }

// TestConcurrentClaimsHonourLeases: two stores over one database (two
// replicas) rescue expired leases and claim the same tasks concurrently,
// over and over, as workers do, with leases short enough that every task
// is claimed many times. No task is claimed while an earlier claim's lease
// is live.
//
// A claim's statement runs within [before, after] and leases the task
// until at least before+lease; a correct claim of a task starts only once
// the previous lease has ended (Rescue reopens leases that ended before
// its now). So for each task the intervals [after, before+lease) of its
// claims must not overlap; an overlap proves a claim during a live lease.
func TestConcurrentClaimsHonourLeases(t *testing.T) {
	for name, open := range openers() {
		t.Run(name, func(t *testing.T) {
			o := open(t)
			stores := []*sqlstore.Store{newStore(t, o), newStore(t, o)}
			ctx := context.Background()
			const n = 20
			for range n {
				if _, err := stores[0].CreateTask(ctx, spec, nil, ""); err != nil {
					t.Fatal(err)
				}
			}
			const lease = 30 * time.Millisecond
			const rounds = 150
			var mu sync.Mutex
			claims := map[string][]claim{}
			var wg sync.WaitGroup
			for w := range 4 { // two workers on each store
				st := stores[w%2]
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range rounds {
						if _, err := st.Rescue(ctx, time.Now()); err != nil {
							t.Error(err)
							return
						}
						// Leases are wall-clock times (replicas compare them
						// across machines), so the claims are timed on the wall
						// clock too: a step of it under load then moves both.
						before := time.Now().Round(0)
						got, err := st.Claim(ctx, fmt.Sprint("w", w), 3, lease)
						after := time.Now().Round(0)
						if err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						for _, tk := range got {
							claims[tk.ID] = append(claims[tk.ID], claim{before, after})
						}
						mu.Unlock()
						if len(got) == 0 {
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
						t.Fatalf("task %s claimed at or before %s while leased until %s", id, c.after.Format(time.StampMicro), end.Format(time.StampMicro))
					}
					if l := c.before.Add(lease); l.After(end) {
						end = l
					}
				}
			}
			// The test means something only if leases expired and tasks were
			// rescued and claimed again.
			if len(claims) != n || total < 2*n {
				t.Fatalf("%d claims of %d tasks; want every task claimed more than once", total, len(claims))
			}
			t.Logf("%d claims of %d tasks", total, len(claims))
		})
	}
}
