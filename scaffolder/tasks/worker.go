package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/understage/understage/plugins/backend/database/dberr"
)

// ErrCancelled is the cause of a run context cancelled by POST /cancel.
var ErrCancelled = errors.New("task cancelled")

// ExecFunc runs a claimed task. It returns the final status (completed or
// failed) and the completion event body. ctx is cancelled with cause
// ErrCancelled when the task is cancelled and ErrLeaseLost when the worker
// lost it (its result is then discarded).
type ExecFunc func(ctx context.Context, t *Task, h *Handle) (status string, body json.RawMessage)

// Worker claims open tasks and runs them, at most Concurrency at a time.
type Worker struct {
	Queue *Queue
	Exec  ExecFunc
	// ID names this worker in claimed_by; default a random UUID.
	ID string
	// Concurrency is scaffolder.concurrentTasksLimit; default 10.
	Concurrency int
	// Lease is how long a claim lasts without a heartbeat (default 30s);
	// heartbeats come every Lease/3.
	Lease time.Duration
	// Poll is how often the worker looks for tasks and rescues expired
	// leases without a wake-up (default 1s). When the store is a Listener
	// the worker also wakes as soon as any replica opens a task, and
	// polling is the fallback while the listening session reconnects.
	Poll   time.Duration
	Logger *slog.Logger
}

// Bounds of the wait before a failed listening session reconnects; it
// doubles on each failure in a row.
const (
	listenRetryMin = 250 * time.Millisecond
	listenRetryMax = 30 * time.Second
)

// Handle is a running task's link to the queue. Once the worker stops or
// loses the task, its writes are dropped, as a dead process's would be.
type Handle struct {
	parent context.Context // the worker's context: ended means the process is gone
	q      *Queue
	id     string
	worker string
	dead   atomic.Bool
}

// Emit appends an event for the task.
func (h *Handle) Emit(ctx context.Context, typ string, body json.RawMessage) error {
	return h.retry(func() error {
		_, err := h.q.AppendEvent(ctx, h.id, typ, body)
		return err
	})
}

// SaveSteps records the task's completed steps.
func (h *Handle) SaveSteps(ctx context.Context, steps map[string]json.RawMessage) error {
	return h.retry(func() error { return h.q.Store.SaveSteps(ctx, h.id, h.worker, steps) })
}

// Events lists the task's events (those of earlier attempts included).
func (h *Handle) Events(ctx context.Context) ([]Event, error) {
	var evs []Event
	err := h.retry(func() error {
		var err error
		evs, err = h.q.Store.ListEvents(ctx, h.id, nil)
		return err
	})
	return evs, err
}

// retry runs op, and again while it fails only because the database is
// unreachable (restarting, crashed): a step record or log line lost to a
// database restart must not fail the task, which would otherwise be
// completed as failed once the database is back. It gives up when the
// task is no longer this worker's (lease lost, shutting down); an outage
// longer than the lease ends that way once the database is back and
// another worker rescued the task.
func (h *Handle) retry(op func() error) error {
	return untilReachable(h.parent, func() bool { return h.dead.Load() }, op)
}

// untilReachable runs op until it succeeds, fails for a reason other than
// an unreachable database, ctx ends or stop says so, backing off between
// attempts. Ending early returns ErrLeaseLost: the caller no longer holds
// the task.
func untilReachable(ctx context.Context, stop func() bool, op func() error) error {
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		if stop() || ctx.Err() != nil {
			return ErrLeaseLost
		}
		err := op()
		if err == nil || !dberr.Unavailable(err) {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
}

func (w *Worker) defaults() {
	if w.ID == "" {
		w.ID = uuid.NewString()
	}
	if w.Concurrency <= 0 {
		w.Concurrency = 10
	}
	if w.Lease <= 0 {
		w.Lease = 30 * time.Second
	}
	if w.Poll <= 0 {
		w.Poll = time.Second
	}
	if w.Logger == nil {
		w.Logger = slog.New(slog.DiscardHandler)
	}
}

// Run claims and runs tasks until ctx ends, and returns once every task it
// runs has stopped. Running tasks are not completed when ctx ends: their
// leases are ended, so the next worker to look resumes them from their last
// completed step.
func (w *Worker) Run(ctx context.Context) error {
	w.defaults()
	var wg sync.WaitGroup
	defer wg.Wait()
	if l, ok := w.Queue.Store.(Listener); ok {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.listen(ctx, l)
		}()
	}
	done := make(chan struct{}, w.Concurrency)
	running := 0
	tick := time.NewTicker(w.Poll)
	defer tick.Stop()
	for {
		if running < w.Concurrency {
			if ids, err := w.Queue.Store.Rescue(ctx, time.Now()); err != nil {
				if ctx.Err() == nil {
					w.Logger.Error("rescue expired task leases", "err", err)
				}
			} else {
				for _, id := range ids {
					w.Logger.Info("recovered task with an expired lease", "task", id)
					w.Queue.notify(id)
				}
			}
			claimed, err := w.Queue.Store.Claim(ctx, w.ID, w.Concurrency-running, w.Lease)
			if err != nil && ctx.Err() == nil {
				w.Logger.Error("claim tasks", "err", err)
			}
			for _, t := range claimed {
				running++
				wg.Add(1)
				go func(t *Task) {
					defer wg.Done()
					w.runOne(ctx, t)
					done <- struct{}{}
				}(t)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-done:
			running--
		case <-w.Queue.Woken():
		case <-tick.C:
		}
	}
}

// listen keeps a listening session open until ctx ends, reconnecting with
// backoff; each notification wakes the claim loop.
func (w *Worker) listen(ctx context.Context, l Listener) {
	wait := listenRetryMin
	for {
		listening := false
		err := l.ListenOpened(ctx, func() {
			listening = true // called on this goroutine, by ListenOpened
			w.Queue.signalWorkers()
		})
		if ctx.Err() != nil || errors.Is(err, ErrNoListen) {
			return
		}
		if listening {
			wait = listenRetryMin
		}
		w.Logger.Warn("listening for new tasks failed; polling until it reconnects", "err", err, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, listenRetryMax)
	}
}

func (w *Worker) runOne(ctx context.Context, t *Task) {
	h := &Handle{parent: ctx, q: w.Queue, id: t.ID, worker: w.ID}
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if t.CancelRequested {
		cancel(ErrCancelled)
	}
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		tk := time.NewTicker(w.Lease / 3)
		defer tk.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-tk.C:
				cr, err := w.Queue.Store.Heartbeat(context.WithoutCancel(ctx), t.ID, w.ID, w.Lease)
				switch {
				case errors.Is(err, ErrLeaseLost):
					h.dead.Store(true)
					cancel(ErrLeaseLost)
					return
				case err != nil:
					w.Logger.Warn("task heartbeat", "task", t.ID, "err", err)
				case cr:
					cancel(ErrCancelled)
				}
			}
		}
	}()
	// A cancel made from another replica reaches us through the heartbeat;
	// one made here is noticed at once through the event subscription.
	sub, unsub := w.Queue.SubscribeCancel(t.ID)
	go func() {
		select {
		case <-runCtx.Done():
		case <-sub:
			cancel(ErrCancelled)
		}
	}()
	status, body := w.Exec(runCtx, t, h)
	unsub()
	if ctx.Err() != nil || errors.Is(context.Cause(runCtx), ErrLeaseLost) {
		h.dead.Store(true)
		cancel(nil)
		<-hbDone
		if ctx.Err() != nil && !errors.Is(context.Cause(runCtx), ErrLeaseLost) {
			// Shutting down: hand the task back by ending the lease now, so
			// that the next worker (this process restarted, or another
			// replica) resumes it at once rather than after the lease.
			if _, err := w.Queue.Store.Heartbeat(context.WithoutCancel(ctx), t.ID, w.ID, 0); err != nil {
				w.Logger.Warn("release task at shutdown", "task", t.ID, "err", err)
			} else {
				w.Logger.Info("released task at shutdown; it resumes on the next start", "task", t.ID)
			}
		}
		return
	}
	cancel(nil)
	<-hbDone
	h.dead.Store(true)
	// The outcome is kept through a database restart too: given up, the
	// task would run again from its last recorded step once rescued.
	err := untilReachable(ctx, func() bool { return false }, func() error {
		return w.Queue.Store.Complete(context.WithoutCancel(ctx), t.ID, w.ID, status, body)
	})
	if err != nil {
		w.Logger.Warn("complete task", "task", t.ID, "err", err)
		return
	}
	w.Queue.notify(t.ID)
}
