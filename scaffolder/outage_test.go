package scaffolder_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/understage/understage/plugins/backend/database"
	"github.com/understage/understage/plugins/backend/database/databasetest"
	"github.com/understage/understage/scaffolder"
	"github.com/understage/understage/scaffolder/sqlstore"
	"github.com/understage/understage/scaffolder/tasks"
)

// faultyStore fails the first calls of some of a real store's methods
// with err, as a store whose database restarted fails them.
type faultyStore struct {
	tasks.Store
	err  error
	mu   sync.Mutex
	left map[string]int // method name → failures still to come
}

func (f *faultyStore) fault(method string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.left[method] > 0 {
		f.left[method]--
		return fmt.Errorf("%s: %w", strings.ToLower(method), f.err)
	}
	return nil
}

func (f *faultyStore) SaveSteps(ctx context.Context, id, worker string, steps map[string]json.RawMessage) error {
	if err := f.fault("SaveSteps"); err != nil {
		return err
	}
	return f.Store.SaveSteps(ctx, id, worker, steps)
}

func (f *faultyStore) AppendEvent(ctx context.Context, id, typ string, body json.RawMessage) (int64, error) {
	if err := f.fault("AppendEvent"); err != nil {
		return 0, err
	}
	return f.Store.AppendEvent(ctx, id, typ, body)
}

func (f *faultyStore) Complete(ctx context.Context, id, worker, status string, body json.RawMessage) error {
	if err := f.fault("Complete"); err != nil {
		return err
	}
	return f.Store.Complete(ctx, id, worker, status, body)
}

func (f *faultyStore) ListEvents(ctx context.Context, id string, after *int64) ([]tasks.Event, error) {
	if err := f.fault("ListEvents"); err != nil {
		return nil, err
	}
	return f.Store.ListEvents(ctx, id, after)
}

// TestTaskOutlivesDatabaseRestart: a task whose writes (step records, log
// lines, its completion) or first read fail because the database went away
// carries on once it is back, on the same worker, each step run once;
// a write the database refuses still fails it. On SQLite and PostgreSQL.
func TestTaskOutlivesDatabaseRestart(t *testing.T) {
	restart := &pgconn.PgError{Severity: "FATAL", Code: "57P01", Message: "terminating connection due to administrator command"}
	refused := &pgconn.PgError{Severity: "ERROR", Code: "22021", Message: "invalid byte sequence for encoding \"UTF8\": 0x00"}
	cases := []struct {
		name   string
		err    error
		left   map[string]int
		status string
	}{
		{"step records lost", restart, map[string]int{"SaveSteps": 3}, tasks.StatusCompleted},
		{"log lines lost", restart, map[string]int{"AppendEvent": 4}, tasks.StatusCompleted},
		{"completion lost", restart, map[string]int{"Complete": 2}, tasks.StatusCompleted},
		{"earlier events unreadable", restart, map[string]int{"ListEvents": 1}, tasks.StatusCompleted},
		{"server not accepting connections yet", &pgconn.PgError{Severity: "FATAL", Code: "57P03", Message: "the database system is starting up"},
			map[string]int{"SaveSteps": 1, "AppendEvent": 1, "Complete": 1}, tasks.StatusCompleted},
		{"step record refused", refused, map[string]int{"SaveSteps": 1}, tasks.StatusFailed},
	}
	dbs := []struct {
		name string
		open func(t *testing.T) database.Options
	}{
		{"sqlite", func(t *testing.T) database.Options {
			return database.Options{Client: "better-sqlite3", Connection: filepath.Join(t.TempDir(), "scaffolder.sqlite")}
		}},
		{"postgres", func(t *testing.T) database.Options { return databasetest.PG(t) }},
	}
	for _, d := range dbs {
		for _, tc := range cases {
			t.Run(d.name+"/"+tc.name, func(t *testing.T) {
				ctx := context.Background()
				db, err := database.Open(ctx, d.open(t))
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				real, err := sqlstore.New(ctx, db)
				if err != nil {
					t.Fatal(err)
				}
				store := &faultyStore{Store: real, err: tc.err, left: maps.Clone(tc.left)}
				acts := scaffolder.NewActions()
				var mu sync.Mutex
				ran := map[string]int{}
				if err := acts.Add(scaffolder.Action{ID: "test:step", Input: json.RawMessage(`{}`), Run: func(_ context.Context, ac *scaffolder.ActionContext) error {
					mu.Lock()
					defer mu.Unlock()
					ran[ac.Input.String("name")]++
					return nil
				}}); err != nil {
					t.Fatal(err)
				}
				svc := &scaffolder.Service{Runner: &scaffolder.Runner{Actions: acts, WorkingDirectory: t.TempDir()}, Queue: tasks.NewQueue(store)}
				spec := `{"apiVersion":"scaffolder.backstage.io/v1beta3","steps":[` +
					`{"id":"a","name":"A","action":"test:step","input":{"name":"a"}},` +
					`{"id":"b","name":"B","action":"test:step","input":{"name":"b"}}],"output":{}}`
				id, err := svc.Queue.Create(ctx, json.RawMessage(spec), nil, "user:default/guest")
				if err != nil {
					t.Fatal(err)
				}
				w := svc.NewWorker(1)
				w.Poll = 20 * time.Millisecond
				wctx, stop := context.WithCancel(ctx)
				done := make(chan struct{})
				go func() { defer close(done); _ = w.Run(wctx) }()
				defer func() { stop(); <-done }()

				var task *tasks.Task
				for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
					if task, err = real.GetTask(ctx, id); err != nil {
						t.Fatal(err)
					}
					if task.Status == tasks.StatusCompleted || task.Status == tasks.StatusFailed {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("the task is still %s", task.Status)
					}
				}
				evs, err := real.ListEvents(ctx, id, nil)
				if err != nil {
					t.Fatal(err)
				}
				var trail []string
				for _, e := range evs {
					trail = append(trail, e.Type+" "+string(e.Body))
				}
				if task.Status != tc.status {
					t.Fatalf("status %s, want %s; events:\n%s", task.Status, tc.status, strings.Join(trail, "\n"))
				}
				if tc.status != tasks.StatusCompleted {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if ran["a"] != 1 || ran["b"] != 1 {
					t.Errorf("steps ran %v, want each once", ran)
				}
				finished := 0
				for _, e := range evs {
					if e.Type == tasks.EventRecovered {
						t.Errorf("the task was recovered, not carried on; events:\n%s", strings.Join(trail, "\n"))
					}
					if strings.Contains(string(e.Body), `"Finished step `) {
						finished++
					}
				}
				if finished != 2 {
					t.Errorf("%d steps logged as finished, want 2; events:\n%s", finished, strings.Join(trail, "\n"))
				}
			})
		}
	}
}
