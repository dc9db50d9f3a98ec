package processing_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/processing"
	"github.com/understage/understage/catalog/sqlstore"
	"github.com/understage/understage/plugins/backend/database"
)

// flakyWrites fails the first writes of results of a real store with err,
// as a store whose database restarted fails them.
type flakyWrites struct {
	catalog.ProcessingStore
	err   error
	mu    sync.Mutex
	left  int // failures still to come
	calls int
}

func (f *flakyWrites) CompleteProcessing(ctx context.Context, results []catalog.ProcessingResult) error {
	f.mu.Lock()
	f.calls++
	fail := f.left > 0
	if fail {
		f.left--
	}
	f.mu.Unlock()
	if fail {
		return fmt.Errorf("complete processing: %w", f.err)
	}
	return f.ProcessingStore.CompleteProcessing(ctx, results)
}

// TestWriteOutlivesDatabaseRestart: results whose write fails because the
// database went away are written once it is back, in the same pass, rather
// than when their claim ends; a write the database refuses, or an outage
// longer than the claim, fails the pass. On SQLite and PostgreSQL.
func TestWriteOutlivesDatabaseRestart(t *testing.T) {
	restart := &pgconn.PgError{Severity: "FATAL", Code: "57P01", Message: "terminating connection due to administrator command"}
	refused := &pgconn.PgError{Severity: "ERROR", Code: "22021", Message: "invalid byte sequence for encoding \"UTF8\": 0x00"}
	cases := []struct {
		name    string
		err     error
		fail    int
		lease   time.Duration
		wantErr bool // the pass fails
	}{
		{"restart", restart, 3, 0, false},
		{"refused", refused, 1, 0, true},
		{"outage longer than the claim", restart, 1 << 30, 300 * time.Millisecond, true},
	}
	var comps strings.Builder
	for i := range 5 {
		fmt.Fprintf(&comps, "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: c%d}\nspec: {type: service, lifecycle: production, owner: team-a}\n", i)
	}
	for _, kind := range dbKinds {
		for _, tc := range cases {
			t.Run(kind.name+"/"+tc.name, func(t *testing.T) {
				ctx := context.Background()
				dir := t.TempDir()
				write(t, filepath.Join(dir, "all.yaml"), "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: all}\nspec: {targets: [./comps.yaml]}\n")
				write(t, filepath.Join(dir, "comps.yaml"), comps.String())
				db, err := database.Open(ctx, kind.open(t, dir))
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				store, err := sqlstore.New(ctx, db, nil)
				if err != nil {
					t.Fatal(err)
				}
				p := &processing.ConfigLocationsProvider{Locations: []processing.LocationSpec{{Type: "file", Target: filepath.Join(dir, "all.yaml")}}}
				if err := p.Connect(ctx, store); err != nil {
					t.Fatal(err)
				}
				flaky := &flakyWrites{ProcessingStore: store, err: tc.err, left: tc.fail}
				eng := processing.New(processing.Options{
					Store:   flaky,
					Readers: map[string]processing.LocationReader{"file": processing.FileReader{}},
					Lease:   tc.lease,
				})
				var passErr error
				for range 10 {
					worked, err := eng.RunOnce(ctx)
					if err != nil {
						passErr = err
						break
					}
					if !worked {
						break
					}
				}
				flaky.mu.Lock()
				calls, left := flaky.calls, flaky.left
				flaky.mu.Unlock()
				if tc.wantErr {
					if passErr == nil {
						t.Fatal("the pass did not fail")
					}
					if tc.fail == 1 && (calls != 1 || left != 0) {
						t.Errorf("a refused write was tried %d times, want once", calls)
					}
					if tc.lease > 0 && calls < 2 {
						t.Errorf("the write was tried %d times while the claim held, want it retried", calls)
					}
					return
				}
				if passErr != nil {
					t.Fatalf("the pass failed: %v", passErr)
				}
				if n := countKind(t, store, "component"); n != 5 {
					t.Errorf("%d components after the pass, want 5 (writes tried %d times)", n, calls)
				}
			})
		}
	}
}

func countKind(t *testing.T, store *sqlstore.Store, kind string) int {
	t.Helper()
	res, err := store.ListEntities(context.Background(), catalog.EntitiesRequest{Filter: catalog.Field{Key: "kind", Op: catalog.OpIn, Values: []string{kind}}})
	if err != nil {
		t.Fatal(err)
	}
	return len(res.Entities)
}
