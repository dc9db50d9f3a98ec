package tasks

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
)

// Queue wraps a Store with in-process wake-ups: workers learn of new and
// retried tasks at once, and event readers (SSE, long poll) of new events.
// Other replicas notice through polling.
type Queue struct {
	Store Store

	wake chan struct{}
	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{}
}

// NewQueue wraps s.
func NewQueue(s Store) *Queue {
	return &Queue{Store: s, wake: make(chan struct{}, 1), subs: map[string]map[chan struct{}]struct{}{}}
}

// Woken fires when there may be open tasks to claim.
func (q *Queue) Woken() <-chan struct{} { return q.wake }

func (q *Queue) signalWorkers() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Subscribe returns a channel that receives a value whenever the task gets
// new events in this process; call the returned function to stop.
func (q *Queue) Subscribe(id string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	q.mu.Lock()
	if q.subs[id] == nil {
		q.subs[id] = map[chan struct{}]struct{}{}
	}
	q.subs[id][ch] = struct{}{}
	q.mu.Unlock()
	return ch, func() {
		q.mu.Lock()
		delete(q.subs[id], ch)
		if len(q.subs[id]) == 0 {
			delete(q.subs, id)
		}
		q.mu.Unlock()
	}
}

func (q *Queue) notify(id string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for ch := range q.subs[id] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func cancelKey(id string) string { return "cancel\x00" + id }

// SubscribeCancel is like Subscribe but fires only when the task is
// cancelled in this process.
func (q *Queue) SubscribeCancel(id string) (<-chan struct{}, func()) {
	return q.Subscribe(cancelKey(id))
}

// Create stores a new open task and wakes the workers.
func (q *Queue) Create(ctx context.Context, spec json.RawMessage, secrets map[string]string, createdBy string) (string, error) {
	id, err := q.Store.CreateTask(ctx, spec, secrets, createdBy)
	if err != nil {
		return "", err
	}
	q.signalWorkers()
	return id, nil
}

// AppendEvent adds an event and wakes its readers.
func (q *Queue) AppendEvent(ctx context.Context, id, typ string, body json.RawMessage) (int64, error) {
	eid, err := q.Store.AppendEvent(ctx, id, typ, body)
	if err == nil {
		q.notify(id)
	}
	return eid, err
}

// Cancel cancels a task as Backstage's broker does: the cancelled event
// names the step of the latest step event ("Step <id> has been cancelled.").
func (q *Queue) Cancel(ctx context.Context, id string) error {
	if _, err := q.Store.GetTask(ctx, id); err != nil {
		return err
	}
	events, err := q.Store.ListEvents(ctx, id, nil)
	if err != nil {
		return err
	}
	var stepID any = 0 // Backstage uses the number 0 when no step has started
	for i := len(events) - 1; i >= 0; i-- {
		var b struct {
			StepID any `json:"stepId"`
		}
		if json.Unmarshal(events[i].Body, &b) == nil && b.StepID != nil && b.StepID != "" {
			stepID = b.StepID
			break
		}
	}
	body, _ := json.Marshal(struct {
		Message string `json:"message"`
		StepID  any    `json:"stepId"`
		Status  string `json:"status"`
	}{fmt.Sprintf("Step %v has been cancelled.", stepID), stepID, StatusCancelled})
	if err := q.Store.Cancel(ctx, id, body); err != nil {
		return err
	}
	q.notify(id)
	q.notify(cancelKey(id))
	return nil
}

// Retry reopens a finished task and wakes the workers.
func (q *Queue) Retry(ctx context.Context, id string, secrets map[string]string) error {
	t, err := q.Store.GetTask(ctx, id)
	if err != nil {
		return err
	}
	if err := q.Store.Retry(ctx, id, secrets, RecoveredBody(t.Spec)); err != nil {
		return err
	}
	q.notify(id)
	q.signalWorkers()
	return nil
}

// RecoveredBody is the body of a recovered event: the template's recovery
// strategy ("none" unless EXPERIMENTAL_recovery says otherwise).
func RecoveredBody(spec json.RawMessage) json.RawMessage {
	var s struct {
		Recovery struct {
			Strategy string `json:"EXPERIMENTAL_strategy"`
		} `json:"EXPERIMENTAL_recovery"`
	}
	_ = json.Unmarshal(spec, &s)
	if s.Recovery.Strategy == "" {
		s.Recovery.Strategy = "none"
	}
	b, _ := json.Marshal(map[string]string{"recoverStrategy": s.Recovery.Strategy})
	return b
}

// IsRecoverable reports whether the spec opted into startOver recovery
// (events then carry isTaskRecoverable: true).
func IsRecoverable(spec json.RawMessage) bool {
	var s struct {
		Recovery struct {
			Strategy string `json:"EXPERIMENTAL_strategy"`
		} `json:"EXPERIMENTAL_recovery"`
	}
	_ = json.Unmarshal(spec, &s)
	return s.Recovery.Strategy == "startOver"
}
