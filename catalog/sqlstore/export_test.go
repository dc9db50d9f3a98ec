package sqlstore

import (
	"context"
	"maps"
	"slices"
)

// SetReadHook lets tests see every read query the store runs.
func SetReadHook(s *Store, f func(query string, args []any)) { s.onRead = f }

// SetTxReadHook lets tests see every read query the store runs inside its
// write transactions.
func SetTxReadHook(s *Store, f func(query string, args []any)) { s.onTxRead = f }

// ForceSelfVacuum makes s vacuum its own tables as with autovacuum off,
// checking the dead rows at every write, and returns the check.
func ForceSelfVacuum(s *Store) func(ctx context.Context) {
	s.selfVacuum, s.vacuumEvery = true, 0
	return s.maybeVacuum
}

// FacetKeys are the keys whose facet counts the store maintains.
func FacetKeys() []string { return slices.Clone(facetKeys) }

// SingleValued is the store's list of single-valued counted keys by kind.
func SingleValued() map[string][]string { return maps.Clone(singleValued) }
