package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Dead rows. Processing rewrites every refresh_state row at each claim and
// the stitch queue is written and emptied all the time, so on PostgreSQL
// these tables fill with dead rows that every claim's index walk reads
// again (at 250,000 entities: a million dead refresh_state rows, two
// million in an empty stitch queue, each empty claim reading 15 MB).
// Autovacuum removes them; where it is off (some managed and CI servers
// turn it off), the store vacuums its own churning tables with
// autovacuum's default rule: more dead rows than 50 plus a fifth of the
// live ones.

// churnTables are the tables processing and stitching rewrite (facet_counts:
// a few rows updated by every stitching transaction).
var churnTables = []string{"refresh_state", "stitch_queue", "refresh_state_references", "relations", "final_entities", "search", "facet_counts"}

// vacuumCheckEvery bounds how often the dead-row counts are read
// (Store.vacuumEvery, which tests shorten).
const vacuumCheckEvery = 30 * time.Second

// checkAutovacuum records whether the store must vacuum its own tables
// (PostgreSQL with autovacuum off) and says so once in the log.
func (s *Store) checkAutovacuum(ctx context.Context) error {
	if _, ok := s.d.(postgresDialect); !ok {
		return nil
	}
	var on string
	if err := s.r.QueryRowContext(ctx, `SELECT current_setting('autovacuum')`).Scan(&on); err != nil {
		return fmt.Errorf("read autovacuum setting: %w", err)
	}
	if on == "on" {
		return nil
	}
	s.selfVacuum = true
	s.logger.Warn("catalog: PostgreSQL's autovacuum is off; the catalog vacuums its own tables when a fifth of their rows are dead")
	return nil
}

// vacuumDue returns the churn tables whose dead rows exceed autovacuum's
// default threshold, from PostgreSQL's table statistics.
func (s *Store) vacuumDue(ctx context.Context) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT relname FROM pg_stat_user_tables
WHERE schemaname = current_schema() AND relname = ANY($1) AND n_dead_tup > 50 + n_live_tup / 5 ORDER BY relname`, "{"+strings.Join(churnTables, ",")+"}")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// maybeVacuum vacuums the churn tables that need it, at most one check per
// vacuumCheckEvery; like the analysis, it runs in the writer's goroutine
// after its transaction committed, and a failure is only logged.
func (s *Store) maybeVacuum(ctx context.Context) {
	if !s.selfVacuum {
		return
	}
	s.statsMu.Lock()
	due := !s.vacuuming && time.Since(s.vacuumCheckedAt) >= s.vacuumEvery
	if due {
		s.vacuuming, s.vacuumCheckedAt = true, time.Now()
	}
	s.statsMu.Unlock()
	if !due {
		return
	}
	defer func() {
		s.statsMu.Lock()
		s.vacuuming = false
		s.statsMu.Unlock()
	}()
	tables, err := s.vacuumDue(ctx)
	if err != nil {
		s.logger.Warn("catalog: reading dead-row counts failed", "error", err)
		return
	}
	for _, t := range tables {
		start := time.Now()
		// SKIP_LOCKED: another replica vacuuming the table already does the work.
		if err := s.exec(ctx, s.w, "VACUUM (SKIP_LOCKED) "+t); err != nil {
			s.logger.Warn("catalog: vacuum failed", "table", t, "error", err)
			return
		}
		s.logger.Debug("catalog: vacuumed", "table", t, "duration", time.Since(start))
	}
}
