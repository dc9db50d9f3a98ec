package opa

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/understage/understage/plugins/permission"
)

func examplePolicy(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "examples", "policies", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func decisionJSON(t *testing.T, d permission.Decision) string {
	t.Helper()
	out := string(d.Result)
	if d.Conditions != nil {
		raw, err := json.Marshal(d.Conditions)
		if err != nil {
			t.Fatal(err)
		}
		out += " " + string(raw)
	}
	return out
}

func TestExamplePolicies(t *testing.T) {
	tom := &permission.User{Ref: "user:default/tom", OwnershipRefs: []string{"user:default/tom", "group:default/team-shop"}}
	admin := &permission.User{Ref: "user:default/ada", OwnershipRefs: []string{"user:default/ada", "group:default/admins"}}
	cases := []struct {
		name, policy string
		perm         permission.Permission
		user         *permission.User
		res          any
		want         string
	}{
		{"allow-all", "allow-all.rego", permission.CatalogEntityDelete, nil, nil, "ALLOW"},
		{"delete by user is conditional", "owners-only-delete.rego", permission.CatalogEntityDelete, tom, nil,
			`CONDITIONAL {"rule":"IS_ENTITY_OWNER","resourceType":"catalog-entity","params":{"claims":["user:default/tom","group:default/team-shop"]}}`},
		{"anonymous delete", "owners-only-delete.rego", permission.CatalogEntityDelete, nil, nil, "DENY"},
		{"read unaffected", "owners-only-delete.rego", permission.CatalogEntityRead, tom, nil, "ALLOW"},
		{"admin sees admin steps", "admin-templates.rego", permission.ScaffolderTemplateStepRead, admin, nil, "ALLOW"},
		{"others do not", "admin-templates.rego", permission.ScaffolderTemplateParameterRead, tom, nil,
			`CONDITIONAL {"not":{"rule":"HAS_TAG","resourceType":"scaffolder-template","params":{"tag":"admin"}}}`},
		{"anonymous neither", "admin-templates.rego", permission.ScaffolderTemplateStepRead, nil, nil,
			`CONDITIONAL {"not":{"rule":"HAS_TAG","resourceType":"scaffolder-template","params":{"tag":"admin"}}}`},
		{"publish in the org", "github-org.rego", permission.ScaffolderActionExecute, tom,
			permission.ActionResource("publish:github", map[string]any{"repoUrl": "github.com?repo=x&owner=fernwood"}), "ALLOW"},
		{"publish elsewhere", "github-org.rego", permission.ScaffolderActionExecute, tom,
			permission.ActionResource("publish:github", map[string]any{"repoUrl": "github.com?owner=evil&repo=x"}), "DENY"},
		{"other actions", "github-org.rego", permission.ScaffolderActionExecute, tom,
			permission.ActionResource("debug:log", map[string]any{}), "ALLOW"},
	}
	ctx := context.Background()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := New(ctx, Options{Policies: []string{examplePolicy(t, tc.policy)}, PollInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			d, err := e.Decide(ctx, permission.Input{Permission: tc.perm, User: tc.user, Resource: tc.res})
			if err != nil {
				t.Fatal(err)
			}
			if got := decisionJSON(t, d); got != tc.want {
				t.Errorf("got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func write(t *testing.T, path, src string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReloadOnChange(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "policy.rego")
	write(t, p, "package understage.authz\n\ndecision := {\"result\": \"ALLOW\"}\n")
	e, err := New(ctx, Options{Policies: []string{p}, PollInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	in := permission.Input{Permission: permission.CatalogEntityCreate}
	decide := func() permission.Result {
		d, err := e.Decide(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		return d.Result
	}
	if r := decide(); r != permission.Allow {
		t.Fatalf("first: %s", r)
	}
	// A longer file: the size differs even where mtimes are coarse.
	write(t, p, "package understage.authz\n\ndecision := {\"result\": \"DENY\"} # changed\n")
	changed, err := e.Reload(ctx)
	if err != nil || !changed {
		t.Fatalf("reload: %v %v", changed, err)
	}
	if r := decide(); r != permission.Deny {
		t.Fatalf("after change: %s", r)
	}
	if changed, err := e.Reload(ctx); err != nil || changed {
		t.Fatalf("unchanged file reloaded: %v %v", changed, err)
	}
	// A broken file keeps the previous policy.
	write(t, p, "package understage.authz\n\ndecision := {\n")
	if _, err := e.Reload(ctx); err == nil {
		t.Fatal("broken policy compiled")
	}
	if r := decide(); r != permission.Deny {
		t.Fatalf("after broken change: %s", r)
	}
}

func TestPollReloadsWithoutCall(t *testing.T) {
	ctx := context.Background()
	p := filepath.Join(t.TempDir(), "policy.rego")
	write(t, p, "package understage.authz\n\ndecision := {\"result\": \"ALLOW\"}\n")
	e, err := New(ctx, Options{Policies: []string{p}, PollInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	write(t, p, "package understage.authz\n\ndecision := {\"result\": \"DENY\"} # now denied\n")
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, err := e.Decide(ctx, permission.Input{Permission: permission.CatalogEntityCreate})
		if err != nil {
			t.Fatal(err)
		}
		if d.Result == permission.Deny {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("policy change never picked up")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDecisionShapes(t *testing.T) {
	cases := []struct{ name, rule, wantErr string }{
		{"undefined is deny", `x := 1`, ""},
		{"bad result", `decision := {"result": "MAYBE"}`, "must have result"},
		{"conditional without conditions", `decision := {"result": "CONDITIONAL"}`, "without conditions"},
		{"empty allOf", `decision := {"result": "CONDITIONAL", "conditions": {"allOf": []}}`, "must not be empty"},
	}
	ctx := context.Background()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "p.rego")
			write(t, p, "package understage.authz\n\n"+tc.rule+"\n")
			e, err := New(ctx, Options{Policies: []string{p}, PollInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			d, err := e.Decide(ctx, permission.Input{Permission: permission.CatalogEntityRead})
			if tc.wantErr == "" {
				if err != nil || d.Result != permission.Deny {
					t.Fatalf("got %v %v", d, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want error with %q", err, tc.wantErr)
			}
		})
	}
}

func BenchmarkDecideConditional(b *testing.B) {
	ctx := context.Background()
	e, err := New(ctx, Options{Policies: []string{filepath.Join("..", "..", "examples", "policies", "owners-only-delete.rego")}, PollInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	in := permission.Input{Permission: permission.CatalogEntityDelete, User: &permission.User{Ref: "user:default/tom", OwnershipRefs: []string{"user:default/tom", "group:default/team-shop"}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Decide(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}
