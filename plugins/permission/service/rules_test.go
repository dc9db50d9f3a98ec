package permissionservice_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/database"
	"github.com/understage/understage/plugins/permission"
)

// hasType is a catalog rule a module might add: entities of a spec.type.
var hasType = permission.Rule{Name: "HAS_TYPE", Description: "Allow entities of a type", ResourceType: permission.CatalogEntity,
	Params: []permission.Param{{Name: "type", Type: permission.ParamString, Description: "spec.type to match", Required: true}},
	Filter: func(p map[string]any) catalog.Filter {
		s, _ := p["type"].(string)
		return catalog.Field{Key: "spec.type", Op: catalog.OpIn, Values: []string{strings.ToLower(s)}}
	}}

// TestAddPermissionRules: a rule added through the catalog's rules
// extension point is listed on the metadata route, validated, and decides
// apply-conditions against a real store.
func TestAddPermissionRules(t *testing.T) {
	st := seedStore(t, database.Options{Client: "better-sqlite3", Connection: filepath.Join(t.TempDir(), "catalog.sqlite")}, 10)
	in := permission.CatalogIntegration(st)
	var reg permission.RuleRegistry = in
	if err := reg.AddPermissionRules(hasType); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(in.Metadata()), `{"name":"HAS_TYPE","description":"Allow entities of a type","resourceType":"catalog-entity","paramsSchema":{"type":"object","properties":{"type":{"type":"string","description":"spec.type to match"}},"required":["type"],`) {
		t.Errorf("metadata %s", in.Metadata())
	}
	rt := in.Resource(permission.CatalogEntity)
	c := &permission.Criteria{Not: &permission.Criteria{Rule: "HAS_TYPE", ResourceType: permission.CatalogEntity, Params: map[string]any{"type": "Service"}}}
	if err := rt.Validate(c); err != nil {
		t.Fatal(err)
	}
	bad := &permission.Criteria{Rule: "HAS_TYPE", ResourceType: permission.CatalogEntity, Params: map[string]any{"type": 1.0}}
	if err := rt.Validate(bad); backend.KindOf(err) != backend.ErrInput {
		t.Errorf("bad params: %v", err)
	}
	// genEntity i has type genTypes[i%5]: 0 and 5 are services.
	refs := []string{"component:default/component-00000", "component:default/component-00001", "component:default/component-00005", "component:default/nope"}
	got, err := rt.Check(context.Background(), refs, c)
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{false, true, false, false}; !slices.Equal(got, want) {
		t.Errorf("apply-conditions %v, want %v", got, want)
	}
}

// TestAddedRuleFiltersReads: a policy's conditions may use a rule a module
// added; catalog reads compile it to SQL like Backstage's own rules.
func TestAddedRuleFiltersReads(t *testing.T) {
	st := seedStore(t, database.Options{Client: "better-sqlite3", Connection: filepath.Join(t.TempDir(), "catalog.sqlite")}, 20)
	cs := serveCatalog(t, st, readPolicy(`{"result": "CONDITIONAL", "conditions": {"rule": "HAS_TYPE", "resourceType": "catalog-entity", "params": {"type": "library"}}}`), hasType)
	var p queryPage
	if s := cs.get(t, "/entities/by-query?limit=10&orderField=metadata.name,asc", &p); s != 200 || p.TotalItems != 4 || len(p.Items) != 4 {
		t.Fatalf("%d: total %d, %d items, want the 4 libraries", s, p.TotalItems, len(p.Items))
	}
	for i, it := range p.Items {
		// genEntity i is a library when i%5 == 2.
		if want := fmt.Sprintf("component-%05d", 2+5*i); it.Metadata.Name != want {
			t.Errorf("item %d = %s, want %s", i, it.Metadata.Name, want)
		}
	}
}

// TestAddPermissionRulesRefuses: the extension point refuses, naming the
// rule, what the framework could not list or evaluate, and adds nothing of
// a refused call.
func TestAddPermissionRulesRefuses(t *testing.T) {
	apply := func(any, map[string]any) bool { return true }
	withName := func(r permission.Rule, name string) permission.Rule { r.Name = name; return r }
	cases := []struct {
		name  string
		in    func() *permission.Integration
		rules []permission.Rule
		kind  error
		msg   string
	}{
		{"Backstage's rule again", func() *permission.Integration { return permission.CatalogIntegration(nil) },
			[]permission.Rule{withName(hasType, "HAS_LABEL")}, backend.ErrConflict,
			"permission rule HAS_LABEL is already registered for resource type catalog-entity"},
		{"twice in one call", func() *permission.Integration { return permission.CatalogIntegration(nil) },
			[]permission.Rule{hasType, hasType}, backend.ErrConflict,
			"permission rule HAS_TYPE is already registered for resource type catalog-entity"},
		{"resource type of another plugin", func() *permission.Integration { return permission.ScaffolderIntegration(nil) },
			[]permission.Rule{hasType}, backend.ErrInput,
			`permission rule HAS_TYPE: plugin scaffolder has no resource type "catalog-entity"`},
		{"catalog rule without filter", func() *permission.Integration { return permission.CatalogIntegration(nil) },
			[]permission.Rule{{Name: "X", ResourceType: permission.CatalogEntity, Apply: apply}}, backend.ErrInput,
			"permission rule X: resource type catalog-entity is evaluated as a filter, the rule has no Filter"},
		{"scaffolder rule without apply", func() *permission.Integration { return permission.ScaffolderIntegration(nil) },
			[]permission.Rule{{Name: "Y", ResourceType: permission.ScaffolderTask}}, backend.ErrInput,
			"permission rule Y: no Apply function"},
		{"unknown param type", func() *permission.Integration { return permission.ScaffolderIntegration(nil) },
			[]permission.Rule{{Name: "Z", ResourceType: permission.ScaffolderTask, Apply: apply,
				Params: []permission.Param{{Name: "p", Type: "object"}}}}, backend.ErrInput,
			`permission rule Z: param "p" has unknown type "object"`},
		{"no name", func() *permission.Integration { return permission.ScaffolderIntegration(nil) },
			[]permission.Rule{{ResourceType: permission.ScaffolderTask, Apply: apply}}, backend.ErrInput,
			`permission rule without a name (resource type "scaffolder-task")`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := c.in()
			before := string(in.Metadata())
			err := in.AddPermissionRules(c.rules...)
			if backend.KindOf(err) != c.kind || backend.MessageOf(err) != c.msg {
				t.Errorf("got %v, want %v %q", err, c.kind, c.msg)
			}
			if string(in.Metadata()) != before {
				t.Error("a refused call changed the rules")
			}
		})
	}
}
