package catalog

// Filter is a predicate over the flattened search index of stitched
// entities. Both the legacy `filter=` query strings and the predicate
// `query` bodies compile to it; conditional permission decisions will too.
// Keys are dotted, lowercased search keys (e.g. "spec.type",
// "metadata.tags.java", "relations.ownedby"); values are lowercased.
type Filter interface{ isFilter() }

// AllOf matches entities that match every filter; an empty AllOf matches everything.
type AllOf struct{ Filters []Filter }

// AnyOf matches entities that match at least one filter; an empty AnyOf matches nothing.
type AnyOf struct{ Filters []Filter }

// Not matches entities that do not match Filter.
type Not struct{ Filter Filter }

// FieldOp says how a Field compares.
type FieldOp int

const (
	// OpExists matches entities that have the key (any value, even NULL).
	OpExists FieldOp = iota
	// OpIn matches entities whose value for the key equals one of Values.
	OpIn
	// OpHasPrefix matches entities whose value for the key starts with Values[0].
	OpHasPrefix
)

// Field matches one search key.
type Field struct {
	Key    string // lowercased dotted path
	Op     FieldOp
	Values []string // lowercased; for OpIn one or more (OR), for OpHasPrefix exactly one
}

func (AllOf) isFilter() {}
func (AnyOf) isFilter() {}
func (Not) isFilter()   {}
func (Field) isFilter() {}

// Order sorts on the lowercased search value of Field.
type Order struct {
	Field string // dotted path, lowercased by the store
	Desc  bool
}

// EntitiesRequest is the legacy GET /entities listing.
type EntitiesRequest struct {
	Filter Filter  // nil = everything
	Order  []Order // all fields honoured; entities lacking a field are left out (1.55 behaviour); ties by uid
	// Offset and Limit paginate; Limit 0 means no limit (the whole result).
	Offset int
	Limit  int
}

// EntitiesResult is one page of the legacy listing.
type EntitiesResult struct {
	Entities []RawEntity // stitched entity JSON, in order
	HasMore  bool        // true when rows exist beyond Offset+Limit (only when Limit > 0)
}

// RawEntity is a stitched entity as stored (JSON with Backstage's key order).
// A Reader may hand out the bytes its result cache holds, to every caller
// of the same read: they are read-only.
type RawEntity []byte

// FullTextFilter is by-query's fullTextFilter.
type FullTextFilter struct {
	Term   string   // trimmed; empty = no filter
	Fields []string // empty = the sort field, or metadata.uid when unsorted
}

// QueryRequest is one page of /entities/by-query, with the cursor already
// decoded into its parts. The store implements Backstage's keyset paging:
// entities lacking OrderField are excluded, ties broken by uid.
type QueryRequest struct {
	Filter     Filter
	OrderField *Order // only the first order field counts
	FullText   FullTextFilter
	Limit      int // rows to return (0 = none)
	Offset     int // only on the first page
	// After, when set, continues after (or before, when Backward) this position.
	After    *CursorPosition
	Backward bool
	// CountTotal asks for the total number of matches (first page only; later
	// pages carry the total in the cursor).
	CountTotal bool
}

// CursorPosition is a position in an ordered listing: the sort value of a row
// (lowercased search value, nil when unsorted) and its uid.
type CursorPosition struct {
	Value *string
	UID   string
}

// QueryResult is what the store returns for a QueryRequest.
type QueryResult struct {
	Entities []RawEntity
	// First and Last are the positions of the first and last returned rows.
	First, Last *CursorPosition
	// HasMore is true when more rows exist in the paging direction.
	HasMore bool
	// IsFirstOfAll is true when First is the very first row of the whole listing
	// (used to decide whether a prevCursor is emitted).
	IsFirstOfAll bool
	TotalItems   int // only when CountTotal
}

// FacetCount is one value of a facet with the number of entities that have it.
type FacetCount struct {
	Value string `json:"value"`
	Count int    `json:"count"`
}

// AncestryItem is one entity of an ancestry answer with its direct parents.
type AncestryItem struct {
	Entity           RawEntity
	ParentEntityRefs []string
}
