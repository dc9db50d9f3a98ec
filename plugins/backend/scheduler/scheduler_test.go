package scheduler_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/database"
	"github.com/understage/understage/plugins/backend/database/databasetest"
	"github.com/understage/understage/plugins/backend/scheduler"
)

// counter counts runs and notices overlapping ones.
type counter struct {
	runs    atomic.Int32
	active  atomic.Int32
	overlap atomic.Bool
	ran     chan context.Context
}

func newCounter() *counter { return &counter{ran: make(chan context.Context, 100)} }

func (c *counter) fn(hold time.Duration) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		if c.active.Add(1) > 1 {
			c.overlap.Store(true)
		}
		defer c.active.Add(-1)
		c.runs.Add(1)
		select {
		case c.ran <- ctx:
		default:
		}
		select {
		case <-time.After(hold):
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	}
}

func (c *counter) await(t *testing.T) context.Context {
	t.Helper()
	select {
	case ctx := <-c.ran:
		return ctx
	case <-time.After(30 * time.Second):
		t.Fatal("task did not run")
		return nil
	}
}

func newScheduler(t *testing.T, db *database.DB) *scheduler.Scheduler {
	t.Helper()
	s, err := scheduler.New(context.Background(), scheduler.Options{DB: db, PollInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return s
}

func openDB(t *testing.T, o database.Options) *database.DB {
	t.Helper()
	db, err := database.Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// TestSchedules runs the same behaviours on a scheduler without a
// database, on SQLite and on PostgreSQL (where tasks are global).
func TestSchedules(t *testing.T) {
	backends := []struct {
		name string
		db   func(t *testing.T) *database.DB
	}{
		{"no database", func(*testing.T) *database.DB { return nil }},
		{"sqlite", func(t *testing.T) *database.DB {
			return openDB(t, database.Options{Client: "better-sqlite3", Connection: ":memory:"})
		}},
		{"postgres", func(t *testing.T) *database.DB { return openDB(t, databasetest.PG(t)) }},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			db := b.db(t)
			t.Run("repeats without overlap", func(t *testing.T) {
				s := newScheduler(t, db)
				c := newCounter()
				if _, err := s.ScheduleTask(context.Background(), scheduler.Task{ID: "repeat",
					Schedule: scheduler.Schedule{Frequency: time.Millisecond, Timeout: time.Minute}, Fn: c.fn(time.Millisecond)}); err != nil {
					t.Fatal(err)
				}
				for range 5 {
					c.await(t)
				}
				if c.overlap.Load() {
					t.Fatal("runs overlapped")
				}
			})
			t.Run("timeout ends a run", func(t *testing.T) {
				s := newScheduler(t, db)
				c := newCounter()
				if _, err := s.ScheduleTask(context.Background(), scheduler.Task{ID: "slow",
					Schedule: scheduler.Schedule{Frequency: time.Millisecond, Timeout: 20 * time.Millisecond}, Fn: c.fn(time.Hour)}); err != nil {
					t.Fatal(err)
				}
				ctx := c.await(t)
				c.await(t) // the next run starts once the first is cut off
				if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
					t.Fatalf("first run's context: %v", ctx.Err())
				}
			})
			t.Run("manual runs on trigger", func(t *testing.T) {
				s := newScheduler(t, db)
				c := newCounter()
				if _, err := s.ScheduleTask(context.Background(), scheduler.Task{ID: "manual",
					Schedule: scheduler.Schedule{Manual: true, Timeout: time.Minute}, Fn: c.fn(0)}); err != nil {
					t.Fatal(err)
				}
				c.await(t) // the first run
				if !s.TriggerTask("manual") {
					t.Fatal("trigger refused")
				}
				c.await(t)
				if s.TriggerTask("nope") {
					t.Fatal("unknown task triggered")
				}
			})
			t.Run("unscheduled by its context, stopped during its initial delay", func(t *testing.T) {
				s := newScheduler(t, db)
				c := newCounter()
				ctx, cancel := context.WithCancel(context.Background())
				done, err := s.ScheduleTask(ctx, scheduler.Task{ID: "late",
					Schedule: scheduler.Schedule{Frequency: time.Hour, Timeout: time.Minute, InitialDelay: time.Hour}, Fn: c.fn(0)})
				if err != nil {
					t.Fatal(err)
				}
				cancel()
				<-done
				if c.runs.Load() != 0 {
					t.Fatal("ran before its initial delay")
				}
				// The id is free again.
				if _, err := s.ScheduleTask(context.Background(), scheduler.Task{ID: "late",
					Schedule: scheduler.Schedule{Frequency: time.Hour, Timeout: time.Minute, InitialDelay: time.Hour}, Fn: c.fn(0)}); err != nil {
					t.Fatal(err)
				}
			})
			t.Run("duplicate id", func(t *testing.T) {
				s := newScheduler(t, db)
				task := scheduler.Task{ID: "dup", Schedule: scheduler.Schedule{Frequency: time.Hour, InitialDelay: time.Hour}, Fn: newCounter().fn(0)}
				if _, err := s.ScheduleTask(context.Background(), task); err != nil {
					t.Fatal(err)
				}
				if _, err := s.ScheduleTask(context.Background(), task); err == nil {
					t.Fatal("a second task with one id was accepted")
				}
			})
		})
	}
}

// TestGlobalTaskRunsOnOneReplica: two schedulers on one PostgreSQL
// database run a global task one at a time, and a local task on both.
func TestGlobalTaskRunsOnOneReplica(t *testing.T) {
	opts := databasetest.PG(t)
	tests := []struct {
		scope       scheduler.Scope
		wantOverlap bool
	}{
		{scheduler.ScopeGlobal, false},
		{scheduler.ScopeLocal, true},
	}
	for _, tt := range tests {
		t.Run(string(tt.scope), func(t *testing.T) {
			c := newCounter()
			// Each run holds until both replicas had a chance to start one.
			var mu sync.Mutex
			replicasStarted := map[int]bool{}
			both := make(chan struct{})
			for r := range 2 {
				s := newScheduler(t, openDB(t, opts))
				run := c.fn(20 * time.Millisecond)
				if _, err := s.ScheduleTask(context.Background(), scheduler.Task{ID: "sync-" + string(tt.scope),
					Schedule: scheduler.Schedule{Frequency: 10 * time.Millisecond, Timeout: time.Minute, Scope: tt.scope},
					Fn: func(ctx context.Context) error {
						mu.Lock()
						replicasStarted[r] = true
						if len(replicasStarted) == 2 {
							select {
							case <-both:
							default:
								close(both)
							}
						}
						mu.Unlock()
						if c.active.Load() > 0 {
							c.overlap.Store(true)
						}
						if tt.scope == scheduler.ScopeLocal {
							// Both replicas run it: hold until the other one has started.
							c.active.Add(1)
							defer c.active.Add(-1)
							select {
							case <-both:
							case <-ctx.Done():
							}
							return nil
						}
						return run(ctx)
					}}); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case <-both:
			case <-time.After(30 * time.Second):
				t.Fatal("the task did not run on both replicas")
			}
			for range 20 {
				if tt.scope == scheduler.ScopeGlobal {
					c.await(t)
				}
			}
			if got := c.overlap.Load(); got != tt.wantOverlap {
				t.Errorf("runs overlapped across replicas: %v, want %v", got, tt.wantOverlap)
			}
		})
	}
}

// TestLeaseTableMigration: the lease table comes from the one migration
// runner. Migrating twice changes nothing; with skipMigrations the
// scheduler refuses an unmigrated database and starts on a migrated one; a
// database whose table predates the migration (the scheduler used to create
// it itself) keeps its rows; SQLite has nothing to migrate.
func TestLeaseTableMigration(t *testing.T) {
	ctx := context.Background()
	count := func(t *testing.T, db *database.DB, query string) int {
		t.Helper()
		var n int
		if err := db.Read.QueryRowContext(ctx, query).Scan(&n); err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		return n
	}
	t.Run("postgres", func(t *testing.T) {
		opts := databasetest.PG(t)
		skipping := opts
		skipping.SkipMigrations = true
		if _, err := scheduler.New(ctx, scheduler.Options{DB: openDB(t, skipping)}); !errors.Is(err, database.ErrNotMigrated) {
			t.Fatalf("unmigrated database with skipMigrations: %v, want ErrNotMigrated", err)
		}
		db := openDB(t, opts)
		if err := db.Read.QueryRowContext(ctx, `SELECT 1 FROM understage_scheduler_tasks`).Err(); err == nil {
			t.Fatal("skipMigrations created the lease table")
		}
		for i := range 2 {
			if err := scheduler.Migrate(ctx, db); err != nil {
				t.Fatalf("migrate #%d: %v", i+1, err)
			}
			if i == 0 {
				if _, err := db.Write.ExecContext(ctx, `INSERT INTO understage_scheduler_tasks (id, next_run_at) VALUES ('kept', 1)`); err != nil {
					t.Fatal(err)
				}
			}
		}
		if n := count(t, db, `SELECT count(*) FROM understage_scheduler_migrations`); n != 1 {
			t.Errorf("%d recorded migrations, want 1", n)
		}
		if n := count(t, db, `SELECT count(*) FROM understage_scheduler_tasks WHERE id = 'kept'`); n != 1 {
			t.Errorf("the second migration lost a lease row")
		}
		newScheduler(t, openDB(t, skipping))
	})
	t.Run("postgres table from before the migration", func(t *testing.T) {
		db := openDB(t, databasetest.PG(t))
		if _, err := db.Write.ExecContext(ctx, `CREATE TABLE understage_scheduler_tasks (id TEXT PRIMARY KEY, next_run_at BIGINT NOT NULL, locked_by TEXT, locked_until BIGINT)`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Write.ExecContext(ctx, `INSERT INTO understage_scheduler_tasks (id, next_run_at) VALUES ('old', 1)`); err != nil {
			t.Fatal(err)
		}
		newScheduler(t, db)
		if n := count(t, db, `SELECT count(*) FROM understage_scheduler_migrations`); n != 1 {
			t.Errorf("%d recorded migrations, want 1", n)
		}
		if n := count(t, db, `SELECT count(*) FROM understage_scheduler_tasks WHERE id = 'old'`); n != 1 {
			t.Errorf("the migration lost the existing lease row")
		}
	})
	t.Run("sqlite", func(t *testing.T) {
		db := openDB(t, database.Options{Client: "better-sqlite3", Connection: ":memory:"})
		if err := scheduler.Migrate(ctx, db); err != nil {
			t.Fatal(err)
		}
		if n := count(t, db, `SELECT count(*) FROM sqlite_master WHERE name LIKE 'understage_scheduler%'`); n != 0 {
			t.Errorf("%d scheduler tables on SQLite, want none", n)
		}
	})
}

func TestReadSchedule(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    scheduler.Schedule
		wantErr string
	}{
		{"duration", "frequency: {minutes: 30}\ntimeout: PT3M\ninitialDelay: 15s",
			scheduler.Schedule{Frequency: 30 * time.Minute, Timeout: 3 * time.Minute, InitialDelay: 15 * time.Second}, ""},
		{"cron local", "frequency: {cron: '*/5 * * * *'}\ntimeout: {minutes: 1}\nscope: local",
			scheduler.Schedule{Cron: "*/5 * * * *", Timeout: time.Minute, Scope: scheduler.ScopeLocal}, ""},
		{"manual", "frequency: {trigger: manual}\ntimeout: 10m", scheduler.Schedule{Manual: true, Timeout: 10 * time.Minute}, ""},
		{"bad cron", "frequency: {cron: 'every day'}\ntimeout: 1m", scheduler.Schedule{}, "cron"},
		{"bad trigger", "frequency: {trigger: auto}\ntimeout: 1m", scheduler.Schedule{}, "manual"},
		{"no frequency", "timeout: 1m", scheduler.Schedule{}, "frequency"},
		{"no timeout", "frequency: 1m", scheduler.Schedule{}, "timeout"},
		{"bad scope", "frequency: 1m\ntimeout: 1m\nscope: everywhere", scheduler.Schedule{}, "scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.LoadBytes([]byte("schedule:\n  "+strings.ReplaceAll(tt.yaml, "\n", "\n  ")+"\n"), "app-config.yaml", nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := scheduler.ReadSchedule(cfg.Sub("schedule"))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ReadSchedule = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}
