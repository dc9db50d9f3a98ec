package github

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend/scheduler"
	"github.com/understage/understage/plugins/config"
)

// Provider is an entity provider that runs on a schedule: each Run reads its
// source and applies a mutation to the store. A Run that fails must leave
// what the provider emitted before untouched (return the error instead of
// applying a partial or empty set).
type Provider interface {
	// Name is the provider's stable id; it keys the rows it owns in the
	// store, so it must not change between releases.
	Name() string
	// Schedule says when the runner starts Run.
	Schedule() Schedule
	// Run does one complete pass.
	Run(ctx context.Context, store catalog.ProcessingStore) error
}

// Schedule is Backstage's task schedule definition for a provider: the
// scheduler service's.
type Schedule = scheduler.Schedule

// ReadSchedule reads a provider's schedule object as Backstage's
// readSchedulerServiceTaskScheduleDefinitionFromConfig does.
func ReadSchedule(c *config.Config) (Schedule, error) { return scheduler.ReadSchedule(c) }

// RunnerOptions tune a Runner.
type RunnerOptions struct {
	Logger *slog.Logger
	// Scheduler runs the providers; it is the catalog plugin's, so that on
	// PostgreSQL a provider runs on one replica at a time (unless its
	// schedule's scope is local). nil: a scheduler of the runner's own,
	// without a database.
	Scheduler *scheduler.Scheduler
	// Jitter is the largest fraction of Frequency added at random to the
	// wait between runs of a runner's own scheduler. Default 0.1; negative
	// disables it.
	Jitter float64
}

// Runner runs providers on their schedules through the scheduler service:
// a provider never runs twice at once; a run gets the schedule's timeout;
// a failed run is logged and retried at its next time. Everything stops
// with the context given to Run.
type Runner struct {
	store     catalog.ProcessingStore
	providers []Provider
	log       *slog.Logger
	jitter    float64
	sched     *scheduler.Scheduler
}

// NewRunner returns a runner for providers; it does nothing until Run.
func NewRunner(store catalog.ProcessingStore, providers []Provider, o RunnerOptions) *Runner {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Runner{store: store, providers: providers, log: o.Logger, jitter: o.Jitter, sched: o.Scheduler}
}

// RunProviders runs providers against store until ctx ends.
func RunProviders(ctx context.Context, store catalog.ProcessingStore, providers []Provider) error {
	return NewRunner(store, providers, RunnerOptions{}).Run(ctx)
}

// taskID is a provider's scheduler task, named as Backstage names its
// providers' refresh tasks.
func taskID(provider string) string { return provider + ":refresh" }

// Trigger asks for a run of the named provider as soon as it is not
// running (after its initial delay). Triggers that arrive while a run is
// pending coalesce. It reports whether the provider is known and running.
func (r *Runner) Trigger(name string) bool {
	if r.sched == nil {
		return false
	}
	return r.sched.TriggerTask(taskID(name))
}

// Run schedules every provider and runs until ctx ends; it returns once
// every provider has stopped, with ctx's error.
func (r *Runner) Run(ctx context.Context) error {
	own := r.sched == nil
	if own {
		s, err := scheduler.New(ctx, scheduler.Options{Logger: r.log, Jitter: r.jitter})
		if err != nil {
			return err
		}
		r.sched = s
		defer func() { _ = s.Shutdown(context.WithoutCancel(ctx)) }()
	}
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stopped []<-chan struct{}
	var err error
	for _, p := range r.providers {
		var done <-chan struct{}
		done, err = r.sched.ScheduleTask(tctx, scheduler.Task{
			ID:       taskID(p.Name()),
			Schedule: p.Schedule(),
			Fn:       func(ctx context.Context) error { return p.Run(ctx, r.store) },
		})
		if err != nil {
			break
		}
		stopped = append(stopped, done)
	}
	if err == nil {
		<-ctx.Done()
	}
	cancel()
	for _, done := range stopped {
		<-done
	}
	if err != nil {
		return fmt.Errorf("schedule providers: %w", err)
	}
	return ctx.Err()
}
