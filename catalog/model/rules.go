package model

import (
	"path/filepath"
	"strings"

	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/glob"
	"github.com/understage/understage/plugins/backend/ojson"
)

// RuleKind is one entry of a rule's allow list.
type RuleKind struct {
	Kind     string
	SpecType string // optional "spec.type" match, case-insensitive
}

// RuleLocation restricts a rule to locations of a type, and optionally an
// exact target or a glob pattern (not both).
type RuleLocation struct {
	Type    string
	Exact   string
	Pattern string
}

// Rule allows kinds, optionally only from some locations.
type Rule struct {
	Allow     []RuleKind
	Locations []RuleLocation // nil = any location
}

// Rules is the catalog's allow list of entity kinds per location
// (catalog.rules and catalog.locations[].rules).
type Rules struct {
	rules []Rule
}

// DefaultRules allows Component, API and Location from anywhere, which is
// what Backstage uses when catalog.rules is absent.
func DefaultRules() []Rule {
	return []Rule{{Allow: []RuleKind{{Kind: "Component"}, {Kind: "API"}, {Kind: "Location"}}}}
}

// ConfigLocation is a catalog.locations entry with its optional rules (each
// an allow list of kinds).
type ConfigLocation struct {
	Type   string
	Target string
	Rules  [][]string
}

// NewRules builds the enforcer. global is catalog.rules (nil when the key is
// absent: the defaults apply); locations contribute rules that apply to
// their exact target only (file targets are made absolute).
func NewRules(global []Rule, locations []ConfigLocation) (Rules, error) {
	var rs []Rule
	if global == nil {
		rs = DefaultRules()
	} else {
		for _, g := range global {
			for _, l := range g.Locations {
				if l.Pattern != "" && l.Exact != "" {
					return Rules{}, backend.Input("A catalog rule location cannot have both exact and pattern values")
				}
			}
		}
		rs = append(rs, global...)
	}
	for _, l := range locations {
		target := l.Target
		if l.Type == "file" {
			if abs, err := filepath.Abs(target); err == nil {
				target = abs
			}
		}
		for _, allow := range l.Rules {
			r := Rule{Locations: []RuleLocation{{Type: l.Type, Exact: target}}}
			for _, k := range allow {
				r.Allow = append(r.Allow, RuleKind{Kind: k})
			}
			rs = append(rs, r)
		}
	}
	return Rules{rules: rs}, nil
}

// IsAllowed tells whether an entity may come from the (origin) location.
func (r Rules) IsAllowed(e *ojson.Object, locationType, locationTarget string) bool {
	kind := strings.ToLower(e.String("kind"))
	var specType any
	hasType := false
	if spec := e.Object("spec"); spec != nil {
		specType, hasType = spec.Get("type")
	}
	for _, rule := range r.rules {
		if !matchLocation(rule.Locations, locationType, locationTarget) {
			continue
		}
		for _, a := range rule.Allow {
			if strings.ToLower(a.Kind) != kind {
				continue
			}
			if a.SpecType != "" {
				st, ok := specType.(string)
				if !hasType || !ok || !strings.EqualFold(st, a.SpecType) {
					continue
				}
			}
			return true
		}
	}
	return false
}

func matchLocation(ms []RuleLocation, typ, target string) bool {
	if ms == nil {
		return true
	}
	for _, m := range ms {
		if m.Type != typ {
			continue
		}
		if m.Exact != "" && m.Exact != target {
			continue
		}
		if m.Pattern != "" && !glob.Match(m.Pattern, target, ruleGlob) {
			continue
		}
		return true
	}
	return false
}

// ruleGlob is minimatch(target, pattern, {nocase: true, dot: true}), the
// options Backstage's catalog rules match location targets with.
var ruleGlob = glob.Options{NoCase: true, Dot: true}

// NotAllowedError is the processing error for a child entity whose kind
// the rules do not allow from its origin location. Location refs are
// "type:target".
func NotAllowedError(childRef, location, originLocation string) error {
	return newErr("NotAllowedError", "Entity "+childRef+" at "+location+", originated at "+originLocation+
		", is not of an allowed kind for that location", nil)
}

// IsZero reports whether r was never built (the zero value).
func (r Rules) IsZero() bool { return r.rules == nil }
