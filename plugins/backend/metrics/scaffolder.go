package metrics

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/understage/understage/scaffolder/tasks"
)

// Scaffolder holds the scaffolder's instruments, Backstage's names and
// labels (less the user, which would put people's refs in the metrics):
//
//	scaffolder.task.count{template, result}       counter
//	scaffolder.task.duration{template, result}    histogram, s
//	scaffolder.step.count{template, step, result} counter
//	scaffolder.step.duration{template, step, result} histogram, s
//
// result is ok, failed or cancelled for tasks and also skipped for steps.
type Scaffolder struct {
	taskCount    metric.Int64Counter
	taskDuration metric.Float64Histogram
	stepCount    metric.Int64Counter
	stepDuration metric.Float64Histogram

	mu      sync.Mutex
	started map[stepKey]time.Time // steps in progress on this replica
}

type stepKey struct{ task, step string }

// NewScaffolder registers the scaffolder's instruments on m.
func NewScaffolder(m metric.Meter) (*Scaffolder, error) {
	s := &Scaffolder{started: map[stepKey]time.Time{}}
	var err error
	if s.taskCount, err = m.Int64Counter("scaffolder.task.count", metric.WithDescription("Count of task runs")); err != nil {
		return nil, err
	}
	if s.taskDuration, err = m.Float64Histogram("scaffolder.task.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of a task run"), metric.WithExplicitBucketBoundaries(SlowBuckets...)); err != nil {
		return nil, err
	}
	if s.stepCount, err = m.Int64Counter("scaffolder.step.count", metric.WithDescription("Count of step runs")); err != nil {
		return nil, err
	}
	if s.stepDuration, err = m.Float64Histogram("scaffolder.step.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of a step run"), metric.WithExplicitBucketBoundaries(SlowBuckets...)); err != nil {
		return nil, err
	}
	return s, nil
}

// results maps task and step statuses to Backstage's result labels.
var results = map[string]string{
	tasks.StatusCompleted: "ok",
	tasks.StatusFailed:    "failed",
	tasks.StatusCancelled: "cancelled",
	"skipped":             "skipped",
}

// Exec wraps a worker's ExecFunc to count and time each run that ends here
// (a run abandoned on shutdown or a lost lease ends on another replica).
func (s *Scaffolder) Exec(exec tasks.ExecFunc) tasks.ExecFunc {
	return func(ctx context.Context, t *tasks.Task, h *tasks.Handle) (string, json.RawMessage) {
		start := time.Now()
		status, body := exec(ctx, t, h)
		s.forget(t.ID)
		if ctx.Err() != nil {
			return status, body
		}
		result, ok := results[status]
		if !ok {
			result = status
		}
		attrs := metric.WithAttributes(attribute.String("template", templateOf(t.Spec)), attribute.String("result", result))
		s.taskCount.Add(ctx, 1, attrs)
		s.taskDuration.Record(ctx, time.Since(start).Seconds(), attrs)
		return status, body
	}
}

// StepStatus records a step's status change (scaffolder.Service.OnStepStatus).
func (s *Scaffolder) StepStatus(taskID, template, stepID, status string) {
	k := stepKey{taskID, stepID}
	s.mu.Lock()
	if status == tasks.StatusProcessing {
		s.started[k] = time.Now()
		s.mu.Unlock()
		return
	}
	start, running := s.started[k]
	delete(s.started, k)
	s.mu.Unlock()
	result, ok := results[status]
	if !ok {
		return
	}
	ctx := context.Background()
	attrs := metric.WithAttributes(attribute.String("template", template), attribute.String("step", stepID), attribute.String("result", result))
	s.stepCount.Add(ctx, 1, attrs)
	if running {
		s.stepDuration.Record(ctx, time.Since(start).Seconds(), attrs)
	}
}

// forget drops the step timers of a finished or abandoned task.
func (s *Scaffolder) forget(taskID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := range s.started {
		if k.task == taskID {
			delete(s.started, k)
		}
	}
}

func templateOf(spec json.RawMessage) string {
	var v struct {
		TemplateInfo struct {
			EntityRef string `json:"entityRef"`
		} `json:"templateInfo"`
	}
	_ = json.Unmarshal(spec, &v) // a spec the runner could not read has no template
	return v.TemplateInfo.EntityRef
}
