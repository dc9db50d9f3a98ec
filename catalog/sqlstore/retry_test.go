package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestRetrySQLState(t *testing.T) {
	t.Parallel()
	deadlock := fmt.Errorf("stitch: %w", &pgconn.PgError{Code: sqlStateDeadlock})
	serial := fmt.Errorf("insert: %w", &pgconn.PgError{Code: sqlStateSerialization})
	unique := &pgconn.PgError{Code: "23505"}
	plain := errors.New("disk on fire")
	tests := []struct {
		name      string
		errs      []error // what fn returns on each call; nil after the list
		wantCalls int
		wantErr   error
	}{
		{"success at once", nil, 1, nil},
		{"deadlock then success", []error{deadlock}, 2, nil},
		{"serialization failure twice then success", []error{serial, serial}, 3, nil},
		{"transient every time: gives up", []error{serial, deadlock, serial, serial}, 3, serial},
		{"other database error: no retry", []error{unique}, 1, unique},
		{"not a database error: no retry", []error{plain}, 1, plain},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			err := retrySQLState(context.Background(), 3, []string{sqlStateSerialization, sqlStateDeadlock}, func() error {
				calls++
				if calls <= len(tc.errs) {
					return tc.errs[calls-1]
				}
				return nil
			})
			if calls != tc.wantCalls || !errors.Is(err, tc.wantErr) {
				t.Errorf("%d calls, err %v; want %d calls, err %v", calls, err, tc.wantCalls, tc.wantErr)
			}
		})
	}
	t.Run("cancelled context: no retry", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		calls := 0
		_ = retrySQLState(ctx, 3, []string{sqlStateDeadlock}, func() error { calls++; return deadlock })
		if calls != 1 {
			t.Errorf("%d calls after cancel, want 1", calls)
		}
	})
}
