package sqlstore

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/understage/understage/plugins/backend/database"
)

// TestStmtCacheBounded runs more distinct queries than the cache keeps,
// from several goroutines at once: every answer is right, none meets a
// statement closed by a reset, and the cache stays within its bound.
func TestStmtCacheBounded(t *testing.T) {
	ctx := context.Background()
	c := testStmtCache(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 3 * maxStmts {
				n := (i*7 + g) % (2 * maxStmts)
				var got int
				if err := c.queryRow(ctx, fmt.Sprintf("SELECT ? + %d", n), 1).Scan(&got); err != nil {
					errs <- fmt.Errorf("query %d: %w", n, err)
					return
				}
				rows, err := c.query(ctx, fmt.Sprintf("SELECT value + %d FROM json_each(?)", n), "[1,2]")
				if err != nil {
					errs <- fmt.Errorf("rows %d: %w", n, err)
					return
				}
				sum := 0
				for rows.Next() {
					var v int
					if err := rows.Scan(&v); err != nil {
						errs <- err
						return
					}
					sum += v
				}
				rows.Close()
				if got != n+1 || sum != 2*n+3 {
					errs <- fmt.Errorf("query %d: got %d and %d", n, got, sum)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.stmts) > maxStmts {
		t.Errorf("%d statements kept, bound %d", len(c.stmts), maxStmts)
	}
}

// TestStmtCachePreparesOnSecondRun: a text that runs once stays unprepared;
// the second run prepares it, and later runs use it.
func TestStmtCachePreparesOnSecondRun(t *testing.T) {
	ctx := context.Background()
	c := testStmtCache(t)
	prepared := func() int {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.stmts)
	}
	for run, want := range []int{0, 1, 1} {
		var got int
		if err := c.queryRow(ctx, "SELECT ? * 2", 21).Scan(&got); err != nil || got != 42 {
			t.Fatalf("run %d: %d, %v", run+1, got, err)
		}
		if n := prepared(); n != want {
			t.Errorf("after run %d: %d prepared, want %d", run+1, n, want)
		}
	}
}

// testStmtCache is a statement cache over a new SQLite file's read pool.
func testStmtCache(t *testing.T) *stmtCache {
	t.Helper()
	db, err := database.Open(context.Background(), database.Options{PluginID: "catalog", Client: "better-sqlite3", Connection: filepath.Join(t.TempDir(), "s.sqlite")})
	if err != nil {
		t.Fatal(err)
	}
	c := newStmtCache(db.Read.DB)
	t.Cleanup(func() {
		c.close()
		_ = db.Close()
	})
	return c
}
