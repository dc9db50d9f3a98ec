package sqlstore

import (
	"slices"
	"strings"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/model"
	"github.com/understage/understage/plugins/backend/ojson"
)

// nulMessage is the processing error of an entity whose output holds U+0000.
const nulMessage = "The entity holds the character U+0000 (NUL), which PostgreSQL cannot store in text; remove it from the entity's file"

// refuseNUL turns every successful result whose output holds U+0000 into a
// failed one with nulMessage. PostgreSQL refuses the character in text
// columns, and the batch's relations, search rows and references are
// written together: one such entity (a YAML "\0" escape in an owner or a
// label) would otherwise fail its whole batch on every pass. Failed, the
// entity keeps its last good form and shows the error, as an entity that
// fails validation does. SQLite stores the character, as Backstage's does.
// The caller's slice is left as it is.
func refuseNUL(results []catalog.ProcessingResult) []catalog.ProcessingResult {
	out := results
	copied := false
	for i, r := range results {
		if !r.Ok || !resultHoldsNUL(r) {
			continue
		}
		if !copied {
			out, copied = slices.Clone(results), true
		}
		out[i].Ok = false
		out[i].Errors = append(append([]catalog.SerializedError(nil), r.Errors...),
			catalog.SerializedError{Name: "InputError", Message: nulMessage})
	}
	return out
}

func resultHoldsNUL(r catalog.ProcessingResult) bool {
	if holdsNUL(r.Processed) {
		return true
	}
	for _, rel := range r.Relations {
		if hasNUL(rel.Source) || hasNUL(rel.Type) || hasNUL(rel.Target) {
			return true
		}
	}
	for _, c := range r.Children {
		if hasNUL(c.LocationKey) || holdsNUL(c.Entity) {
			return true
		}
	}
	return false
}

func hasNUL(s string) bool { return strings.IndexByte(s, 0) >= 0 }

// holdsNUL reports whether any string or key of an ojson value holds U+0000.
func holdsNUL(v any) bool {
	switch t := v.(type) {
	case string:
		return hasNUL(t)
	case *ojson.Object:
		if t == nil {
			return false
		}
		for _, m := range t.Members {
			if hasNUL(m.Key) || holdsNUL(m.Value) {
				return true
			}
		}
	case []any:
		for _, e := range t {
			if holdsNUL(e) {
				return true
			}
		}
	}
	return false
}

// storableRows drops the search rows PostgreSQL cannot hold: a key with
// U+0000 goes, a value with it is kept as a row without a value (the key
// exists, no value matches). refuseNUL keeps such entities from being
// processed; this covers one stored before it was.
func storableRows(rows []model.SearchRow) []model.SearchRow {
	if !slices.ContainsFunc(rows, rowHoldsNUL) {
		return rows
	}
	out := make([]model.SearchRow, 0, len(rows))
	for _, r := range rows {
		switch {
		case hasNUL(r.Key):
		case rowHoldsNUL(r):
			out = append(out, model.SearchRow{Key: r.Key})
		default:
			out = append(out, r)
		}
	}
	return out
}

func rowHoldsNUL(r model.SearchRow) bool {
	return hasNUL(r.Key) || r.Value != nil && hasNUL(*r.Value) || r.OriginalValue != nil && hasNUL(*r.OriginalValue)
}
