package permission_test

import (
	"os"
	"testing"

	"github.com/understage/understage/plugins/permission"
)

// TestRulesDoc keeps RULES.md in step with the rule declarations.
// UNDERSTAGE_UPDATE_RULES=1 rewrites it.
func TestRulesDoc(t *testing.T) {
	want := permission.RulesDoc(permission.CatalogIntegration(nil), permission.ScaffolderIntegration(nil))
	if os.Getenv("UNDERSTAGE_UPDATE_RULES") == "1" {
		if err := os.WriteFile("RULES.md", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile("RULES.md")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Error("RULES.md is out of date with the rule declarations: run UNDERSTAGE_UPDATE_RULES=1 go test ./plugins/permission -run TestRulesDoc")
	}
}
