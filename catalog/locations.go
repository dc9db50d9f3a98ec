package catalog

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
)

// Location is a registered location: a row of the locations table, as
// POST /locations creates it.
type Location struct {
	ID     string
	Type   string
	Target string
	// Ref is the ref of its Location entity, fixed when the location was
	// registered: changing the target keeps it, as in Backstage. Empty
	// means the one generated from Type and Target.
	Ref string
}

// EntityRef is the ref of the Location entity that stands for l in the
// catalog: Ref, else location:default/generated-<sha1 of "type:target">.
func (l Location) EntityRef() string {
	if l.Ref != "" {
		return l.Ref
	}
	return "location:default/" + GeneratedLocationName(l.Type, l.Target)
}

// GeneratedLocationName is the metadata.name Backstage gives the Location
// entity of a registered or configured location.
func GeneratedLocationName(typ, target string) string {
	sum := sha1.Sum([]byte(typ + ":" + target))
	return "generated-" + hex.EncodeToString(sum[:])
}

// LocationStore keeps the registered locations' rows. Errors wrap the
// backend error kinds: ErrNotFound for an unknown id, ErrConflict when the
// type and target are already registered.
type LocationStore interface {
	// ListLocations returns every row in registration order.
	ListLocations(ctx context.Context) ([]Location, error)
	// GetLocation returns the row with the id.
	GetLocation(ctx context.Context, id string) (Location, error)
	// FindLocation returns the row with exactly this type and target.
	FindLocation(ctx context.Context, typ, target string) (Location, bool, error)
	// CreateLocation inserts a row.
	CreateLocation(ctx context.Context, l Location) error
	// UpdateLocation changes the type and target of the row with l.ID and
	// keeps its entity ref. A type and target registered under another id
	// is a conflict, checked before the id exists, as in Backstage.
	UpdateLocation(ctx context.Context, l Location) error
	// DeleteLocation removes the row and returns it.
	DeleteLocation(ctx context.Context, id string) (Location, error)
}
