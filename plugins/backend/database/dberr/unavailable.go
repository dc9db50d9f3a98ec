// Package dberr classifies database errors. It is apart from package
// database so that code which only inspects errors (the engine, the task
// worker, the scheduler, and the request handlers above them) does not
// pull in bun and SQLite.
package dberr

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Unavailable reports whether err says that the database could not be
// reached or dropped the connection (a restart, a crash, a network cut),
// rather than that the statement was wrong: the same statement may succeed
// once the server is back. A write that failed this way may or may not
// have been applied.
func Unavailable(err error) bool {
	// A deadline or a cancellation is the caller's (context.DeadlineExceeded
	// is also a net.Error).
	if err == nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return false
	}
	var connect *pgconn.ConnectError
	var netErr net.Error
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &connect) || errors.As(err, &netErr) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 08 is "connection exception"; 57P01-57P03 are the server
		// shutting down (administrator, crash) or not accepting
		// connections yet.
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	return false
}

// UnreadableText reports whether PostgreSQL refused a string of the
// statement because its encoding cannot hold it: a NUL character, or bytes
// that are not UTF-8 (SQLSTATE 22021). The text came from the request or
// the input being written, never from the statement itself, so it is the
// caller's error, not the server's.
func UnreadableText(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "22021"
}
