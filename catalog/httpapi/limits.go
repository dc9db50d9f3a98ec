package httpapi

import (
	"unicode/utf8"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/ojson"
)

// What one request may ask of the catalog. Each limit answers a 400
// InputError before any SQL runs, so that a request's work stays bounded
// and no database limit (SQLite's expression depth, LIKE pattern length and
// bound-parameter count) is ever reached. The request head is bounded by
// the server (16 KiB, as Node's) and JSON bodies by DefaultBodyLimit.
//
// The counts sit above what Backstage 1.55 itself answers: on SQLite it
// fails with an SQL error beyond about 990 OR'ed filters, 930 AND'ed
// conditions, 830 nested $not and 32,000 values. The frontend and
// @backstage/catalog-client stay far below them (a filter per picker, one
// facet per request, by-refs in chunks of 1,000 refs).
const (
	// maxFilterParams is the number of `filter` query parameters (OR'ed).
	maxFilterParams = 1000
	// maxFilterConditions is the number of comma-separated conditions in
	// one `filter` parameter (AND'ed).
	maxFilterConditions = 1000
	// maxPredicateDepth is how deep a predicate (a `query`, also inside a
	// cursor) nests JSON objects and arrays. Backstage's validation of a
	// failing predicate writes a message quadratic in its depth, so the
	// depth is checked before the predicate is validated.
	maxPredicateDepth = 64
	// maxPredicateNodes is the number of conditions and $all/$any/$not
	// operators of a compiled filter.
	maxPredicateNodes = 2000
	// maxPredicateValues is the number of values all conditions compare
	// with; each is one bound SQL parameter.
	maxPredicateValues = 25000
	// maxFullTextTerm is the length of a full text filter term in
	// characters; each becomes at most 4 bytes of a LIKE pattern.
	maxFullTextTerm = 10000
	// maxFields is the number of projection fields and of full text
	// filter fields.
	maxFields = 1000
	// maxOrderFields is the number of order fields (only the first sorts).
	maxOrderFields = 100
	// maxFacets is the number of facets of one request; each is a query.
	maxFacets = 100
	// maxBodyDepth is how deep a JSON request body nests objects and
	// arrays (catalog files are held to the same depth by ojson).
	maxBodyDepth = 1000
)

// predicateDepthError refuses a predicate nested deeper than
// maxPredicateDepth; the walk stops at that depth.
func predicateDepthError(v any) error {
	var deeper func(v any, depth int) bool
	deeper = func(v any, depth int) bool {
		switch t := v.(type) {
		case *ojson.Object:
			if depth >= maxPredicateDepth {
				return true
			}
			for _, m := range t.Members {
				if deeper(m.Value, depth+1) {
					return true
				}
			}
		case []any:
			if depth >= maxPredicateDepth {
				return true
			}
			for _, el := range t {
				if deeper(el, depth+1) {
					return true
				}
			}
		}
		return false
	}
	if deeper(v, 0) {
		return backend.Input("Invalid query, predicates nested deeper than %d levels are not supported", maxPredicateDepth)
	}
	return nil
}

// filterSizeError refuses a compiled filter with more than
// maxPredicateNodes conditions and operators or maxPredicateValues values.
func filterSizeError(f catalog.Filter) error {
	nodes, values := 0, 0
	var count func(f catalog.Filter)
	count = func(f catalog.Filter) {
		nodes++
		switch t := f.(type) {
		case catalog.AllOf:
			for _, sub := range t.Filters {
				count(sub)
			}
		case catalog.AnyOf:
			for _, sub := range t.Filters {
				count(sub)
			}
		case catalog.Not:
			count(t.Filter)
		case catalog.Field:
			values += len(t.Values)
		}
	}
	count(f)
	if nodes > maxPredicateNodes {
		return backend.Input("Invalid query, predicates with more than %d conditions and operators are not supported", maxPredicateNodes)
	}
	if values > maxPredicateValues {
		return backend.Input("Invalid query, predicates with more than %d values are not supported", maxPredicateValues)
	}
	return nil
}

func fieldsCountError(n int) error {
	if n > maxFields {
		return backend.Input("Invalid fields, more than %d fields are not supported", maxFields)
	}
	return nil
}

func orderCountError(n int) error {
	if n > maxOrderFields {
		return backend.Input("Invalid order, more than %d order fields are not supported", maxOrderFields)
	}
	return nil
}

func facetCountError(n int) error {
	if n > maxFacets {
		return backend.Input("Invalid facets, more than %d facets are not supported", maxFacets)
	}
	return nil
}

// fullTextError checks a full text filter's term and fields.
func fullTextError(ft *CursorFullText) error {
	if ft == nil {
		return nil
	}
	if utf8.RuneCountInString(ft.Term) > maxFullTextTerm {
		return backend.Input("Invalid full text filter term, terms longer than %d characters are not supported", maxFullTextTerm)
	}
	if len(ft.Fields) > maxFields {
		return backend.Input("Invalid full text filter fields, more than %d fields are not supported", maxFields)
	}
	return nil
}

// bodyDepthExceeds tells whether JSON text nests objects and arrays deeper
// than max, scanning the bytes without decoding (strings are skipped).
func bodyDepthExceeds(text []byte, max int) bool {
	depth, inString := 0, false
	for i := 0; i < len(text); i++ {
		c := text[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			if depth++; depth > max {
				return true
			}
		case '}', ']':
			depth--
		}
	}
	return false
}
