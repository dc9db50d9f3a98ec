package model

import (
	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend/ojson"
)

// Relation types (Backstage's catalog-model constants).
const (
	RelationOwnedBy       = "ownedBy"
	RelationOwnerOf       = "ownerOf"
	RelationConsumesAPI   = "consumesApi"
	RelationAPIConsumedBy = "apiConsumedBy"
	RelationProvidesAPI   = "providesApi"
	RelationAPIProvidedBy = "apiProvidedBy"
	RelationDependsOn     = "dependsOn"
	RelationDependencyOf  = "dependencyOf"
	RelationParentOf      = "parentOf"
	RelationChildOf       = "childOf"
	RelationMemberOf      = "memberOf"
	RelationHasMember     = "hasMember"
	RelationPartOf        = "partOf"
	RelationHasPart       = "hasPart"
)

// relationField is one spec field that names other entities.
type relationField struct {
	field, defaultKind string
	outgoing, incoming string
}

// kindRelations is the built-in kinds processor's table (plus the
// scaffolder's Template owner), keyed by the exact kind string.
var kindRelations = map[string][]relationField{
	"Component": {
		{"owner", "Group", RelationOwnedBy, RelationOwnerOf},
		{"subcomponentOf", "Component", RelationPartOf, RelationHasPart},
		{"providesApis", "API", RelationProvidesAPI, RelationAPIProvidedBy},
		{"consumesApis", "API", RelationConsumesAPI, RelationAPIConsumedBy},
		{"dependsOn", "", RelationDependsOn, RelationDependencyOf},
		{"dependencyOf", "", RelationDependencyOf, RelationDependsOn},
		{"system", "System", RelationPartOf, RelationHasPart},
	},
	"API": {
		{"owner", "Group", RelationOwnedBy, RelationOwnerOf},
		{"system", "System", RelationPartOf, RelationHasPart},
	},
	"Resource": {
		{"owner", "Group", RelationOwnedBy, RelationOwnerOf},
		{"dependsOn", "", RelationDependsOn, RelationDependencyOf},
		{"dependencyOf", "", RelationDependencyOf, RelationDependsOn},
		{"system", "System", RelationPartOf, RelationHasPart},
	},
	"User": {
		{"memberOf", "Group", RelationMemberOf, RelationHasMember},
	},
	"Group": {
		{"parent", "Group", RelationChildOf, RelationParentOf},
		{"children", "Group", RelationParentOf, RelationChildOf},
		{"members", "User", RelationHasMember, RelationMemberOf},
	},
	"System": {
		{"owner", "Group", RelationOwnedBy, RelationOwnerOf},
		{"domain", "Domain", RelationPartOf, RelationHasPart},
	},
	"Domain": {
		{"owner", "Group", RelationOwnedBy, RelationOwnerOf},
		{"subdomainOf", "Domain", RelationPartOf, RelationHasPart},
	},
}

var templateRelations = []relationField{{"owner", "Group", RelationOwnedBy, RelationOwnerOf}}

// buildRelations emits both directions for every spec ref of the built-in
// kinds, resolving refs against the entity's own namespace.
func buildRelations(e *ojson.Object) ([]catalog.Relation, *ValidationError) {
	kind := e.String("kind")
	fields := kindRelations[kind]
	processor := "BuiltinKindsEntityProcessor"
	if kind == "Template" && e.String("apiVersion") == "scaffolder.backstage.io/v1beta3" {
		fields, processor = templateRelations, "ScaffolderEntitiesProcessor"
	}
	spec := e.Object("spec")
	if len(fields) == 0 || spec == nil {
		return nil, nil
	}
	self := CompoundRef(e)
	selfRef := self.String()
	var out []catalog.Relation
	emit := func(v any, f relationField) *ValidationError {
		s, ok := v.(string)
		if !ok {
			// Falsy values are skipped; other non-strings make parseEntityRef
			// read properties of a non-ref, which ends in a missing kind/name.
			if v == nil || v == false {
				return nil
			}
			return newErr("InputError", "Processor "+processor+" threw an error while postprocessing",
				newErr("Error", "Entity reference "+jsString(v)+" had missing or empty kind (e.g. did not start with \"component:\" or similar)", nil))
		}
		r, err := parseRef(s, RefDefaults{Kind: f.defaultKind, Namespace: self.Namespace})
		if err != nil {
			return newErr("InputError", "Processor "+processor+" threw an error while postprocessing", err)
		}
		target := r.String()
		out = append(out,
			catalog.Relation{Source: selfRef, Type: f.outgoing, Target: target},
			catalog.Relation{Source: target, Type: f.incoming, Target: selfRef})
		return nil
	}
	for _, f := range fields {
		v, ok := spec.Get(f.field)
		if !ok || v == nil || v == "" {
			continue
		}
		if arr, isArr := v.([]any); isArr {
			for _, item := range arr {
				if err := emit(item, f); err != nil {
					return nil, err
				}
			}
			continue
		}
		if err := emit(v, f); err != nil {
			return nil, err
		}
	}
	return out, nil
}
