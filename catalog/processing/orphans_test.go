package processing_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/model"
	"github.com/understage/understage/catalog/processing"
)

// sweepCounter counts the store's looks for orphans.
type sweepCounter struct {
	catalog.ProcessingStore
	sweeps atomic.Int64
}

func (s *sweepCounter) DeleteOrphans(ctx context.Context) (int, error) {
	s.sweeps.Add(1)
	return s.ProcessingStore.DeleteOrphans(ctx)
}

// TestOrphansLookedForAfterDroppedReferences runs the engine's loop and
// checks when it looks for orphans, which reads every entity: at start,
// not after a refresh that changed no reference (it did after every
// round), and at once after a refresh that dropped one, deleting the
// orphan.
func TestOrphansLookedForAfterDroppedReferences(t *testing.T) {
	for _, kind := range dbKinds {
		t.Run(kind.name, func(t *testing.T) {
			files := map[string]string{"all.yaml": allYAML, "org.yaml": orgYAML, "components/svc.yaml": svcYAML, "specs/svc.yaml": "openapi: 3.0.0\n"}
			rules, err := model.NewRules([]model.Rule{{Allow: []model.RuleKind{{Kind: "Component"}, {Kind: "API"}, {Kind: "Location"}, {Kind: "Group"}, {Kind: "User"}}}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			b := setup(t, kind, files, rules)
			counter := &sweepCounter{ProcessingStore: b.store}
			eng := processing.New(processing.Options{
				Store:        counter,
				Readers:      map[string]processing.LocationReader{"file": processing.FileReader{}},
				Rules:        rules,
				PollInterval: 10 * time.Millisecond,
			})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- eng.Run(ctx) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Error(err)
				}
			}()
			idle := func() {
				t.Helper()
				wait, stop := context.WithTimeout(ctx, time.Minute)
				defer stop()
				if err := eng.WaitIdle(wait); err != nil {
					t.Fatal(err)
				}
			}
			idle()
			if n := counter.sweeps.Load(); n != 1 {
				t.Fatalf("looks for orphans at start: %d, want 1", n)
			}
			refresh := func() {
				t.Helper()
				if err := b.store.RequestRefresh(ctx, "location:default/root"); err != nil {
					t.Fatal(err)
				}
				// Idle twice: a pass that began before the refresh and found
				// nothing may answer the first wait.
				idle()
				idle()
			}
			refresh()
			if n := counter.sweeps.Load(); n != 1 {
				t.Errorf("looks for orphans after a refresh changing nothing: %d, want still 1", n)
			}
			write(t, filepath.Join(b.dir, "all.yaml"), "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: root\nspec:\n  targets: [./org.yaml]\n")
			refresh()
			if n := counter.sweeps.Load(); n < 2 {
				t.Errorf("looks for orphans after a refresh dropping a location: %d, want more than 1", n)
			}
			if _, ok := b.get(t, "component:default/svc"); ok {
				t.Error("component:default/svc, no longer in any location, is still served")
			}
			if _, ok := b.get(t, "group:default/team-a"); !ok {
				t.Error("group:default/team-a is gone")
			}
		})
	}
}
