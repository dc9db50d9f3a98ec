package database_test

import (
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/understage/understage/plugins/backend/database"
	"github.com/understage/understage/plugins/backend/database/databasetest"
	"github.com/understage/understage/plugins/backend/database/dberr"
)

// TestUnavailable: the errors of a server that is gone or that dropped the
// connection are told apart from the errors of a wrong statement, on a real
// PostgreSQL.
func TestUnavailable(t *testing.T) {
	ctx := context.Background()
	db, err := database.Open(ctx, databasetest.PG(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Write.ExecContext(ctx, "CREATE TABLE u (v INTEGER PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Write.ExecContext(ctx, "INSERT INTO u (v) VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	tests := []struct {
		name string
		err  func(t *testing.T) error
		want bool
	}{
		{"no server listening", func(t *testing.T) error {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			port := l.Addr().(*net.TCPAddr).Port
			l.Close()
			_, err = database.Open(ctx, database.Options{Client: "pg", NoCreate: true,
				Connection: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/x?sslmode=disable", port)})
			return err
		}, true},
		{"connection terminated by the server", func(t *testing.T) error {
			// A connection held across the termination is used without the
			// pool's liveness check, as one taken from the pool right
			// after a restart is.
			conn, err := db.Write.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			var pid int
			if err := conn.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Write.ExecContext(ctx, "SELECT pg_terminate_backend(?)", pid); err != nil {
				t.Fatal(err)
			}
			_, err = conn.ExecContext(ctx, "INSERT INTO u (v) VALUES (2)")
			return err
		}, true},
		{"syntax error", func(*testing.T) error { _, err := db.Write.ExecContext(ctx, "SELEC 1"); return err }, false},
		{"unique violation", func(*testing.T) error {
			_, err := db.Write.ExecContext(ctx, "INSERT INTO u (v) VALUES (1)")
			return err
		}, false},
		{"no rows", func(*testing.T) error {
			var v int
			return db.Read.QueryRowContext(ctx, "SELECT v FROM u WHERE v = 0").Scan(&v)
		}, false},
		{"cancelled", func(*testing.T) error { _, err := db.Read.ExecContext(cancelled, "SELECT 1"); return err }, false},
		{"nil", func(*testing.T) error { return nil }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err(t)
			if tc.want && err == nil {
				t.Fatal("no error")
			}
			t.Logf("%v", err)
			if got := dberr.Unavailable(err); got != tc.want {
				t.Errorf("Unavailable(%v) = %v, want %v", err, got, tc.want)
			}
		})
	}
}
