package model

import (
	"strconv"
	"strings"

	"github.com/understage/understage/plugins/backend/ojson"
)

// child reads key from an object, or an index from an array (lodash.hasIn).
func child(v any, key string) (any, bool) {
	switch t := v.(type) {
	case *ojson.Object:
		return t.Get(key)
	case []any:
		i, err := strconv.Atoi(key)
		if err != nil || i < 0 || i >= len(t) || strconv.Itoa(i) != key {
			return nil, false
		}
		return t[i], true
	}
	return nil, false
}

// resolveField walks a dotted field; a segment that is not a key is glued to
// the next one with a dot and retried, so keys containing dots resolve.
func resolveField(e any, field string) ([]string, any, bool) {
	parts := strings.Split(field, ".")
	var path []string
	cur := e
	for i := 0; i < len(parts); i++ {
		if v, ok := child(cur, parts[i]); ok {
			path = append(path, parts[i])
			cur = v
			continue
		}
		if i+1 < len(parts) {
			parts[i+1] = parts[i] + "." + parts[i+1]
			continue
		}
		return nil, nil, false
	}
	return path, cur, true
}

// Project keeps only the given fields of e (parsed by httpapi.ParseFields), nesting kept,
// in the order the fields are listed; missing fields are omitted. Values are
// shared with e, not copied; callers must not modify the result in place.
func Project(e *ojson.Object, fields []string) *ojson.Object {
	out := &ojson.Object{}
	owned := map[*ojson.Object]bool{out: true}
	for _, f := range fields {
		path, v, ok := resolveField(e, f)
		if !ok {
			continue
		}
		if len(path) == 0 {
			continue
		}
		cur := out
		for i, seg := range path {
			if i == len(path)-1 {
				if owned[cur] {
					cur.Set(seg, v)
				}
				break
			}
			next, exists := cur.Get(seg)
			nobj, isObj := next.(*ojson.Object)
			if !exists || !isObj {
				nobj = &ojson.Object{}
				owned[nobj] = true
				if !owned[cur] {
					break
				}
				cur.Set(seg, nobj)
			}
			if !owned[nobj] {
				// A whole subtree was already selected: it already holds v.
				break
			}
			cur = nobj
		}
	}
	return out
}
