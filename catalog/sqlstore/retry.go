package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"slices"
)

// SQLSTATE codes of errors a transaction meets only because another one ran
// beside it; running it again, on what is committed now, succeeds.
const (
	sqlStateSerialization = "40001"
	sqlStateDeadlock      = "40P01"
)

// hasSQLState reports whether err carries one of the PostgreSQL codes.
func hasSQLState(err error, codes ...string) bool {
	var se interface{ SQLState() string }
	return errors.As(err, &se) && slices.Contains(codes, se.SQLState())
}

// retrySQLState runs fn, and again while it fails with one of codes, at most
// attempts times in all; it returns fn's last error.
func retrySQLState(ctx context.Context, attempts int, codes []string, fn func() error) error {
	var err error
	for range attempts {
		if err = fn(); err == nil || ctx.Err() != nil || !hasSQLState(err, codes...) {
			return err
		}
	}
	return err
}

// inTxRetried runs fn in a transaction, and again in a new one while it
// fails only because another transaction ran beside it (a deadlock or a
// serialization failure): for writes that are whole and idempotent.
func (s *Store) inTxRetried(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return retrySQLState(ctx, 3, []string{sqlStateDeadlock, sqlStateSerialization}, func() error { return s.inTx(ctx, fn) })
}
