// Package tasks is the scaffolder's durable task queue: tasks and their
// events in the database, claimed by workers under a lease that a heartbeat
// extends, rescued when a worker dies, cancelled and retried. It knows
// nothing of templates or actions: a worker hands each claimed task to an
// ExecFunc. The SQL lives in scaffolder/sqlstore behind Store.
package tasks

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Task statuses (steps additionally use "skipped").
const (
	StatusOpen       = "open"
	StatusProcessing = "processing"
	StatusCompleted  = "completed"
	StatusFailed     = "failed"
	StatusCancelled  = "cancelled"
)

// Event types.
const (
	EventLog        = "log"
	EventCompletion = "completion"
	EventCancelled  = "cancelled"
	EventRecovered  = "recovered"
)

// ErrLeaseLost reports that a worker no longer holds a task: another
// worker rescued it, or it was retried.
var ErrLeaseLost = errors.New("task lease lost")

// Listener is implemented by stores whose database tells every process at
// once that a task was opened (PostgreSQL's LISTEN/NOTIFY), so that a
// replica's worker need not wait for its next poll.
type Listener interface {
	// ListenOpened holds one listening session until ctx ends (nil) or the
	// session fails (its error). It calls wake once it listens, for the
	// tasks opened while it did not, and again whenever a task is created,
	// retried, rescued or handed back. ErrNoListen: the database cannot.
	ListenOpened(ctx context.Context, wake func()) error
}

// ErrNoListen reports a store whose database cannot notify (SQLite, where
// one process holds the database and wakes its own worker).
var ErrNoListen = errors.New("the task store cannot listen for opened tasks")

// Task is a stored task. Secrets are only filled in for the worker that
// claimed the task.
type Task struct {
	ID              string
	Spec            json.RawMessage
	Status          string
	CreatedAt       time.Time
	LastHeartbeatAt *time.Time
	CreatedBy       string
	Secrets         map[string]string
	// Steps are the steps completed by earlier attempts, with their outputs.
	Steps map[string]json.RawMessage
	// CancelRequested is set once the task was cancelled.
	CancelRequested bool
	Attempt         int
}

// Event is one entry of a task's log.
type Event struct {
	ID        int64
	TaskID    string
	Type      string
	Body      json.RawMessage
	CreatedAt time.Time
}

// ListOptions filters and pages GET /v2/tasks.
type ListOptions struct {
	CreatedBy []string
	Status    []string
	Order     []Order // default created_at desc
	Limit     *int
	Offset    *int
}

// Order is one sort key: Field is created_at, status or created_by.
type Order struct {
	Field string
	Desc  bool
}

// Store keeps tasks and events. Its behaviour is pinned by
// scaffolder/sqlstore's tests on SQLite and PostgreSQL.
type Store interface {
	// CreateTask stores an open task (spec, secrets, creator) in one
	// transaction, without events, and returns its id.
	CreateTask(ctx context.Context, spec json.RawMessage, secrets map[string]string, createdBy string) (string, error)
	// GetTask returns a task without its secrets, or an error wrapping
	// backend.ErrNotFound ("No task with id '<id>' found").
	GetTask(ctx context.Context, id string) (*Task, error)
	ListTasks(ctx context.Context, o ListOptions) ([]*Task, int, error)
	// Claim moves up to n open tasks, oldest first, to processing for worker
	// in one statement, leasing them until now+lease.
	Claim(ctx context.Context, worker string, n int, lease time.Duration) ([]*Task, error)
	// Heartbeat extends the lease; ErrLeaseLost when worker no longer holds
	// the task. It reports whether the task was cancelled.
	Heartbeat(ctx context.Context, id, worker string, lease time.Duration) (cancelRequested bool, err error)
	// SaveSteps records the completed steps of a task held by worker.
	SaveSteps(ctx context.Context, id, worker string, steps map[string]json.RawMessage) error
	// Complete ends a task held by worker with status and a completion
	// event, and wipes its secrets; ErrLeaseLost when it is not held.
	Complete(ctx context.Context, id, worker, status string, body json.RawMessage) error
	// AppendEvent adds an event and returns its id.
	AppendEvent(ctx context.Context, id, typ string, body json.RawMessage) (int64, error)
	// ListEvents lists a task's events with id > after (all when after is
	// nil) plus any completion event, ordered by id.
	ListEvents(ctx context.Context, id string, after *int64) ([]Event, error)
	// Cancel flags a task cancelled, wipes its secrets and adds a cancelled
	// event with body.
	Cancel(ctx context.Context, id string, body json.RawMessage) error
	// Retry reopens a finished task with new secrets, deletes its completion
	// and cancelled events and adds a recovered event; ConflictError when the
	// task is not finished.
	Retry(ctx context.Context, id string, secrets map[string]string, recovered json.RawMessage) error
	// Rescue reopens processing tasks whose lease expired before now, with a
	// recovered event each, and returns their ids.
	Rescue(ctx context.Context, now time.Time) ([]string, error)
}
