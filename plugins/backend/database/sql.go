package database

import (
	"strconv"
	"strings"
)

// Rebind turns the ? placeholders of q into dialect's form: unchanged for
// SQLite, numbered ($1, $2, …) for PostgreSQL. Question marks inside quoted
// literals are left alone. Callers using bun's handles do not need it (bun
// formats ? itself); it is for queries run on the underlying *sql.DB.
func Rebind(dialect, q string) string {
	if dialect != DialectPostgres {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n, quoted := 0, false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			quoted = !quoted
			b.WriteByte(c)
		case c == '?' && !quoted:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
