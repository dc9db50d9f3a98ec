package permission

import (
	"context"
	"fmt"
	"strings"

	"github.com/understage/understage/catalog"
)

// Catalog resource type and permissions (@backstage/plugin-catalog-common).
const CatalogEntity = "catalog-entity"

var (
	CatalogEntityRead      = resource("catalog.entity.read", "read", CatalogEntity)
	CatalogEntityCreate    = basic("catalog.entity.create", "create")
	CatalogEntityDelete    = resource("catalog.entity.delete", "delete", CatalogEntity)
	CatalogEntityRefresh   = resource("catalog.entity.refresh", "update", CatalogEntity)
	CatalogEntityValidate  = basic("catalog.entity.validate", "")
	CatalogLocationRead    = basic("catalog.location.read", "read")
	CatalogLocationCreate  = basic("catalog.location.create", "create")
	CatalogLocationDelete  = basic("catalog.location.delete", "delete")
	CatalogLocationAnalyze = basic("catalog.location.analyze", "")
	CatalogIngestionRead   = basic("catalog.ingestion.read", "read")
	CatalogIngestionManage = basic("catalog.ingestion.manage", "update")
)

// CatalogPermissions in the order the catalog's metadata route lists them.
func CatalogPermissions() []Permission {
	return []Permission{CatalogEntityRead, CatalogEntityCreate, CatalogEntityDelete, CatalogEntityRefresh,
		CatalogEntityValidate, CatalogLocationRead, CatalogLocationCreate, CatalogLocationDelete,
		CatalogLocationAnalyze, CatalogIngestionRead, CatalogIngestionManage}
}

// CatalogRules are the catalog's rules (@backstage/plugin-catalog-backend's
// permission rules), each declared once: its metadata, params and how it
// becomes a store filter (its toQuery). They have no Apply: catalog
// conditions are always evaluated as filters by the store, so paging,
// totals and facets agree with what the caller may see. Keys and values
// are lowercased like the search table.
func CatalogRules() []Rule {
	// keyed is the rule's key present, or equal to params.value when given.
	keyed := func(key string, params map[string]any) catalog.Filter {
		key = strings.ToLower(key)
		if v, ok := params["value"].(string); ok {
			return catalog.Field{Key: key, Op: catalog.OpIn, Values: []string{strings.ToLower(v)}}
		}
		return catalog.Field{Key: key, Op: catalog.OpExists}
	}
	str := func(params map[string]any, k string) string {
		s, _ := params[k].(string)
		return s
	}
	prop := func(name, what string) Rule {
		return Rule{Name: name, Description: "Allow entities with the specified " + what + " subfield", ResourceType: CatalogEntity,
			Params: []Param{
				{Name: "key", Type: ParamString, Description: "Property within the entities " + what + " to match on", Required: true},
				{Name: "value", Type: ParamString, Description: "Value of the given property to match on"},
			},
			Filter: func(p map[string]any) catalog.Filter { return keyed(what+"."+str(p, "key"), p) }}
	}
	return []Rule{
		{Name: "HAS_ANNOTATION", Description: "Allow entities with the specified annotation", ResourceType: CatalogEntity,
			Params: []Param{
				{Name: "annotation", Type: ParamString, Description: "Name of the annotation to match on", Required: true},
				{Name: "value", Type: ParamString, Description: "Value of the annotation to match on"},
			},
			Filter: func(p map[string]any) catalog.Filter { return keyed("metadata.annotations."+str(p, "annotation"), p) }},
		{Name: "HAS_LABEL", Description: "Allow entities with the specified label", ResourceType: CatalogEntity,
			Params: []Param{
				{Name: "label", Type: ParamString, Description: "Name of the label to match on", Required: true},
				{Name: "value", Type: ParamString, Description: "Value of the label to match on"},
			},
			Filter: func(p map[string]any) catalog.Filter { return keyed("metadata.labels."+str(p, "label"), p) }},
		prop("HAS_METADATA", "metadata"),
		prop("HAS_SPEC", "spec"),
		{Name: "IS_ENTITY_KIND", Description: "Allow entities matching a specified kind", ResourceType: CatalogEntity,
			Params: []Param{{Name: "kinds", Type: ParamStringArray, Description: "List of kinds to match at least one of", Required: true}},
			Filter: func(p map[string]any) catalog.Filter { return inOrNothing("kind", lowerStrings(p["kinds"])) }},
		{Name: "IS_ENTITY_OWNER", Description: "Allow entities owned by a specified claim", ResourceType: CatalogEntity,
			Params: []Param{{Name: "claims", Type: ParamStringArray, Description: "List of claims to match at least one on within ownedBy", Required: true}},
			Filter: func(p map[string]any) catalog.Filter {
				return inOrNothing("relations.ownedby", lowerStrings(p["claims"]))
			}},
	}
}

// CatalogIntegration is the catalog's integration; apply-conditions reads
// entities through reader with the conditions as a filter.
func CatalogIntegration(reader catalog.Reader) *Integration {
	rt := &ResourceType{Type: CatalogEntity, Rules: CatalogRules(), FilterOnly: true}
	if reader != nil {
		rt.Check = func(ctx context.Context, refs []string, c *Criteria) ([]bool, error) {
			f, err := rt.Filter(c)
			if err != nil {
				return nil, err
			}
			lower := make([]string, len(refs))
			for i, r := range refs {
				lower[i] = strings.ToLower(r)
			}
			ents, err := reader.EntitiesByRefs(ctx, lower, f)
			if err != nil {
				return nil, fmt.Errorf("apply catalog conditions: %w", err)
			}
			out := make([]bool, len(refs))
			for i, e := range ents {
				out[i] = e != nil
			}
			return out, nil
		}
	}
	return &Integration{PluginID: "catalog", Permissions: CatalogPermissions(), Resources: []*ResourceType{rt}}
}

// CatalogFilter compiles catalog conditions to a store filter with the
// catalog's rules (CatalogRules).
func CatalogFilter(c *Criteria) (catalog.Filter, error) {
	rt := ResourceType{Type: CatalogEntity, Rules: CatalogRules()}
	return rt.Filter(c)
}

// lowerStrings is the strings of an array param, lowercased.
func lowerStrings(v any) []string {
	arr, _ := v.([]any)
	out := make([]string, 0, len(arr))
	for _, x := range arr {
		if s, ok := x.(string); ok {
			out = append(out, strings.ToLower(s))
		}
	}
	return out
}

// inOrNothing is key IN values; no values matches nothing (an empty AnyOf).
func inOrNothing(key string, values []string) catalog.Filter {
	if len(values) == 0 {
		return catalog.AnyOf{}
	}
	return catalog.Field{Key: key, Op: catalog.OpIn, Values: values}
}
