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

// CatalogRules are the catalog's rules. They have no Apply: catalog
// conditions are always evaluated as filters by the store.
func CatalogRules() []Rule {
	prop := func(name, what string) Rule {
		return Rule{Name: name, Description: "Allow entities with the specified " + what + " subfield", ResourceType: CatalogEntity,
			Params: []Param{
				{Name: "key", Type: ParamString, Description: "Property within the entities " + what + " to match on", Required: true},
				{Name: "value", Type: ParamString, Description: "Value of the given property to match on"},
			}}
	}
	return []Rule{
		{Name: "HAS_ANNOTATION", Description: "Allow entities with the specified annotation", ResourceType: CatalogEntity,
			Params: []Param{
				{Name: "annotation", Type: ParamString, Description: "Name of the annotation to match on", Required: true},
				{Name: "value", Type: ParamString, Description: "Value of the annotation to match on"},
			}},
		{Name: "HAS_LABEL", Description: "Allow entities with the specified label", ResourceType: CatalogEntity,
			Params: []Param{
				{Name: "label", Type: ParamString, Description: "Name of the label to match on", Required: true},
				{Name: "value", Type: ParamString, Description: "Value of the label to match on"},
			}},
		prop("HAS_METADATA", "metadata"),
		prop("HAS_SPEC", "spec"),
		{Name: "IS_ENTITY_KIND", Description: "Allow entities matching a specified kind", ResourceType: CatalogEntity,
			Params: []Param{{Name: "kinds", Type: ParamStringArray, Description: "List of kinds to match at least one of", Required: true}}},
		{Name: "IS_ENTITY_OWNER", Description: "Allow entities owned by a specified claim", ResourceType: CatalogEntity,
			Params: []Param{{Name: "claims", Type: ParamStringArray, Description: "List of claims to match at least one on within ownedBy", Required: true}}},
	}
}

// CatalogIntegration is the catalog's integration; apply-conditions reads
// entities through reader with the conditions as a filter.
func CatalogIntegration(reader catalog.Reader) *Integration {
	rt := &ResourceType{Type: CatalogEntity, Rules: CatalogRules()}
	if reader != nil {
		rt.Check = func(ctx context.Context, refs []string, c *Criteria) ([]bool, error) {
			f, err := CatalogFilter(c)
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

// CatalogFilter compiles catalog conditions to a store filter, as each
// rule's toQuery does in Backstage: IS_ENTITY_OWNER → relations.ownedby in
// claims, IS_ENTITY_KIND → kind in kinds, HAS_ANNOTATION/HAS_LABEL/
// HAS_METADATA/HAS_SPEC → the key exists (or equals value). Keys and values
// are lowercased like the search table.
func CatalogFilter(c *Criteria) (catalog.Filter, error) {
	switch {
	case c == nil:
		return nil, fmt.Errorf("missing conditions")
	case c.AllOf != nil || c.AnyOf != nil:
		list := c.AllOf
		if list == nil {
			list = c.AnyOf
		}
		fs := make([]catalog.Filter, len(list))
		for i, x := range list {
			f, err := CatalogFilter(x)
			if err != nil {
				return nil, err
			}
			fs[i] = f
		}
		if c.AllOf != nil {
			return catalog.AllOf{Filters: fs}, nil
		}
		return catalog.AnyOf{Filters: fs}, nil
	case c.Not != nil:
		f, err := CatalogFilter(c.Not)
		if err != nil {
			return nil, err
		}
		return catalog.Not{Filter: f}, nil
	}
	str := func(k string) (string, bool) {
		s, ok := c.Params[k].(string)
		return s, ok
	}
	list := func(k string) []string {
		arr, _ := c.Params[k].([]any)
		out := make([]string, 0, len(arr))
		for _, x := range arr {
			if s, ok := x.(string); ok {
				out = append(out, strings.ToLower(s))
			}
		}
		return out
	}
	keyed := func(key string) catalog.Filter {
		key = strings.ToLower(key)
		if v, ok := str("value"); ok {
			return catalog.Field{Key: key, Op: catalog.OpIn, Values: []string{strings.ToLower(v)}}
		}
		return catalog.Field{Key: key, Op: catalog.OpExists}
	}
	switch c.Rule {
	case "IS_ENTITY_OWNER":
		return inOrNothing("relations.ownedby", list("claims")), nil
	case "IS_ENTITY_KIND":
		return inOrNothing("kind", list("kinds")), nil
	case "HAS_ANNOTATION":
		a, _ := str("annotation")
		return keyed("metadata.annotations." + a), nil
	case "HAS_LABEL":
		l, _ := str("label")
		return keyed("metadata.labels." + l), nil
	case "HAS_METADATA":
		k, _ := str("key")
		return keyed("metadata." + k), nil
	case "HAS_SPEC":
		k, _ := str("key")
		return keyed("spec." + k), nil
	}
	return nil, fmt.Errorf("permission rule '%s' does not exist for resource type '%s'", c.Rule, CatalogEntity)
}

// inOrNothing is key IN values; no values matches nothing (an empty AnyOf).
func inOrNothing(key string, values []string) catalog.Filter {
	if len(values) == 0 {
		return catalog.AnyOf{}
	}
	return catalog.Field{Key: key, Op: catalog.OpIn, Values: values}
}
