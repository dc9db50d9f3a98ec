package locations

import (
	"context"
	"sort"
	"strconv"
	"strings"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/ojson"
)

// Query is a page request of POST /locations/by-query. Predicate is a
// validated filter predicate (nil = every location).
type Query struct {
	Limit     int
	AfterID   string
	Predicate any
}

// QueryResult is one page; More tells whether rows follow it.
type QueryResult struct {
	Items      []catalog.Location
	TotalItems int
	More       bool
}

// Query filters the registered locations with a predicate over id, type,
// target and entityRef (values compared case-insensitively, as Backstage's
// UPPER(..) = UPPER(..)), orders them by id and returns the page after
// AfterID. The table is small, so this runs over the rows in memory.
func (s *Service) Query(ctx context.Context, q Query) (QueryResult, error) {
	match := func(catalog.Location) bool { return true }
	if q.Predicate != nil {
		var err error
		if match, err = compileLocationPredicate(q.Predicate); err != nil {
			return QueryResult{}, err
		}
	}
	rows, err := s.o.Rows.ListLocations(ctx)
	if err != nil {
		return QueryResult{}, err
	}
	var hits []catalog.Location
	for _, l := range rows {
		if match(l) {
			hits = append(hits, l)
		}
	}
	sort.Slice(hits, func(i, j int) bool { return hits[i].ID < hits[j].ID })
	res := QueryResult{TotalItems: len(hits), Items: []catalog.Location{}}
	for _, l := range hits {
		if q.AfterID != "" && l.ID <= q.AfterID {
			continue
		}
		if len(res.Items) == q.Limit {
			res.More = true
			break
		}
		res.Items = append(res.Items, l)
	}
	return res, nil
}

type locationMatcher func(catalog.Location) bool

func never(catalog.Location) bool { return false }

// compileLocationPredicate checks the whole predicate first (Backstage
// builds the SQL before running it, so a bad key fails even on an empty
// table) and returns the matcher.
func compileLocationPredicate(p any) (locationMatcher, error) {
	o, ok := p.(*ojson.Object)
	if !ok {
		return nil, backend.Input("Invalid filter predicate, expected an object")
	}
	if v, ok := o.Get("$all"); ok {
		return compileList(v, true)
	}
	if v, ok := o.Get("$any"); ok {
		return compileList(v, false)
	}
	if v, ok := o.Get("$not"); ok {
		inner, err := compileLocationPredicate(v)
		if err != nil {
			return nil, err
		}
		return func(l catalog.Location) bool { return !inner(l) }, nil
	}
	keys := o.Keys()
	for _, k := range keys {
		if strings.HasPrefix(k, "$") {
			return nil, backend.Input("Invalid filter predicate, unknown logic operator '%s'", strings.Join(keys, ", "))
		}
	}
	var all []locationMatcher
	for _, m := range o.Members {
		field := strings.ToLower(m.Key)
		if field != "id" && field != "type" && field != "target" && field != "entityref" {
			return nil, backend.Input("Invalid filter predicate, expected key to be 'id', 'type', 'target', or 'entityRef', got '%s'", m.Key)
		}
		fm, err := compileValue(field, m.Value)
		if err != nil {
			return nil, err
		}
		all = append(all, fm)
	}
	return func(l catalog.Location) bool {
		for _, m := range all {
			if !m(l) {
				return false
			}
		}
		return true
	}, nil
}

func compileList(v any, and bool) (locationMatcher, error) {
	arr, _ := v.([]any)
	if len(arr) == 0 {
		return never, nil
	}
	subs := make([]locationMatcher, len(arr))
	for i, el := range arr {
		m, err := compileLocationPredicate(el)
		if err != nil {
			return nil, err
		}
		subs[i] = m
	}
	return func(l catalog.Location) bool {
		for _, m := range subs {
			if m(l) != and {
				return !and
			}
		}
		return and
	}, nil
}

func fieldOf(l catalog.Location, field string) string {
	switch field {
	case "id":
		return l.ID
	case "type":
		return l.Type
	case "target":
		return l.Target
	}
	return l.EntityRef()
}

// upper is SQLite's UPPER: ASCII letters only.
func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

// primitive renders a JSON primitive the way the database sees the bound
// parameter (SQLite binds booleans as 1 and 0).
func primitive(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case ojson.Number:
		return strconv.FormatFloat(t.Float(), 'f', -1, 64), true
	case bool:
		if t {
			return "1", true
		}
		return "0", true
	}
	return "", false
}

func compileValue(field string, v any) (locationMatcher, error) {
	if s, ok := primitive(v); ok {
		want := upper(s)
		return func(l catalog.Location) bool { return upper(fieldOf(l, field)) == want }, nil
	}
	o, ok := v.(*ojson.Object)
	if !ok {
		if _, isArr := v.([]any); isArr || v == nil {
			return nil, backend.Input("Invalid filter predicate, got unknown matcher object '%s'", ojson.MustMarshal(v))
		}
		return nil, backend.Input("Invalid filter predicate, expected value to be a primitive value or a matcher object")
	}
	if x, ok := o.Get("$exists"); ok {
		// Every column is always present.
		if b, _ := x.(bool); b {
			return func(catalog.Location) bool { return true }, nil
		}
		return never, nil
	}
	if x, ok := o.Get("$in"); ok {
		arr, _ := x.([]any)
		want := map[string]bool{}
		for _, el := range arr {
			if s, ok := primitive(el); ok {
				want[upper(s)] = true
			}
		}
		return func(l catalog.Location) bool { return want[upper(fieldOf(l, field))] }, nil
	}
	if x, ok := o.Get("$hasPrefix"); ok {
		p, _ := x.(string)
		p = upper(p)
		return func(l catalog.Location) bool { return strings.HasPrefix(upper(fieldOf(l, field)), p) }, nil
	}
	if _, ok := o.Get("$contains"); ok {
		// No location column is an array.
		return never, nil
	}
	return nil, backend.Input("Invalid filter predicate, got unknown matcher object '%s'", ojson.MustMarshal(o))
}
