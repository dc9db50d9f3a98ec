package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/understage/understage/catalog"
)

// Stats counts the catalog's entities, locations, relations and backlog.
// Every count is one indexed or whole-table aggregate on the read pool;
// callers that poll (metrics scrapes) should cache the result.
func (s *Store) Stats(ctx context.Context) (catalog.Stats, error) {
	out := catalog.Stats{EntitiesByKind: map[string]int64{}}
	now := time.Now().UnixMilli()
	rows, err := s.query(ctx, s.r, `SELECT s.value, COUNT(*) FROM search s JOIN search_keys k ON k.id = s.key_id
WHERE k.key = 'kind' AND s.value IS NOT NULL GROUP BY s.value`)
	if err != nil {
		return out, fmt.Errorf("stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind string
		var n int64
		if err := rows.Scan(&kind, &n); err != nil {
			return out, fmt.Errorf("stats: %w", err)
		}
		out.EntitiesByKind[kind] = n
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("stats: %w", err)
	}
	var oldest sql.NullInt64
	for _, c := range []struct {
		q    string
		args []any
		dst  []any
	}{
		{`SELECT COUNT(*) FROM refresh_state`, nil, []any{&out.Entities}},
		{`SELECT COUNT(*) FROM locations`, nil, []any{&out.Locations}},
		{`SELECT COUNT(*) FROM relations`, nil, []any{&out.Relations}},
		{`SELECT COUNT(*), MIN(next_update_at) FROM refresh_state WHERE next_update_at <= ?`, []any{now}, []any{&out.ProcessingDue, &oldest}},
		{`SELECT COUNT(*) FROM stitch_queue`, nil, []any{&out.StitchQueue}},
	} {
		if err := s.r.QueryRowContext(ctx, s.d.rebind(c.q), c.args...).Scan(c.dst...); err != nil {
			return out, fmt.Errorf("stats: %w [%s]", err, c.q)
		}
	}
	if oldest.Valid {
		out.OldestDue = time.UnixMilli(oldest.Int64)
	}
	return out, nil
}
