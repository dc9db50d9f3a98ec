package sqlstore_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/understage/understage/plugins/backend/database"
	"github.com/understage/understage/plugins/backend/database/databasetest"
	"github.com/understage/understage/scaffolder/sqlstore"
	"github.com/understage/understage/scaffolder/tasks"
)

// replica is one process's view of a shared PostgreSQL database: its own
// pool and store, and a worker that never polls in these tests (Poll is an
// hour) and holds every task it claims until the test ends, so a finished
// task wakes no claim either.
type replica struct {
	store   *sqlstore.Store
	claimed chan string
	stop    func() // stops the worker and waits for Run to return
}

func startReplica(t *testing.T, ctx context.Context, opts database.Options) *replica {
	t.Helper()
	r := &replica{store: newStore(t, opts), claimed: make(chan string, 64)}
	w := &tasks.Worker{
		Queue: tasks.NewQueue(r.store),
		Poll:  time.Hour,
		Exec: func(ctx context.Context, tk *tasks.Task, _ *tasks.Handle) (string, json.RawMessage) {
			r.claimed <- tk.ID
			<-ctx.Done()
			return tasks.StatusFailed, nil
		},
	}
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		defer close(done)
		_ = w.Run(ctx)
	}()
	r.stop = func() { cancel(); <-done }
	t.Cleanup(r.stop) // before the stores close: cleanups run last-in first-out
	return r
}

// listenerPID waits for a session LISTENing in the test database other
// than not, and returns its backend pid.
func listenerPID(t *testing.T, ctx context.Context, admin *database.DB, not int) int {
	t.Helper()
	for {
		var pid int
		err := admin.Read.DB.QueryRowContext(ctx, `SELECT pid FROM pg_stat_activity
WHERE datname = current_database() AND query LIKE 'LISTEN %' AND pid <> $1 AND pid <> pg_backend_pid() LIMIT 1`, not).Scan(&pid)
		if err == nil {
			return pid
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no session listens for opened tasks: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// createEach creates n tasks through store, one at a time, each after the
// previous one was claimed by r.
func createEach(t *testing.T, ctx context.Context, store *sqlstore.Store, r *replica, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		id, err := store.CreateTask(ctx, spec, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-r.claimed:
			if got != id {
				t.Fatalf("claimed %s, want %s", got, id)
			}
		case <-ctx.Done():
			t.Fatalf("task %d of %d, created on another replica, was never claimed", i+1, n)
		}
	}
}

// TestListenWakesOtherReplica: a task created through replica A's store is
// claimed by replica B's worker, which does not poll, and still is after
// B's listening connection is killed and reconnects.
//
// Apart from notifications, B's claim loop runs once at its start and once
// each time a listening session begins (tasks opened while none listened),
// and each run claims only tasks that exist then. Tasks are created one
// at a time, each after the previous one was claimed, so with S sessions
// started at most 1+S of them can be claimed without a notification.
func TestListenWakesOtherReplica(t *testing.T) {
	opts := databasetest.PG(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	a := newStore(t, opts)
	admin, err := database.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	b := startReplica(t, ctx, opts)

	pid := listenerPID(t, ctx, admin, 0)
	createEach(t, ctx, a, b, 3) // one session so far: the third needed a notification

	var killed bool
	if err := admin.Write.DB.QueryRowContext(ctx, `SELECT pg_terminate_backend($1)`, pid).Scan(&killed); err != nil || !killed {
		t.Fatalf("terminate the listening session %d: %v %v", pid, killed, err)
	}
	listenerPID(t, ctx, admin, pid)
	// Two sessions and the start: of four tasks made after the first
	// session died, the last was claimed through the second's notification.
	createEach(t, ctx, a, b, 4)

	// Once Run has returned no listening session is left, as one would be
	// while a leaked listener held its connection.
	b.stop()
	for {
		var n int
		if err := admin.Read.DB.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND query LIKE 'LISTEN %'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d listening sessions left after the worker stopped", n)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestNotifyOnReopen: retrying a task and handing one back notify the
// listeners, as creating one does.
func TestNotifyOnReopen(t *testing.T) {
	opts := databasetest.PG(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := newStore(t, opts)
	notified := make(chan struct{}, 16)
	lctx, stop := context.WithCancel(ctx)
	listening := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		first := true
		done <- s.ListenOpened(lctx, func() {
			if first {
				first = false
				close(listening)
				return
			}
			notified <- struct{}{}
		})
	}()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("listening session ended with %v", err)
		}
	}()
	<-listening
	expect := func(what string) {
		t.Helper()
		select {
		case <-notified:
		case <-ctx.Done():
			t.Fatalf("no notification after %s", what)
		}
	}
	id, err := s.CreateTask(ctx, spec, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	expect("create")
	if got, err := s.Claim(ctx, "w1", 1, time.Minute); err != nil || len(got) != 1 {
		t.Fatalf("claim: %v %v", got, err)
	}
	if _, err := s.Heartbeat(ctx, id, "w1", 0); err != nil {
		t.Fatal(err)
	}
	expect("handing the task back")
	if ids, err := s.Rescue(ctx, time.Now()); err != nil || len(ids) != 1 {
		t.Fatalf("a task handed back is rescued at once: %v %v", ids, err)
	}
	expect("rescue")
	if got, err := s.Claim(ctx, "w2", 1, time.Minute); err != nil || len(got) != 1 {
		t.Fatalf("claim: %v %v", got, err)
	}
	if err := s.Complete(ctx, id, "w2", tasks.StatusFailed, json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.Retry(ctx, id, nil, json.RawMessage(`{"recoverStrategy":"none"}`)); err != nil {
		t.Fatal(err)
	}
	expect("retry")
}

// TestListenOnSQLite: SQLite cannot notify; the worker polls and is woken
// in process.
func TestListenOnSQLite(t *testing.T) {
	s := newStore(t, openers()["sqlite"](t))
	if err := s.ListenOpened(context.Background(), func() {}); err != tasks.ErrNoListen {
		t.Fatalf("ListenOpened on SQLite: %v, want ErrNoListen", err)
	}
}
