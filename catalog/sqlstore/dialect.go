package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/understage/understage/plugins/backend/database"
)

// dialect holds every SQL difference between the databases. New picks one
// from the database handle; nothing else branches on the database kind.
type dialect interface {
	// beginSQL is run first in each write transaction ("" for none).
	beginSQL() string
	// noLimit is the LIMIT that bounds nothing (SQLite needs one before
	// OFFSET).
	noLimit() string
	// inList renders an IN list for vals with its arguments; the values
	// travel as one argument, so the statement text (and its parse and
	// plan) is the same for every number of values.
	inList(vals []string) (string, []any)
	// inInts is inList for integer values (eids).
	inInts(vals []int64) (string, []any)
	// indexedInList is inList for a lookup that must use an index (the
	// entity_ref one), in chunks of indexedChunk values.
	indexedInList(vals []string) (string, []any)
	indexedChunk() int
	// jsonBatches tells bulk inserts and updates to send their rows as one
	// JSON argument unpacked by jsonb_each instead of multi-row VALUES.
	jsonBatches() bool
	// rebind turns the ? placeholders of a query into the dialect's form.
	rebind(q string) string
	// claimRefreshSQL claims due refresh_state rows by pushing next_update_at
	// (the lease). Args: new next_update_at, now, limit. Returns entity_id,
	// entity_ref, unprocessed_entity, location_key, result_hash,
	// processed_entity and when the row became due (its next_update_at
	// before the claim), or NULL for that where claimDueAtSQL tells it.
	claimRefreshSQL() string
	// claimDueAtSQL, when not "", reads entity_id and next_update_at of the
	// rows claimRefreshSQL is about to claim, with the same args less the
	// first, in the same transaction.
	claimDueAtSQL() string
	// claimStitchSQL claims due stitch_queue rows. Args: lease end, ticket,
	// now, limit. Returns entity_ref.
	claimStitchSQL() string
	// maxArgs bounds the placeholders of one multi-row statement.
	maxArgs() int
	// timestamp is a time (Unix milliseconds) in the form Backstage's
	// database driver reads a timestamp column of this database as.
	timestamp(ms int64) string
	// wideProbe opens and closes the probe of one leaf of a filter wider
	// than maxCorrelatedProbes: the condition that the entity whose eid is
	// in idCol has a search row sf matching the " AND sf..." conditions
	// written between them.
	wideProbe(idCol string) (open, close string)
	// lockRows ends a read of refresh_state rows (under alias) that
	// locks them in mode ("KEY SHARE", "NO KEY UPDATE", "UPDATE") until the
	// transaction ends, in eid order so that transactions locking
	// overlapping sets do not deadlock on each other; "" where a write
	// transaction sees nothing change anyway. Deletions lock their rows
	// first, so that a stitch or a processing result either waits for the
	// deletion and then finds the entity gone, or is written before it
	// (and deleted with it).
	lockRows(alias, mode string) string
	// analyzeSQL refreshes the planner statistics of the catalog tables
	// after bulk writes (see noteWritten), one statement each; none where
	// not needed.
	analyzeSQL() []string
	// copyRows appends rows to table through the database's bulk-load
	// protocol on conn, inside the transaction open on it, and reports
	// whether it did; false (and no error) where the database has none.
	copyRows(ctx context.Context, conn *sql.Conn, table string, cols []string, rows [][]any) (bool, error)
}

type sqliteDialect struct{}

func (sqliteDialect) copyRows(context.Context, *sql.Conn, string, []string, [][]any) (bool, error) {
	return false, nil
}

func (sqliteDialect) rebind(q string) string { return q }
func (sqliteDialect) noLimit() string        { return "-1" }

// jsonBatches: binding one argument is cheap on SQLite (modernc matches
// each placeholder against the argument list linearly), and one statement
// per batch journals each touched page once.
func (sqliteDialect) jsonBatches() bool { return true }

// inList: on SQLite a JSON array read by json_each, since long lists of
// placeholders cost their square to bind.
func (sqliteDialect) inList(vals []string) (string, []any) {
	b := make([]byte, 0, 40*len(vals)+2)
	b = append(b, '[')
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, v)
	}
	b = append(b, ']')
	return "(SELECT value FROM json_each(?))", []any{string(b)}
}

// SQLite looks refs up in the entity_ref index for a list of
// placeholders; for json_each it scans the entities.
func (sqliteDialect) indexedInList(vals []string) (string, []any) {
	return inList(len(vals)), anySlice(vals)
}
func (sqliteDialect) indexedChunk() int { return 500 }

func (sqliteDialect) inInts(vals []int64) (string, []any) {
	b := make([]byte, 0, 8*len(vals)+2)
	b = append(b, '[')
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, v, 10)
	}
	b = append(b, ']')
	return "(SELECT value FROM json_each(?))", []any{string(b)}
}

// maxArgs is small on SQLite: the modernc driver matches each placeholder
// against the argument list linearly, so binding grows with its square.
func (sqliteDialect) maxArgs() int { return 256 }

// SQLite keeps Backstage's timestamps as text, in the form of its
// datetime() and CURRENT_TIMESTAMP, which is what the driver returns.
func (sqliteDialect) timestamp(ms int64) string {
	return time.UnixMilli(ms).UTC().Format(time.DateTime)
}

// SQLite has a single writer, so a plain UPDATE … WHERE IN (SELECT … LIMIT)
// is atomic without row locks. Its RETURNING shows only the new values.
func (sqliteDialect) claimRefreshSQL() string {
	return `UPDATE refresh_state SET next_update_at = ?
WHERE entity_id IN (SELECT entity_id FROM refresh_state WHERE next_update_at <= ? ORDER BY next_update_at LIMIT ?)
RETURNING entity_id, entity_ref, unprocessed_entity, location_key, result_hash, processed_entity, NULL`
}

// The same selection as the claim's: in the claim's write transaction
// nothing changes between the two.
func (sqliteDialect) claimDueAtSQL() string {
	return `SELECT entity_id, next_update_at FROM refresh_state WHERE next_update_at <= ? ORDER BY next_update_at LIMIT ?`
}

func (sqliteDialect) claimStitchSQL() string {
	return `UPDATE stitch_queue SET next_stitch_at = ?, stitch_ticket = ?
WHERE entity_ref IN (SELECT entity_ref FROM stitch_queue WHERE next_stitch_at <= ? ORDER BY next_stitch_at LIMIT ?)
RETURNING entity_ref`
}

func (sqliteDialect) beginSQL() string { return "" }

// SQLite has a single writer: a write transaction sees nothing change.
func (sqliteDialect) lockRows(string, string) string { return "" }

// SQLite's planner chooses by its indexes alone without sqlite_stat1, which
// serves the catalog's queries; the statistics would have to be kept up to
// date on every replica's file.
func (sqliteDialect) analyzeSQL() []string { return nil }

type postgresDialect struct{}

// Write transactions plan their statements once per connection, not on
// every run: the connections force a custom plan per run for the catalog's
// reads (database.go), where a filter's values change its best plan, but
// a write's bulk statements have one plan, and planning them again on every
// run was 7.6% of PostgreSQL's CPU in a 100,000-entity ingest.
func (postgresDialect) beginSQL() string { return "SET LOCAL plan_cache_mode = auto" }

// The tables the reads and stitching's lookups plan over: VACUUM also
// marks their freshly written pages all-visible, which the index-only
// walks of the search index and of relations need to skip the table, and
// reads only pages changed since its last run. final_entities is analysed
// on its keys alone: sampling its entity documents costs seconds and
// informs no plan. Stitching looks up relations and
// refresh_state_references by a batch of refs: without statistics the
// planner takes each ref to match a share of the table and hashes all of
// it for every batch (at 100,000 entities a million relations per batch).
// refresh_state is read by unique keys, which need no statistics.
func (postgresDialect) analyzeSQL() []string {
	return []string{
		"VACUUM (ANALYZE) search",
		"VACUUM (ANALYZE) final_entities (eid, entity_id, entity_ref)",
		"VACUUM (ANALYZE) relations (originating_eid, source_entity_ref, target_entity_ref)",
		"VACUUM (ANALYZE) refresh_state_references (source_entity_ref, target_entity_ref)",
	}
}

// copyRows: COPY FROM STDIN in pgx's binary form, each value encoded for
// its column's type.
func (postgresDialect) copyRows(ctx context.Context, conn *sql.Conn, table string, cols []string, rows [][]any) (bool, error) {
	err := conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("connection is a %T, not pgx's", dc)
		}
		_, err := c.Conn().CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows))
		return err
	})
	return err == nil, err
}

func (postgresDialect) lockRows(alias, mode string) string {
	return " ORDER BY " + alias + ".eid FOR " + mode + " OF " + alias
}

func (postgresDialect) noLimit() string   { return "ALL" }
func (postgresDialect) jsonBatches() bool { return false }

// inList: on PostgreSQL one array argument.
func (postgresDialect) inList(vals []string) (string, []any) {
	return "(SELECT unnest(?::text[]))", []any{vals}
}

func (d postgresDialect) indexedInList(vals []string) (string, []any) { return d.inList(vals) }
func (postgresDialect) indexedChunk() int                             { return 10000 }

func (postgresDialect) inInts(vals []int64) (string, []any) {
	return "(SELECT unnest(?::bigint[]))", []any{vals}
}
func (postgresDialect) maxArgs() int { return 60000 }

// The pg driver reads a timestamp column as a Date, which JSON writes in
// ISO form with milliseconds.
func (postgresDialect) timestamp(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
}

func (postgresDialect) rebind(q string) string { return database.Rebind(database.DialectPostgres, q) }

// Several replicas claim concurrently: SKIP LOCKED makes each take rows the
// others are not holding, and the pushed next_update_at is the lease.
func (postgresDialect) claimRefreshSQL() string {
	return `WITH due AS (
  SELECT entity_id, next_update_at FROM refresh_state WHERE next_update_at <= $2 ORDER BY next_update_at LIMIT $3 FOR UPDATE SKIP LOCKED
)
UPDATE refresh_state rs SET next_update_at = $1 FROM due WHERE rs.entity_id = due.entity_id
RETURNING rs.entity_id, rs.entity_ref, rs.unprocessed_entity, rs.location_key, rs.result_hash, rs.processed_entity, due.next_update_at`
}

func (postgresDialect) claimDueAtSQL() string { return "" }

func (postgresDialect) claimStitchSQL() string {
	return `WITH due AS (
  SELECT entity_ref FROM stitch_queue WHERE next_stitch_at <= $3 ORDER BY next_stitch_at LIMIT $4 FOR UPDATE SKIP LOCKED
)
UPDATE stitch_queue q SET next_stitch_at = $1, stitch_ticket = $2 FROM due WHERE q.entity_ref = due.entity_ref
RETURNING q.entity_ref`
}

// SQLite computes an uncorrelated IN subquery once per statement and then
// looks each row up in it: 1000 probes over 10,000 entities take 0.4 s
// instead of minutes.
func (sqliteDialect) wideProbe(idCol string) (string, string) {
	return idCol + " IN (SELECT sf.eid FROM search sf WHERE 1=1", ")"
}

// PostgreSQL keeps per-row probes; a subquery with an OFFSET is never
// pulled up into a semi-join, so there is no join order to search (1000
// probes over 10,000 entities: 0.4 s).
func (postgresDialect) wideProbe(idCol string) (string, string) {
	return "EXISTS (SELECT 1 FROM search sf WHERE sf.eid = " + idCol, " OFFSET 0)"
}
