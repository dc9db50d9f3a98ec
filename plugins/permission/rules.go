package permission

import (
	"bytes"
	"context"
	"fmt"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend"
)

// Param types of rule parameters.
const (
	ParamString      = "string"
	ParamStringArray = "string[]"
	ParamBoolean     = "boolean"
	ParamNumber      = "number"
)

// Param is one parameter of a rule.
type Param struct {
	Name        string
	Type        string // ParamString, ParamStringArray, ParamBoolean, ParamNumber
	Description string
	Required    bool
}

// Rule is a permission rule a conditional decision may use, declared
// once: the metadata route (Integration.Metadata), the parameter checks,
// the evaluation and RULES.md all come from this value.
type Rule struct {
	Name         string
	Description  string
	ResourceType string
	Params       []Param
	// Apply tests one loaded resource; nil for rules evaluated only as
	// filters (the catalog's).
	Apply func(resource any, params map[string]any) bool
	// Filter turns the rule, with validated params, into a store filter
	// (Backstage's toQuery); nil for rules evaluated only in memory.
	Filter func(params map[string]any) catalog.Filter
}

// ParamsSchema is the rule's JSON schema as Backstage serialises it
// (zod-to-json-schema: properties, required, additionalProperties, $schema).
func (r Rule) ParamsSchema() []byte {
	var b bytes.Buffer
	b.WriteString(`{"type":"object","properties":{`)
	var required []string
	for i, p := range r.Params {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(jsonString(p.Name) + ":")
		if p.Type == ParamStringArray {
			b.WriteString(`{"type":"array","items":{"type":"string"}`)
		} else {
			fmt.Fprintf(&b, `{"type":%s`, jsonString(p.Type))
		}
		fmt.Fprintf(&b, `,"description":%s}`, jsonString(p.Description))
		if p.Required {
			required = append(required, jsonString(p.Name))
		}
	}
	b.WriteString(`},"required":[`)
	for i, r := range required {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(r)
	}
	b.WriteString(`],"additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"}`)
	return b.Bytes()
}

// validate checks params against the rule's parameters.
func (r Rule) validate(params map[string]any) error {
	for _, p := range r.Params {
		v, ok := params[p.Name]
		if !ok || v == nil {
			if p.Required {
				return backend.Input("Invalid params for rule %s: %s is required", r.Name, p.Name)
			}
			continue
		}
		good := false
		switch p.Type {
		case ParamString:
			_, good = v.(string)
		case ParamBoolean:
			_, good = v.(bool)
		case ParamNumber:
			_, good = v.(float64)
		case ParamStringArray:
			arr, isArr := v.([]any)
			good = isArr
			for _, x := range arr {
				if _, s := x.(string); !s {
					good = false
				}
			}
		}
		if !good {
			return backend.Input("Invalid params for rule %s: %s must be of type %s", r.Name, p.Name, p.Type)
		}
	}
	return nil
}

// ResourceType is a kind of resource a plugin owns, with its rules and how
// to decide conditions for stored resources (apply-conditions).
type ResourceType struct {
	Type  string
	Rules []Rule
	// FilterOnly types evaluate conditions as store filters only (the
	// catalog's): each of their rules needs Filter.
	FilterOnly bool
	// Check tells, for each ref, whether the resource exists and matches c
	// (already validated against Rules). Nil means apply-conditions is not
	// available for the type.
	Check func(ctx context.Context, refs []string, c *Criteria) ([]bool, error)
}

// Rule finds a rule by name.
func (t *ResourceType) Rule(name string) (Rule, bool) {
	for _, r := range t.Rules {
		if r.Name == name {
			return r, true
		}
	}
	return Rule{}, false
}

// Validate checks that every rule of c exists for this type and that its
// params fit.
func (t *ResourceType) Validate(c *Criteria) error {
	switch {
	case c == nil:
		return backend.Input("Missing conditions")
	case c.AllOf != nil:
		for _, x := range c.AllOf {
			if err := t.Validate(x); err != nil {
				return err
			}
		}
	case c.AnyOf != nil:
		for _, x := range c.AnyOf {
			if err := t.Validate(x); err != nil {
				return err
			}
		}
	case c.Not != nil:
		return t.Validate(c.Not)
	default:
		r, ok := t.Rule(c.Rule)
		if !ok || c.ResourceType != t.Type {
			return backend.Input("Permission rule '%s' does not exist for resource type '%s'", c.Rule, t.Type)
		}
		return r.validate(c.Params)
	}
	return nil
}

// Apply evaluates c (validated) on one loaded resource with the rules'
// Apply functions; a nil resource matches nothing, as in Backstage.
func (t *ResourceType) Apply(c *Criteria, res any) bool {
	if res == nil {
		return false
	}
	switch {
	case c.AllOf != nil:
		for _, x := range c.AllOf {
			if !t.Apply(x, res) {
				return false
			}
		}
		return true
	case c.AnyOf != nil:
		for _, x := range c.AnyOf {
			if t.Apply(x, res) {
				return true
			}
		}
		return false
	case c.Not != nil:
		return !t.Apply(c.Not, res)
	}
	r, ok := t.Rule(c.Rule)
	if !ok || r.Apply == nil {
		return false
	}
	params := c.Params
	if params == nil {
		params = map[string]any{}
	}
	return r.Apply(res, params)
}

// Filter compiles c (validated) to a store filter with the rules' Filter
// functions: allOf, anyOf and not map to the store's.
func (t *ResourceType) Filter(c *Criteria) (catalog.Filter, error) {
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
			f, err := t.Filter(x)
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
		f, err := t.Filter(c.Not)
		if err != nil {
			return nil, err
		}
		return catalog.Not{Filter: f}, nil
	}
	r, ok := t.Rule(c.Rule)
	if !ok || r.Filter == nil {
		return nil, fmt.Errorf("permission rule '%s' does not exist for resource type '%s'", c.Rule, t.Type)
	}
	params := c.Params
	if params == nil {
		params = map[string]any{}
	}
	return r.Filter(params), nil
}

// RuleRegistry is the permission-rules extension point of a plugin
// (Backstage's catalogPermissionExtensionPoint and
// scaffolderPermissionsExtensionPoint addPermissionRules).
type RuleRegistry interface {
	AddPermissionRules(rules ...Rule) error
}

var _ RuleRegistry = (*Integration)(nil)

// AddPermissionRules adds rules to the integration's resource types, all or
// none. It refuses, naming the rule, a rule of a resource type the plugin
// does not own, a name already used for that type, a parameter of an
// unknown type, and a rule the type cannot evaluate (no Apply, or no
// Filter for a FilterOnly type). Rules are added while the backend starts,
// before the permissions service's RegisterIntegration serves the integration.
func (in *Integration) AddPermissionRules(rules ...Rule) error {
	seen := map[string]bool{}
	for _, r := range rules {
		if err := in.checkRule(r, seen); err != nil {
			return err
		}
	}
	for _, r := range rules {
		rt := in.Resource(r.ResourceType)
		rt.Rules = append(rt.Rules, r)
	}
	return nil
}

func (in *Integration) checkRule(r Rule, seen map[string]bool) error {
	if r.Name == "" {
		return backend.Input("permission rule without a name (resource type %q)", r.ResourceType)
	}
	rt := in.Resource(r.ResourceType)
	if rt == nil {
		return backend.Input("permission rule %s: plugin %s has no resource type %q", r.Name, in.PluginID, r.ResourceType)
	}
	key := r.ResourceType + "/" + r.Name
	if _, dup := rt.Rule(r.Name); dup || seen[key] {
		return backend.Conflict("permission rule %s is already registered for resource type %s", r.Name, r.ResourceType)
	}
	seen[key] = true
	names := map[string]bool{}
	for _, p := range r.Params {
		switch p.Type {
		case ParamString, ParamStringArray, ParamBoolean, ParamNumber:
		default:
			return backend.Input("permission rule %s: param %q has unknown type %q", r.Name, p.Name, p.Type)
		}
		if p.Name == "" || names[p.Name] {
			return backend.Input("permission rule %s: param names must be present and distinct (%q)", r.Name, p.Name)
		}
		names[p.Name] = true
	}
	switch {
	case rt.FilterOnly && r.Filter == nil:
		return backend.Input("permission rule %s: resource type %s is evaluated as a filter, the rule has no Filter", r.Name, r.ResourceType)
	case !rt.FilterOnly && r.Apply == nil:
		return backend.Input("permission rule %s: no Apply function", r.Name)
	}
	return nil
}

// Integration is what one plugin contributes to the permission framework.
type Integration struct {
	PluginID    string
	Permissions []Permission
	Resources   []*ResourceType
}

// Resource finds a resource type.
func (in *Integration) Resource(typ string) *ResourceType {
	for _, r := range in.Resources {
		if r.Type == typ {
			return r
		}
	}
	return nil
}

// Metadata is the body of GET /.well-known/backstage/permissions/metadata.
func (in *Integration) Metadata() []byte {
	var b bytes.Buffer
	b.WriteString(`{"permissions":[`)
	for i, p := range in.Permissions {
		if i > 0 {
			b.WriteByte(',')
		}
		raw, _ := p.MarshalJSON()
		b.Write(raw)
	}
	b.WriteString(`],"rules":[`)
	n := 0
	for _, t := range in.Resources {
		for _, r := range t.Rules {
			if n > 0 {
				b.WriteByte(',')
			}
			n++
			fmt.Fprintf(&b, `{"name":%s,"description":%s,"resourceType":%s,"paramsSchema":%s}`,
				jsonString(r.Name), jsonString(r.Description), jsonString(r.ResourceType), r.ParamsSchema())
		}
	}
	b.WriteString("]}")
	return b.Bytes()
}
