// Package model is Backstage's entity model: references, validation,
// relations, the flattened search index and stitching. Pure functions over
// ojson values; no I/O.
package model

import (
	"errors"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/ojson"
)

// The functions below are the contract other packages build against. Their
// bodies are placeholders until the model lands.

var errTODO = errors.New("model: not implemented yet")

// Ref is an entity reference.
type Ref struct{ Kind, Namespace, Name string }

// String is the lowercased full ref "kind:namespace/name".
func (r Ref) String() string { return "" }

// RefDefaults are used for missing parts when parsing a ref.
type RefDefaults struct{ Kind, Namespace string }

// ParseRef parses "[kind:][namespace/]name".
func ParseRef(s string, d RefDefaults) (Ref, error) { return Ref{}, errTODO }

// EntityRef is the lowercased ref of an entity (namespace defaults to "default").
func EntityRef(e *ojson.Object) string { return "" }

// SearchRow is one row of the flattened search index.
type SearchRow struct {
	Key           string  // lowercased, at most 200 chars
	Value         *string // lowercased; nil when the value is null or longer than 200 chars
	OriginalValue *string // original casing; nil likewise
}

// SearchRows flattens a stitched entity by Backstage's rules.
func SearchRows(e *ojson.Object) ([]SearchRow, error) { return nil, errTODO }

// StitchInput is what stitching needs about one entity.
type StitchInput struct {
	Processed *ojson.Object // processed entity (will not be modified)
	UID       string
	Relations []catalog.Relation // rows whose Source is this entity
	Errors    []catalog.SerializedError
	Orphan    bool
}

// Stitch builds the final entity as Backstage serves it and its etag.
func Stitch(in StitchInput) (final *ojson.Object, etag string) { return nil, "" }
