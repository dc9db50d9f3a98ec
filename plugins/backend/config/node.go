package config

import (
	"github.com/understage/understage/plugins/backend/ojson"
)

// kind is the JSON type of a config value.
type kind int

const (
	kindNull kind = iota
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

// node is one config value together with the file it was read from, so
// that a sub-config can resolve paths relative to its own file even after
// several files were merged.
type node struct {
	kind   kind
	scalar any // bool, ojson.Number or string
	items  []*node
	keys   []string
	fields map[string]*node
	file   string
}

func (n *node) field(key string) *node {
	if n == nil || n.kind != kindObject {
		return nil
	}
	return n.fields[key]
}

func (n *node) set(key string, v *node) {
	if _, ok := n.fields[key]; !ok {
		n.keys = append(n.keys, key)
	}
	n.fields[key] = v
}

func newObject(file string) *node {
	return &node{kind: kindObject, fields: map[string]*node{}, file: file}
}

// fromValue converts ojson values (as decoded from YAML or JSON) to nodes.
func fromValue(v any, file string) *node {
	switch t := v.(type) {
	case nil:
		return &node{kind: kindNull, file: file}
	case bool:
		return &node{kind: kindBool, scalar: t, file: file}
	case ojson.Number:
		return &node{kind: kindNumber, scalar: t, file: file}
	case string:
		return &node{kind: kindString, scalar: t, file: file}
	case []any:
		n := &node{kind: kindArray, file: file, items: make([]*node, 0, len(t))}
		for _, it := range t {
			n.items = append(n.items, fromValue(it, file))
		}
		return n
	case *ojson.Object:
		n := newObject(file)
		for _, m := range t.Members {
			n.set(m.Key, fromValue(m.Value, file))
		}
		return n
	case map[string]any:
		// Plain Go maps (used by FromValue) have no order; keep insertion
		// deterministic by sorting.
		o := ojson.NewObject()
		for _, k := range sortedKeys(t) {
			o.Set(k, t[k])
		}
		return fromValue(o, file)
	case int:
		return &node{kind: kindNumber, scalar: ojson.NumberFromFloat(float64(t)), file: file}
	case int64:
		return &node{kind: kindNumber, scalar: ojson.NumberFromFloat(float64(t)), file: file}
	case float64:
		return &node{kind: kindNumber, scalar: ojson.NumberFromFloat(t), file: file}
	case []string:
		n := &node{kind: kindArray, file: file}
		for _, s := range t {
			n.items = append(n.items, &node{kind: kindString, scalar: s, file: file})
		}
		return n
	}
	return &node{kind: kindNull, file: file}
}

// value converts a node back to ojson values (nulls inside arrays stay nil).
func (n *node) value() any {
	if n == nil {
		return nil
	}
	switch n.kind {
	case kindBool, kindNumber, kindString:
		return n.scalar
	case kindArray:
		out := make([]any, 0, len(n.items))
		for _, it := range n.items {
			out = append(out, it.value())
		}
		return out
	case kindObject:
		o := ojson.NewObject()
		for _, k := range n.keys {
			o.Set(k, n.fields[k].value())
		}
		return o
	}
	return nil
}

// merge overlays hi (a later file) on lo (an earlier one) the way
// Backstage's ConfigReader falls back: objects merge key by key, anything
// else in hi wins, and a null in hi hides whatever lo had.
func merge(hi, lo *node) *node {
	if hi == nil {
		return lo
	}
	if hi.kind == kindNull {
		return hi
	}
	if hi.kind != kindObject {
		return hi
	}
	out := newObject(hi.file)
	for _, k := range hi.keys {
		out.set(k, merge(hi.fields[k], lo.field(k)))
	}
	if lo != nil && lo.kind == kindObject {
		for _, k := range lo.keys {
			if _, ok := out.fields[k]; !ok {
				out.set(k, lo.fields[k])
			}
		}
	}
	return out
}

// stripNulls drops object members whose value is null: Backstage treats them
// as absent (has() is false, keys() skips them).
func stripNulls(n *node) *node {
	if n == nil {
		return nil
	}
	switch n.kind {
	case kindObject:
		out := newObject(n.file)
		for _, k := range n.keys {
			v := n.fields[k]
			if v.kind == kindNull {
				continue
			}
			out.set(k, stripNulls(v))
		}
		return out
	case kindArray:
		out := &node{kind: kindArray, file: n.file, items: make([]*node, 0, len(n.items))}
		for _, it := range n.items {
			out.items = append(out.items, stripNulls(it))
		}
		return out
	}
	return n
}

func typeName(n *node) string {
	switch n.kind {
	case kindNull:
		return "null"
	case kindBool:
		return "boolean"
	case kindNumber:
		return "number"
	case kindString:
		if n.scalar.(string) == "" {
			return "empty-string"
		}
		return "string"
	case kindArray:
		return "array"
	}
	return "object"
}
