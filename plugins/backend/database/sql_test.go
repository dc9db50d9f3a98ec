package database_test

import (
	"testing"

	"github.com/understage/understage/plugins/backend/database"
)

func TestRebind(t *testing.T) {
	cases := []struct {
		name, dialect, in, want string
	}{
		{"sqlite untouched", database.DialectSQLite, `SELECT * FROM t WHERE a = ? AND b = ?`, `SELECT * FROM t WHERE a = ? AND b = ?`},
		{"pg numbered", database.DialectPostgres, `SELECT * FROM t WHERE a = ? AND b = ?`, `SELECT * FROM t WHERE a = $1 AND b = $2`},
		{"pg quoted literal kept", database.DialectPostgres, `SELECT '?' || x FROM t WHERE a = ? AND b <> 'a?b' AND c = ?`, `SELECT '?' || x FROM t WHERE a = $1 AND b <> 'a?b' AND c = $2`},
		{"pg escaped quote", database.DialectPostgres, `SELECT 'it''s ?' WHERE a = ?`, `SELECT 'it''s ?' WHERE a = $1`},
		{"pg many", database.DialectPostgres, `VALUES (?,?,?,?,?,?,?,?,?,?,?)`, `VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)`},
		{"pg none", database.DialectPostgres, `SELECT 1`, `SELECT 1`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := database.Rebind(c.dialect, c.in); got != c.want {
				t.Errorf("Rebind(%q, %q) = %q, want %q", c.dialect, c.in, got, c.want)
			}
		})
	}
}
