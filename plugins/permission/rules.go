package permission

import (
	"bytes"
	"context"
	"fmt"

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

// Rule is a permission rule a conditional decision may use.
type Rule struct {
	Name         string
	Description  string
	ResourceType string
	Params       []Param
	// Apply tests one loaded resource; nil for rules evaluated only as
	// filters (the catalog's, see CatalogFilter).
	Apply func(resource any, params map[string]any) bool
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
