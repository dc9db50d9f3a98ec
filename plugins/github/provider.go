package github

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/understage/understage/catalog"
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

// Schedule is Backstage's task schedule definition for a provider.
type Schedule struct {
	// Frequency is the time between the starts of two runs. Ignored when
	// Manual is set.
	Frequency time.Duration
	// Timeout bounds one run.
	Timeout time.Duration
	// InitialDelay is waited before the first run.
	InitialDelay time.Duration
	// Manual is frequency {trigger: manual}: the provider only runs when
	// triggered (Runner.Trigger), never on its own.
	Manual bool
}

// ReadSchedule reads a schedule object the way Backstage's
// readSchedulerServiceTaskScheduleDefinitionFromConfig does: frequency and
// timeout are required durations (ISO 8601, "30m", or {minutes: 30}),
// initialDelay is optional, frequency may be {trigger: manual}. Cron
// frequencies are refused (not supported here).
func ReadSchedule(c *config.Config) (Schedule, error) {
	var s Schedule
	if c.Has("frequency.cron") {
		return s, fmt.Errorf("%s.frequency: cron schedules are not supported, use a duration", c.Key())
	}
	if trig, ok := c.String("frequency.trigger"); ok {
		if trig != "manual" {
			return s, fmt.Errorf("%s.frequency.trigger: only 'manual' is supported, got '%s'", c.Key(), trig)
		}
		s.Manual = true
	} else {
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
	return s, nil
}

// RunnerOptions tune a Runner.
type RunnerOptions struct {
	Logger *slog.Logger
	// Jitter is the largest fraction of Frequency added at random to the
	// wait between runs, so that replicas and providers spread out.
	// Default 0.1; negative disables it.
	Jitter float64
}

// Runner runs providers on their schedules: each provider has one loop, so
// a provider never runs twice at once; a run gets the schedule's timeout;
// a failed run is logged and retried at the next tick. Everything stops
// with the context given to Run.
//
// Replicas do not coordinate: every replica runs every provider. That is
// safe (mutations are idempotent, conditional requests make repeated
// listings cheap) but multiplies API traffic by the number of replicas.
type Runner struct {
	store     catalog.ProcessingStore
	providers []Provider
	log       *slog.Logger
	jitter    float64
	triggers  map[string]chan struct{}
}

// NewRunner returns a runner for providers; it does nothing until Run.
func NewRunner(store catalog.ProcessingStore, providers []Provider, o RunnerOptions) *Runner {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Jitter == 0 {
		o.Jitter = 0.1
	}
	r := &Runner{store: store, providers: providers, log: o.Logger, jitter: max(o.Jitter, 0),
		triggers: map[string]chan struct{}{}}
	for _, p := range providers {
		r.triggers[p.Name()] = make(chan struct{}, 1)
	}
	return r
}

// RunProviders runs providers against store until ctx ends.
func RunProviders(ctx context.Context, store catalog.ProcessingStore, providers []Provider) error {
	return NewRunner(store, providers, RunnerOptions{}).Run(ctx)
}

// Trigger asks for a run of the named provider as soon as it is not
// running (after its initial delay). Triggers that arrive while a run is
// pending coalesce. It reports whether the provider is known.
func (r *Runner) Trigger(name string) bool {
	ch, ok := r.triggers[name]
	if !ok {
		return false
	}
	select {
	case ch <- struct{}{}:
	default:
	}
	return true
}

// Run runs every provider until ctx ends; it returns ctx's error.
func (r *Runner) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, p := range r.providers {
		wg.Go(func() { r.loop(ctx, p) })
	}
	wg.Wait()
	return ctx.Err()
}

func (r *Runner) loop(ctx context.Context, p Provider) {
	s := p.Schedule()
	trig := r.triggers[p.Name()]
	if !wait(ctx, s.InitialDelay, nil) {
		return
	}
	for {
		start := time.Now()
		r.runOnce(ctx, p, s)
		if ctx.Err() != nil {
			return
		}
		if s.Manual {
			select {
			case <-ctx.Done():
				return
			case <-trig:
			}
			continue
		}
		next := s.Frequency
		if r.jitter > 0 {
			next += time.Duration(rand.Float64() * r.jitter * float64(s.Frequency))
		}
		if !wait(ctx, next-time.Since(start), trig) {
			return
		}
	}
}

// runOnce runs p once with the schedule's timeout; errors are logged (the
// provider kept its previous entities) and the next tick retries.
func (r *Runner) runOnce(ctx context.Context, p Provider, s Schedule) {
	rctx := ctx
	if s.Timeout > 0 {
		var cancel context.CancelFunc
		rctx, cancel = context.WithTimeout(ctx, s.Timeout)
		defer cancel()
	}
	start := time.Now()
	err := p.Run(rctx, r.store)
	switch {
	case err == nil:
		r.log.Debug("provider run done", "provider", p.Name(), "took", time.Since(start))
	case ctx.Err() != nil:
		// Shutting down; not the provider's fault.
	case errors.Is(err, context.DeadlineExceeded):
		r.log.Error("provider run timed out; keeping its entities", "provider", p.Name(), "timeout", s.Timeout)
	default:
		r.log.Error(fmt.Sprintf("%s refresh failed, %v", p.Name(), err), "provider", p.Name())
	}
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
