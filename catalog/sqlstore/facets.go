package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"

	"github.com/understage/understage/catalog"
)

// facetKeys are the search keys whose facet counts the store keeps in
// facet_counts as it writes search rows: the facets the stock Backstage
// frontend asks for (its kind, type, lifecycle, tag, namespace and owner
// pickers). A facet of one of them, unfiltered or filtered by kind alone,
// is read from those counts in time proportional to its distinct values,
// not to the catalog; any other facet counts search rows. Migration 0008
// counted exactly these keys in an existing catalog. Read-only.
var facetKeys = []string{"kind", "spec.type", "spec.lifecycle", "metadata.tags", "metadata.namespace", "relations.ownedby"}

func isFacetKey(key string) bool { return slices.Contains(facetKeys, key) }

// facetCell is one row of facet_counts: entities of kind (lowercased, as
// searched) with value (as shown, original case) under a key.
type facetCell struct {
	keyID       int64
	kind, value string
}

// facetDeltas are changes to facet_counts, gathered over a transaction.
type facetDeltas map[facetCell]int64

func (d facetDeltas) add(keyID int64, kind, value string, n int64) {
	c := facetCell{keyID, kind, value}
	if v := d[c] + n; v != 0 {
		d[c] = v
	} else {
		delete(d, c)
	}
}

// applyFacetDeltas writes d. Callers write it last before bumping the
// generation, and in key order, so that two transactions (replicas on
// PostgreSQL) never hold counts another waits for while waiting for one
// it holds.
func (s *Store) applyFacetDeltas(ctx context.Context, tx *sql.Tx, d facetDeltas) error {
	if len(d) == 0 {
		return nil
	}
	cells := make([]facetCell, 0, len(d))
	for c := range d {
		cells = append(cells, c)
	}
	slices.SortFunc(cells, func(a, b facetCell) int {
		return cmp.Or(cmp.Compare(a.keyID, b.keyID), strings.Compare(a.kind, b.kind), strings.Compare(a.value, b.value))
	})
	rows := make([][]any, len(cells))
	for i, c := range cells {
		rows[i] = []any{c.keyID, c.kind, c.value, d[c]}
	}
	if err := s.insertRows(ctx, tx, `INSERT INTO facet_counts (key_id, kind, value, n)`,
		`ON CONFLICT (key_id, kind, value) DO UPDATE SET n = facet_counts.n + excluded.n`, rows, nil); err != nil {
		return fmt.Errorf("facet counts: %w", err)
	}
	return nil
}

// deletedFacets returns the counts the search rows of the entities with
// the given uids contribute, negated: what deleting them takes away.
func (s *Store) deletedFacets(ctx context.Context, tx *sql.Tx, ids []string) (facetDeltas, error) {
	d := facetDeltas{}
	// Looked up in tx (internKeys), not through keyIDs: the read pool of an
	// in-memory database is the one connection this transaction holds.
	// Migration 0008 interned every counted key, so nothing is inserted.
	keys := make(map[string]int64, len(facetKeys))
	for _, k := range facetKeys {
		keys[k] = 0
	}
	if err := s.internKeys(ctx, tx, keys); err != nil {
		return nil, err
	}
	keyList := make([]int64, 0, len(keys))
	for _, id := range keys {
		keyList = append(keyList, id)
	}
	kindID := keys["kind"]
	keysIn, keyArgs := s.inInts(keyList)
	for _, chunk := range chunks(ids, 500) {
		args := append([]any{kindID}, anySlice(chunk)...)
		rows, err := s.query(ctx, tx, `SELECT s.key_id, COALESCE(k.value, ''), COALESCE(s.original_value, s.value), count(*)
FROM search s LEFT JOIN search k ON k.eid = s.eid AND k.key_id = ?
WHERE s.eid IN (SELECT eid FROM refresh_state WHERE entity_id IN `+inList(len(chunk))+`) AND s.value IS NOT NULL AND s.key_id IN `+keysIn+`
GROUP BY s.key_id, COALESCE(k.value, ''), COALESCE(s.original_value, s.value)`, append(args, keyArgs...)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var keyID, n int64
			var kind, value string
			if err := rows.Scan(&keyID, &kind, &value, &n); err != nil {
				rows.Close()
				return nil, err
			}
			d.add(keyID, kind, value, -n)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// kindSet is the set of kinds a filter admits: every kind when all is set.
type kindSet struct {
	all   bool
	kinds []string
}

// countableFilter reports whether f selects entities by kind alone (or not
// at all), and which kinds: facets under it can be read from facet_counts.
func countableFilter(f catalog.Filter) (kindSet, bool) {
	switch f := f.(type) {
	case nil:
		return kindSet{all: true}, true
	case catalog.AllOf:
		return countableList(f.Filters, true)
	case *catalog.AllOf:
		return countableList(f.Filters, true)
	case catalog.AnyOf:
		return countableList(f.Filters, false)
	case *catalog.AnyOf:
		return countableList(f.Filters, false)
	case catalog.Field:
		return countableField(f)
	case *catalog.Field:
		return countableField(*f)
	}
	return kindSet{}, false
}

func countableField(f catalog.Field) (kindSet, bool) {
	if strings.ToLower(f.Key) != "kind" || f.Op != catalog.OpIn {
		return kindSet{}, false
	}
	kinds := make([]string, len(f.Values))
	for i, v := range f.Values {
		kinds[i] = strings.ToLower(v)
	}
	return kindSet{kinds: kinds}, true
}

// countableList combines the kinds of fs: their intersection (all) or
// their union.
func countableList(fs []catalog.Filter, all bool) (kindSet, bool) {
	out := kindSet{all: all}
	for _, f := range fs {
		k, ok := countableFilter(f)
		if !ok {
			return kindSet{}, false
		}
		switch {
		case all && out.all:
			out = k
		case all && !k.all:
			out.kinds = slices.DeleteFunc(out.kinds, func(x string) bool { return !slices.Contains(k.kinds, x) })
		case !all && k.all:
			out = k
		case !all && !out.all:
			out.kinds = append(out.kinds, k.kinds...)
		}
	}
	slices.Sort(out.kinds)
	out.kinds = slices.Compact(out.kinds)
	return out, true
}

// countedFacet reads one facet of a facet key from facet_counts.
func (s *Store) countedFacet(ctx context.Context, keyID int64, kinds kindSet) ([]catalog.FacetCount, error) {
	if !kinds.all && len(kinds.kinds) == 0 {
		return []catalog.FacetCount{}, nil
	}
	q := "SELECT value, sum(n) FROM facet_counts WHERE key_id = ? AND n > 0"
	args := []any{keyID}
	if !kinds.all {
		in, kargs := s.in(kinds.kinds)
		q += " AND kind IN " + in
		args = append(args, kargs...)
	}
	q += " GROUP BY value ORDER BY value"
	return s.facetQuery(ctx, q, args)
}

// singleValued lists the counted keys that hold at most one value per
// entity, with the kinds where they do (nil: every kind): kind and
// metadata.namespace always, spec.type and spec.lifecycle where the kind's
// schema (schemas/kinds) makes them a string. Under such a key the counts
// count entities, so a listing's total can be read from them.
var singleValued = map[string][]string{
	"kind":               nil,
	"metadata.namespace": nil,
	"spec.type":          {"api", "component", "domain", "group", "location", "resource", "system", "template"},
	"spec.lifecycle":     {"api", "component", "template"},
}

// countedTotal reads the total of a by-query listing from facet_counts
// where that gives the same number as counting the listing: no full-text
// term, sorted (if at all) by a field every entity has, and filtered by
// kind alone, or by kind and one condition on a single-valued key (see
// totalFilter). It reports false where it cannot.
func (s *Store) countedTotal(ctx context.Context, req catalog.QueryRequest) (int, bool, error) {
	if strings.TrimSpace(req.FullText.Term) != "" {
		return 0, false, nil
	}
	if o := req.OrderField; o != nil {
		// A sorted listing leaves out the entities lacking the field.
		if f := strings.ToLower(o.Field); f != "metadata.name" && f != "metadata.uid" {
			return 0, false, nil
		}
	}
	t, ok := totalFilter(req.Filter)
	if !ok {
		return 0, false, nil
	}
	if allowed := singleValued[t.key]; allowed != nil {
		if t.kinds.all {
			return 0, false, nil
		}
		for _, k := range t.kinds.kinds {
			if !slices.Contains(allowed, k) {
				return 0, false, nil
			}
		}
	}
	if !t.kinds.all && len(t.kinds.kinds) == 0 {
		return 0, true, nil
	}
	ids, err := s.keyIDs(ctx, nil, t.key)
	if err != nil {
		return 0, false, err
	}
	q := "SELECT value, n FROM facet_counts WHERE key_id = ? AND n > 0"
	args := []any{ids[t.key]}
	if !t.kinds.all {
		in, kargs := s.in(t.kinds.kinds)
		q += " AND kind IN " + in
		args = append(args, kargs...)
	}
	rows, err := s.query(ctx, s.r, q, args...)
	if err != nil {
		return 0, false, err
	}
	defer rows.Close()
	total := 0
	for rows.Next() {
		var value string
		var n int
		if err := rows.Scan(&value, &n); err != nil {
			return 0, false, err
		}
		// The counts keep the value as shown; filters match it lowercased,
		// as search rows hold it.
		if t.values == nil || slices.Contains(t.values, strings.ToLower(value)) {
			total += n
		}
	}
	return total, true, rows.Err()
}

// total is a filter countedTotal can answer: the entities of kinds whose
// key has one of values (nil: any value; the key is then "kind").
type total struct {
	key    string
	values []string
	kinds  kindSet
}

// totalFilter splits f into a kind selection (see countableFilter) and at
// most one condition (equal to one of some values) on a single-valued key
// other than kind, AND'ed at its top level.
func totalFilter(f catalog.Filter) (total, bool) {
	if kinds, ok := countableFilter(f); ok {
		return total{key: "kind", kinds: kinds}, true
	}
	fs, all := conjuncts(f)
	if !all {
		return total{}, false
	}
	var t total
	var rest []catalog.Filter
	for _, c := range fs {
		fd, ok := asField(c)
		if !ok {
			rest = append(rest, c)
			continue
		}
		key := strings.ToLower(fd.Key)
		if _, single := singleValued[key]; !single || key == "kind" || fd.Op != catalog.OpIn {
			rest = append(rest, c)
			continue
		}
		if t.key != "" {
			return total{}, false
		}
		t.key, t.values = key, make([]string, len(fd.Values))
		for i, v := range fd.Values {
			t.values[i] = strings.ToLower(v)
		}
	}
	if t.key == "" {
		return total{}, false
	}
	kinds, ok := countableList(rest, true)
	t.kinds = kinds
	return t, ok
}
