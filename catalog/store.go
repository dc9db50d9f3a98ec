package catalog

import (
	"context"
	"time"

	"github.com/understage/understage/catalog/ojson"
)

// Reader answers the catalog's read API. Every method takes an optional
// extra Filter (nil = none) so that conditional permission decisions can
// narrow what a caller sees.
type Reader interface {
	// ListEntities serves legacy GET /entities.
	ListEntities(ctx context.Context, req EntitiesRequest) (EntitiesResult, error)
	// QueryEntities serves /entities/by-query (keyset pages).
	QueryEntities(ctx context.Context, req QueryRequest) (QueryResult, error)
	// EntitiesByRefs returns one slot per ref (lowercased full refs), nil where missing or filtered out.
	EntitiesByRefs(ctx context.Context, refs []string, filter Filter) ([]RawEntity, error)
	// EntityByRef returns the entity or an error wrapping backend.ErrNotFound.
	EntityByRef(ctx context.Context, ref string, filter Filter) (RawEntity, error)
	// EntityByUID returns the entity or an error wrapping backend.ErrNotFound.
	EntityByUID(ctx context.Context, uid string, filter Filter) (RawEntity, error)
	// Facets counts entities per original value of each facet key (keys as requested).
	Facets(ctx context.Context, facets []string, filter Filter) (map[string][]FacetCount, error)
	// Ancestry walks refresh_state_references upwards from ref; root first.
	Ancestry(ctx context.Context, ref string) ([]AncestryItem, error)
}

// Writer holds the entity mutations the read API exposes.
type Writer interface {
	// DeleteEntityByUID removes the entity (no error when unknown) and makes
	// its parents re-emit it on their next pass.
	DeleteEntityByUID(ctx context.Context, uid string) error
	// RequestRefresh schedules the entity and its location ancestors for
	// immediate processing; unknown ref → backend.ErrNotFound.
	RequestRefresh(ctx context.Context, ref string) error
}

// Relation is one directed relation row; refs are lowercased full refs.
type Relation struct {
	Source string
	Type   string
	Target string
}

// DeferredEntity is an unprocessed entity emitted by a provider or by the
// processing of a parent, with the key of the location that owns it (first
// writer wins on ref conflicts).
type DeferredEntity struct {
	Entity      *ojson.Object
	LocationKey string
}

// ProcessingItem is a claimed refresh_state row.
type ProcessingItem struct {
	EntityID    string
	EntityRef   string
	Unprocessed []byte // JSON
	LocationKey string
	ResultHash  string // hash of the last written result, to skip unchanged writes
	// Processed is the last good processed entity (nil if never processed).
	Processed []byte
}

// SerializedError is an error as Backstage serializes it into refresh_state.errors.
type SerializedError struct {
	Name    string           `json:"name"`
	Message string           `json:"message"`
	Cause   *SerializedError `json:"cause,omitempty"`
}

// ProcessingResult is the outcome of processing one claimed item.
type ProcessingResult struct {
	EntityID  string
	EntityRef string
	// Ok is false when processing failed: Processed, Relations and Children
	// are then ignored and the previous good output is kept; only Errors and
	// ResultHash are written.
	Ok         bool
	Processed  *ojson.Object // the processed entity (policies applied, placeholders resolved)
	Relations  []Relation    // all rows this entity originates (both directions)
	Children   []DeferredEntity
	Errors     []SerializedError
	ResultHash string // hash over everything above; equal to the item's ResultHash = nothing to write
	// NextUpdateAt, when set, is when the entity is next due. It is written
	// even when nothing else changed: claiming only leases a row briefly, so
	// a replica that dies mid-batch delays its rows by the lease, not by a
	// whole processing interval.
	NextUpdateAt time.Time
}

// ProcessingStore is what the processing engine needs from storage.
type ProcessingStore interface {
	// ApplyFullMutation replaces everything the provider emitted: upserts the
	// given entities (as roots referenced by source_key = provider) and drops
	// the provider's references to entities it no longer emits (they become
	// orphans).
	ApplyFullMutation(ctx context.Context, provider string, entities []DeferredEntity) error
	// ApplyDeltaMutation upserts added and drops references to removed refs.
	ApplyDeltaMutation(ctx context.Context, provider string, added []DeferredEntity, removed []string) error
	// ClaimDue claims up to limit rows whose next_update_at has passed,
	// pushing their next_update_at to next(): the push is the lease, so
	// several replicas never process the same row at once.
	ClaimDue(ctx context.Context, limit int, next func() time.Time) ([]ProcessingItem, error)
	// CompleteProcessing writes results atomically and queues stitches for
	// every entity whose final form may have changed.
	CompleteProcessing(ctx context.Context, results []ProcessingResult) error
	// StitchPending stitches up to limit queued entities (final entity and
	// search rows); it returns how many it did.
	StitchPending(ctx context.Context, limit int) (int, error)
	// DeleteOrphans removes entities that nothing references (orphanStrategy delete).
	DeleteOrphans(ctx context.Context) (int, error)
}

// Store is the whole catalog storage.
type Store interface {
	Reader
	Writer
	ProcessingStore
	Close() error
}
