package permissionservice_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/understage/understage/plugins/backend/auditor"
	"github.com/understage/understage/plugins/permission"
	permissionservice "github.com/understage/understage/plugins/permission/service"
)

// TestDenialsAudited: a DENY outside any audited request is a permission
// "decision" event of its own (failed, with the permission and resource);
// inside one it is added to that request's event, so the request stays one
// event; ALLOW is not audited.
func TestDenialsAudited(t *testing.T) {
	var buf bytes.Buffer
	root := auditor.New(auditor.Options{Logger: slog.New(slog.NewJSONHandler(&buf, nil))})
	deny := policyFunc(func(in permission.Input) permission.Decision {
		if in.Permission.Name == "catalog.entity.delete" {
			return permission.Decision{Result: permission.Deny}
		}
		return permission.Decision{Result: permission.Allow}
	})
	perms := permissionservice.New(permissionservice.Options{Enabled: true, Policy: deny, Auditor: root.ForPlugin("permission")})
	ctx := context.Background()
	entity := map[string]any{"kind": "Component", "metadata": map[string]any{"name": "shop"}}
	if err := perms.Basic(ctx, permission.CatalogEntityDelete); err == nil {
		t.Fatal("delete allowed")
	}
	if ok, err := perms.Definitive(ctx, permission.CatalogEntityRead, entity); err != nil || !ok {
		t.Fatalf("read: %v %v", ok, err)
	}
	ev := root.ForPlugin("catalog").Create(ctx, auditor.EventOptions{ID: "entity-mutate", Severity: auditor.Medium})
	if _, err := perms.Decide(auditor.WithEvent(ctx, ev), permission.CatalogEntityDelete, entity); err != nil {
		t.Fatal(err)
	}
	ev.Success(ctx)

	var got []string
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m struct {
			Msg, Status, Error string
			Meta               map[string]any
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		meta, _ := json.Marshal(m.Meta)
		got = append(got, m.Msg+" "+m.Status+" "+m.Error+" "+string(meta))
	}
	want := []string{
		`permission.decision failed NotAllowedError: catalog.entity.delete denied {"permission":"catalog.entity.delete","result":"DENY"}`,
		`catalog.entity-mutate initiated  null`,
		`catalog.entity-mutate succeeded  {"permission":"catalog.entity.delete","resource":"Component:default/shop","result":"DENY"}`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("audit lines\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
