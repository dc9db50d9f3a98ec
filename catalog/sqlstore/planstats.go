package sqlstore

import (
	"context"
	"fmt"
	"time"
)

// Planner statistics. PostgreSQL plans every catalog read from the
// statistics of search and final_entities, and stitching's lookups from
// those of relations and refresh_state_references; autovacuum refreshes them only
// after its naptime and a tenth of the table changed, so during and right
// after a bulk load the planner works from an empty or much smaller table
// and picks plans (hashing whole key sets, sorting them) that cost
// seconds at 100,000 entities, and index-only scans of freshly written
// pages still read the table. The store therefore vacuums and analyses the tables
// itself whenever the entities it stitched since the last analysis reach
// those counted then (at least analyzeMin): a logarithmic number of
// analyses over a load, each sampling a bounded number of rows. A catalog
// that doubles keeps its proportions, and the planner scales the row
// counts of the statistics to the tables' current size.

// analyzeMin is the least number of stitched entities between analyses.
const analyzeMin = 2000

// settleAfter is how long the catalog must go without stitched changes
// before the analysis that ends a load (see analysisDue).
const settleAfter = 10 * time.Second

// analysisDue says whether the tables are to be analysed, since entities
// having been stitched since the last analysis of analyzed entities, and
// settled when writing has stopped for settleAfter. A load that stops
// short of the next doubling leaves up to half the catalog unanalysed,
// and its pages not marked all-visible, so that the facets and counts read
// right after it fetch table rows for the index entries they count; once
// the catalog has settled, an eighth of it is enough.
func analysisDue(since, analyzed int64, settled bool) bool {
	if since >= max(analyzeMin, analyzed) {
		return true
	}
	return settled && since >= max(analyzeMin, analyzed/8)
}

// Analyze refreshes the planner statistics now (PostgreSQL; nothing on
// SQLite), as the store does by itself after bulk writes.
func (s *Store) Analyze(ctx context.Context) error {
	for _, stmt := range s.d.analyzeSQL() {
		if err := s.exec(ctx, s.w, stmt); err != nil {
			return fmt.Errorf("analyze: %w", err)
		}
	}
	return nil
}

// noteWritten counts n stitched entities (0: a round of processing or
// stitching that changed nothing) and analyses the tables when
// analysisDue. It runs after the writing transaction committed, in the
// writer's goroutine; a failure is logged, never returned, since the
// write itself succeeded.
func (s *Store) noteWritten(ctx context.Context, n int) {
	s.maybeVacuum(ctx)
	stmts := s.d.analyzeSQL()
	if n < 0 || len(stmts) == 0 {
		return
	}
	now := time.Now()
	s.statsMu.Lock()
	s.sinceAnalyze += int64(n)
	if n > 0 {
		s.lastWrite = now
	}
	settled := n == 0 && now.Sub(s.lastWrite) >= settleAfter
	due := !s.analyzing && analysisDue(s.sinceAnalyze, s.analyzedRows, settled)
	if due {
		s.analyzing = true
	}
	s.statsMu.Unlock()
	if !due {
		return
	}
	t := time.Now()
	var rows int64
	err := s.Analyze(ctx)
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
	s.logger.Debug("catalog: analysed tables after bulk writes", "entities", rows, "settled", settled, "duration", time.Since(t))
}
