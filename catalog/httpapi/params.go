package httpapi

import (
	"regexp"
	"strings"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/plugins/backend/openapiquery"
)

// FilterParamsPredicate converts repeated legacy `filter` query values to a
// predicate (as Backstage does before querying): occurrences are OR'ed,
// comma-separated statements AND'ed, repeated keys in one occurrence become
// $in, a bare key means "exists". Keys and values keep their spelling (the
// predicate is echoed in cursors); nil means no filter.
func FilterParamsPredicate(values []string) (*ojson.Object, error) {
	if len(values) > maxFilterParams {
		return nil, backend.Input("Invalid filter, more than %d filter parameters are not supported", maxFilterParams)
	}
	var sets []*ojson.Object
	for _, fs := range values {
		set, err := parseFilterString(fs)
		if err != nil {
			return nil, err
		}
		if set != nil {
			sets = append(sets, set)
		}
	}
	switch len(sets) {
	case 0:
		return nil, nil
	case 1:
		return sets[0], nil
	}
	arr := make([]any, len(sets))
	for i, s := range sets {
		arr[i] = s
	}
	return ojson.NewObject("$any", arr), nil
}

type filterStatement struct {
	key    string
	values []string // nil = exists
}

func parseFilterString(s string) (*ojson.Object, error) {
	if strings.Count(s, ",") >= maxFilterConditions {
		conditions := 0
		for _, st := range strings.Split(s, ",") {
			if openapiquery.TrimSpace(st) != "" {
				conditions++
			}
		}
		if conditions > maxFilterConditions {
			return nil, backend.Input("Invalid filter, more than %d conditions in one filter parameter are not supported", maxFilterConditions)
		}
	}
	var byKey []*filterStatement
	for _, st := range strings.Split(s, ",") {
		st = openapiquery.TrimSpace(st)
		if st == "" {
			continue
		}
		key, value, hasValue := strings.Cut(st, "=")
		key = openapiquery.TrimSpace(key)
		value = openapiquery.TrimSpace(value)
		if key == "" {
			return nil, backend.Input("Invalid filter, '%s' is not a valid statement (expected a string on the form a=b or a= or a)", st)
		}
		var f *filterStatement
		for _, x := range byKey {
			if x.key == key {
				f = x
			}
		}
		if f == nil {
			f = &filterStatement{key: key}
			byKey = append(byKey, f)
		}
		if hasValue {
			f.values = append(f.values, value)
		}
	}
	if len(byKey) == 0 {
		return nil, nil
	}
	preds := make([]any, len(byKey))
	for i, f := range byKey {
		switch len(f.values) {
		case 0:
			preds[i] = ojson.NewObject(f.key, ojson.NewObject("$exists", true))
		case 1:
			preds[i] = ojson.NewObject(f.key, f.values[0])
		default:
			in := make([]any, len(f.values))
			for j, v := range f.values {
				in[j] = v
			}
			preds[i] = ojson.NewObject(f.key, ojson.NewObject("$in", in))
		}
	}
	if len(preds) == 1 {
		return preds[0].(*ojson.Object), nil
	}
	return ojson.NewObject("$all", preds), nil
}

// ParseFilterParams parses repeated `filter` query values into a
// catalog.Filter (nil = no filter).
func ParseFilterParams(values []string) (catalog.Filter, error) {
	p, err := FilterParamsPredicate(values)
	if err != nil || p == nil {
		return nil, err
	}
	return CompilePredicate(p)
}

// ParseFields merges `fields` lists (each entry may be comma-separated),
// trimmed and de-duplicated in first-seen order; nil means no projection.
func ParseFields(lists ...[]string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, list := range lists {
		for _, entry := range list {
			for _, f := range strings.Split(entry, ",") {
				f = openapiquery.TrimSpace(f)
				if f == "" || seen[f] {
					continue
				}
				seen[f] = true
				out = append(out, f)
			}
		}
	}
	if err := fieldsCountError(len(out)); err != nil {
		return nil, err
	}
	for _, f := range out {
		if strings.Contains(f, "[") {
			return nil, backend.Input("Invalid field \"%s\", array type fields are not supported", f)
		}
	}
	return out, nil
}

var orderParamRE = regexp.MustCompile(`^(asc|desc):([\s\S]+)$`)

// ParseOrderParams parses GET /entities `order=<asc|desc>:<field>` values.
func ParseOrderParams(values []string) ([]catalog.Order, error) {
	if err := orderCountError(len(values)); err != nil {
		return nil, err
	}
	var out []catalog.Order
	for _, v := range values {
		m := orderParamRE.FindStringSubmatch(v)
		if m == nil {
			return nil, backend.Input("Invalid order parameter \"%s\", expected \"<asc or desc>:<field name>\"", v)
		}
		out = append(out, catalog.Order{Field: m[2], Desc: m[1] == "desc"})
	}
	return out, nil
}

// orderField is by-query's {field, order}; order may be empty in the GET form.
type orderField struct {
	Field string
	Order string
}

// parseOrderFieldParams parses GET by-query `orderField=<field>,<asc|desc>`.
func parseOrderFieldParams(values []string) ([]orderField, error) {
	if err := orderCountError(len(values)); err != nil {
		return nil, err
	}
	var out []orderField
	for _, v := range values {
		parts := strings.Split(v, ",")
		of := orderField{Field: parts[0]}
		if len(parts) > 1 {
			if parts[1] != "asc" && parts[1] != "desc" {
				return nil, backend.Input("Invalid order field order, must be asc or desc")
			}
			of.Order = parts[1]
		}
		out = append(out, of)
	}
	return out, nil
}
