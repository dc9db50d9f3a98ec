package sqlstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/database"
	"github.com/understage/understage/plugins/backend/database/databasetest"
	"github.com/understage/understage/scaffolder/sqlstore"
	"github.com/understage/understage/scaffolder/tasks"
)

func openers() map[string]func(t *testing.T) database.Options {
	return map[string]func(t *testing.T) database.Options{
		"sqlite": func(t *testing.T) database.Options {
			return database.Options{Client: "better-sqlite3", Connection: filepath.Join(t.TempDir(), "s.sqlite")}
		},
		"postgres": func(t *testing.T) database.Options { return databasetest.PG(t) },
	}
}

func newStore(t *testing.T, opts database.Options) *sqlstore.Store {
	t.Helper()
	db, err := database.Open(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := sqlstore.New(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	// Migrations are idempotent: a second New over the same database works.
	if _, err := sqlstore.New(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	return s
}

func forEach(t *testing.T, fn func(t *testing.T, s *sqlstore.Store)) {
	for name, open := range openers() {
		t.Run(name, func(t *testing.T) { fn(t, newStore(t, open(t))) })
	}
}

var spec = json.RawMessage(`{"apiVersion":"scaffolder.backstage.io/v1beta3","steps":[]}`)

func TestClaimIsExclusive(t *testing.T) {
	forEach(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		const n = 12
		for i := 0; i < n; i++ {
			if _, err := s.CreateTask(ctx, spec, map[string]string{"k": "v"}, ""); err != nil {
				t.Fatal(err)
			}
		}
		var mu sync.Mutex
		seen := map[string]string{}
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func(worker string) {
				defer wg.Done()
				for {
					got, err := s.Claim(ctx, worker, 2, time.Minute)
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, tk := range got {
						if prev, dup := seen[tk.ID]; dup {
							t.Errorf("task %s claimed by %s and %s", tk.ID, prev, worker)
						}
						seen[tk.ID] = worker
						if tk.Status != tasks.StatusProcessing || tk.Secrets["k"] != "v" || tk.Attempt != 1 {
							t.Errorf("claimed task %+v", tk)
						}
					}
					mu.Unlock()
				}
			}(string(rune('a' + w)))
		}
		wg.Wait()
		if len(seen) != n {
			t.Fatalf("claimed %d of %d", len(seen), n)
		}
	})
}

func TestLeaseLifecycle(t *testing.T) {
	forEach(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		id, _ := s.CreateTask(ctx, spec, map[string]string{"tok": "x"}, "user:default/jane")
		if evs, _ := s.ListEvents(ctx, id, nil); len(evs) != 0 {
			t.Fatalf("a created task has events: %v", evs)
		}
		got, err := s.Claim(ctx, "w1", 5, time.Millisecond)
		if err != nil || len(got) != 1 {
			t.Fatalf("claim: %v %v", got, err)
		}
		if _, err := s.Heartbeat(ctx, id, "w2", time.Minute); !errors.Is(err, tasks.ErrLeaseLost) {
			t.Errorf("heartbeat by a stranger: %v", err)
		}
		ids, err := s.Rescue(ctx, time.Now().Add(time.Second)) // a second later the 1 ms lease has expired
		if err != nil || len(ids) != 1 || ids[0] != id {
			t.Fatalf("rescue: %v %v", ids, err)
		}
		if _, err := s.Heartbeat(ctx, id, "w1", time.Minute); !errors.Is(err, tasks.ErrLeaseLost) {
			t.Errorf("heartbeat after rescue: %v", err)
		}
		if err := s.SaveSteps(ctx, id, "w1", map[string]json.RawMessage{"a": json.RawMessage(`{}`)}); !errors.Is(err, tasks.ErrLeaseLost) {
			t.Errorf("save steps after rescue: %v", err)
		}
		got, _ = s.Claim(ctx, "w2", 5, time.Minute)
		if len(got) != 1 || got[0].Attempt != 2 || got[0].Secrets["tok"] != "x" {
			t.Fatalf("reclaim: %+v", got)
		}
		if err := s.SaveSteps(ctx, id, "w2", map[string]json.RawMessage{"a": json.RawMessage(`{"x":1}`)}); err != nil {
			t.Fatal(err)
		}
		if err := s.Cancel(ctx, id, json.RawMessage(`{"message":"Step 0 has been cancelled."}`)); err != nil {
			t.Fatal(err)
		}
		if cr, err := s.Heartbeat(ctx, id, "w2", time.Minute); err != nil || !cr {
			t.Errorf("heartbeat after cancel: %v %v", cr, err)
		}
		if err := s.Complete(ctx, id, "w1", tasks.StatusFailed, json.RawMessage(`{}`)); !errors.Is(err, tasks.ErrLeaseLost) {
			t.Errorf("complete by the old worker: %v", err)
		}
		if err := s.Complete(ctx, id, "w2", tasks.StatusFailed, json.RawMessage(`{"message":"Run completed with status: failed"}`)); err != nil {
			t.Fatal(err)
		}
		tk, err := s.GetTask(ctx, id)
		if err != nil || tk.Status != tasks.StatusFailed || tk.CreatedBy != "user:default/jane" || string(tk.Steps["a"]) != `{"x":1}` {
			t.Fatalf("task %+v %v", tk, err)
		}
		var types []string
		evs, _ := s.ListEvents(ctx, id, nil)
		for _, e := range evs {
			types = append(types, e.Type)
		}
		if want := "recovered,cancelled,completion"; join(types) != want {
			t.Errorf("events %s, want %s", join(types), want)
		}
		after := evs[len(evs)-1].ID
		if again, _ := s.ListEvents(ctx, id, &after); len(again) != 1 || again[0].Type != "completion" {
			t.Errorf("after the last id the completion event is still listed: %v", again)
		}
		// Secrets were wiped: a retry without new secrets claims none.
		if err := s.Retry(ctx, id, nil, json.RawMessage(`{"recoverStrategy":"none"}`)); err != nil {
			t.Fatal(err)
		}
		if err := s.Retry(ctx, id, nil, nil); backend.KindOf(err) != backend.ErrConflict {
			t.Errorf("second retry: %v", err)
		}
		got, _ = s.Claim(ctx, "w3", 5, time.Minute)
		if len(got) != 1 || got[0].Secrets != nil || got[0].CancelRequested {
			t.Fatalf("claim after retry: %+v", got[0])
		}
		evs, _ = s.ListEvents(ctx, id, nil)
		types = nil
		for _, e := range evs {
			types = append(types, e.Type)
		}
		if want := "recovered,recovered"; join(types) != want {
			t.Errorf("events after retry %s, want %s", join(types), want)
		}
	})
}

func TestListTasks(t *testing.T) {
	forEach(t, func(t *testing.T, s *sqlstore.Store) {
		ctx := context.Background()
		for _, by := range []string{"user:default/a", "user:default/b", "user:default/a", ""} {
			if _, err := s.CreateTask(ctx, spec, nil, by); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Millisecond) // distinct created_at for a stable order
		}
		one := 1
		cases := []struct {
			name  string
			o     tasks.ListOptions
			total int
			n     int
		}{
			{"all", tasks.ListOptions{}, 4, 4},
			{"by creator", tasks.ListOptions{CreatedBy: []string{"user:default/a"}}, 2, 2},
			{"two creators", tasks.ListOptions{CreatedBy: []string{"user:default/a", "user:default/b"}}, 3, 3},
			{"status", tasks.ListOptions{Status: []string{"open"}}, 4, 4},
			{"none", tasks.ListOptions{Status: []string{"failed"}}, 0, 0},
			{"page", tasks.ListOptions{Limit: &one, Offset: &one, Order: []tasks.Order{{Field: "created_at"}}}, 4, 1},
			{"offset only", tasks.ListOptions{Offset: &one}, 4, 3},
		}
		for _, c := range cases {
			got, total, err := s.ListTasks(ctx, c.o)
			if err != nil || total != c.total || len(got) != c.n {
				t.Errorf("%s: %d tasks of %d, %v", c.name, len(got), total, err)
			}
		}
		desc, _, _ := s.ListTasks(ctx, tasks.ListOptions{})
		if !sort.SliceIsSorted(desc, func(i, j int) bool { return desc[i].CreatedAt.After(desc[j].CreatedAt) }) {
			t.Errorf("default order is not created_at desc")
		}
		if _, err := s.GetTask(ctx, "nope"); backend.MessageOf(err) != "No task with id 'nope' found" {
			t.Errorf("missing task: %v", err)
		}
	})
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ","
		}
		out += x
	}
	return out
}
