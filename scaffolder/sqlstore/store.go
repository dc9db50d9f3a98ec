// Package sqlstore keeps scaffolder tasks and their events in SQL, on SQLite
// (the default) or PostgreSQL, behind tasks.Store.
//
// Everything that differs between the two databases is in dialect.go; the
// rest is portable SQL over database/sql. Migrations are embedded per
// dialect and recorded in scaffolder_migrations. Tests run the same cases
// against both databases.
package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/database"
	"github.com/understage/understage/scaffolder/tasks"
)

// Store implements tasks.Store.
type Store struct {
	db      *database.DB // for the listening session's own connection
	w, r    *sql.DB
	d       dialect
	sealKey []byte // AES-256 key sealing the secrets column
}

// New migrates the database and returns the store.
func New(ctx context.Context, db *database.DB, opts ...Option) (*Store, error) {
	s := &Store{db: db, w: db.Write.DB, r: db.Read.DB, d: sqliteDialect{}}
	if db.Dialect() == database.DialectPostgres {
		s.d = postgresDialect{}
	}
	for _, o := range opts {
		o(s)
	}
	if err := migrate(ctx, db); err != nil {
		return nil, fmt.Errorf("scaffolder migrations: %w", err)
	}
	if err := s.loadSealKey(ctx); err != nil {
		return nil, fmt.Errorf("scaffolder secrets key: %w", err)
	}
	return s, nil
}

func ms(t time.Time) int64 { return t.UnixMilli() }

const taskCols = `id, spec, status, created_at, last_heartbeat_at, created_by, cancel_requested, attempt`

func scanTask(sc interface{ Scan(...any) error }, extra ...any) (*tasks.Task, error) {
	var (
		t         tasks.Task
		spec      string
		created   int64
		hb        sql.NullInt64
		createdBy sql.NullString
		cr        int64
	)
	dest := append([]any{&t.ID, &spec, &t.Status, &created, &hb, &createdBy, &cr, &t.Attempt}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return nil, err
	}
	t.Spec = json.RawMessage(spec)
	t.CreatedAt = time.UnixMilli(created).UTC()
	if hb.Valid {
		h := time.UnixMilli(hb.Int64).UTC()
		t.LastHeartbeatAt = &h
	}
	t.CreatedBy = createdBy.String
	t.CancelRequested = cr != 0
	return &t, nil
}

func (s *Store) CreateTask(ctx context.Context, spec json.RawMessage, secrets map[string]string, createdBy string) (string, error) {
	id := uuid.NewString()
	sec, err := s.sealSecrets(secrets)
	if err != nil {
		return "", err
	}
	var by any
	if createdBy != "" {
		by = createdBy
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO scaffolder_tasks (id, spec, status, created_at, created_by, secrets) VALUES (?, ?, 'open', ?, ?, ?)`),
			id, string(spec), ms(time.Now()), by, sec); err != nil {
			return err
		}
		return s.notifyOpen(ctx, tx)
	})
	if err != nil {
		return "", fmt.Errorf("create task: %w", err)
	}
	return id, nil
}

func (s *Store) GetTask(ctx context.Context, id string) (*tasks.Task, error) {
	var steps sql.NullString
	t, err := scanTask(s.r.QueryRowContext(ctx, s.d.rebind(`SELECT `+taskCols+`, steps FROM scaffolder_tasks WHERE id = ?`), id), &steps)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, backend.NotFound("No task with id '%s' found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get task: %w", err)
	}
	t.Steps = decodeSteps(steps)
	return t, nil
}

func decodeSteps(ns sql.NullString) map[string]json.RawMessage {
	if !ns.Valid || ns.String == "" {
		return nil
	}
	var m map[string]json.RawMessage
	_ = json.Unmarshal([]byte(ns.String), &m)
	return m
}

var orderColumns = map[string]bool{"created_at": true, "status": true, "created_by": true}

func (s *Store) ListTasks(ctx context.Context, o tasks.ListOptions) ([]*tasks.Task, int, error) {
	var where []string
	var args []any
	in := func(col string, vals []string) {
		var ph []string
		for _, v := range vals {
			if v == "" {
				continue
			}
			ph = append(ph, "?")
			args = append(args, v)
		}
		if len(ph) > 0 {
			where = append(where, col+" IN ("+strings.Join(ph, ", ")+")")
		}
	}
	in("created_by", o.CreatedBy)
	in("status", o.Status)
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.r.QueryRowContext(ctx, s.d.rebind(`SELECT count(*) FROM scaffolder_tasks`+cond), args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count tasks: %w", err)
	}
	q := `SELECT ` + taskCols + ` FROM scaffolder_tasks` + cond
	if len(o.Order) == 0 {
		q += " ORDER BY created_at DESC"
	} else {
		var parts []string
		for _, ord := range o.Order {
			if !orderColumns[ord.Field] {
				return nil, 0, backend.Input("Invalid order field %q", ord.Field)
			}
			dir := " ASC"
			if ord.Desc {
				dir = " DESC"
			}
			parts = append(parts, ord.Field+dir)
		}
		q += " ORDER BY " + strings.Join(parts, ", ")
	}
	if o.Limit != nil {
		q += " LIMIT ?"
		args = append(args, *o.Limit)
	} else if o.Offset != nil {
		q += " LIMIT " + s.d.noLimit()
	}
	if o.Offset != nil {
		q += " OFFSET ?"
		args = append(args, *o.Offset)
	}
	rows, err := s.r.QueryContext(ctx, s.d.rebind(q), args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list tasks: %w", err)
	}
	defer rows.Close()
	out := []*tasks.Task{}
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, t)
	}
	return out, total, rows.Err()
}

func (s *Store) Claim(ctx context.Context, worker string, n int, lease time.Duration) ([]*tasks.Task, error) {
	if n <= 0 {
		return nil, nil
	}
	now := time.Now()
	rows, err := s.w.QueryContext(ctx, s.d.claimSQL(), worker, ms(now.Add(lease)), ms(now), n)
	if err != nil {
		return nil, fmt.Errorf("claim tasks: %w", err)
	}
	defer rows.Close()
	var out []*tasks.Task
	for rows.Next() {
		var sec, steps sql.NullString
		t, err := scanTask(rows, &sec, &steps)
		if err != nil {
			return nil, err
		}
		if sec.Valid && sec.String != "" {
			if t.Secrets, err = s.openSecrets(sec.String); err != nil {
				return nil, fmt.Errorf("task %s: %w", t.ID, err)
			}
		}
		t.Steps = decodeSteps(steps)
		out = append(out, t)
	}
	return out, rows.Err()
}

// Heartbeat with a lease of zero or less hands the task back: its lease
// ends before now, and the other replicas are told, so the first to look
// rescues it.
func (s *Store) Heartbeat(ctx context.Context, id, worker string, lease time.Duration) (bool, error) {
	now := time.Now()
	until := now.Add(lease)
	if lease <= 0 {
		until = now.Add(-time.Millisecond) // Rescue takes leases that ended strictly before its now
	}
	var cr int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, s.d.rebind(`UPDATE scaffolder_tasks SET lease_until = ?, last_heartbeat_at = ?
WHERE id = ? AND claimed_by = ? AND status = 'processing' RETURNING cancel_requested`), ms(until), ms(now), id, worker).Scan(&cr); err != nil {
			return err
		}
		if lease <= 0 {
			return s.notifyOpen(ctx, tx)
		}
		return nil
	})
	if errors.Is(err, sql.ErrNoRows) {
		return false, tasks.ErrLeaseLost
	}
	if err != nil {
		return false, fmt.Errorf("heartbeat: %w", err)
	}
	return cr != 0, nil
}

func (s *Store) SaveSteps(ctx context.Context, id, worker string, steps map[string]json.RawMessage) error {
	b, err := json.Marshal(steps)
	if err != nil {
		return err
	}
	res, err := s.w.ExecContext(ctx, s.d.rebind(`UPDATE scaffolder_tasks SET steps = ? WHERE id = ? AND claimed_by = ? AND status = 'processing'`), string(b), id, worker)
	if err != nil {
		return fmt.Errorf("save steps: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return tasks.ErrLeaseLost
	}
	return nil
}

func (s *Store) Complete(ctx context.Context, id, worker, status string, body json.RawMessage) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.d.rebind(`UPDATE scaffolder_tasks SET status = ?, secrets = NULL, claimed_by = NULL, lease_until = NULL
WHERE id = ? AND claimed_by = ? AND status = 'processing'`), status, id, worker)
		if err != nil {
			return fmt.Errorf("complete task: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return tasks.ErrLeaseLost
		}
		return s.insertEvent(ctx, tx, id, tasks.EventCompletion, body, nil)
	})
}

func (s *Store) insertEvent(ctx context.Context, tx *sql.Tx, id, typ string, body json.RawMessage, out *int64) error {
	var eid int64
	err := tx.QueryRowContext(ctx, s.d.rebind(`INSERT INTO scaffolder_task_events (task_id, event_type, body, created_at) VALUES (?, ?, ?, ?) RETURNING id`),
		id, typ, string(body), ms(time.Now())).Scan(&eid)
	if err != nil {
		return fmt.Errorf("insert %s event: %w", typ, err)
	}
	if out != nil {
		*out = eid
	}
	return nil
}

func (s *Store) AppendEvent(ctx context.Context, id, typ string, body json.RawMessage) (int64, error) {
	var eid int64
	err := s.tx(ctx, func(tx *sql.Tx) error { return s.insertEvent(ctx, tx, id, typ, body, &eid) })
	return eid, err
}

func (s *Store) ListEvents(ctx context.Context, id string, after *int64) ([]tasks.Event, error) {
	q := `SELECT id, event_type, body, created_at FROM scaffolder_task_events WHERE task_id = ?`
	args := []any{id}
	if after != nil {
		q += ` AND (id > ? OR event_type = 'completion')`
		args = append(args, *after)
	}
	rows, err := s.r.QueryContext(ctx, s.d.rebind(q+` ORDER BY id`), args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	var out []tasks.Event
	for rows.Next() {
		var e tasks.Event
		var body string
		var created int64
		if err := rows.Scan(&e.ID, &e.Type, &body, &created); err != nil {
			return nil, err
		}
		e.TaskID, e.Body, e.CreatedAt = id, json.RawMessage(body), time.UnixMilli(created).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}

func (s *Store) Cancel(ctx context.Context, id string, body json.RawMessage) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.d.rebind(`UPDATE scaffolder_tasks SET secrets = NULL, cancel_requested = 1 WHERE id = ?`), id)
		if err != nil {
			return fmt.Errorf("cancel task: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return backend.NotFound("No task with id '%s' found", id)
		}
		return s.insertEvent(ctx, tx, id, tasks.EventCancelled, body, nil)
	})
}

func (s *Store) Retry(ctx context.Context, id string, secrets map[string]string, recovered json.RawMessage) error {
	sec, err := s.sealSecrets(secrets)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.d.rebind(`UPDATE scaffolder_tasks SET status = 'open', secrets = COALESCE(?, secrets), last_heartbeat_at = ?,
  claimed_by = NULL, lease_until = NULL, cancel_requested = 0
WHERE id = ? AND status IN ('cancelled', 'completed', 'failed', 'skipped')`), sec, ms(time.Now()), id)
		if err != nil {
			return fmt.Errorf("retry task: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return backend.Conflict("Task with taskId %s cannot be retried", id)
		}
		if _, err := tx.ExecContext(ctx, s.d.rebind(`DELETE FROM scaffolder_task_events WHERE task_id = ? AND event_type IN ('cancelled', 'completion')`), id); err != nil {
			return fmt.Errorf("retry task: %w", err)
		}
		if err := s.insertEvent(ctx, tx, id, tasks.EventRecovered, recovered, nil); err != nil {
			return err
		}
		return s.notifyOpen(ctx, tx)
	})
}

func (s *Store) Rescue(ctx context.Context, now time.Time) ([]string, error) {
	var ids []string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, s.d.rescueSQL(), ms(now), ms(now))
		if err != nil {
			return fmt.Errorf("rescue tasks: %w", err)
		}
		type row struct{ id, spec string }
		var rs []row
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.spec); err != nil {
				rows.Close()
				return err
			}
			rs = append(rs, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, r := range rs {
			if err := s.insertEvent(ctx, tx, r.id, tasks.EventRecovered, tasks.RecoveredBody(json.RawMessage(r.spec)), nil); err != nil {
				return err
			}
			ids = append(ids, r.id)
		}
		if len(ids) > 0 {
			return s.notifyOpen(ctx, tx)
		}
		return nil
	})
	return ids, err
}

// notifyOpen tells every replica's worker, once tx commits, that a task is
// open (a no-op on SQLite).
func (s *Store) notifyOpen(ctx context.Context, tx *sql.Tx) error {
	q := s.d.notifyOpenSQL()
	if q == "" {
		return nil
	}
	if _, err := tx.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("notify opened task: %w", err)
	}
	return nil
}

// listenPing bounds a listening session's silence: after it, the session
// checks that its connection still answers, which a dropped network would
// otherwise hide until TCP gives up.
const listenPing = 30 * time.Second

// ListenOpened implements tasks.Listener on PostgreSQL: one connection of
// its own, outside the pool, LISTENs on the opened-task channel.
func (s *Store) ListenOpened(ctx context.Context, wake func()) error {
	if s.db.Dialect() != database.DialectPostgres {
		return tasks.ErrNoListen
	}
	conn, err := s.db.Connect(ctx)
	if err != nil {
		return fmt.Errorf("listen for opened tasks: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+openChannel); err != nil {
		return fmt.Errorf("listen for opened tasks: %w", err)
	}
	wake()
	for {
		wctx, cancel := context.WithTimeout(ctx, listenPing)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case err == nil:
			wake()
		case errors.Is(err, context.DeadlineExceeded):
			// A timed-out wait leaves the connection usable.
			pctx, cancel := context.WithTimeout(ctx, listenPing)
			err := conn.Ping(pctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				return fmt.Errorf("listen for opened tasks: ping: %w", err)
			}
		default:
			return fmt.Errorf("listen for opened tasks: %w", err)
		}
	}
}

func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

var (
	_ tasks.Store    = (*Store)(nil)
	_ tasks.Listener = (*Store)(nil)
)
