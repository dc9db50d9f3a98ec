package scheduler_test

import (
	"context"
	"testing"
	"time"

	"github.com/understage/understage/plugins/backend/database/databasetest"
	"github.com/understage/understage/plugins/backend/scheduler"
)

// TestGlobalTaskReleasedAfterConnectionLoss: a global task whose run ends
// while the database dropped its connections (a restart) still releases
// its lease, so that it runs again at its next time rather than when the
// lease (its hour-long timeout) ends.
func TestGlobalTaskReleasedAfterConnectionLoss(t *testing.T) {
	opts := databasetest.PG(t)
	db := openDB(t, opts)
	killer := openDB(t, opts)
	s := newScheduler(t, db)
	c := newCounter()
	run := c.fn(0)
	first := true
	if _, err := s.ScheduleTask(context.Background(), scheduler.Task{ID: "survives-restart",
		Schedule: scheduler.Schedule{Frequency: 10 * time.Millisecond, Timeout: time.Hour, Scope: scheduler.ScopeGlobal},
		Fn: func(ctx context.Context) error {
			if first {
				// The scheduler's connections, the one that claimed this
				// run included, are terminated as by a restart; that one
				// is taken again, unchecked (it was used a moment ago), to
				// release the lease.
				first = false
				if _, err := killer.Write.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
					t.Error(err)
				}
			}
			return run(ctx)
		}}); err != nil {
		t.Fatal(err)
	}
	c.await(t)
	c.await(t) // the task ran again: its lease was released
}
