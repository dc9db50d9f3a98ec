package httpapi

import (
	"math"
	"strconv"
	"strings"

	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/plugins/backend/openapiquery"
)

// Backstage validates requests against its OpenAPI spec before the handlers
// run (express-openapi-validator + ajv); the query strings are checked by
// openapiquery against these specs, and the bodies by the rules below.

var (
	entitiesParams = []openapiquery.Param{{Name: "fields", Kind: openapiquery.Array}, {Name: "limit", Kind: openapiquery.Integer},
		{Name: "filter", Kind: openapiquery.Array}, {Name: "offset", Kind: openapiquery.Integer},
		{Name: "after", Kind: openapiquery.String}, {Name: "order", Kind: openapiquery.Array}}
	byQueryParams = []openapiquery.Param{{Name: "fields", Kind: openapiquery.Array}, {Name: "limit", Kind: openapiquery.Integer},
		{Name: "offset", Kind: openapiquery.Integer}, {Name: "orderField", Kind: openapiquery.Array},
		{Name: "cursor", Kind: openapiquery.String}, {Name: "filter", Kind: openapiquery.Array},
		{Name: "totalItems", Kind: openapiquery.String, Enum: []string{"include", "exclude"}},
		{Name: "fullTextFilterTerm", Kind: openapiquery.String}, {Name: "fullTextFilterFields", Kind: openapiquery.Array}}
	facetsParams = []openapiquery.Param{{Name: "facet", Kind: openapiquery.Array, Required: true},
		{Name: "filter", Kind: openapiquery.Array}}
	byRefsParams = []openapiquery.Param{{Name: "filter", Kind: openapiquery.Array}}
)

// queryInt is a finite integer parameter that Validate passed, held to
// 2^31 so that a limit or offset beyond any catalog (1e300) cannot wrap
// to a negative int; ok is false when it is absent or infinite.
func queryInt(q *openapiquery.Values, name string) (n int, ok bool) {
	f, ok := q.Number(name)
	if !ok || math.IsInf(f, 0) {
		return 0, false
	}
	return int32Clamp(f), true
}

// int32Clamp converts a whole number of a request (a limit or an offset)
// to an int held to ±2^31: beyond any catalog either way, and Go's
// conversion of a larger double (1e300) would wrap.
func int32Clamp(f float64) int {
	return int(math.Max(math.Min(f, math.MaxInt32), math.MinInt32))
}

// queryInf is an integer parameter given as ±Infinity (or a number beyond
// a double), which Backstage's validator lets through.
func queryInf(q *openapiquery.Values, name string) (f float64, ok bool) {
	f, ok = q.Number(name)
	if !ok || !math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
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
