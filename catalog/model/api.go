// Package model is Backstage's entity model: references, validation,
// relations, the flattened search index and stitching. Pure functions over
// ojson values; no I/O.
//
// Error messages and key orders follow Backstage 1.55 byte for byte (they
// are compared with the oracle in the golden tests). Errors returned here
// are *ValidationError: Error() is Backstage's message and Serialize() the
// {name, message, cause} shape stored in refresh_state.errors.
package model

import (
	"strings"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend/ojson"
)

// Ref is an entity reference.
type Ref struct{ Kind, Namespace, Name string }

// String is the lowercased full ref "kind:namespace/name".
func (r Ref) String() string {
	return strings.ToLower(r.Kind) + ":" + strings.ToLower(r.Namespace) + "/" + strings.ToLower(r.Name)
}

// NewRef is the ref of kind, namespace and name, an empty namespace being
// "default" as in Backstage's stringifyEntityRef.
func NewRef(kind, namespace, name string) Ref {
	if namespace == "" {
		namespace = DefaultNamespace
	}
	return Ref{Kind: kind, Namespace: namespace, Name: name}
}

// RefDefaults are used for missing parts when parsing a ref.
type RefDefaults struct{ Kind, Namespace string }

// ParseRef parses "[kind:][namespace/]name" keeping the original casing.
// Missing parts come from d (namespace falls back to "default"); a missing
// kind without a default is an error. Errors carry Backstage's messages.
func ParseRef(s string, d RefDefaults) (Ref, error) {
	r, err := parseRef(s, d)
	if err != nil {
		return Ref{}, err
	}
	return r, nil
}

// EntityRef is the lowercased ref of an entity (namespace defaults to "default").
func EntityRef(e *ojson.Object) string { return CompoundRef(e).String() }

// ApplyPolicies is the orchestrator's policy step: the envelope check, the
// built-in preprocessing (relation arrays sorted), then Backstage's default
// policies in order (entity schema, default namespace, no foreign root
// fields, field formats). e is not modified; the result is a new entity.
// Failures are InputErrors ("Policy check failed for <ref>" with the
// policy's error as cause).
func ApplyPolicies(e *ojson.Object) (*ojson.Object, error) {
	out, err := applyPolicies(e)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Validate is the validation step after policies: the full entity schema
// (ConflictError), then the per-kind schemas (InputError naming the
// processor), and an InputError when no kind schema claims the entity.
func Validate(e *ojson.Object) error {
	if err := validate(e); err != nil {
		return err
	}
	return nil
}

// ValidateKind runs the per-kind schemas only. accepted is false with a nil
// error when no schema claims the kind/apiVersion ("no processor accepted");
// a non-nil error is a schema violation of a claimed kind.
func ValidateKind(e *ojson.Object) (accepted bool, err error) {
	ok, verr := validateKind(e)
	if verr != nil {
		return false, verr
	}
	return ok, nil
}

// BuildRelations emits the built-in relations of e in both directions,
// refs lowercased, namespace defaulting to the entity's own. A ref the
// processor cannot parse (e.g. dependsOn without a kind) is an InputError.
func BuildRelations(e *ojson.Object) ([]catalog.Relation, error) {
	rels, err := buildRelations(e)
	if err != nil {
		return nil, err
	}
	return rels, nil
}

// SearchRow is one row of the flattened search index.
type SearchRow struct {
	Key           string  // lowercased, at most 200 chars
	Value         *string // lowercased; nil when the value is null or longer than 200 chars
	OriginalValue *string // original casing; nil likewise
}

// SearchRows flattens a stitched entity by Backstage's rules. Keys that
// differ only in case are an InputError.
func SearchRows(e *ojson.Object) ([]SearchRow, error) {
	rows, err := searchRows(e)
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// StitchInput is what stitching needs about one entity.
type StitchInput struct {
	Processed *ojson.Object // processed entity (will not be modified)
	UID       string
	Relations []catalog.Relation // rows whose Source is this entity
	Errors    []catalog.SerializedError
	Orphan    bool
}

// Stitch builds the final entity as Backstage serves it and its etag: the
// hash is over the entity with its uid but before etag is added, and becomes
// metadata.etag unless the source set one. Compare the hash with the stored
// one to skip unchanged writes.
func Stitch(in StitchInput) (final *ojson.Object, etag string) { return stitch(in) }
