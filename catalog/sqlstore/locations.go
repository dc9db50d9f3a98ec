package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend"
)

// The registered locations' rows (catalog.LocationStore). Their Location
// entities are written by the locations service through the processing
// store's mutations, not here.

var _ catalog.LocationStore = (*Store)(nil)

// ListLocations returns every row. Without ORDER BY both databases return
// this small table in insertion order, which is the order Backstage lists.
func (s *Store) ListLocations(ctx context.Context) ([]catalog.Location, error) {
	rows, err := s.query(ctx, s.r, `SELECT `+locationColumns+` FROM locations`)
	if err != nil {
		return nil, fmt.Errorf("list locations: %w", err)
	}
	defer rows.Close()
	out := []catalog.Location{}
	for rows.Next() {
		l, err := scanLocation(rows)
		if err != nil {
			return nil, fmt.Errorf("list locations: %w", err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list locations: %w", err)
	}
	return out, nil
}

const locationColumns = `id, type, target, location_entity_ref`

func scanLocation(row interface{ Scan(...any) error }) (catalog.Location, error) {
	var l catalog.Location
	var ref sql.NullString
	err := row.Scan(&l.ID, &l.Type, &l.Target, &ref)
	l.Ref = ref.String
	return l, err
}

func (s *Store) oneLocation(ctx context.Context, q queryer, where string, args ...any) (catalog.Location, bool, error) {
	l, err := scanLocation(q.QueryRowContext(ctx, s.d.rebind(`SELECT `+locationColumns+` FROM locations WHERE `+where), args...))
	if errors.Is(err, sql.ErrNoRows) {
		return l, false, nil
	}
	if err != nil {
		return l, false, fmt.Errorf("read location: %w", err)
	}
	return l, true, nil
}

// GetLocation returns the row with the id.
func (s *Store) GetLocation(ctx context.Context, id string) (catalog.Location, error) {
	l, ok, err := s.oneLocation(ctx, s.r, `id = ?`, id)
	if err != nil {
		return l, err
	}
	if !ok {
		return l, backend.NotFound("Found no location with ID %s", id)
	}
	return l, nil
}

// FindLocation returns the row with exactly this type and target.
func (s *Store) FindLocation(ctx context.Context, typ, target string) (catalog.Location, bool, error) {
	return s.oneLocation(ctx, s.r, `type = ? AND target = ?`, typ, target)
}

func conflict(l catalog.Location) error {
	return backend.Conflict("Location %s:%s already exists", l.Type, l.Target)
}

// CreateLocation inserts a row; an existing type and target is a conflict.
func (s *Store) CreateLocation(ctx context.Context, l catalog.Location) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, found, err := s.oneLocation(ctx, tx, `type = ? AND target = ?`, l.Type, l.Target); err != nil {
			return err
		} else if found {
			return conflict(l)
		}
		// Another replica (or request) may insert the same type and
		// target between the read above and this write: that is the same
		// conflict, not an internal error.
		res, err := tx.ExecContext(ctx, s.d.rebind(`INSERT INTO locations (id, type, target, location_entity_ref) VALUES (?, ?, ?, ?)
ON CONFLICT (type, target) DO NOTHING`), l.ID, l.Type, l.Target, l.EntityRef())
		if err != nil {
			return fmt.Errorf("insert location: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("insert location: %w", err)
		} else if n == 0 {
			return conflict(l)
		}
		return nil
	})
}

// UpdateLocation changes the type and target of the row with l.ID; its
// entity ref stays (a row from before the column gets the one generated
// from its old type and target). The conflict is checked first, as in
// Backstage. Its Location entity is released from the old location key, so
// that the provider's next mutation of it, under the new key, is taken
// instead of refused as a conflicting entity (Backstage replaces an entity
// whose provider re-emits it under another key).
func (s *Store) UpdateLocation(ctx context.Context, l catalog.Location) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if other, found, err := s.oneLocation(ctx, tx, `type = ? AND target = ?`, l.Type, l.Target); err != nil {
			return err
		} else if found && other.ID != l.ID {
			return conflict(l)
		}
		old, found, err := s.oneLocation(ctx, tx, `id = ?`, l.ID)
		if err != nil {
			return err
		}
		if !found {
			return backend.NotFound("Found no location with ID %s", l.ID)
		}
		if err := s.exec(ctx, tx, `UPDATE locations SET type = ?, target = ?, location_entity_ref = ? WHERE id = ?`, l.Type, l.Target, old.EntityRef(), l.ID); err != nil {
			return err
		}
		return s.exec(ctx, tx, `UPDATE refresh_state SET location_key = NULL WHERE entity_ref = ? AND location_key = ?`, old.EntityRef(), old.Type+":"+old.Target)
	})
}

// DeleteLocation removes the row and returns it.
func (s *Store) DeleteLocation(ctx context.Context, id string) (catalog.Location, error) {
	var out catalog.Location
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		l, found, err := s.oneLocation(ctx, tx, `id = ?`, id)
		if err != nil {
			return err
		}
		if !found {
			return backend.NotFound("Found no location with ID %s", id)
		}
		out = l
		return s.exec(ctx, tx, `DELETE FROM locations WHERE id = ?`, id)
	})
	return out, err
}
