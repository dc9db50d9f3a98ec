package sqlstore

import (
	"context"
	"time"
)

// Planner statistics. PostgreSQL plans every catalog read from the
// statistics of search and final_entities; autovacuum refreshes them only
// after its naptime and a tenth of the table changed, so during and right
// after a bulk load the planner works from an empty or much smaller table
// and picks plans (hashing whole key sets, sorting them) that cost
// seconds at 100,000 entities. The store therefore analyses the tables
// itself whenever the entities it stitched since the last analysis reach a
// fifth of those counted then (at least analyzeMin): a logarithmic number
// of analyses over a load, each one sampling a bounded number of rows.

// analyzeMin is the least number of stitched entities between analyses.
const analyzeMin = 2000

// noteWritten counts n stitched entities and analyses the tables when
// enough changed. It runs after the writing transaction committed, in the
// writer's goroutine; a failure is logged, never returned, since the
// write itself succeeded.
func (s *Store) noteWritten(ctx context.Context, n int) {
	stmt := s.d.analyzeSQL()
	if n <= 0 || stmt == "" {
		return
	}
	s.statsMu.Lock()
	s.sinceAnalyze += int64(n)
	due := s.sinceAnalyze >= max(analyzeMin, s.analyzedRows/5) && !s.analyzing
	if due {
		s.analyzing = true
	}
	s.statsMu.Unlock()
	if !due {
		return
	}
	t := time.Now()
	var rows int64
	err := s.exec(ctx, s.w, stmt)
	if err == nil {
		err = s.r.QueryRowContext(ctx, `SELECT count(*) FROM final_entities`).Scan(&rows)
	}
	s.statsMu.Lock()
	s.analyzing = false
	if err == nil {
		s.sinceAnalyze, s.analyzedRows = 0, rows
	}
	s.statsMu.Unlock()
	if err != nil {
		s.logger.Warn("catalog: analyze after bulk writes failed", "error", err)
		return
	}
	s.logger.Debug("catalog: analysed tables after bulk writes", "entities", rows, "duration", time.Since(t))
}
