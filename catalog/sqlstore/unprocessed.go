package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/understage/understage/catalog"
)

// UnprocessedEntities lists the failed entities (errors from their last
// processing, or conflicts over what they emitted) or the pending ones (no
// stitched form), in the order they were first seen.
func (s *Store) UnprocessedEntities(ctx context.Context, reason catalog.UnprocessedReason) ([]catalog.UnprocessedEntity, error) {
	where := `fe.eid IS NULL`
	if reason == catalog.UnprocessedFailed {
		where = `rs.errors <> '[]' OR rs.conflicts <> '[]'`
	}
	rows, err := s.query(ctx, s.r, `SELECT rs.entity_id, rs.entity_ref, rs.unprocessed_entity, rs.processed_entity, rs.result_hash,
  rs.errors, rs.conflicts, rs.next_update_at, rs.last_discovery_at, COALESCE(rs.location_key, ''), rs.unprocessed_hash,
  fe.hash, fe.final_entity, fe.last_updated_at
FROM refresh_state rs LEFT JOIN final_entities fe ON fe.eid = rs.eid
WHERE `+where+`
ORDER BY rs.eid`)
	if err != nil {
		return nil, fmt.Errorf("list %s entities: %w", reason, err)
	}
	defer rows.Close()
	var out []catalog.UnprocessedEntity
	for rows.Next() {
		var (
			e                    catalog.UnprocessedEntity
			unprocessed          string
			processed, final     sql.NullString
			finalHash            sql.NullString
			errs, conflicts      string
			next, discovered     int64
			lastUpdated          sql.NullInt64
			storedErrs, conflErr []catalog.SerializedError
		)
		if err := rows.Scan(&e.EntityID, &e.EntityRef, &unprocessed, &processed, &e.ResultHash, &errs, &conflicts,
			&next, &discovered, &e.LocationKey, &e.UnprocessedHash, &finalHash, &final, &lastUpdated); err != nil {
			return nil, fmt.Errorf("list %s entities: %w", reason, err)
		}
		e.Unprocessed = []byte(unprocessed)
		if processed.Valid {
			e.Processed = []byte(processed.String)
		}
		e.WasProcessed = e.ResultHash != "" || processed.Valid
		if err := json.Unmarshal([]byte(errs), &storedErrs); err != nil {
			return nil, fmt.Errorf("errors of %s: %w", e.EntityRef, err)
		}
		if err := json.Unmarshal([]byte(conflicts), &conflErr); err != nil {
			return nil, fmt.Errorf("conflicts of %s: %w", e.EntityRef, err)
		}
		e.Errors = append(storedErrs, conflErr...)
		e.NextUpdateAt = s.d.timestamp(next)
		e.LastDiscoveryAt = s.d.timestamp(discovered)
		if final.Valid {
			e.FinalHash, e.Final = finalHash.String, []byte(final.String)
			e.LastUpdatedAt = s.d.timestamp(lastUpdated.Int64)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list %s entities: %w", reason, err)
	}
	return out, nil
}

// DeleteUnprocessedEntity removes the entity with the id, as Backstage's
// unprocessed-entities module deletes its refresh_state row: its parents
// keep their result hash, so they emit it again only when their output
// changes.
func (s *Store) DeleteUnprocessedEntity(ctx context.Context, entityID string) error {
	err := s.inTxRetried(ctx, func(tx *sql.Tx) error {
		var ref string
		err := tx.QueryRowContext(ctx, s.d.rebind(`SELECT entity_ref FROM refresh_state WHERE entity_id = ?`), entityID).Scan(&ref)
		if err == sql.ErrNoRows {
			return nil
		}
		if err != nil {
			return err
		}
		if err := s.deleteEntities(ctx, tx, []string{entityID}, []string{ref}, false, time.Now().UnixMilli()); err != nil {
			return err
		}
		return s.bumpGeneration(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("delete unprocessed entity %s: %w", entityID, err)
	}
	return nil
}
