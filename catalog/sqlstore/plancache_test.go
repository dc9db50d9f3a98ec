package sqlstore

import (
	"context"
	"database/sql"
	"testing"

	"github.com/understage/understage/plugins/backend/database/databasetest"
)

// TestWritesReusePlans checks the plan cache mode of each kind of work on
// PostgreSQL: reads plan every run for its values (a filter on a common and
// on a rare value want different plans), write transactions reuse a plan
// (planning their bulk statements on every run was 7.6% of PostgreSQL's
// CPU in an ingest).
func TestWritesReusePlans(t *testing.T) {
	ctx := context.Background()
	_, s := openProbeStore(t, databasetest.PG(t))
	var read, write string
	if err := s.r.QueryRowContext(ctx, "SHOW plan_cache_mode").Scan(&read); err != nil {
		t.Fatal(err)
	}
	if err := s.inTx(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, "SHOW plan_cache_mode").Scan(&write)
	}); err != nil {
		t.Fatal(err)
	}
	if read != "force_custom_plan" || write != "auto" {
		t.Errorf("plan_cache_mode: reads %q, writes %q; want force_custom_plan, auto", read, write)
	}
	// And the setting ends with its transaction, on the pooled connection.
	if err := s.r.QueryRowContext(ctx, "SHOW plan_cache_mode").Scan(&read); err != nil || read != "force_custom_plan" {
		t.Errorf("after a write: reads %q (%v)", read, err)
	}
}
