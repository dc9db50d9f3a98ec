package metrics

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/understage/understage/plugins/backend/metrics/metricstest"
)

// TestTaskRuns: provider runs are counted and timed by provider and
// outcome; a run cut short by shutdown is no outcome.
func TestTaskRuns(t *testing.T) {
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	runs, err := NewTaskRuns(s.Meter("scheduler"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	runs.Record(ctx, "github-provider:acme", 2*time.Second, nil)
	runs.Record(ctx, "github-provider:acme", time.Second, nil)
	runs.Record(ctx, "github-provider:acme", time.Second, errors.New("API rate limit exceeded"))
	stopped, stop := context.WithCancel(ctx)
	stop()
	runs.Record(stopped, "github-provider:acme", time.Second, context.Canceled)

	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	f := metricstest.Scrape(t, srv.URL, nil)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"backend_tasks_task_runs_count_total", map[string]string{"taskId": "github-provider:acme", "result": "completed"}, 2},
		{"backend_tasks_task_runs_count_total", map[string]string{"taskId": "github-provider:acme", "result": "failed"}, 1},
		{"backend_tasks_task_runs_count_total", nil, 3},
		{"backend_tasks_task_runs_duration_seconds", map[string]string{"result": "completed"}, 2},
	} {
		if got, _ := f.Value(c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	for _, m := range f.Series("backend_tasks_task_runs_duration_seconds", map[string]string{"result": "completed"}) {
		if sum := m.GetHistogram().GetSampleSum(); sum != 3 {
			t.Errorf("completed runs took %v s in all, want 3", sum)
		}
	}
}
