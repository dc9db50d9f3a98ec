// Package lifecycle is the backend's lifecycle service, as Backstage's
// root lifecycle service: plugins register startup hooks, long-running
// loops and shutdown hooks while they are built; Run starts them in
// registration order and, when its context ends (SIGTERM) or a loop fails,
// stops them in reverse order, waiting for every loop to return before the
// resources registered with AddCloser (databases) are released.
//
// Because plugins open their databases before they start their loops, and
// the HTTP server is registered last, reverse order means: HTTP stops
// accepting first and drains, then the loops stop (the catalog engine, the
// scaffolder worker, the entity providers), and the databases close last.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// DefaultShutdownTimeout bounds a whole shutdown when Options leave it 0.
const DefaultShutdownTimeout = 30 * time.Second

// ErrStillRunning is returned by a shutdown hook whose work did not stop in
// time; the closers are then skipped so that nothing still running sees a
// closed database (the process is about to exit anyway).
var ErrStillRunning = errors.New("still running")

// Options configure New.
type Options struct {
	Logger *slog.Logger
	// ShutdownTimeout bounds the whole shutdown; default
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
}

// Hook is a startup or shutdown hook. Its context ends at the shutdown
// deadline (shutdown hooks) or when start-up is abandoned (startup hooks).
type Hook func(ctx context.Context) error

// Loop is a long-running function: it runs until its context ends and then
// returns promptly; a non-nil error before that stops the backend.
type Loop func(ctx context.Context) error

type step struct {
	name  string
	start Hook // nil: nothing to do at start-up
	stop  Hook // nil: nothing to do at shutdown
}

// Service is the lifecycle of one backend process.
type Service struct {
	log     *slog.Logger
	timeout time.Duration

	mu      sync.Mutex
	steps   []step
	closers []step
	started bool
	failed  chan error // the first loop failure
}

// New returns an empty lifecycle.
func New(o Options) *Service {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	return &Service{log: o.Logger, timeout: o.ShutdownTimeout, failed: make(chan error, 1)}
}

func (s *Service) add(st step) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		panic("lifecycle: " + st.name + " registered after start-up")
	}
	s.steps = append(s.steps, st)
}

// AddStartupHook runs hook at start-up, after the steps registered before
// it; an error stops start-up.
func (s *Service) AddStartupHook(name string, hook Hook) {
	s.add(step{name: name, start: hook})
}

// AddShutdownHook runs hook at shutdown, before the steps registered before
// it (reverse order).
func (s *Service) AddShutdownHook(name string, hook Hook) {
	s.add(step{name: name, stop: hook})
}

// Go registers a loop owned by the lifecycle: it is started at start-up in
// registration order, and at shutdown (in reverse order) its context is
// cancelled and the lifecycle waits for it to return.
func (s *Service) Go(name string, loop Loop) {
	var (
		cancel context.CancelFunc
		done   = make(chan struct{})
	)
	s.add(step{
		name: name,
		start: func(context.Context) error {
			ctx, c := context.WithCancel(context.Background())
			cancel = c
			go func() {
				defer close(done)
				err := loop(ctx)
				if err != nil && ctx.Err() == nil {
					select {
					case s.failed <- fmt.Errorf("%s: %w", name, err):
					default:
					}
				}
			}()
			return nil
		},
		stop: func(ctx context.Context) error {
			cancel()
			select {
			case <-done:
				return nil
			case <-ctx.Done():
				return fmt.Errorf("%s: %w after %s", name, ErrStillRunning, s.timeout)
			}
		},
	})
}

// AddCloser releases a resource (a database) after every shutdown hook and
// loop has finished, in reverse registration order. Closers are skipped
// when some work is still running at the shutdown deadline.
func (s *Service) AddCloser(name string, closer func() error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closers = append(s.closers, step{name: name, stop: func(context.Context) error { return closer() }})
}

// Close runs the closers without a start-up; for a backend that was built
// but never run (tests serving its handler, or a failed build).
func (s *Service) Close() {
	s.mu.Lock()
	closers := s.closers
	s.closers = nil
	s.mu.Unlock()
	for i := len(closers) - 1; i >= 0; i-- {
		if err := closers[i].stop(context.Background()); err != nil {
			s.log.Warn("close", "resource", closers[i].name, "err", err)
		}
	}
}

// Run starts every step, waits until ctx ends or a loop fails, then shuts
// down. It returns the loop's failure or start-up's error; a clean stop on
// ctx returns nil. Closers have run when Run returns.
func (s *Service) Run(ctx context.Context) error {
	s.mu.Lock()
	s.started = true
	steps := s.steps
	s.mu.Unlock()
	var cause error
	started := 0
	for _, st := range steps {
		if st.start != nil {
			if err := st.start(ctx); err != nil {
				cause = fmt.Errorf("start %s: %w", st.name, err)
				break
			}
		}
		started++
	}
	if cause == nil {
		select {
		case <-ctx.Done():
			s.log.Info("shutting down")
		case cause = <-s.failed:
			s.log.Error("shutting down after a failure", "err", cause)
		}
	}
	err := s.shutdown(steps[:started])
	return errors.Join(cause, err)
}

// shutdown stops the started steps in reverse order within the shutdown
// timeout, then runs the closers when nothing is left running.
func (s *Service) shutdown(steps []step) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	stuck := false
	var errs []error
	for i := len(steps) - 1; i >= 0; i-- {
		st := steps[i]
		if st.stop == nil {
			continue
		}
		if err := st.stop(ctx); err != nil {
			if errors.Is(err, ErrStillRunning) {
				stuck = true
			}
			s.log.Error("stop", "step", st.name, "err", err)
			errs = append(errs, fmt.Errorf("stop %s: %w", st.name, err))
		}
	}
	if stuck {
		s.log.Warn("leaving databases open: some work did not stop in time")
		s.mu.Lock()
		s.closers = nil // and Close, called by a deferred cleanup, must not close them either
		s.mu.Unlock()
		return errors.Join(errs...)
	}
	s.Close()
	return errors.Join(errs...)
}
