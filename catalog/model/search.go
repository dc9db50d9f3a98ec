package model

import (
	"sort"
	"strings"

	"github.com/understage/understage/plugins/backend/ojson"
)

const maxSearchLen = 200

// rawRow is a search entry before lowercasing and length limits; hasValue
// false means null/undefined.
type rawRow struct {
	key      string
	value    string
	hasValue bool
}

// traverseSearch flattens the entity like Backstage's buildEntitySearch.
func traverseSearch(root *ojson.Object) []rawRow {
	out := make([]rawRow, 0, 32)
	var seenItemKeys map[string]bool
	var visit func(path string, v any)
	visit = func(path string, v any) {
		switch path {
		case "attachments", "relations", "status", "metadata.name", "metadata.namespace", "metadata.uid", "metadata.etag":
			return
		}
		switch t := v.(type) {
		case *ojson.Object:
			if t == nil {
				out = append(out, rawRow{key: path})
				return
			}
			for _, m := range t.Members {
				k := m.Key
				if path != "" {
					k = path + "." + m.Key
				}
				visit(k, m.Value)
			}
		case []any:
			for _, item := range t {
				visit(path, item)
				if s, ok := item.(string); ok {
					pk := path + "." + s
					lk := strings.ToLower(pk)
					if seenItemKeys == nil {
						seenItemKeys = map[string]bool{}
					}
					if !seenItemKeys[lk] {
						seenItemKeys[lk] = true
						out = append(out, rawRow{key: pk, value: "true", hasValue: true})
					}
				}
			}
		default:
			s, ok := ojson.ScalarString(v)
			out = append(out, rawRow{key: path, value: s, hasValue: ok})
		}
	}
	visit("", root)
	return out
}

// searchRows is SearchRows with the concrete error type.
func searchRows(e *ojson.Object) ([]SearchRow, *ValidationError) {
	raw := traverseSearch(e)
	md := e.Object("metadata")
	explicit := func(key string, v any) {
		s, ok := ojson.ScalarString(v)
		raw = append(raw, rawRow{key: key, value: s, hasValue: ok})
	}
	name, _ := md.Get("name")
	ns, hasNS := md.Get("namespace")
	uid, _ := md.Get("uid")
	explicit("metadata.name", name)
	explicit("metadata.namespace", ns)
	explicit("metadata.uid", uid)
	if !hasNS || ns == nil || ns == "" || ns == false {
		explicit("metadata.namespace", DefaultNamespace)
	}
	if rels, ok := e.Get("relations"); ok {
		if arr, ok := rels.([]any); ok {
			for _, r := range arr {
				ro, _ := r.(*ojson.Object)
				if ro == nil {
					continue
				}
				tr, _ := ro.Get("targetRef")
				explicit("relations."+jsString(ro.String("type")), tr)
			}
		}
	}

	// Keys that differ only in case are ambiguous for case-insensitive filters.
	lower := make([]string, len(raw))
	firstByLower := make(map[string]string, len(raw))
	var dups []string
	var seenDup map[string]bool
	for i, r := range raw {
		lk := strings.ToLower(r.key)
		lower[i] = lk
		if orig, ok := firstByLower[lk]; ok {
			if orig != r.key && !seenDup[r.key] {
				if seenDup == nil {
					seenDup = map[string]bool{}
				}
				seenDup[r.key] = true
				dups = append(dups, lk)
			}
			continue
		}
		firstByLower[lk] = r.key
	}
	if len(dups) > 0 {
		return nil, newErr("InputError", "Entity has duplicate keys that vary only in casing, '"+strings.Join(dups, "', '")+"'", nil)
	}

	rows := make([]SearchRow, 0, len(raw))
	type dk struct{ k, v string }
	seen := make(map[dk]bool, len(raw))
	for i, r := range raw {
		key := lower[i]
		if len(key) > maxSearchLen && jsLen(key) > maxSearchLen {
			continue
		}
		row := SearchRow{Key: key}
		dv := ""
		if r.hasValue {
			v := strings.ToLower(r.value)
			if len(v) <= maxSearchLen || jsLen(v) <= maxSearchLen {
				orig := r.value
				row.Value, row.OriginalValue = &v, &orig
				dv = v
			}
		}
		// null and "" share the dedupe sentinel, as in Backstage.
		if seen[dk{key, dv}] {
			continue
		}
		seen[dk{key, dv}] = true
		rows = append(rows, row)
	}
	return rows, nil
}

// sortRows orders rows by key then value, for comparisons in tests and stable writes.
func sortRows(rows []SearchRow) {
	sort.SliceStable(rows, func(i, j int) bool {
		if rows[i].Key != rows[j].Key {
			return rows[i].Key < rows[j].Key
		}
		return deref(rows[i].Value) < deref(rows[j].Value)
	})
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
