package catalog

import (
	"context"
	"time"

	"github.com/understage/understage/plugins/backend/ojson"
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
	// JSON, when set, is Entity encoded (ojson.Marshal) and Ref its entity
	// ref; Entity may then be nil. The processing engine keeps emitted
	// entities in this form from processing to their write: a location may
	// emit thousands, and their decoded trees take several times the memory.
	JSON []byte
	Ref  string
}

// Present tells whether d holds an entity, decoded or encoded.
func (d DeferredEntity) Present() bool { return d.Entity != nil || d.JSON != nil }

// ProcessingItem is a claimed refresh_state row.
type ProcessingItem struct {
	EntityID    string
	EntityRef   string
	Unprocessed []byte // JSON
	LocationKey string
	ResultHash  string // hash of the last written result, to skip unchanged writes
	// Processed is the last good processed entity (nil if never processed).
	Processed []byte
	// DueAt is when the entity became due for processing (its
	// next_update_at before the claim), for the queue delay metric.
	DueAt time.Time
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
	// ConcurrentWriters says whether write transactions run side by side
	// (PostgreSQL) rather than one at a time (SQLite).
	ConcurrentWriters() bool
	// DeleteOrphans removes entities that nothing references (orphanStrategy delete).
	DeleteOrphans(ctx context.Context) (int, error)
	// ReferencesDropped reports whether this store committed a write that
	// dropped a reference to an entity since the last call (true on the
	// first): other writes make no orphans.
	ReferencesDropped() bool
}

// UnprocessedReason selects a list of the unprocessed-entities API.
type UnprocessedReason string

const (
	// UnprocessedFailed lists the entities whose last processing failed,
	// and those that lost an entity they emitted to another location.
	UnprocessedFailed UnprocessedReason = "failed"
	// UnprocessedPending lists the entities not (yet) in the catalog:
	// never processed, or never successfully.
	UnprocessedPending UnprocessedReason = "pending"
)

// UnprocessedEntity is an entity's processing state (its refresh_state row
// and the hash and time of its stitched form) as the unprocessed-entities
// API serves it. Times are in the form Backstage's database driver gives
// them for the store's database; "" is null.
type UnprocessedEntity struct {
	EntityID    string
	EntityRef   string
	Unprocessed []byte // JSON
	Processed   []byte // JSON; nil when never processed successfully
	// WasProcessed is false until the entity's first processing finished.
	WasProcessed bool
	// Errors are the last processing's errors followed by the conflicts
	// of what the entity emitted.
	Errors          []SerializedError
	NextUpdateAt    string
	LastDiscoveryAt string
	LocationKey     string
	ResultHash      string
	UnprocessedHash string
	// FinalHash, Final and LastUpdatedAt describe the stitched entity;
	// empty when the entity has none.
	FinalHash     string
	Final         []byte
	LastUpdatedAt string
}

// UnprocessedStore serves the unprocessed-entities API.
type UnprocessedStore interface {
	// UnprocessedEntities lists the entities of one reason.
	UnprocessedEntities(ctx context.Context, reason UnprocessedReason) ([]UnprocessedEntity, error)
	// DeleteUnprocessedEntity removes an entity's processing state and all
	// derived from it, as Backstage deletes the refresh_state row: its
	// parent emits it again only once its own output changes. An unknown id
	// is no error.
	DeleteUnprocessedEntity(ctx context.Context, entityID string) error
}

// Store is the whole catalog storage.
type Store interface {
	Reader
	Writer
	ProcessingStore
	UnprocessedStore
	Close() error
}
