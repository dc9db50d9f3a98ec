// Package permission holds the types of Understage's permission framework,
// in the shape of Backstage's permission-common/-node packages; it imports
// nothing of auth, HTTP serving or databases, so a plugin's request
// handlers depend on it alone:
//
//   - Permission, Decision and Criteria: the JSON types of Backstage's
//     /api/permission/authorize and the plugins' apply-conditions routes;
//   - Policy: what decides (the OPA/Rego engine of plugins/opa, or AllowAll);
//   - Authorizer: what request handlers ask the permissions service
//     (Decide, Definitive, Basic, Rules); the service itself, with the
//     /api/permission routes, is plugins/permission/service, provided by
//     the permission plugin as services.Permissions;
//   - Integration: a plugin's permissions, resource types and rules, served
//     at /.well-known/backstage/permissions/{metadata,apply-conditions}
//     (RegisterIntegration). CatalogIntegration and ScaffolderIntegration
//     build the two this backend has. Each Rule is declared once (metadata,
//     params, Apply and/or Filter); catalog conditions compile to a
//     catalog.Filter (ResourceType.Filter), so they become SQL. Modules add
//     rules through the integration (RuleRegistry); RULES.md is generated
//     from the declarations.
//
// A policy's input is {permission: {name, type, attributes, resourceType},
// user: {ref, ownershipRefs, claims} | null, resource: <entity, template
// part or {action, input}> | null} and its answer {"result": "ALLOW"|"DENY"}
// or {"result": "CONDITIONAL", "conditions": <criteria>}; see plugins/opa.
//
// With permission.enabled false (Backstage's default) every decision is
// ALLOW and plugins skip their checks.
package permission

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
)

// Result is a decision's outcome.
type Result string

// The three results.
const (
	Allow       Result = "ALLOW"
	Deny        Result = "DENY"
	Conditional Result = "CONDITIONAL"
)

// Permission types.
const (
	TypeBasic    = "basic"
	TypeResource = "resource"
)

// Permission is a Backstage permission: {type, name, attributes,
// resourceType?}. Attributes hold at most "action".
type Permission struct {
	Type         string
	Name         string
	Action       string // "", create, read, update, delete
	ResourceType string // resource permissions only
}

// IsResource tells a resource permission.
func (p Permission) IsResource() bool { return p.Type == TypeResource }

// MarshalJSON writes Backstage's key order.
func (p Permission) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"type":%s,"name":%s,"attributes":`, jsonString(p.Type), jsonString(p.Name))
	if p.Action != "" {
		fmt.Fprintf(&b, `{"action":%s}`, jsonString(p.Action))
	} else {
		b.WriteString("{}")
	}
	if p.IsResource() {
		fmt.Fprintf(&b, `,"resourceType":%s`, jsonString(p.ResourceType))
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Input is the permission as a policy sees it.
func (p Permission) Input() map[string]any {
	attrs := map[string]any{}
	if p.Action != "" {
		attrs["action"] = p.Action
	}
	m := map[string]any{"name": p.Name, "type": p.Type, "attributes": attrs}
	if p.IsResource() {
		m["resourceType"] = p.ResourceType
	}
	return m
}

func basic(name, action string) Permission {
	return Permission{Type: TypeBasic, Name: name, Action: action}
}

func resource(name, action, resourceType string) Permission {
	return Permission{Type: TypeResource, Name: name, Action: action, ResourceType: resourceType}
}

// Criteria is a permission condition tree: exactly one of AllOf, AnyOf,
// Not or Rule is set.
type Criteria struct {
	AllOf        []*Criteria
	AnyOf        []*Criteria
	Not          *Criteria
	Rule         string
	ResourceType string
	Params       map[string]any
}

// MarshalJSON writes {"allOf"}, {"anyOf"}, {"not"} or
// {"rule","resourceType","params"} (Backstage's condition factory order).
func (c *Criteria) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	writeList := func(key string, list []*Criteria) error {
		fmt.Fprintf(&b, `{%q:[`, key)
		for i, x := range list {
			if i > 0 {
				b.WriteByte(',')
			}
			raw, err := x.MarshalJSON()
			if err != nil {
				return err
			}
			b.Write(raw)
		}
		b.WriteString("]}")
		return nil
	}
	switch {
	case c.AllOf != nil:
		if err := writeList("allOf", c.AllOf); err != nil {
			return nil, err
		}
	case c.AnyOf != nil:
		if err := writeList("anyOf", c.AnyOf); err != nil {
			return nil, err
		}
	case c.Not != nil:
		raw, err := c.Not.MarshalJSON()
		if err != nil {
			return nil, err
		}
		b.WriteString(`{"not":`)
		b.Write(raw)
		b.WriteByte('}')
	default:
		params := c.Params
		if params == nil {
			params = map[string]any{}
		}
		p, err := json.Marshal(params)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&b, `{"rule":%s,"resourceType":%s,"params":%s}`, jsonString(c.Rule), jsonString(c.ResourceType), p)
	}
	return b.Bytes(), nil
}

// UnmarshalJSON reads and checks the criteria shape (non-empty allOf/anyOf,
// one key per node, rule nodes with a string rule and resourceType).
func (c *Criteria) UnmarshalJSON(data []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil || m == nil {
		return fmt.Errorf("conditions must be an object")
	}
	list := func(raw json.RawMessage, key string) ([]*Criteria, error) {
		var out []*Criteria
		if err := json.Unmarshal(raw, &out); err != nil {
			return nil, err
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("%s must not be empty", key)
		}
		for _, x := range out {
			if x == nil {
				return nil, fmt.Errorf("%s must hold conditions", key)
			}
		}
		return out, nil
	}
	var err error
	switch {
	case m["allOf"] != nil:
		c.AllOf, err = list(m["allOf"], "allOf")
	case m["anyOf"] != nil:
		c.AnyOf, err = list(m["anyOf"], "anyOf")
	case m["not"] != nil:
		c.Not = &Criteria{}
		err = json.Unmarshal(m["not"], c.Not)
	default:
		if err := json.Unmarshal(m["rule"], &c.Rule); err != nil || c.Rule == "" {
			return fmt.Errorf("a condition needs a rule")
		}
		if err := json.Unmarshal(m["resourceType"], &c.ResourceType); err != nil || c.ResourceType == "" {
			return fmt.Errorf("condition %s needs a resourceType", c.Rule)
		}
		if raw, ok := m["params"]; ok && string(raw) != "null" {
			if err := json.Unmarshal(raw, &c.Params); err != nil {
				return fmt.Errorf("params of condition %s must be an object", c.Rule)
			}
		}
	}
	return err
}

// ResourceTypes lists the resource types the rules of c name.
func (c *Criteria) ResourceTypes() []string {
	seen := map[string]bool{}
	var walk func(*Criteria)
	walk = func(x *Criteria) {
		for _, y := range x.AllOf {
			walk(y)
		}
		for _, y := range x.AnyOf {
			walk(y)
		}
		if x.Not != nil {
			walk(x.Not)
		}
		if x.Rule != "" {
			seen[x.ResourceType] = true
		}
	}
	walk(c)
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Decision is a policy's answer. PluginID and ResourceType are set for
// conditional decisions.
type Decision struct {
	Result       Result
	PluginID     string
	ResourceType string
	Conditions   *Criteria
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
