// Package scheduler is the backend's scheduler service, as Backstage's
// SchedulerService: a plugin schedules periodic work (a frequency as a
// duration or a cron expression, or manual triggers only) with a timeout
// per run, an initial delay and jitter.
//
// A task's scope is global (Backstage's default) or local. A local task
// runs on every replica. A global task runs on one replica at a time, once
// per period across the cluster, when the plugin's database is PostgreSQL:
// replicas share a lease row per task (which replica runs it, until when,
// and when it is next due) in the plugin's database. On SQLite, which one
// process serves, global tasks run as local ones.
package scheduler

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/robfig/cron/v3"

	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/database"
	"github.com/understage/understage/plugins/backend/database/dberr"
)

// Scope says where a task runs.
type Scope string

const (
	// ScopeGlobal runs a task on one replica at a time (PostgreSQL).
	ScopeGlobal Scope = "global"
	// ScopeLocal runs a task on every replica.
	ScopeLocal Scope = "local"
)

// Schedule says when a task runs.
type Schedule struct {
	// Frequency is the time between the starts of two runs.
	Frequency time.Duration
	// Cron, when set, replaces Frequency: runs start at the times the
	// five-field cron expression names (Backstage's {cron: '...'}).
	Cron string
	// Manual is frequency {trigger: manual}: after its first run (after
	// InitialDelay) the task runs only when triggered.
	Manual bool
	// Timeout bounds one run; 0 means no bound.
	Timeout time.Duration
	// InitialDelay is waited before the first run.
	InitialDelay time.Duration
	// Scope defaults to global.
	Scope Scope
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Validate checks the schedule's fields (a cron expression parses).
func (s Schedule) Validate() error {
	if s.Cron != "" {
		if _, err := cronParser.Parse(s.Cron); err != nil {
			return fmt.Errorf("invalid cron expression %q: %w", s.Cron, err)
		}
	} else if !s.Manual && s.Frequency <= 0 {
		return errors.New("frequency must be positive")
	}
	if s.Timeout < 0 || s.InitialDelay < 0 {
		return errors.New("timeout and initialDelay must not be negative")
	}
	switch s.Scope {
	case "", ScopeGlobal, ScopeLocal:
	default:
		return fmt.Errorf("scope must be global or local, got %q", s.Scope)
	}
	return nil
}

// next is when a run that started at start is followed by the next one;
// false for manual tasks.
func (s Schedule) next(start time.Time, jitter float64) (time.Time, bool) {
	switch {
	case s.Manual:
		return time.Time{}, false
	case s.Cron != "":
		c, err := cronParser.Parse(s.Cron) // checked by Validate
		if err != nil {
			return time.Time{}, false
		}
		return c.Next(start), true
	}
	d := s.Frequency
	if jitter > 0 {
		d += time.Duration(rand.Float64() * jitter * float64(s.Frequency))
	}
	return start.Add(d), true
}

// ReadSchedule reads a schedule object the way Backstage's
// readSchedulerServiceTaskScheduleDefinitionFromConfig does: frequency
// (required: a duration as ISO 8601, "30m" or {minutes: 30}; {cron: '* * *
// * *'}; or {trigger: manual}), timeout (required duration), initialDelay
// (optional duration) and scope (global or local, default global).
func ReadSchedule(c *config.Config) (Schedule, error) {
	var s Schedule
	switch {
	case c.Has("frequency.cron"):
		expr, ok := c.String("frequency.cron")
		if !ok {
			return s, fmt.Errorf("invalid type in config for key '%s.frequency.cron', wanted string", c.Key())
		}
		if _, err := cronParser.Parse(expr); err != nil {
			return s, fmt.Errorf("%s.frequency.cron: invalid cron expression %q: %w", c.Key(), expr, err)
		}
		s.Cron = expr
	case c.Has("frequency.trigger"):
		if trig, _ := c.String("frequency.trigger"); trig != "manual" {
			return s, fmt.Errorf("%s.frequency.trigger: only 'manual' is supported, got '%v'", c.Key(), c.Get("frequency.trigger"))
		}
		s.Manual = true
	default:
		d, ok, err := c.Duration("frequency")
		if err != nil {
			return s, err
		}
		if !ok {
			return s, fmt.Errorf("Missing required config value at '%s.frequency'", c.Key())
		}
		if d <= 0 {
			return s, fmt.Errorf("%s.frequency must be positive", c.Key())
		}
		s.Frequency = d
	}
	d, ok, err := c.Duration("timeout")
	if err != nil {
		return s, err
	}
	if !ok {
		return s, fmt.Errorf("Missing required config value at '%s.timeout'", c.Key())
	}
	if d <= 0 {
		return s, fmt.Errorf("%s.timeout must be positive", c.Key())
	}
	s.Timeout = d
	if s.InitialDelay, _, err = c.Duration("initialDelay"); err != nil {
		return s, err
	}
	if v, ok := c.String("scope"); ok {
		s.Scope = Scope(v)
	} else if c.Has("scope") {
		return s, fmt.Errorf("invalid type in config for key '%s.scope', wanted string", c.Key())
	}
	if err := s.Validate(); err != nil {
		return s, fmt.Errorf("%s: %w", c.Key(), err)
	}
	return s, nil
}

// Task is a unit of scheduled work.
type Task struct {
	// ID names the task; unique per scheduler (and per plugin database for
	// global tasks), stable across releases.
	ID       string
	Schedule Schedule
	// Fn does one run. Its context ends at the run's timeout, when the
	// task is unscheduled, or at shutdown. An error is logged and the task
	// runs again at its next time.
	Fn func(ctx context.Context) error
}

// Options configure New.
type Options struct {
	// DB is the plugin's database; global tasks coordinate through it when
	// it is PostgreSQL. nil: every task is local.
	DB     *database.DB
	Logger *slog.Logger
	// Jitter is the largest fraction of Frequency added at random to the
	// wait between runs, so that replicas and tasks spread out. Default
	// 0.1; negative disables it.
	Jitter float64
	// PollInterval is how often a replica looks whether a global task is
	// due (and not running elsewhere); default 1s.
	PollInterval time.Duration
}

// Scheduler runs a plugin's tasks. Create it with New, schedule tasks,
// and Shutdown it (the lifecycle does) before the database closes.
type Scheduler struct {
	db     *database.DB // nil or not PostgreSQL: local only
	log    *slog.Logger
	jitter float64
	poll   time.Duration
	owner  string

	base   context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	triggers map[string]chan struct{}
}

// table is the lease table (migrations/postgres).
const table = "understage_scheduler_tasks"

// New returns a scheduler; with a PostgreSQL database it migrates the
// lease table (or, with skipMigrations, checks that it is migrated).
func New(ctx context.Context, o Options) (*Scheduler, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Jitter == 0 {
		o.Jitter = 0.1
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	s := &Scheduler{log: o.Logger, jitter: max(o.Jitter, 0), poll: o.PollInterval, owner: uuid.NewString(),
		triggers: map[string]chan struct{}{}}
	if o.DB != nil && o.DB.Dialect() == database.DialectPostgres {
		s.db = o.DB
		if err := Migrate(ctx, s.db); err != nil {
			return nil, fmt.Errorf("scheduler table: %w", err)
		}
	}
	s.base, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// migrationFS holds the lease table's schema: migrations/postgres/NNNN_*.sql.
//
//go:embed migrations
var migrationFS embed.FS

// Migrate applies the scheduler's pending migrations to a plugin's database
// (`understage migrate`; New does the same), recording them in
// understage_scheduler_migrations. Only PostgreSQL has a lease table: on
// SQLite every task is local and there is nothing to migrate.
func Migrate(ctx context.Context, db *database.DB) error {
	if db.Dialect() != database.DialectPostgres {
		return nil
	}
	dirs, err := fs.Sub(migrationFS, "migrations")
	if err != nil {
		return err
	}
	return database.Migrate(ctx, db, "understage_scheduler_migrations", dirs)
}

// ScheduleTask starts t. It runs until ctx ends or the scheduler shuts
// down; the returned channel is closed once it has stopped (its current
// run included). Two tasks with one id are an error.
func (s *Scheduler) ScheduleTask(ctx context.Context, t Task) (<-chan struct{}, error) {
	if t.ID == "" || t.Fn == nil {
		return nil, errors.New("scheduler: a task needs an id and a function")
	}
	if err := t.Schedule.Validate(); err != nil {
		return nil, fmt.Errorf("scheduler: task %s: %w", t.ID, err)
	}
	if s.base.Err() != nil {
		return nil, fmt.Errorf("scheduler: task %s scheduled after shutdown", t.ID)
	}
	s.mu.Lock()
	if _, dup := s.triggers[t.ID]; dup {
		s.mu.Unlock()
		return nil, fmt.Errorf("scheduler: task %s is already scheduled", t.ID)
	}
	trig := make(chan struct{}, 1)
	s.triggers[t.ID] = trig
	s.mu.Unlock()

	global := s.db != nil && t.Schedule.Scope != ScopeLocal
	if global {
		first := time.Now().Add(t.Schedule.InitialDelay)
		if _, err := s.db.Write.ExecContext(ctx, `INSERT INTO `+table+` (id, next_run_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING`,
			t.ID, first.UnixMilli()); err != nil {
			s.forget(t.ID)
			return nil, fmt.Errorf("scheduler: register task %s: %w", t.ID, err)
		}
	}
	tctx, cancel := context.WithCancel(s.base)
	stopWatch := context.AfterFunc(ctx, cancel)
	done := make(chan struct{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(done)
		defer s.forget(t.ID)
		defer stopWatch()
		defer cancel()
		if global {
			s.runGlobal(tctx, t, trig)
		} else {
			s.runLocal(tctx, t, trig)
		}
	}()
	return done, nil
}

func (s *Scheduler) forget(id string) {
	s.mu.Lock()
	delete(s.triggers, id)
	s.mu.Unlock()
}

// TriggerTask asks for a run of the task as soon as it is not running
// (after its initial delay; for a global task, on whichever replica gets
// it). Triggers that arrive while one is pending coalesce. It reports
// whether the task is scheduled here.
func (s *Scheduler) TriggerTask(id string) bool {
	s.mu.Lock()
	ch, ok := s.triggers[id]
	s.mu.Unlock()
	if !ok {
		return false
	}
	select {
	case ch <- struct{}{}:
	default:
	}
	return true
}

// Shutdown stops every task and waits for them (their current runs are
// cancelled) until ctx ends.
func (s *Scheduler) Shutdown(ctx context.Context) error {
	s.cancel()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("scheduler: tasks did not stop: %w", ctx.Err())
	}
}

// Run blocks until ctx ends, then shuts the scheduler down; it lets the
// lifecycle own the scheduler as one of its loops.
func (s *Scheduler) Run(ctx context.Context) error {
	<-ctx.Done()
	return s.Shutdown(context.WithoutCancel(ctx))
}

// runOnce runs t once with its timeout; errors are logged.
func (s *Scheduler) runOnce(ctx context.Context, t Task) {
	rctx := ctx
	if t.Schedule.Timeout > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, t.Schedule.Timeout)
		defer cancel()
	}
	start := time.Now()
	err := t.Fn(rctx)
	switch {
	case err == nil:
		s.log.Debug("task run done", "task", t.ID, "took", time.Since(start))
	case ctx.Err() != nil:
		// Shutting down or unscheduled; not the task's fault.
	case errors.Is(err, context.DeadlineExceeded) && rctx.Err() != nil:
		s.log.Error("task run timed out", "task", t.ID, "timeout", t.Schedule.Timeout)
	default:
		s.log.Error(fmt.Sprintf("task %s failed: %v", t.ID, err), "task", t.ID)
	}
}

func (s *Scheduler) runLocal(ctx context.Context, t Task, trig <-chan struct{}) {
	if !wait(ctx, time.Until(time.Now().Add(t.Schedule.InitialDelay)), nil) {
		return
	}
	for {
		start := time.Now()
		s.runOnce(ctx, t)
		if ctx.Err() != nil {
			return
		}
		next, ok := t.Schedule.next(start, s.jitter)
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-trig:
			}
			continue
		}
		if !wait(ctx, time.Until(next), trig) {
			return
		}
	}
}

// runGlobal polls the task's lease row: when the task is due and nobody
// holds it, this replica takes the lease, runs it, and sets the next time.
// A trigger makes the task due at once, on whichever replica polls first.
func (s *Scheduler) runGlobal(ctx context.Context, t Task, trig <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-trig:
			if _, err := s.db.Write.ExecContext(ctx, `UPDATE `+table+` SET next_run_at = ? WHERE id = ?`, time.Now().UnixMilli(), t.ID); err != nil && ctx.Err() == nil {
				s.log.Warn("trigger task", "task", t.ID, "err", err)
			}
		case <-time.After(s.poll):
		}
		claimed, until, err := s.claim(ctx, t)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("claim task", "task", t.ID, "err", err)
			}
			continue
		}
		if !claimed {
			continue
		}
		start := time.Now()
		s.runOnce(ctx, t)
		next, ok := t.Schedule.next(start, s.jitter)
		nextMs := int64(1 << 62) // manual: only a trigger makes it due
		if ok {
			nextMs = next.UnixMilli()
		}
		// Released even when shutting down, so that another replica (or
		// the next start) does not wait for the lease to expire; and again
		// while the database is unreachable (a restart) and the lease
		// holds, or no replica would run the task until the lease ends.
		for pause := 50 * time.Millisecond; ; pause = min(2*pause, 2*time.Second) {
			_, err := s.db.Write.ExecContext(context.WithoutCancel(ctx), `UPDATE `+table+`
SET next_run_at = ?, locked_by = NULL, locked_until = NULL WHERE id = ? AND locked_by = ?`, nextMs, t.ID, s.owner)
			if err == nil {
				break
			}
			if !dberr.Unavailable(err) || time.Now().Add(pause).After(until) || !wait(ctx, pause, nil) {
				s.log.Warn("release task", "task", t.ID, "err", err)
				break
			}
		}
	}
}

// claim takes the task's lease when it is due and free, and says until
// when it holds.
func (s *Scheduler) claim(ctx context.Context, t Task) (bool, time.Time, error) {
	now := time.Now()
	hold := t.Schedule.Timeout
	if hold <= 0 {
		hold = time.Hour
	}
	until := now.Add(hold + s.poll)
	res, err := s.db.Write.ExecContext(ctx, `UPDATE `+table+` SET locked_by = ?, locked_until = ?
WHERE id = ? AND next_run_at <= ? AND (locked_until IS NULL OR locked_until < ?)`,
		s.owner, until.UnixMilli(), t.ID, now.UnixMilli(), now.UnixMilli())
	if err != nil {
		return false, until, err
	}
	n, err := res.RowsAffected()
	return n == 1, until, err
}

// wait waits d, or until trig fires, or ctx ends (false).
func wait(ctx context.Context, d time.Duration, trig <-chan struct{}) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	case <-trig:
		return true
	}
}
