package httpapi

import (
	"errors"
	"math"
	"net/url"
	"strconv"
	"strings"

	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/ojson"
)

// Backstage validates requests against its OpenAPI spec before the handlers
// run (express-openapi-validator + ajv); these helpers reproduce the checks
// and messages for the catalog's entity routes.

type paramKind int

const (
	pArray paramKind = iota
	pString
	pInteger // integer, minimum 0
	pEnumTotalItems
)

type queryParam struct {
	name string
	kind paramKind
}

var (
	entitiesParams = []queryParam{{"fields", pArray}, {"limit", pInteger}, {"filter", pArray},
		{"offset", pInteger}, {"after", pString}, {"order", pArray}}
	byQueryParams = []queryParam{{"fields", pArray}, {"limit", pInteger}, {"offset", pInteger},
		{"orderField", pArray}, {"cursor", pString}, {"filter", pArray}, {"totalItems", pEnumTotalItems},
		{"fullTextFilterTerm", pString}, {"fullTextFilterFields", pArray}}
	facetsParams = []queryParam{{"facet", pArray}, {"filter", pArray}}
	byRefsParams = []queryParam{{"filter", pArray}}
)

// queryValues is a parsed query string that remembers key order.
type queryValues struct {
	keys   []string
	values url.Values
	ints   map[string]int
	// infinite holds the integer parameters given as ±Infinity (or a
	// number beyond a double), which Backstage's validator lets through.
	infinite map[string]float64
}

func parseQuery(raw string) queryValues {
	q := queryValues{values: url.Values{}, ints: map[string]int{}, infinite: map[string]float64{}}
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, _ = url.QueryUnescape(k)
		v, _ = url.QueryUnescape(v)
		if _, seen := q.values[k]; !seen {
			q.keys = append(q.keys, k)
		}
		q.values[k] = append(q.values[k], v)
	}
	return q
}

func (q queryValues) has(k string) bool      { _, ok := q.values[k]; return ok }
func (q queryValues) list(k string) []string { return q.values[k] }
func (q queryValues) first(k string) string {
	if v := q.values[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// validateQuery applies the spec's query rules: unknown and empty
// parameters first (in request order), then types in spec order.
func validateQuery(q queryValues, spec []queryParam, required string) error {
	known := map[string]bool{}
	for _, p := range spec {
		known[p.name] = true
	}
	for _, k := range q.keys {
		if !known[k] {
			return backend.Input("Unknown query parameter '%s'", k)
		}
		if vs := q.values[k]; len(vs) == 1 && vs[0] == "" {
			return backend.Input("Empty value found for query parameter '%s'", k)
		}
	}
	if required != "" && !q.has(required) {
		return backend.Input("request/query must have required property '%s'", required)
	}
	for _, p := range spec {
		vs, ok := q.values[p.name]
		if !ok {
			continue
		}
		switch p.kind {
		case pString:
			if len(vs) > 1 {
				return backend.Input("request/query/%s must be string", p.name)
			}
		case pEnumTotalItems:
			if len(vs) > 1 {
				return backend.Input("request/query/%s must be string", p.name)
			}
			if vs[0] != "include" && vs[0] != "exclude" {
				return backend.Input("request/query/%s must be equal to one of the allowed values: include, exclude", p.name)
			}
		case pInteger:
			if len(vs) > 1 {
				return backend.Input("request/query/%s must be integer", p.name)
			}
			f, ok := jsNumber(vs[0])
			if ok && math.IsInf(f, 0) {
				q.infinite[p.name] = f
				continue
			}
			if !ok || f != math.Trunc(f) {
				return backend.Input("request/query/%s must be integer", p.name)
			}
			if f < 0 {
				return backend.Input("request/query/%s must be >= 0", p.name)
			}
			q.ints[p.name] = int(math.Min(f, math.MaxInt32))
		}
	}
	return nil
}

// jsNumber is JavaScript's Number(string) as ajv's coercion applies it.
func jsNumber(s string) (float64, bool) {
	t := trimJS(s)
	if t == "" {
		return 0, true
	}
	switch t {
	case "Infinity", "+Infinity":
		return math.Inf(1), true
	case "-Infinity":
		return math.Inf(-1), true
	}
	if len(t) > 2 && t[0] == '0' {
		base := 0
		switch t[1] {
		case 'x', 'X':
			base = 16
		case 'o', 'O':
			base = 8
		case 'b', 'B':
			base = 2
		}
		if base != 0 {
			n, err := strconv.ParseUint(t[2:], base, 64)
			return float64(n), err == nil
		}
	}
	for _, r := range t {
		if !strings.ContainsRune("0123456789+-.eE", r) {
			return 0, false
		}
	}
	// Beyond a double is ±Infinity, as in JavaScript.
	f, err := strconv.ParseFloat(t, 64)
	return f, err == nil || errors.Is(err, strconv.ErrRange)
}

// bodyRule validates one JSON value, returning an ajv-style message
// ("request/body/x must be ...") or "".
type bodyRule func(v any, path string) string

func bType(kind string) bodyRule {
	return func(v any, path string) string {
		ok := false
		switch kind {
		case "object":
			_, ok = v.(*ojson.Object)
		case "array":
			_, ok = v.([]any)
		case "string":
			_, ok = v.(string)
		case "number":
			// ajv's strictNumbers: Infinity (JSON's 1e400) is no number.
			n, isNumber := v.(ojson.Number)
			ok = isNumber && n.Finite()
		case "boolean":
			_, ok = v.(bool)
		}
		if !ok {
			return path + " must be " + kind
		}
		return ""
	}
}

func bArrayOf(item bodyRule) bodyRule {
	return func(v any, path string) string {
		arr, ok := v.([]any)
		if !ok {
			return path + " must be array"
		}
		for i, el := range arr {
			if m := item(el, path+"/"+strconv.Itoa(i)); m != "" {
				return m
			}
		}
		return ""
	}
}

func bEnum(values ...string) bodyRule {
	return func(v any, path string) string {
		s, ok := v.(string)
		if !ok {
			return path + " must be string"
		}
		for _, x := range values {
			if s == x {
				return ""
			}
		}
		return path + " must be equal to one of the allowed values: " + strings.Join(values, ", ")
	}
}

type bProp struct {
	name string
	rule bodyRule
}

func bObject(required []string, noAdditional bool, props ...bProp) bodyRule {
	return func(v any, path string) string {
		o, ok := v.(*ojson.Object)
		if !ok {
			return path + " must be object"
		}
		for _, r := range required {
			if !o.Has(r) {
				return path + " must have required property '" + r + "'"
			}
		}
		if noAdditional {
			for _, k := range o.Keys() {
				found := false
				for _, p := range props {
					found = found || p.name == k
				}
				if !found {
					return path + " must NOT have additional properties"
				}
			}
		}
		for _, p := range props {
			if pv, ok := o.Get(p.name); ok {
				if m := p.rule(pv, path+"/"+p.name); m != "" {
					return m
				}
			}
		}
		return ""
	}
}

var (
	stringArray = bArrayOf(bType("string"))
	refreshBody = bObject([]string{"entityRef"}, true,
		bProp{"authorizationToken", bType("string")}, bProp{"entityRef", bType("string")})
	byRefsBody = bObject([]string{"entityRefs"}, false,
		bProp{"entityRefs", stringArray}, bProp{"fields", stringArray}, bProp{"query", bType("object")})
	byQueryBody = bObject(nil, false,
		bProp{"cursor", bType("string")}, bProp{"limit", bType("number")}, bProp{"offset", bType("number")},
		bProp{"orderBy", bArrayOf(bObject([]string{"field", "order"}, false,
			bProp{"field", bType("string")}, bProp{"order", bEnum("asc", "desc")}))},
		bProp{"fullTextFilter", bObject(nil, false, bProp{"term", bType("string")}, bProp{"fields", stringArray})},
		bProp{"fields", stringArray}, bProp{"totalItems", bEnum("include", "exclude")},
		bProp{"query", bType("object")})
	validateEntityBody = bObject([]string{"location", "entity"}, false,
		bProp{"location", bType("string")}, bProp{"entity", bType("object")})
	facetsBody = bObject([]string{"facets"}, false,
		bProp{"facets", stringArray}, bProp{"query", bType("object")})
)
