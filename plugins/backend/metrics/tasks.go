package metrics

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// TaskRuns holds the instruments of scheduled tasks (entity provider runs),
// Backstage's scheduler names:
//
//	backend_tasks.task.runs.count{taskId, result}    counter, result completed or failed
//	backend_tasks.task.runs.duration{taskId, result} histogram, s
type TaskRuns struct {
	count    metric.Int64Counter
	duration metric.Float64Histogram
}

// NewTaskRuns registers the instruments on m.
func NewTaskRuns(m metric.Meter) (*TaskRuns, error) {
	r := &TaskRuns{}
	var err error
	if r.count, err = m.Int64Counter("backend_tasks.task.runs.count",
		metric.WithDescription("Total number of times a task has been run")); err != nil {
		return nil, err
	}
	if r.duration, err = m.Float64Histogram("backend_tasks.task.runs.duration", metric.WithUnit("s"),
		metric.WithDescription("Histogram of task run durations"), metric.WithExplicitBucketBoundaries(SlowBuckets...)); err != nil {
		return nil, err
	}
	return r, nil
}

// Record records one run of task id that took took and ended with err. A
// run cut short by shutdown (ctx done) is not an outcome and is skipped.
func (r *TaskRuns) Record(ctx context.Context, id string, took time.Duration, err error) {
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return
	}
	result := "completed"
	if err != nil {
		result = "failed"
	}
	attrs := metric.WithAttributes(attribute.String("taskId", id), attribute.String("result", result))
	ctx = context.WithoutCancel(ctx)
	r.count.Add(ctx, 1, attrs)
	r.duration.Record(ctx, took.Seconds(), attrs)
}
